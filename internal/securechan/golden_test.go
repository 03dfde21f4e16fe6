package securechan

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-session.json")

type goldenFrame struct {
	Kind string `json:"kind"`
	Hex  string `json:"hex"`
}

type goldenSession struct {
	Note           string        `json:"note"`
	ServerToClient []goldenFrame `json:"server_to_client"`
	ClientToServer []goldenFrame `json:"client_to_server"`
}

// TestGoldenSession records a whole deterministic session (fixed keys and
// ephemerals): handshake, hellos, activation, time sync, a stream start, an
// audio chunk, a fragmented message, a re-handshake to a
// long-term PSK and a goodbye. Any change to the bytes on the wire shows up
// here; regenerate deliberately with -update.
func TestGoldenSession(t *testing.T) {
	lt := keys.PSK{0x4c, 0x54, 31: 1}
	pairing := keys.PSK{0x50, 0x52, 31: 2}
	eph := func(seeds ...byte) *bytes.Reader {
		var b []byte
		for _, s := range seeds {
			b = append(b, bytes.Repeat([]byte{s}, 32)...)
		}
		return bytes.NewReader(b)
	}
	a, b := Pipe()
	sRec, cRec := &recorder{Transport: a}, &recorder{Transport: b}
	sc, cc := handshakePair(t, sRec, cRec,
		ServerConfig{Identity: fuzzServer, Rand: eph(0x11, 0x12)},
		ClientConfig{Identity: fuzzClient, Suite: keys.SuiteChaChaPoly, PairingPSK: pairing, Rand: eph(0x21, 0x22),
			LongTerm: func(id keys.PSKID) (keys.PSK, keys.PublicKey, bool) {
				return lt, fuzzServer.Public(), id == lt.ID()
			}})
	defer sc.Close()
	defer cc.Close()
	step := func(from, to *Conn, m wire.Message) {
		t.Helper()
		if err := from.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
		if in, err := to.Read(); err != nil || in.JSON.Type() != m.Type() {
			t.Fatalf("%s: %v", m.Type(), err)
		}
	}
	bin := func(from, to *Conn, msg []byte) {
		t.Helper()
		go func() { _ = from.WriteBinary(msg) }()
		if in, err := to.Read(); err != nil || !bytes.Equal(in.Data, msg) {
			t.Fatalf("binary: %v", err)
		}
	}
	step(sc, cc, &wire.ServerHello{Name: "Golden Server"})
	step(cc, sc, &wire.ClientHello{Name: "Golden Player", SupportedRoles: []wire.Role{wire.RolePlayerV1},
		PlayerSupport: &wire.PlayerSupport{SupportedFormats: []wire.AudioFormat{{Codec: wire.CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}},
			BufferCapacity: 1 << 20},
		PairMethods: wire.PairMethods{PairingPSK: &wire.StaticMethod{}}})
	step(sc, cc, &wire.ServerActivate{Activities: []wire.Activity{}, HasActiveRoles: true, ActiveRoles: []wire.Role{}})
	step(cc, sc, &wire.ClientTime{ClientTransmitted: 1000})
	step(sc, cc, &wire.ServerTime{ClientTransmitted: 1000, ServerReceived: 5000, ServerTransmitted: 5010})
	step(sc, cc, &wire.StreamStart{ServerTransmitted: 6000, Player: &wire.PlayerStream{AudioFormat: wire.AudioFormat{
		Codec: wire.CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}}})
	bin(sc, cc, wire.AppendAudioChunk(nil, 250000, 244000, make([]byte, 3840)))
	big := bytes.Repeat([]byte{0xa5}, wire.MaxPlaintext+100)
	big[0] = wire.IDSourceAudio
	bin(cc, sc, big)
	rehandshake(t, sc, cc, PSKChoice{PSK: lt, Category: wire.PSKLongTerm})
	if err := cc.Goodbye(wire.GoodbyeShutdown); err != nil {
		t.Fatal(err)
	}
	if in, err := sc.Read(); err != nil || in.JSON.Type() != wire.TypeClientGoodbye {
		t.Fatalf("goodbye: %v", err)
	}

	got := goldenSession{Note: "A whole Tonearm session with fixed keys (securechan golden_test.go); regenerate with go test -update."}
	conv := func(fs []frame) []goldenFrame {
		var out []goldenFrame
		for _, f := range fs {
			k := "binary"
			if f.kind == Text {
				k = "text"
			}
			out = append(out, goldenFrame{Kind: k, Hex: hex.EncodeToString(f.data)})
		}
		return out
	}
	got.ServerToClient, got.ClientToServer = conv(sRec.take()), conv(cRec.take())
	enc, err := json.MarshalIndent(got, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden-session.json")
	if *update {
		if err := os.WriteFile(path, append(enc, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), enc) {
		t.Fatal("the session's bytes on the wire changed; if that is intended, regenerate with -update")
	}
	if len(got.ServerToClient) != 9 || len(got.ClientToServer) != 9 {
		t.Fatalf("short session: %d/%d frames", len(got.ServerToClient), len(got.ClientToServer))
	}
}
