package console

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Issue 11 case 6: a paired player that forgets the server while
// connected closes with goodbye 'user_request'. The server cannot know
// whether it still holds the record, so it does not show plain "paired":
// the client is offline since then, with that goodbye as the note. Its
// refusals list stays empty: the client left, it did not refuse.
func TestPairedClientLeftByUserRequest(t *testing.T) {
	r := newRig(t, true)
	srv := r.con.cfg.Server
	h := httptest.NewServer(srv)
	t.Cleanup(h.Close)
	id, _ := keys.GenerateIdentity(nil)
	lt := keys.PSK{4, 4}
	if err := r.st.PutClientRecord(id.Public(), lt); err != nil {
		t.Fatal(err)
	}
	tr, err := securechan.Dial(context.Background(), "ws"+strings.TrimPrefix(h.URL, "http"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := securechan.ClientHandshake(context.Background(), tr, securechan.ClientConfig{Identity: id, PairingPSK: keys.PSK{1},
		Timeout: 5 * time.Second, LongTerm: func(p keys.PSKID) (keys.PSK, keys.PublicKey, bool) { return lt, srv.ID(), p == lt.ID() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(); err != nil { // server/hello
		t.Fatal(err)
	}
	err = c.WriteMessage(&wire.ClientHello{Name: "Study", SupportedRoles: []wire.Role{wire.RolePlayerV1},
		PlayerSupport: &wire.PlayerSupport{SupportedFormats: []wire.AudioFormat{{Codec: wire.CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}},
			BufferCapacity: 1 << 20}, PairMethods: wire.PairMethods{PairingPSK: &wire.StaticMethod{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(); err != nil { // server/activate
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	entry := func() map[string]any {
		_, m := r.call(t, "GET", "/api/clients/"+id.Public().String(), "", nil)
		return m
	}
	for entry()["connected"] != true {
		if time.Now().After(deadline) {
			t.Fatal("the client never showed as connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Goodbye(wire.GoodbyeUserRequest); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	for m = entry(); m["connected"] != false; m = entry() {
		if time.Now().After(deadline) {
			t.Fatal("the client never showed as offline")
		}
		time.Sleep(10 * time.Millisecond)
	}
	note, _ := m["note"].(string)
	seen, err := time.Parse(time.RFC3339, m["last_seen"].(string))
	if m["status"] != "paired" || m["name"] != "Study" || err != nil || time.Since(seen) > time.Minute ||
		!strings.HasPrefix(note, "the device's owner disconnected it from this server (user_request) at ") {
		t.Fatalf("client after goodbye user_request: %v", m)
	}
	if _, l := r.call(t, "GET", "/api/refusals", "", nil); len(l["refusals"].([]any)) != 0 {
		t.Fatalf("a client that left is listed as refused: %v", l)
	}
}
