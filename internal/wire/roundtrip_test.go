package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

// senderFor picks a side that may send m.
func senderFor(m Message) Sender {
	if a, ok := m.(*PairAbort); ok && a.Reason.SentBy() == FromClient {
		return FromClient
	}
	s := SenderOf(m.Type())
	if s == FromEither {
		return FromServer
	}
	return s
}

// TestRoundTrip encodes every sample, compares it with its golden file,
// decodes it back to an equal value, and re-encodes it to the same bytes.
func TestRoundTrip(t *testing.T) {
	covered := map[Type]bool{}
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b, err := Marshal(s.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			golden := filepath.Join("testdata", "golden", s.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(bytes.Clone(b), '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden file missing (run go test -update): %v", err)
			}
			if !bytes.Equal(b, bytes.TrimSuffix(want, []byte("\n"))) {
				t.Fatalf("encoding changed:\n got %s\nwant %s", b, want)
			}
			back, err := Decode(b, senderFor(s.msg))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(back, s.msg) {
				t.Fatalf("round trip differs:\n got %#v\nwant %#v", back, s.msg)
			}
			again, err := Marshal(back)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs: %s (%v)", again, err)
			}
			covered[s.msg.Type()] = true
		})
	}
	for _, typ := range Types() {
		if !covered[typ] {
			t.Errorf("no sample for %s", typ)
		}
	}
}

// TestSpecExample decodes the message example of messaging.md
// "Communication" and checks that it re-encodes to the same JSON value.
func TestSpecExample(t *testing.T) {
	const example = `{
  "type": "stream/start",
  "payload": {
    "server_transmitted": 1234567890,
    "player": {
      "codec": "opus",
      "sample_rate": 48000,
      "channels": 2,
      "bit_depth": 16
    },
    "artwork": {
      "channels": [
        {
          "source": "album",
          "format": "jpeg",
          "width": 800,
          "height": 800
        }
      ]
    }
  }
}`
	m, err := Decode([]byte(example), FromServer)
	if err != nil {
		t.Fatal(err)
	}
	ss := m.(*StreamStart)
	if ss.Player.Codec != CodecOpus || ss.Player.SampleRate != 48000 || ss.Artwork.Channels[0].Width != 800 {
		t.Fatalf("decoded %#v", ss)
	}
	out, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal([]byte(example), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("re-encoded value differs:\n%s", out)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "golden", "stream-start-spec-shape.json"))
	if err != nil || !bytes.Equal(out, bytes.TrimSpace(want)) {
		t.Fatalf("spec example does not encode to its golden form: %s", out)
	}
}

// TestTranscriptMessages reproduces, byte for byte, every JSON message of the
// independent Sendspin handshake transcripts.
func TestTranscriptMessages(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "sendspin-handshake-transcripts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []map[string]any `json:"cases"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	check := func(b []byte, from Sender) {
		t.Helper()
		m, err := Decode(b, from)
		if err != nil {
			t.Fatalf("Decode %s: %v", b, err)
		}
		out, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal %s: %v", b, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("not byte-exact:\n got %s\nwant %s", out, b)
		}
	}
	n := 0
	for _, c := range v.Cases {
		check([]byte(c["client_init"].(string)), FromClient)
		check([]byte(c["server_init"].(string)), FromServer)
		p, err := ParseHandshakePayload1([]byte(c["msg1_payload"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if pb, _ := p.Marshal(); string(pb) != c["msg1_payload"].(string) {
			t.Fatalf("msg1 payload %s", pb)
		}
		var plains [][]byte
		for _, sec := range []any{c["transport_server_to_client_0"], c["transport_client_to_server_0"]} {
			h, _ := hex.DecodeString(sec.(map[string]any)["plaintext_hex"].(string))
			plains = append(plains, h)
		}
		re := c["rehandshake_to_lt"].(map[string]any)
		for _, k := range []string{"old_keys_server_nonce1_envelope_plaintext_hex", "old_keys_client_nonce1_envelope_plaintext_hex",
			"new_keys_server_first_plaintext_hex"} {
			h, _ := hex.DecodeString(re[k].(string))
			plains = append(plains, h)
		}
		for i, pl := range plains {
			if pl[0] != IDJSON {
				t.Fatalf("plaintext %d has ID %d", i, pl[0])
			}
			from := FromServer
			if i == 1 || i == 3 {
				from = FromClient
			}
			check(pl[1:], from)
			n++
		}
	}
	if n != 20 {
		t.Fatalf("checked %d transport messages, want 20", n)
	}
}
