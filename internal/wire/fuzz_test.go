package wire

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Every decoder has a fuzz target here. Each asserts the canonical-form
// property: whatever decodes and re-encodes reaches a fixed point after one
// round, and the value survives it (age FuzzMalleability, quic-go
// FuzzFrames). Seeds are the golden samples; the checked-in corpus under
// testdata/fuzz is regenerated with -update.

// checkJSON asserts the canonical-form property for one JSON message.
func checkJSON(t *testing.T, b []byte, from Sender) {
	m, err := Decode(b, from)
	if err != nil {
		if m != nil {
			t.Fatal("message returned with an error")
		}
		return
	}
	out, err := Marshal(m)
	if err != nil {
		return // a receiver-lenient value a sender may not produce
	}
	m2, err := Decode(out, from)
	if err != nil {
		t.Fatalf("own output does not decode: %v\n%s", err, out)
	}
	if ch, ok := m.(*ClientHello); ok {
		// Ignored records what the receiver dropped; it is never sent.
		ch.PairMethods.Ignored = nil
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("value changed across re-encoding:\n%#v\n%#v", m, m2)
	}
	out2, err := Marshal(m2)
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("not canonical:\n%s\n%s (%v)", out, out2, err)
	}
}

// family is the set of types a family fuzz target builds envelopes for.
type family []Type

var (
	famHello    = family{TypeServerHello, TypeClientHello}
	famActivate = family{TypeServerActivate}
	famCore     = family{TypeClientTime, TypeServerTime, TypeClientState, TypeClientCommand, TypeClientLeave,
		TypeServerState, TypeServerCommand, TypeGroupUpdate, TypeServerUnpair, TypeClientGoodbye}
	famStream  = family{TypeStreamStart, TypeStreamClear, TypeStreamEnd, TypeClientStreamStart, TypeClientStreamEnd}
	famPairing = family{TypeClientPairPending, TypeClientPairInit, TypeServerPairInit, TypeServerPairAuth,
		TypeClientPairAuth, TypeServerPairConfirm, TypeClientPairRetry, TypeClientPairConfirm,
		TypeClientPairFinalize, TypeServerPairFinalize, TypePairAbort}
	famHandshake = family{TypeClientInit, TypeServerInit, TypeNoiseHandshake, TypeServerError}
)

func (fam family) seed(f *testing.F) {
	for _, s := range samples() {
		for i, typ := range fam {
			if s.msg.Type() != typ {
				continue
			}
			b, err := Marshal(s.msg)
			if err != nil {
				f.Fatal(err)
			}
			_, payload, _ := envelope(b)
			f.Add(uint8(i), bytes.Clone(payload))
		}
	}
}

func (fam family) run(t *testing.T, sel uint8, payload []byte) {
	typ := fam[int(sel)%len(fam)]
	b := env(typ, string(payload))
	from := SenderOf(typ)
	if from == FromEither {
		from = FromClient
		if sel&0x80 != 0 {
			from = FromServer
		}
	}
	checkJSON(t, b, from)
}

// FuzzDecode fuzzes the envelope and every message type through Decode.
func FuzzDecode(f *testing.F) {
	for _, s := range samples() {
		b, _ := Marshal(s.msg)
		f.Add(b, uint8(SenderOf(s.msg.Type())))
	}
	f.Add([]byte(`{"type":"x/y","payload":{"a":1}}`), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, side uint8) {
		from := FromClient
		if side&1 == 0 {
			from = FromServer
		}
		checkJSON(t, b, from)
	})
}

func FuzzHandshakeMessages(f *testing.F) {
	famHandshake.seed(f)
	f.Fuzz(func(t *testing.T, sel uint8, payload []byte) {
		famHandshake.run(t, sel, payload)
		b := env(TypeClientInit, string(payload))
		if m, err := ParseClientInit(b); err == nil {
			if !bytes.Equal(m.Raw, b) || m.Version != CoreVersion || !m.Suite.Known() {
				t.Fatalf("accepted client/init %+v", m)
			}
		} else if _, ok := err.(*InitError); !ok {
			t.Fatalf("error %T is not an *InitError", err)
		}
		_, _, _ = ParseServerInit(env(TypeServerInit, string(payload)))
	})
}

