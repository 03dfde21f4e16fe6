package securechan

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func identity(t testing.TB, privHex string) *keys.Identity {
	t.Helper()
	var p [32]byte
	copy(p[:], unhex(t, privHex))
	id, err := keys.IdentityFromPrivate(p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCacophonyVectors runs the cacophony KKpsk2 vectors through our
// handshake construction (newNoise, the crypto/ecdh DH) and our transport
// cipher states, with the vectors' fixed ephemeral keys.
func TestCacophonyVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "noise-kkpsk2-cacophony.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Vectors []struct {
			Protocol      string   `json:"protocol_name"`
			InitPrologue  string   `json:"init_prologue"`
			InitPSKs      []string `json:"init_psks"`
			InitStatic    string   `json:"init_static"`
			InitEphemeral string   `json:"init_ephemeral"`
			RespStatic    string   `json:"resp_static"`
			RespEphemeral string   `json:"resp_ephemeral"`
			Hash          string   `json:"handshake_hash"`
			Messages      []struct {
				Payload    string `json:"payload"`
				Ciphertext string `json:"ciphertext"`
			} `json:"messages"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Vectors) != 2 {
		t.Fatalf("%d vectors", len(v.Vectors))
	}
	for _, vec := range v.Vectors {
		t.Run(vec.Protocol, func(t *testing.T) {
			suite := keys.SuiteChaChaPoly
			if vec.Protocol == keys.SuiteAESGCM.NoiseProtocolName() {
				suite = keys.SuiteAESGCM
			} else if vec.Protocol != keys.SuiteChaChaPoly.NoiseProtocolName() {
				t.Fatalf("unexpected protocol %s", vec.Protocol)
			}
			ini, resp := identity(t, vec.InitStatic), identity(t, vec.RespStatic)
			var psk keys.PSK
			copy(psk[:], unhex(t, vec.InitPSKs[0]))
			prologue := unhex(t, vec.InitPrologue)
			ihs, err := newNoise(suite, ini, resp.Public(), true, prologue, &psk, bytes.NewReader(unhex(t, vec.InitEphemeral)))
			if err != nil {
				t.Fatal(err)
			}
			rhs, err := newNoise(suite, resp, ini.Public(), false, prologue, nil, bytes.NewReader(unhex(t, vec.RespEphemeral)))
			if err != nil {
				t.Fatal(err)
			}
			m0 := vec.Messages[0]
			ct, _, _, err := ihs.WriteMessage(nil, unhex(t, m0.Payload))
			if err != nil || hex.EncodeToString(ct) != m0.Ciphertext {
				t.Fatalf("message 1: %x %v", ct, err)
			}
			pl, _, _, err := rhs.ReadMessage(nil, ct)
			if err != nil || hex.EncodeToString(pl) != m0.Payload {
				t.Fatalf("read message 1: %v", err)
			}
			if err := rhs.SetPresharedKey(psk[:]); err != nil { // the PSK is chosen after message 1
				t.Fatal(err)
			}
			m1 := vec.Messages[1]
			ct, rrx, rtx, err := rhs.WriteMessage(nil, unhex(t, m1.Payload))
			if err != nil || hex.EncodeToString(ct) != m1.Ciphertext {
				t.Fatalf("message 2: %x %v", ct, err)
			}
			_, itx, irx, err := ihs.ReadMessage(nil, ct)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(ihs.ChannelBinding()) != vec.Hash || hex.EncodeToString(rhs.ChannelBinding()) != vec.Hash {
				t.Fatal("handshake hash")
			}
			cs := func(c interface {
				UnsafeKey() [32]byte
				Nonce() uint64
			}) *cipherState {
				st, err := newCipherStateFromKey(suite, c.UnsafeKey())
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			iTx, iRx, rTx, rRx := cs(itx), cs(irx), cs(rtx), cs(rrx)
			for i, m := range vec.Messages[2:] {
				send, recv := iTx, rRx
				if i%2 == 1 {
					send, recv = rTx, iRx
				}
				ct, err := send.seal(nil, unhex(t, m.Payload))
				if err != nil || hex.EncodeToString(ct) != m.Ciphertext {
					t.Fatalf("transport %d: %x", i, ct)
				}
				pt, err := recv.open(nil, ct)
				if err != nil || hex.EncodeToString(pt) != m.Payload {
					t.Fatalf("open transport %d: %v", i, err)
				}
			}
		})
	}
}

// recorder records every frame written through a transport.
type recorder struct {
	Transport
	mu     sync.Mutex
	frames []frame
}

func (r *recorder) WriteFrame(kind FrameKind, data []byte) error {
	r.mu.Lock()
	r.frames = append(r.frames, frame{kind, bytes.Clone(data)})
	r.mu.Unlock()
	return r.Transport.WriteFrame(kind, data)
}

func (r *recorder) take() []frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.frames
	r.frames = nil
	return f
}

// TestSendspinTranscripts reproduces the independent Sendspin transcripts
// byte for byte through the real handshake drivers and Conn: the init
// frames, both Noise messages, the handshake hash, the first transport
// message each way, and a re-handshake to a long-term PSK.
func TestSendspinTranscripts(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "sendspin-handshake-transcripts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Keys  map[string]any   `json:"keys"`
		Cases []map[string]any `json:"cases"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	str := func(m map[string]any, k string) string { return m[k].(string) }
	serverID, clientID := identity(t, str(v.Keys, "server_static_private")), identity(t, str(v.Keys, "client_static_private"))
	if serverID.Public().String() != str(v.Keys, "server_id") || clientID.Public().String() != str(v.Keys, "client_id") {
		t.Fatal("static keys")
	}
	for _, c := range v.Cases {
		suite, cat := keys.Suite(str(c, "suite")), wire.PSKCategory(str(c, "psk_category"))
		t.Run(string(suite)+"/"+string(cat), func(t *testing.T) {
			var psk keys.PSK
			copy(psk[:], unhex(t, str(c, "psk")))
			rh := c["rehandshake_to_lt"].(map[string]any)
			var lt keys.PSK
			copy(lt[:], unhex(t, str(rh, "long_term_psk")))
			a, b := Pipe()
			sRec, cRec := &recorder{Transport: a}, &recorder{Transport: b}
			sRand := bytes.NewReader(append(unhex(t, str(v.Keys, "server_ephemeral_private")), unhex(t, str(v.Keys, "server_ephemeral_private_rehandshake"))...))
			cRand := bytes.NewReader(append(unhex(t, str(v.Keys, "client_ephemeral_private")), unhex(t, str(v.Keys, "client_ephemeral_private_rehandshake"))...))
			records := map[keys.PSKID]keys.PSK{}
			if cat == wire.PSKLongTerm {
				records[psk.ID()] = psk
			}
			records[lt.ID()] = lt
			sc, cc := handshakePair(t, sRec, cRec,
				ServerConfig{Identity: serverID, Rand: sRand, ChoosePSK: func(keys.PublicKey) PSKChoice { return PSKChoice{psk, cat} }},
				ClientConfig{Identity: clientID, Suite: suite, Rand: cRand, PairingPSK: keys.PSK{0x70, 31: 0x72}, LongTerm: func(id keys.PSKID) (keys.PSK, keys.PublicKey, bool) {
					p, ok := records[id]
					return p, serverID.Public(), ok
				}})
			defer sc.Close()
			defer cc.Close()
			cf, sf := cRec.take(), sRec.take()
			if len(cf) != 2 || len(sf) != 2 {
				t.Fatalf("frames: client %d server %d", len(cf), len(sf))
			}
			check := func(what string, got []byte, want string) {
				t.Helper()
				if string(got) != want {
					t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
				}
			}
			check("client/init", cf[0].data, str(c, "client_init"))
			check("server/init", sf[0].data, str(c, "server_init"))
			check("prologue", []byte(hex.EncodeToString(append(bytes.Clone(cf[0].data), sf[0].data...))), str(c, "prologue_hex"))
			nh := func(b []byte) string {
				d, err := noiseData(b, wire.FromEither)
				if err != nil {
					t.Fatal(err)
				}
				return hex.EncodeToString(d)
			}
			check("noise message 1", []byte(nh(sf[1].data)), str(c, "noise_msg1"))
			check("noise message 2", []byte(nh(cf[1].data)), str(c, "noise_msg2"))
			h := sc.H()
			check("handshake hash", []byte(hex.EncodeToString(h[:])), str(c, "handshake_hash"))
			if sc.H() != cc.H() || sc.Matched().Category != cat || cc.Matched().Category != cat {
				t.Fatal("sides disagree")
			}
			for _, leg := range []struct {
				name string
				from *Conn
				to   *Conn
				rec  *recorder
			}{{"transport_server_to_client_0", sc, cc, sRec}, {"transport_client_to_server_0", cc, sc, cRec}} {
				sec := c[leg.name].(map[string]any)
				pt := unhex(t, str(sec, "plaintext_hex"))
				if err := leg.from.WriteBinary(pt); err != nil {
					t.Fatal(err)
				}
				in, err := leg.to.Read()
				if err != nil || !bytes.Equal(in.Data, pt) {
					t.Fatalf("%s: read %v", leg.name, err)
				}
				check(leg.name, []byte(hex.EncodeToString(leg.rec.take()[0].data)), str(sec, "ciphertext_hex"))
			}
			// Re-handshake to the long-term PSK. The transcript re-handshakes
			// right after the hellos; the channel normally requires the
			// initial activation first.
			sc.activated, cc.activated = true, true
			ltChoice := PSKChoice{PSK: lt, Category: wire.PSKLongTerm}
			activate := &wire.ServerActivate{Activities: []wire.Activity{}, HasActiveRoles: true, ActiveRoles: []wire.Role{}}
			done := make(chan error, 1)
			go func() { done <- sc.Rehandshake(context.Background(), ltChoice, activate) }()
			readDone := make(chan error, 1)
			go func() { _, err := sc.Read(); readDone <- err }() // delivers message 2 to Rehandshake
			in, err := cc.Read()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := in.JSON.(*wire.ServerActivate); !ok {
				t.Fatalf("first message under new keys: %T", in.JSON)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			sfr, cfr := sRec.take(), cRec.take()
			check("old-key server message 1", []byte(hex.EncodeToString(sfr[0].data)), str(rh, "old_keys_server_nonce1_ciphertext_hex"))
			check("old-key client message 2", []byte(hex.EncodeToString(cfr[0].data)), str(rh, "old_keys_client_nonce1_ciphertext_hex"))
			check("new-key server/activate", []byte(hex.EncodeToString(sfr[1].data)), str(rh, "new_keys_server_first_ciphertext_hex"))
			h = cc.H()
			check("re-handshake hash", []byte(hex.EncodeToString(h[:])), str(rh, "handshake_hash"))
			if cc.Matched().Category != wire.PSKLongTerm || sc.Matched().Category != wire.PSKLongTerm || sc.H() != cc.H() {
				t.Fatal("re-handshake result")
			}
			sc.Close()
			<-readDone
		})
	}
}

// handshakePair runs both handshakes concurrently over a transport pair.
func handshakePair(t testing.TB, st, ct Transport, scfg ServerConfig, ccfg ClientConfig) (*Conn, *Conn) {
	t.Helper()
	type out struct {
		c   *Conn
		err error
	}
	ch := make(chan out, 1)
	go func() {
		c, err := ServerHandshake(context.Background(), st, scfg)
		ch <- out{c, err}
	}()
	cc, err := ClientHandshake(context.Background(), ct, ccfg)
	s := <-ch
	if err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", err, s.err)
	}
	return s.c, cc
}
