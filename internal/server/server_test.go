package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// These tests run the server over real WebSocket connections on loopback
// against a client built directly on the secure channel.

type testServer struct {
	s    *Server
	st   *store.Store
	http *httptest.Server
	url  string
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Name: "Test Server"})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(s)
	ts := &testServer{s: s, st: st, http: h, url: "ws" + strings.TrimPrefix(h.URL, "http") + "/sendspin"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		h.Close()
		st.Close()
	})
	return ts
}

type testClient struct {
	id      *keys.Identity
	pairing keys.PSK
	record  *struct {
		psk    keys.PSK
		server keys.PublicKey
	}
	unpaired bool
	formats  []wire.AudioFormat
	capacity int64
	c        *securechan.Conn
	// groups are the group/update messages received, in order; read
	// passes over them. order is every JSON message's type, in order.
	groups []wire.GroupUpdate
	order  []wire.Type
	// pending is the outstanding read, so a wait can time out without
	// closing the connection; nothing is read unless asked for, so a test
	// can stall a client by not asking.
	pending chan readResult
}

type readResult struct {
	in  securechan.Inbound
	err error
}

// recvOne returns the next message, or false after d with the read left
// outstanding. Binary payloads are copied: the secure channel reuses its
// buffer on the next read.
func (tc *testClient) recvOne(d time.Duration) (readResult, bool) {
	if tc.pending == nil {
		ch := make(chan readResult, 1)
		tc.pending = ch
		c := tc.c
		go func() {
			in, err := c.Read()
			if in.JSON == nil {
				in.Data = append([]byte(nil), in.Data...)
			}
			ch <- readResult{in, err}
		}()
	}
	select {
	case r := <-tc.pending:
		tc.pending = nil
		return r, true
	case <-time.After(d):
		return readResult{}, false
	}
}

func newClient(t *testing.T, unpaired bool) *testClient {
	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testClient{id: id, pairing: keys.PSK{1, 2, 3}, unpaired: unpaired}
}