// FuzzHandshakePayload fuzzes the decrypted Noise message payloads.
func FuzzHandshakePayload(f *testing.F) {
	f.Add([]byte(`{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo","psk_category":"sn"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseHandshakePayload1(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParseHandshakePayload1(out)
		if err != nil || p2 != p {
			t.Fatalf("re-encoding changed %+v to %+v (%v)", p, p2, err)
		}
		if CheckHandshakePayload2(b) == nil && !bytes.Equal(b, []byte("{}")) {
			t.Fatal("message-2 payload other than {} accepted")
		}
	})
}

func FuzzHello(f *testing.F) {
	famHello.seed(f)
	f.Fuzz(famHello.run)
}

func FuzzActivate(f *testing.F) {
	famActivate.seed(f)
	f.Fuzz(famActivate.run)
}

func FuzzCore(f *testing.F) {
	famCore.seed(f)
	f.Fuzz(famCore.run)
}

func FuzzStream(f *testing.F) {
	famStream.seed(f)
	f.Fuzz(famStream.run)
}

func FuzzPairing(f *testing.F) {
	famPairing.seed(f)
	f.Fuzz(famPairing.run)
}

// FuzzReassembler feeds a sequence of binary messages (each prefixed with a
// one-byte length) and checks what it dispatches against a model of the
// rules; it also checks that Split then Feed restores any message.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{3, 1, 2, 0, 2, 1, 1}, uint8(0))
	f.Add([]byte{4, 1, 2, 200, 7, 3, 1, 1, 9}, uint8(200))
	f.Add([]byte{2, 4, 5}, uint8(0))
	f.Fuzz(func(t *testing.T, stream []byte, skip uint8) {
		r := Reassembler{Max: 1 << 12, Implemented: func(id byte) bool { return skip == 0 || id != skip }}
		for len(stream) > 0 {
			n := int(stream[0])
			stream = stream[1:]
			n = min(n, len(stream))
			msg := stream[:n]
			stream = stream[n:]
			wasInFlight := r.InFlight()
			out, err := r.Feed(msg)
			if err != nil {
				if out != nil {
					t.Fatal("output with error")
				}
				if _, err2 := r.Feed([]byte{0}); err2 != err {
					t.Fatal("error did not stick")
				}
				break
			}
			if out == nil {
				continue
			}
			if out[0] == IDFragment {
				t.Fatal("dispatched a fragment")
			}
			if !wasInFlight && msg[0] != IDFragment && !bytes.Equal(out, msg) {
				t.Fatal("plain message altered")
			}
			if len(out) > r.Max {
				t.Fatal("limit exceeded")
			}
		}
		// Round trip through the fragmenter, making the input large enough
		// to need splitting when it starts with a marker byte.
		msg := stream
		if len(msg) > 0 && msg[0]&1 == 1 {
			msg = bytes.Repeat(msg, MaxPlaintext/len(msg)+2)
		}
		if len(msg) == 0 || (len(msg) > MaxPlaintext && msg[0] == IDFragment) {
			return
		}
		var f Fragmenter
		var rr Reassembler
		var got []byte
		if err := f.Split(msg, func(b []byte) error {
			out, err := rr.Feed(b)
			if out != nil {
				got = bytes.Clone(out)
			}
			return err
		}); err != nil {
			if msg[0] == IDFragment && len(msg) <= MaxPlaintext {
				return // a lone fragment message is the caller's to send
			}
			t.Fatal(err)
		}
		if msg[0] != IDFragment && !bytes.Equal(got, msg) {
			t.Fatalf("split/reassemble changed a %d-byte message", len(msg))
		}
	})
}

// FuzzAudioHeader fuzzes the 13-byte audio header: parse then encode
// reproduces the input.
func FuzzAudioHeader(f *testing.F) {
	f.Add(AppendAudioChunk(nil, 123456789, 50000, []byte{1, 2, 3, 4}))
	f.Add(AppendAudioChunk(nil, -1, 0, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAudioChunk(b)
		if err != nil {
			return
		}
		if out := AppendAudioChunk(nil, c.Timestamp, c.SendAhead, c.Audio); !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs")
		}
		if s, err := ParseSourceChunk(AppendSourceChunk(nil, c.Timestamp, c.Audio)); err != nil || s.Timestamp != c.Timestamp {
			t.Fatal("source chunk round trip")
		}
	})
}

// FuzzArtwork fuzzes the artwork binary layout.
func FuzzArtwork(f *testing.F) {
	f.Add([]byte{9, 0x02, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 1, 0})
	f.Add([]byte{8, 0x01})
	f.Add([]byte{10, 0x00, 0xff, 0xd8})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseArtwork(b)
		if err != nil {
			return
		}
		out, err := AppendArtwork(nil, m)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

// FuzzVisualizer fuzzes the visualizer binary layouts.
func FuzzVisualizer(f *testing.F) {
	f.Add([]byte{16, 0, 0, 0, 0, 0, 0, 0, 1, 0x12, 0x34})
	f.Add([]byte{19, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseVisualizer(b)
		if err != nil {
			return
		}
		out, err := AppendVisualizer(nil, fr)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpus of the JSON family targets to
// testdata/fuzz when run with -update, so the corpus is reviewable and
// travels with the repository.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	write := func(target, name string, values ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case uint8:
				fmt.Fprintf(&b, "byte(%q)\n", rune(v))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fams := map[string]family{"FuzzHandshakeMessages": famHandshake, "FuzzHello": famHello, "FuzzActivate": famActivate,
		"FuzzCore": famCore, "FuzzStream": famStream, "FuzzPairing": famPairing}
	for _, s := range samples() {
		b, err := Marshal(s.msg)
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzDecode", s.name, b, uint8(SenderOf(s.msg.Type())))
		_, payload, _ := envelope(b)
		for target, fam := range fams {
			for i, typ := range fam {
				if typ == s.msg.Type() {
					write(target, s.name, uint8(i), bytes.Clone(payload))
				}
			}
		}
	}
	write("FuzzAudioHeader", "chunk", AppendAudioChunk(nil, 1_000_000, 250_000, []byte{0, 1, 0, 1}))
	write("FuzzArtwork", "announce", []byte{8, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4})
	write("FuzzVisualizer", "fpeak", []byte{18, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xb8, 0x80, 0})
	write("FuzzReassembler", "three-fragments", []byte{4, 1, 2, 0, '{', 3, 1, 0, '}', 2, 1, 1}, uint8(0))
	write("FuzzHandshakePayload", "sentinel", []byte(`{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo","psk_category":"sn"}`))
}
