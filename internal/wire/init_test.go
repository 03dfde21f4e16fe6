package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// TestParseClientInitReasons checks the server/error reason for each init
// failure, in the order of checks of connection.md "Failure Handling".
func TestParseClientInitReasons(t *testing.T) {
	const id = `"client_id":"` + b64key + `"`
	cases := []struct {
		name string
		in   string
		want ErrorReason // "" = accepted
	}{
		{"ok", `{"type":"client/init","payload":{` + id + `,"version":1,"suite":"25519_ChaChaPoly_SHA256"}}`, ""},
		{"ok aes, extra field", `{"type":"client/init","payload":{` + id + `,"version":1,"suite":"25519_AESGCM_SHA256","x":1}}`, ""},
		{"version 2 wins over all", `{"type":"client/init","payload":{"version":2,"suite":"bad","client_id":7}}`, ReasonUnsupportedVersion},
		{"version 0", `{"type":"client/init","payload":{` + id + `,"version":0,"suite":"25519_AESGCM_SHA256"}}`, ReasonUnsupportedVersion},
		{"version negative", `{"type":"client/init","payload":{"version":-1}}`, ReasonUnsupportedVersion},
		{"version huge integer", `{"type":"client/init","payload":{"version":123456789012345678901234567890}}`, ReasonUnsupportedVersion},
		{"version string", `{"type":"client/init","payload":{` + id + `,"version":"1","suite":"25519_AESGCM_SHA256"}}`, ReasonMalformed},
		{"version 1.0", `{"type":"client/init","payload":{` + id + `,"version":1.0,"suite":"25519_AESGCM_SHA256"}}`, ReasonMalformed},
		{"version missing", `{"type":"client/init","payload":{` + id + `,"suite":"25519_AESGCM_SHA256"}}`, ReasonMalformed},
		{"suite unknown", `{"type":"client/init","payload":{"version":1,"suite":"448_ChaChaPoly_BLAKE2b","client_id":7}}`, ReasonUnsupportedSuite},
		{"suite wrong case", `{"type":"client/init","payload":{` + id + `,"version":1,"suite":"25519_aesgcm_sha256"}}`, ReasonUnsupportedSuite},
		{"suite not string", `{"type":"client/init","payload":{` + id + `,"version":1,"suite":1}}`, ReasonMalformed},
		{"suite missing", `{"type":"client/init","payload":{` + id + `,"version":1}}`, ReasonMalformed},
		{"client id bad", `{"type":"client/init","payload":{"client_id":"abc","version":1,"suite":"25519_AESGCM_SHA256"}}`, ReasonMalformed},
		{"client id missing", `{"type":"client/init","payload":{"version":1,"suite":"25519_AESGCM_SHA256"}}`, ReasonMalformed},
		{"not json", `hello`, ReasonMalformed},
		{"not envelope", `{"client_id":"x"}`, ReasonMalformed},
		{"other type", `{"type":"client/hello","payload":{}}`, ReasonMalformed},
		{"payload not object", `{"type":"client/init","payload":[1]}`, ReasonMalformed},
		{"duplicate key", `{"type":"client/init","payload":{` + id + `,` + id + `,"version":1,"suite":"25519_AESGCM_SHA256"}}`, ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParseClientInit([]byte(c.in))
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if !bytes.Equal(m.Raw, []byte(c.in)) {
					t.Fatal("Raw is not the exact received bytes")
				}
				return
			}
			var ie *InitError
			if !errors.As(err, &ie) || ie.Reason != c.want {
				t.Fatalf("got %v, want reason %s", err, c.want)
			}
		})
	}
}

func TestParseServerInit(t *testing.T) {
	in := []byte(`{"type":"server/init","payload":{"server_id":"` + b64key + `","version":1}}`)
	si, se, err := ParseServerInit(in)
	if err != nil || se != nil || !bytes.Equal(si.Raw, in) || si.ServerID != keys.PublicKey(key32(0)) {
		t.Fatalf("got %v %v %v", si, se, err)
	}
	si, se, err = ParseServerInit([]byte(`{"type":"server/error","payload":{"reason":"malformed"}}`))
	if err != nil || si != nil || se.Reason != ReasonMalformed {
		t.Fatalf("server/error: %v %v %v", si, se, err)
	}
	for _, bad := range []string{
		`{"type":"server/init","payload":{"server_id":"` + b64key + `","version":2}}`,
		`{"type":"server/hello","payload":{"name":"x"}}`,
		`{"type":"client/init","payload":{}}`,
		`{"type":"server/init"`,
	} {
		if _, _, err := ParseServerInit([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestMarshalInitRecordsRaw(t *testing.T) {
	ci := &ClientInit{ClientID: keys.PublicKey(key32(9)), Version: CoreVersion, Suite: keys.SuiteAESGCM}
	b, err := MarshalInit(ci)
	if err != nil || !bytes.Equal(ci.Raw, b) {
		t.Fatalf("%s %v", ci.Raw, err)
	}
	back, err := ParseClientInit(b)
	if err != nil || back.ClientID != ci.ClientID || back.Suite != ci.Suite {
		t.Fatalf("%v %v", back, err)
	}
	if _, err := MarshalInit(&ClientInit{Version: 2, Suite: keys.SuiteAESGCM}); err == nil {
		t.Fatal("version 2 marshalled")
	}
	if _, err := MarshalInit(&ClientLeave{}); err == nil {
		t.Fatal("non-init message accepted")
	}
}

func TestHandshakePayloads(t *testing.T) {
	p := HandshakePayload1{PSKID: keys.SentinelID, Category: PSKSentinel}
	b, err := p.Marshal()
	if err != nil || string(b) != `{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo","psk_category":"sn"}` {
		t.Fatalf("%s %v", b, err)
	}
	// All categories give the same length.
	for _, c := range []PSKCategory{PSKLongTerm, PSKPairing} {
		b2, _ := HandshakePayload1{Category: c}.Marshal()
		if len(b2) != len(b) {
			t.Fatalf("length depends on category")
		}
	}
	back, err := ParseHandshakePayload1([]byte(` {"psk_category":"sn","future":[1], "psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo"} `))
	if err != nil || back != p {
		t.Fatalf("%v %v", back, err)
	}
	for _, bad := range []string{
		``, `{}`, `[]`, `{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo"}`,
		`{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo","psk_category":"xx"}`,
		`{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zo","psk_category":"sn"}`,
		`{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo","psk_category":"SN"}`,
		`{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo","psk_category":"sn","psk_category":"lt"}`,
		"{\"psk_id\":\"\xff\",\"psk_category\":\"sn\"}",
	} {
		if _, err := ParseHandshakePayload1([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := (HandshakePayload1{Category: "zz"}).Marshal(); err == nil {
		t.Error("unknown category marshalled")
	}
	if err := CheckHandshakePayload2([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "{ }", "{}\n", `{"a":1}`, "null"} {
		if CheckHandshakePayload2([]byte(bad)) == nil {
			t.Errorf("accepted %q as message-2 payload", bad)
		}
	}
}
