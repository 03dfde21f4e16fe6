package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// badHello is a client/hello as sendspin-js 4.0.0 sends it:
// supported_pair_methods as an array, where pairing.md "client/hello
// pair-method descriptor" defines an object keyed by method.
const badHello = `{"type":"client/hello","payload":{"name":"Browser","supported_roles":["player@v1"],` +
	`"player@v1_support":{"supported_formats":[{"codec":"pcm","channels":2,"sample_rate":48000,"bit_depth":16}],"buffer_capacity":100000},` +
	`"supported_pair_methods":["pairing_psk"],"unpaired_access":{"enabled":true}}}`

// handshaken runs the handshake as a client and reads server/hello.
func handshaken(t *testing.T, url string, id *keys.Identity, longTerm func(keys.PSKID) (keys.PSK, keys.PublicKey, bool)) (*securechan.Conn, error) {
	t.Helper()
	tr, err := securechan.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := securechan.ClientHandshake(context.Background(), tr, securechan.ClientConfig{Identity: id, PairingPSK: keys.PSK{1},
		Timeout: 5 * time.Second, LongTerm: longTerm})
	if err != nil {
		return nil, err
	}
	in, err := c.Read()
	if err != nil {
		return nil, err // the server closed: the handshake failed on its side
	}
	if _, ok := in.JSON.(*wire.ServerHello); !ok {
		t.Fatalf("first message %#v", in.JSON)
	}
	return c, nil
}