// connect runs the handshake and the hellos and returns the first
// activation.
func (tc *testClient) connect(t *testing.T, url string) *wire.ServerActivate {
	t.Helper()
	tr, err := securechan.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	cfg := securechan.ClientConfig{Identity: tc.id, PairingPSK: tc.pairing, Timeout: 5 * time.Second,
		LongTerm: func(id keys.PSKID) (keys.PSK, keys.PublicKey, bool) {
			if tc.record != nil && tc.record.psk.ID() == id {
				return tc.record.psk, tc.record.server, true
			}
			return keys.PSK{}, keys.PublicKey{}, false
		}}
	c, err := securechan.ClientHandshake(context.Background(), tr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc.c = c
	in := tc.read(t)
	if h, ok := in.(*wire.ServerHello); !ok || h.Name != "Test Server" {
		t.Fatalf("first message %#v", in)
	}
	formats, capacity := tc.formats, tc.capacity
	if formats == nil {
		formats = []wire.AudioFormat{{Codec: wire.CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}}
	}
	if capacity == 0 {
		capacity = 1 << 20
	}
	err = c.WriteMessage(&wire.ClientHello{Name: "Kitchen", SupportedRoles: []wire.Role{wire.RolePlayerV1, wire.RoleMetadataV1},
		PlayerSupport: &wire.PlayerSupport{SupportedFormats: formats, BufferCapacity: capacity},
		PairMethods:   wire.PairMethods{PairingPSK: &wire.StaticMethod{}}, UnpairedAccess: tc.unpaired})
	if err != nil {
		t.Fatal(err)
	}
	return tc.activation(t)
}

func (tc *testClient) read(t *testing.T) wire.Message {
	t.Helper()
	for {
		r, ok := tc.recvOne(5 * time.Second)
		if !ok {
			t.Fatal("read: nothing for 5 s")
		}
		if r.err != nil {
			t.Fatalf("read: %v", r.err)
		}
		in := r.in
		if in.JSON != nil {
			tc.order = append(tc.order, in.JSON.Type())
		}
		if g, ok := in.JSON.(*wire.GroupUpdate); ok {
			tc.groups = append(tc.groups, *g)
			continue
		}
		return in.JSON
	}
}

// readErr reads past group/update messages: nil when something else came,
// else the read's error.
func (tc *testClient) readErr() error {
	for {
		r, ok := tc.recvOne(5 * time.Second)
		if !ok {
			return errors.New("nothing for 5 s")
		}
		if r.err != nil {
			return r.err
		}
		in := r.in
		if g, ok := in.JSON.(*wire.GroupUpdate); ok {
			tc.groups = append(tc.groups, *g)
			continue
		}
		return nil
	}
}

// group is the latest group/update received.
func (tc *testClient) group(t *testing.T) wire.GroupUpdate {
	t.Helper()
	if len(tc.groups) == 0 {
		t.Fatal("no group/update received")
	}
	return tc.groups[len(tc.groups)-1]
}

func (tc *testClient) activation(t *testing.T) *wire.ServerActivate {
	t.Helper()
	m := tc.read(t)
	a, ok := m.(*wire.ServerActivate)
	if !ok {
		t.Fatalf("expected server/activate, got %#v", m)
	}
	return a
}

func rolesOf(a *wire.ServerActivate) string {
	var s []string
	for _, r := range a.ActiveRoles {
		s = append(s, string(r))
	}
	return strings.Join(s, ",")
}

func waitClients(t *testing.T, s *Server, n int) []ClientInfo {
	t.Helper()
	for range 500 {
		if cs := s.Clients(); len(cs) == n {
			return cs
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("server never listed %d clients", n)
	return nil
}

// TestApprovalFlow: an unknown client with unpaired access enabled is held
// at no activities and no roles until the operator approves it, gets the
// player role then, and loses it on revocation.
func TestApprovalFlow(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, true)
	a := tc.connect(t, ts.url)
	if len(a.Activities) != 0 || !a.HasActiveRoles || len(a.ActiveRoles) != 0 {
		t.Fatalf("unapproved client activated: %+v", a)
	}
	cs := waitClients(t, ts.s, 1)
	if cs[0].Status != StatusUnapproved || cs[0].Name != "Kitchen" || cs[0].ID != tc.id.Public() {
		t.Fatalf("listed as %+v", cs[0])
	}
	if err := ts.s.Approve(tc.id.Public(), false); err != nil {
		t.Fatal(err)
	}
	a = tc.activation(t)
	if len(a.Activities) != 0 || rolesOf(a) != "player@v1" {
		t.Fatalf("approved: %+v (only the player role is served; no playback until something plays)", a)
	}
	if cs := ts.s.Clients(); cs[0].Status != StatusApproved {
		t.Fatalf("status %v", cs[0].Status)
	}
	if err := ts.s.Revoke(tc.id.Public()); err != nil {
		t.Fatal(err)
	}
	if a = tc.activation(t); len(a.ActiveRoles) != 0 {
		t.Fatalf("revoked: %+v", a)
	}
	// Approval persists in the store.
	if err := ts.s.Approve(tc.id.Public(), false); err != nil {
		t.Fatal(err)
	}
	tc.activation(t)
	tc.c.Close()
	tc2 := &testClient{id: tc.id, pairing: tc.pairing, unpaired: true}
	if a := tc2.connect(t, ts.url); rolesOf(a) != "player@v1" {
		t.Fatalf("reconnect after approval: %+v", a)
	}
}

// TestUnpairedAccessDisabled: approval cannot give roles to a client that
// does not admit unpaired access.
func TestUnpairedAccessDisabled(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, false)
	if err := ts.st.Approve(store.Approval{Client: tc.id.Public()}); err != nil {
		t.Fatal(err)
	}
	if a := tc.connect(t, ts.url); len(a.ActiveRoles) != 0 || len(a.Activities) != 0 {
		t.Fatalf("%+v", a)
	}
}

// TestPairedClient: a client with a pairing record connects under the
// long-term PSK and gets its roles without approval.
func TestPairedClient(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, false)
	lt := keys.PSK{9, 9, 9}
	if err := ts.st.PutClientRecord(tc.id.Public(), lt); err != nil {
		t.Fatal(err)
	}
	tc.record = &struct {
		psk    keys.PSK
		server keys.PublicKey
	}{lt, ts.s.ID()}
	a := tc.connect(t, ts.url)
	if tc.c.Matched().Category != wire.PSKLongTerm || rolesOf(a) != "player@v1" {
		t.Fatalf("%s %+v", tc.c.Matched().Category, a)
	}
	if cs := waitClients(t, ts.s, 1); cs[0].Status != StatusPaired || cs[0].Mismatch {
		t.Fatalf("%+v", cs[0])
	}
}

