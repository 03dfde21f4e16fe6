package daemon

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/store"
)

// FuzzControl feeds arbitrary request lines to the control socket's
// handler (on a store, no player running): every answer is one JSON reply,
// and the identity and pairing PSK survive whatever was asked, short of an
// explicit rotation.
func FuzzControl(f *testing.F) {
	for _, s := range []string{`{"op":"status"}`, `{"op":"token"}`, `{"op":"static-code","arg":"1234-5678"}`,
		`{"op":"unpaired-access","arg":"on"}`, `{"op":"name","arg":"Den"}`, `{"op":"forget","arg":"AAAA"}`,
		`{"op":"records"}`, `{"op":"pair-window"}`, `not json`, `{"op":1}`} {
		f.Add([]byte(s))
	}
	st, err := store.Open(filepath.Join(f.TempDir(), "p"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	id, err := st.Identity(nil)
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, line []byte) {
		out := answer(line, st, nil, log)
		var reply ControlReply
		if err := json.Unmarshal(out, &reply); err != nil {
			t.Fatalf("reply %q is not JSON: %v", out, err)
		}
		if reply.Error == "" && reply.Result == nil {
			t.Fatalf("reply %q has neither a result nor an error", out)
		}
		now, err := st.Identity(nil)
		if err != nil || now.Public() != id.Public() {
			t.Fatal("the identity changed")
		}
	})
}