func waitRefusal(t *testing.T, s *Server, want string) Refusal {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range s.Refusals() {
			if strings.Contains(r.Reason, want) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal %q in %+v", want, s.Refusals())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An invalid client/hello closes the connection silently, and the
// operator sees who was refused and why: the field and the rule.
func TestRefusedInvalidHello(t *testing.T) {
	ts := startServer(t)
	id, _ := keys.GenerateIdentity(nil)
	c, err := handshaken(t, ts.url, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Send(func(dst []byte) ([]byte, error) { return append(append(dst, wire.IDJSON), badHello...), nil })
	if err != nil {
		t.Fatal(err)
	}
	// Silent on the wire: the next read is the close, not a message.
	if in, err := c.Read(); err == nil {
		t.Fatalf("the server answered an invalid hello: %#v", in.JSON)
	}
	r := waitRefusal(t, ts.s, "invalid client/hello")
	want := `invalid client/hello: field "supported_pair_methods" is not a JSON object`
	if r.Client != id.Public() || !strings.HasPrefix(r.Reason, want) || !strings.HasPrefix(r.Addr, "127.0.0.1:") ||
		time.Since(r.Time) > time.Minute || r.Count != 1 {
		t.Fatalf("refusal %+v", r)
	}
	if len(ts.s.Clients()) != 0 {
		t.Fatal("a refused client is listed as connected")
	}
}

// Handshake failures: an init failure with its server/error reason, and a
// message 2 that verifies under no PSK the server tried.
func TestRefusedHandshakes(t *testing.T) {
	ts := startServer(t)
	tr, err := securechan.Dial(context.Background(), ts.url)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := keys.GenerateIdentity(nil)
	init := fmt.Sprintf(`{"type":"client/init","payload":{"client_id":%q,"version":2,"suite":"%s"}}`, id.Public().String(), keys.SuiteChaChaPoly)
	if err := tr.WriteFrame(securechan.Text, []byte(init)); err != nil {
		t.Fatal(err)
	}
	if _, f, err := tr.ReadFrame(nil); err != nil || !strings.Contains(string(f), "unsupported_version") {
		t.Fatalf("server/error: %q %v", f, err)
	}
	tr.Close()
	waitRefusal(t, ts.s, "init failure: answered server/error unsupported_version")

	// A client that closes after server/init (it rejects the server).
	if tr, err = securechan.Dial(context.Background(), ts.url); err != nil {
		t.Fatal(err)
	}
	init = fmt.Sprintf(`{"type":"client/init","payload":{"client_id":%q,"version":1,"suite":"%s"}}`, id.Public().String(), keys.SuiteChaChaPoly)
	if err := tr.WriteFrame(securechan.Text, []byte(init)); err != nil {
		t.Fatal(err)
	}
	if _, f, err := tr.ReadFrame(nil); err != nil || !strings.Contains(string(f), "server/init") {
		t.Fatalf("server/init: %q %v", f, err)
	}
	tr.Close()
	if r := waitRefusal(t, ts.s, "closed the connection during the Noise handshake"); r.Client != id.Public() ||
		!strings.Contains(r.Reason, "Sentinel PSK") {
		t.Fatalf("refusal %+v", r)
	}

	// The server holds a record for the client; the client holds a PSK
	// under that psk_id that is not it (a corrupt or forged record).
	id2, _ := keys.GenerateIdentity(nil)
	if err := ts.st.PutClientRecord(id2.Public(), keys.PSK{5}); err != nil {
		t.Fatal(err)
	}
	_, err = handshaken(t, ts.url, id2, func(keys.PSKID) (keys.PSK, keys.PublicKey, bool) { return keys.PSK{6}, ts.s.ID(), true })
	if err == nil {
		t.Fatal("a handshake under the wrong PSK succeeded")
	}
	r := waitRefusal(t, ts.s, "message 2 did not verify")
	if r.Client != id2.Public() || !strings.Contains(r.Reason, "pairing record's PSK or the Sentinel") {
		t.Fatalf("refusal %+v", r)
	}
}

// A client that refuses the session with a goodbye is a refusal; one that
// leaves is not, and is remembered with its reason.
func TestRefusedByGoodbye(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, false)
	tc.connect(t, ts.url)
	waitClients(t, ts.s, 1)
	if err := tc.c.Goodbye(wire.GoodbyePairingRequired); err != nil {
		t.Fatal(err)
	}
	r := waitRefusal(t, ts.s, "needs pairing first (pairing_required)")
	if r.Client != tc.id.Public() || r.Name != "Kitchen" {
		t.Fatalf("refusal %+v", r)
	}
	tc2 := newClient(t, false)
	tc2.connect(t, ts.url)
	waitClients(t, ts.s, 1)
	if err := tc2.c.Goodbye(wire.GoodbyeShutdown); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h, ok := ts.s.History(tc2.id.Public()); ok && h.Goodbye == wire.GoodbyeShutdown {
			if !strings.Contains(h.Note(), "the device shut down (shutdown) at ") || h.Name != "Kitchen" {
				t.Fatalf("note %q", h.Note())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shutdown goodbye is not remembered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(ts.s.Refusals()); n != 1 {
		t.Fatalf("a leaving client was recorded as refused: %+v", ts.s.Refusals())
	}
}

// The refusals kept are bounded, and repeats from one address coalesce.
func TestRefusalsBounded(t *testing.T) {
	ts := startServer(t)
	for i := range 3 * maxRefusals {
		ts.s.refuse(Refusal{Addr: fmt.Sprintf("10.0.%d.%d:4000", i/250, i%250), Reason: "r"})
	}
	for i := range 50 {
		ts.s.refuse(Refusal{Addr: fmt.Sprintf("10.9.9.9:%d", 1000+i), Reason: "flood"})
	}
	rs := ts.s.Refusals()
	if len(rs) != maxRefusals {
		t.Fatalf("%d refusals kept", len(rs))
	}
	if rs[0].Reason != "flood" || rs[0].Count != 50 || rs[1].Addr != fmt.Sprintf("10.0.1.%d:4000", 3*maxRefusals-1-250) {
		t.Fatalf("newest: %+v, %+v", rs[0], rs[1])
	}
}

// An invalid client/state after activation is recorded with the client's
// name from its hello.
func TestRefusedInvalidState(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, true)
	tc.connect(t, ts.url)
	waitClients(t, ts.s, 1)
	const bad = `{"type":"client/state","payload":{"available":"yes"}}`
	if err := tc.c.Send(func(dst []byte) ([]byte, error) { return append(append(dst, wire.IDJSON), bad...), nil }); err != nil {
		t.Fatal(err)
	}
	r := waitRefusal(t, ts.s, "invalid client/state")
	if r.Client != tc.id.Public() || r.Name != "Kitchen" || !strings.HasPrefix(r.Reason, `invalid client/state: field "available" has the wrong JSON type`) {
		t.Fatalf("refusal %+v", r)
	}
	// The client's own listing says it too, once it is offline.
	if h, ok := ts.s.History(tc.id.Public()); !ok || !strings.HasPrefix(h.Note(), "its last connection was refused at ") ||
		!strings.HasSuffix(h.Note(), r.Reason) {
		t.Fatalf("history %+v, note %q", h, h.Note())
	}
}