// TestCredentialMismatch: the server holds a record the client lost; the
// session falls back to the Sentinel, gets no roles even when approved,
// and is shown as needing re-pairing.
func TestCredentialMismatch(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, true)
	_ = ts.st.PutClientRecord(tc.id.Public(), keys.PSK{7})
	_ = ts.st.Approve(store.Approval{Client: tc.id.Public()})
	a := tc.connect(t, ts.url)
	if tc.c.Matched().Category != wire.PSKSentinel || len(a.ActiveRoles) != 0 {
		t.Fatalf("%s %+v", tc.c.Matched().Category, a)
	}
	if cs := waitClients(t, ts.s, 1); !cs[0].Mismatch || cs[0].Status == StatusPaired {
		t.Fatalf("%+v", cs[0])
	}
}

// TestTimeSync: client/time is answered with stamps in order on the
// server clock.
func TestTimeSync(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, true)
	tc.connect(t, ts.url)
	for i := range 8 {
		if err := tc.c.WriteMessage(&wire.ClientTime{ClientTransmitted: int64(1000 + i)}); err != nil {
			t.Fatal(err)
		}
		st, ok := tc.read(t).(*wire.ServerTime)
		if !ok || st.ClientTransmitted != int64(1000+i) || st.ServerReceived <= 0 || st.ServerTransmitted < st.ServerReceived {
			t.Fatalf("reply %d: %+v", i, st)
		}
	}
}

// TestProtocolErrors: out-of-sequence messages end the session silently,
// and the server keeps serving.
func TestProtocolErrors(t *testing.T) {
	ts := startServer(t)
	cases := map[string]func(tc *testClient) error{
		"second hello": func(tc *testClient) error {
			return tc.c.WriteMessage(&wire.ClientHello{Name: "again", SupportedRoles: []wire.Role{},
				PairMethods: wire.PairMethods{PairingPSK: &wire.StaticMethod{}}})
		},
		"pairing message outside pairing": func(tc *testClient) error {
			return tc.c.WriteMessage(&wire.ClientPairInit{PairingIndex: 1})
		},
		"source audio without a stream": func(tc *testClient) error {
			return tc.c.WriteBinary(wire.AppendSourceChunk(nil, 1, []byte{0, 0}))
		},
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			tc := newClient(t, true)
			tc.connect(t, ts.url)
			if err := send(tc); err != nil {
				t.Fatal(err)
			}
			if err := tc.readErr(); err == nil {
				t.Fatal("server answered instead of closing")
			}
			tc2 := newClient(t, true)
			tc2.connect(t, ts.url)
			tc2.c.Close()
		})
	}
	// Unknown message types and binary IDs are ignored after activation.
	tc := newClient(t, true)
	tc.connect(t, ts.url)
	if err := tc.c.WriteBinary([]byte{200, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := tc.c.WriteMessage(&wire.ClientTime{ClientTransmitted: 5}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tc.read(t).(*wire.ServerTime); !ok {
		t.Fatal("ignored message ended the session")
	}
}

// TestGoodbyeAndShutdown: a goodbye ends the session; Shutdown closes the
// rest and refuses new connections.
func TestGoodbyeAndShutdown(t *testing.T) {
	ts := startServer(t)
	a, b := newClient(t, true), newClient(t, true)
	a.connect(t, ts.url)
	b.connect(t, ts.url)
	waitClients(t, ts.s, 2)
	if err := a.c.Goodbye(wire.GoodbyeShutdown); err != nil {
		t.Fatal(err)
	}
	waitClients(t, ts.s, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.readErr(); err == nil {
		t.Fatal("session survived shutdown")
	}
	tr, err := securechan.Dial(context.Background(), ts.url)
	if err == nil {
		_, herr := securechan.ClientHandshake(context.Background(), tr, securechan.ClientConfig{Identity: b.id, PairingPSK: b.pairing, Timeout: time.Second})
		if herr == nil {
			t.Fatal("a new connection was served after shutdown")
		}
	}
	if err := ts.s.Dial(context.Background(), ts.url); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("dial after shutdown: %v", err)
	}
	_ = errors.New
}
