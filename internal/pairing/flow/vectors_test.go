package flow

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type vectorFile struct {
	Inputs struct {
		H           hexBytes
		NonceA      hexBytes `json:"nonce_A"`
		NonceB      hexBytes `json:"nonce_B"`
		ScalarA     hexBytes `json:"scalar_A"`
		ScalarB     hexBytes `json:"scalar_B"`
		LongTermPSK hexBytes `json:"long_term_psk"`
	}
	Cases []struct {
		Format        wire.CodeFormat
		Suite         keys.Suite
		Code          string
		CommitB       hexBytes `json:"commit_B"`
		PakeMsg1      hexBytes `json:"pake_msg_1"`
		PakeMsg2      hexBytes `json:"pake_msg_2"`
		ServerKC      hexBytes `json:"server_kc"`
		ClientKC      hexBytes `json:"client_kc"`
		WrappedNonceB hexBytes `json:"wrapped_nonce_B"`
		WrappedPSK    hexBytes `json:"wrapped_psk"`
		PairingIndex  uint32   `json:"pairing_index"`
		Round         uint32
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// junk is filler randomness for rounds and attempts the vectors do not
// cover.
func junk(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// Every case of cpace-pairing-current-sid.json byte-exact through both
// machines and the wire codec. Randomness is read in this order - server:
// nonce_A, then a CPace scalar per round; client: nonce_B, a scalar per
// round, the new long-term PSK. The (pairing_index 2, round 3) cases get
// there the way a real session does: a first activation superseded (its
// client/pair-init arrives late and is discarded as a leftover), then two
// rounds with a wrong code entered.
func TestVectorsEndToEnd(t *testing.T) {
	raw, err := os.ReadFile("testdata/cpace-pairing-current-sid.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) != 8 {
		t.Fatalf("want 8 cases, have %d", len(v.Cases))
	}
	in := v.Inputs
	for _, c := range v.Cases {
		name := string(c.Format) + "/" + string(c.Suite)
		if c.PairingIndex == 2 {
			name += "/index2-round3"
		}
		t.Run(name, func(t *testing.T) {
			srvRand := cat(in.NonceA, in.ScalarA)
			cliRand := cat(in.NonceB, in.ScalarB, in.LongTermPSK)
			if c.PairingIndex == 2 {
				srvRand = cat(in.NonceA, junk(0xa1), junk(0xa2), in.ScalarA)
				cliRand = cat(junk(0xb0), in.NonceB, junk(0xb1), junk(0xb2), in.ScalarB, in.LongTermPSK)
			}
			sr, cr := bytes.NewReader(srvRand), bytes.NewReader(cliRand)
			h := newHarness(t, hcfg{suite: c.Suite, srvH: pairing.HandshakeHash(in.H), srvRand: sr, cliRand: cr})
			p := wire.PairingParams{Method: wire.MethodDynamicCode, Format: c.Format}
			if c.PairingIndex == 2 {
				h.activate(&p)
				h.deliverCli() // client/pair-init 1 is now in flight
				h.activate(&p) // superseded before it arrives
				h.deliverSrv() // index 1 < 2: discarded silently
				if h.srv.State() != ServerAwaitInit || h.srvClosed {
					t.Fatalf("leftover client/pair-init: server %s\n%s", h.srv.State(), h.dump())
				}
				h.op = wrongFor(2)
			} else {
				h.activate(&p)
			}
			h.run()

			if h.srvRecord == nil || h.cliRecord == nil {
				t.Fatalf("not paired:\n%s", h.dump())
			}
			if sr.Len() != 0 || cr.Len() != 0 {
				t.Fatalf("randomness left unread: server %d, client %d bytes", sr.Len(), cr.Len())
			}
			eq(t, "server record", h.srvRecord[:], in.LongTermPSK)
			eq(t, "client record", h.cliRecord[:], in.LongTermPSK)
			switch code := h.lastEmitted.(type) {
			case pairing.DynamicCode:
				if code.Digits() != c.Code {
					t.Fatalf("code %s, want %s", code.Digits(), c.Code)
				}
			case pairing.QRCode:
				eq(t, "qr code", code[:], mustHexT(t, c.Code))
			}

			// The wire values of the last (successful) round.
			var init *wire.ClientPairInit
			var auth1 *wire.ServerPairAuth
			var auth2 *wire.ClientPairAuth
			var sconf *wire.ServerPairConfirm
			var cconf *wire.ClientPairConfirm
			var fin *wire.ClientPairFinalize
			for _, m := range h.trace {
				switch m := m.(type) {
				case *wire.ClientPairInit:
					init = m
				case *wire.ServerPairAuth:
					auth1 = m
				case *wire.ClientPairAuth:
					auth2 = m
				case *wire.ServerPairConfirm:
					sconf = m
				case *wire.ClientPairConfirm:
					cconf = m
				case *wire.ClientPairFinalize:
					fin = m
				}
			}
			if init.PairingIndex != c.PairingIndex {
				t.Fatalf("pairing_index %d, want %d", init.PairingIndex, c.PairingIndex)
			}
			eq(t, "commit_B", init.CommitB[:], c.CommitB)
			eq(t, "pake_msg_1", auth1.PakeMsg1[:], c.PakeMsg1)
			eq(t, "pake_msg_2", auth2.PakeMsg2[:], c.PakeMsg2)
			eq(t, "server_kc", sconf.ServerKC[:], c.ServerKC)
			eq(t, "client_kc", cconf.ClientKC[:], c.ClientKC)
			eq(t, "wrapped_nonce_B", cconf.WrappedNonceB[:], c.WrappedNonceB)
			eq(t, "wrapped_psk", fin.WrappedPSK[:], c.WrappedPSK)
		})
	}
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func mustHexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
