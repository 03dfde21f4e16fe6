package player

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Several servers dial one player over real connections (connection.md
// "Multiple servers (server-initiated)"). Each test checks what the
// servers receive: the client/goodbye or pair/abort reason that ends a
// connection, and the reconnect policy the server derives from it
// (messaging.md "client/goodbye").

// msPlayer is a player listening for servers, with its store.
type msPlayer struct {
	pl  *Player
	st  *store.Store
	url string
}

func newMSPlayer(t *testing.T, cfg Config) *msPlayer {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	if cfg.Name == "" {
		cfg.Name = "Speaker"
	}
	pl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(pl)
	t.Cleanup(h.Close)
	return &msPlayer{pl: pl, st: st, url: "ws" + strings.TrimPrefix(h.URL, "http")}
}

// ended waits for a dial to return and checks the goodbye the server
// received and its reconnect policy.
func ended(t *testing.T, d *dialer, who string, want wire.GoodbyeReason, policy session.Reconnect) {
	t.Helper()
	var err error
	select {
	case err = <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("server %s: the connection did not end", who)
	}
	var e *server.Ended
	if !errors.As(err, &e) {
		t.Fatalf("server %s: Dial returned %v, not a session's end", who, err)
	}
	if e.Goodbye != want || e.Reconnect() != policy {
		t.Fatalf("server %s: goodbye %q, reconnect %v (%v); want %q, %v", who, e.Goodbye, e.Reconnect(), e.Err, want, policy)
	}
}

// ctxHandler serves the player with request contexts that end with ctx,
// as the daemon's listener does: ending ctx stops the player.
type ctxHandler struct {
	ctx context.Context
	pl  *Player
}

func (h ctxHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.ctx, cancel)()
	h.pl.ServeHTTP(w, r.WithContext(ctx))
}

// rawServer is a server made of the secure channel alone: it completes
// the handshake as a server and then says only what the test tells it.
func rawServer(t *testing.T, url string) *securechan.Conn {
	t.Helper()
	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rawServerAs(t, url, id, nil)
}

// rawServerAs is rawServer with its identity and PSK choice.
func rawServerAs(t *testing.T, url string, id *keys.Identity, choose func(keys.PublicKey) securechan.PSKChoice) *securechan.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr, err := securechan.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := securechan.ServerHandshake(ctx, tr, securechan.ServerConfig{Identity: id, ChoosePSK: choose})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// held exchanges the hellos on a raw connection, without activating it:
// the player then holds it, provisional.
func held(t *testing.T, c *securechan.Conn) *securechan.Conn {
	t.Helper()
	if err := c.WriteMessage(&wire.ServerHello{Name: "Silent"}); err != nil {
		t.Fatal(err)
	}
	in, err := c.Read()
	if err != nil {
		t.Fatalf("no client/hello: %v", err)
	}
	if _, ok := in.JSON.(*wire.ClientHello); !ok {
		t.Fatalf("got %T, want client/hello", in.JSON)
	}
	return c
}

// closedSilently reads c until the player closes it, failing on any
// client/goodbye or pair/abort on the way (a dropped provisional
// connection gets no message). It returns when the close was seen.
func closedSilently(t *testing.T, c *securechan.Conn) time.Time {
	t.Helper()
	for {
		in, err := c.Read()
		if err != nil {
			return time.Now()
		}
		switch m := in.JSON.(type) {
		case *wire.ClientGoodbye:
			t.Fatalf("goodbye %q, want a silent close", m.Reason)
		case *wire.PairAbort:
			t.Fatalf("pair/abort %q, want a silent close", m.Reason)
		}
	}
}

// An idle incoming server is rejected with concurrent_attempt (retry
// later); a playing one displaces the idle holder, which hears
// another_server (no automatic reconnect, shown available).
func TestMultiServerGoodbyeReasons(t *testing.T) {
	p := newMSPlayer(t, Config{UnpairedAccess: true})
	a, b := newDialer(t, "A"), newDialer(t, "B")
	for _, d := range []*dialer{a, b} {
		if err := d.st.Approve(store.Approval{Client: p.pl.ID()}); err != nil {
			t.Fatal(err)
		}
	}
	a.dial(p.url)
	waitFor(t, "server A to hold the player", func() bool { return p.pl.Status().ServerName == "A" && p.pl.Status().Available })

	b.dial(p.url)
	ended(t, b, "B", wire.GoodbyeConcurrentAttempt, session.ReconnectLater)
	if _, ok := serverView(b.srv, p.pl.ID()); ok {
		t.Fatal("server B still lists the player it was refused by")
	}

	src, _ := newTestTone()
	if err := b.srv.Play(src); err != nil {
		t.Fatal(err)
	}
	b.dial(p.url)
	ended(t, a, "A", wire.GoodbyeAnotherServer, session.ReconnectAvailable)
	waitFor(t, "server B to hold the player", func() bool { return p.pl.Status().ServerName == "B" })
	if _, ok := serverView(a.srv, p.pl.ID()); ok {
		t.Fatal("server A still lists the player that left it")
	}

	if _, ok := serverView(b.srv, p.pl.ID()); !ok {
		t.Fatal("server B does not list the player")
	}
}

// A provisional connection that has not sent server/activate within the
// provisional timeout is dropped without a message, however the time is
// split between server/hello and server/activate; a connection that was
// admitted meanwhile is not disturbed.
func TestProvisionalTimeoutOverTheWire(t *testing.T) {
	const timeout = time.Second
	p := newMSPlayer(t, Config{UnpairedAccess: true, ProvisionalTimeout: timeout})
	a := newDialer(t, "A")
	_ = a.st.Approve(store.Approval{Client: p.pl.ID()})
	a.dial(p.url)
	waitFor(t, "server A to hold the player", func() bool { return p.pl.Status().ServerName == "A" && p.pl.Status().Available })

	// Silent after the handshake.
	began := time.Now()
	c := rawServer(t, p.url)
	if d := closedSilently(t, c).Sub(began); d < timeout-50*time.Millisecond {
		t.Fatalf("dropped after %v, before the %v timeout", d, timeout)
	}

	// server/hello late in the window, then nothing: the bound is for
	// the whole provisional phase, not per message.
	began = time.Now()
	c = rawServer(t, p.url)
	time.Sleep(timeout * 7 / 10) // the scenario's timing, not a synchronization
	if err := c.WriteMessage(&wire.ServerHello{Name: "Late"}); err != nil {
		t.Fatal(err)
	}
	in, err := c.Read()
	if err != nil {
		t.Fatalf("no client/hello: %v", err)
	}
	if _, ok := in.JSON.(*wire.ClientHello); !ok {
		t.Fatalf("got %T, want client/hello", in.JSON)
	}
	d := closedSilently(t, c).Sub(began)
	if d < timeout-50*time.Millisecond || d >= timeout*17/10 {
		t.Fatalf("dropped after %v; want the %v timeout counted from the handshake", d, timeout)
	}

	if st := p.pl.Status(); st.ServerName != "A" || !st.Available {
		t.Fatalf("the admitted connection was disturbed: %+v", st)
	}
	select {
	case err := <-a.done:
		t.Fatalf("server A's connection ended: %v", err)
	default:
	}
}

// Past the cap on provisional connections, an incoming server is
// rejected as lower priority (goodbye concurrent_attempt) at once; once
// a provisional slot frees, it is admitted.
func TestProvisionalCapOverTheWire(t *testing.T) {
	p := newMSPlayer(t, Config{UnpairedAccess: true, MaxProvisional: 2})
	a := newDialer(t, "A")
	_ = a.st.Approve(store.Approval{Client: p.pl.ID()})
	silent := []*securechan.Conn{held(t, rawServer(t, p.url)), held(t, rawServer(t, p.url))}

	a.dial(p.url)
	ended(t, a, "A", wire.GoodbyeConcurrentAttempt, session.ReconnectLater)
	if st := p.pl.Status(); st.Connected {
		t.Fatalf("a server past the cap shows as connected: %+v", st)
	}

	// The provisional connections are untouched by the refusal: close
	// one, and A is admitted once the player has seen it go (refused
	// with the same reason until then).
	silent[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.dial(p.url)
		var err error
		waitFor(t, "server A to be admitted or refused", func() bool {
			if p.pl.Status().ServerName == "A" {
				return true
			}
			select {
			case err = <-a.done:
				return true
			default:
				return false
			}
		})
		if err == nil {
			break
		}
		var e *server.Ended
		if !errors.As(err, &e) || e.Goodbye != wire.GoodbyeConcurrentAttempt || time.Now().After(deadline) {
			t.Fatalf("server A after the slot freed: %v", err)
		}
	}
	waitFor(t, "server A to hold the player", func() bool { return p.pl.Status().ServerName == "A" && p.pl.Status().Available })
	silent[1].Close()
}

// Open paired connections stay below the player's record capacity
// (pairing.md "Pairing Records": a pairing must always find a record to
// evict), so with the spec's minimum of 5 records the fifth paired
// server connecting at once is refused with concurrent_attempt.
func TestPairedCapFollowsRecordCapacity(t *testing.T) {
	p := newMSPlayer(t, Config{RecordCapacity: store.MinRecordCapacity, MaxProvisional: 8})
	var conns []*securechan.Conn
	for i := range store.MinRecordCapacity {
		id, err := keys.GenerateIdentity(nil)
		if err != nil {
			t.Fatal(err)
		}
		lt := keys.PSK{byte(i + 1), 7}
		if _, err := p.st.PutServerRecord(store.ServerRecord{Server: id.Public(), PSK: lt, LastUsed: time.Now()}, store.MinRecordCapacity, nil); err != nil {
			t.Fatal(err)
		}
		c := rawServerAs(t, p.url, id, func(keys.PublicKey) securechan.PSKChoice {
			return securechan.PSKChoice{PSK: lt, Category: wire.PSKLongTerm}
		})
		if c.Matched().Category != wire.PSKLongTerm {
			t.Fatalf("server %d: handshake under %q, want the long-term PSK", i, c.Matched().Category)
		}
		if i < store.MinRecordCapacity-1 {
			held(t, c) // four paired connections held, provisional
		}
		conns = append(conns, c)
	}
	last := conns[len(conns)-1]
	in, err := last.Read()
	if err != nil {
		t.Fatalf("the fifth paired server was closed without a goodbye: %v", err)
	}
	if gb, ok := in.JSON.(*wire.ClientGoodbye); !ok || gb.Reason != wire.GoodbyeConcurrentAttempt {
		t.Fatalf("the fifth paired server got %#v, want goodbye concurrent_attempt", in.JSON)
	}
}

// A pairing attempt in progress is not displaced by an incoming playback
// connection: the playing server is refused with concurrent_attempt and
// the attempt goes on to pair.
func TestPairingAttemptNotDisplacedByPlayback(t *testing.T) {
	codes := make(chan string, 4)
	p := newMSPlayer(t, Config{UnpairedAccess: true, PairingCode: CodeDynamic, OnPairingCode: func(ev CodeEvent) {
		if !ev.Stop {
			codes <- ev.Text
		}
	}})
	a, b := newDialer(t, "A"), newDialer(t, "B")
	_ = b.st.Approve(store.Approval{Client: p.pl.ID()})
	a.dial(p.url)
	waitFor(t, "server A to list the player", func() bool { _, ok := serverView(a.srv, p.pl.ID()); return ok })
	if err := a.srv.StartPairing(server.PairRequest{Client: p.pl.ID(), Method: wire.MethodDynamicCode}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "server A to await the code", func() bool {
		return a.srv.PairingState(p.pl.ID()).Phase == server.PairingAwaitingCode
	})
	var code string
	select {
	case code = <-codes:
	case <-time.After(5 * time.Second):
		t.Fatal("no code shown")
	}

	src, _ := newTestTone()
	if err := b.srv.Play(src); err != nil {
		t.Fatal(err)
	}
	b.dial(p.url)
	ended(t, b, "B", wire.GoodbyeConcurrentAttempt, session.ReconnectLater)
	if ph := a.srv.PairingState(p.pl.ID()).Phase; ph != server.PairingAwaitingCode {
		t.Fatalf("the attempt on A is %v after B was refused", ph)
	}

	if err := a.srv.EnterCode(p.pl.ID(), code); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pairing records on both sides", func() bool {
		_, sok, _ := a.st.ClientRecord(p.pl.ID())
		recs, _ := p.st.ServerRecords()
		return sok && len(recs) == 1 && recs[0].Server == a.srv.ID()
	})
	select {
	case err := <-a.done:
		t.Fatalf("server A's connection ended: %v", err)
	default:
	}
}

// The goodbyes the player sends when it ends a session itself reach a
// real server: shutdown when it stops (no automatic reconnect), unpaired
// after server/unpair (no automatic reconnect, the records gone on both
// sides).
func TestPlayerGoodbyesReachServer(t *testing.T) {
	t.Run("shutdown", func(t *testing.T) {
		st, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		pl, err := New(Config{Store: st, UnpairedAccess: true, Name: "Speaker"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		h := httptest.NewServer(ctxHandler{ctx: ctx, pl: pl})
		defer h.Close()
		a := newDialer(t, "A")
		_ = a.st.Approve(store.Approval{Client: pl.ID()})
		a.dial("ws" + strings.TrimPrefix(h.URL, "http"))
		waitFor(t, "server A to hold the player", func() bool { return pl.Status().ServerName == "A" })
		stop()
		ended(t, a, "A", wire.GoodbyeShutdown, session.ReconnectNone)
	})
	t.Run("unpaired", func(t *testing.T) {
		p := newMSPlayer(t, Config{})
		a := newDialer(t, "A")
		lt := keys.PSK{1, 2, 3}
		if err := a.st.PutClientRecord(p.pl.ID(), lt); err != nil {
			t.Fatal(err)
		}
		if _, err := p.st.PutServerRecord(store.ServerRecord{Server: a.srv.ID(), PSK: lt, LastUsed: time.Now()}, 5, nil); err != nil {
			t.Fatal(err)
		}
		a.dial(p.url)
		waitFor(t, "server A to hold the paired player", func() bool { return p.pl.Status().ServerName == "A" && p.pl.Status().Paired })
		if err := a.srv.Unpair(p.pl.ID()); err != nil {
			t.Fatal(err)
		}
		ended(t, a, "A", wire.GoodbyeUnpaired, session.ReconnectNone)
		waitFor(t, "the player to drop its record", func() bool { recs, _ := p.st.ServerRecords(); return len(recs) == 0 })
		if _, ok, _ := a.st.ClientRecord(p.pl.ID()); ok {
			t.Fatal("server A kept its record")
		}
	})
}

// A client may close at once after its goodbye (messaging.md
// "client/goodbye"), while the server is still writing what follows its
// activation: the reason still decides the server's reconnect. A client
// made of the secure channel alone refuses each activation this way.
func TestServerKeepsGoodbyeOfClientThatClosesAtOnce(t *testing.T) {
	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr, err := securechan.AcceptFromServer(w, r)
		if err != nil {
			return
		}
		c, err := securechan.ClientHandshake(r.Context(), tr, securechan.ClientConfig{Identity: id, PairingPSK: keys.PSK{9}})
		if err != nil {
			return
		}
		defer c.Close()
		if in, err := c.Read(); err != nil || in.JSON == nil || in.JSON.Type() != wire.TypeServerHello {
			return
		}
		hello := &wire.ClientHello{Name: "Raw", SupportedRoles: []wire.Role{wire.RolePlayerV1},
			PlayerSupport: &wire.PlayerSupport{BufferCapacity: 1 << 20,
				SupportedFormats: []wire.AudioFormat{{Codec: wire.CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}}},
			PairMethods:    wire.PairMethods{PairingPSK: &wire.StaticMethod{Locations: []wire.Location{wire.LocationOperator}}},
			UnpairedAccess: true}
		if err := c.WriteMessage(hello); err != nil {
			return
		}
		for {
			in, err := c.Read()
			if err != nil {
				return
			}
			if _, ok := in.JSON.(*wire.ServerActivate); ok {
				_ = c.Goodbye(wire.GoodbyeConcurrentAttempt) // sends, then closes at once
				return
			}
		}
	}))
	defer h.Close()
	url := "ws" + strings.TrimPrefix(h.URL, "http")
	a := newDialer(t, "A")
	if err := a.st.Approve(store.Approval{Client: id.Public()}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		a.dial(url)
		ended(t, a, "A", wire.GoodbyeConcurrentAttempt, session.ReconnectLater)
	}
}

// The player's refusals of an activation are goodbyes with the reason the
// session rules choose (messaging.md "server/activate", "client/goodbye"):
// pairing_required for playback on a Sentinel session without unpaired
// access, unauthorized when unpaired access would not help. Our server never sends
// these activations, so a server made of the secure channel does.
func TestPlayerRefusalGoodbyesOnTheWire(t *testing.T) {
	cases := []struct {
		name     string
		unpaired bool
		act      wire.ServerActivate
		want     wire.GoodbyeReason
	}{
		{"playback without unpaired access", false, wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPlayback},
			ActiveRoles: []wire.Role{wire.RolePlayerV1}, HasActiveRoles: true}, wire.GoodbyePairingRequired},
		// Unpaired access would not make it admissible either (pairing_psk
		// is no Sentinel method): SESSION-RULES.md "Rejection order".
		{"playback and pairing_psk on the sentinel", false, wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPlayback, wire.ActivityPairing},
			Pairing: &wire.PairingParams{Method: wire.MethodPairingPSK}}, wire.GoodbyeUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newMSPlayer(t, Config{UnpairedAccess: tc.unpaired})
			c := held(t, rawServer(t, p.url))
			if c.Matched().Category != wire.PSKSentinel {
				t.Fatalf("session under %q, want the Sentinel", c.Matched().Category)
			}
			act := tc.act
			if err := c.WriteMessage(&act); err != nil {
				t.Fatal(err)
			}
			for {
				in, err := c.Read()
				if err != nil {
					t.Fatalf("closed without a goodbye: %v", err)
				}
				if gb, ok := in.JSON.(*wire.ClientGoodbye); ok {
					if gb.Reason != tc.want {
						t.Fatalf("goodbye %q, want %q", gb.Reason, tc.want)
					}
					break
				}
			}
			if st := p.pl.Status(); st.Connected {
				t.Fatalf("the refused server shows as connected: %+v", st)
			}
		})
	}
}

// An activation refused with pair/abort method_not_supported leaves the
// connection provisional (SESSION-RULES.md reading 12): it is dropped,
// silently, when the provisional timeout runs out after the handshake.
func TestProvisionalAfterRefusedActivation(t *testing.T) {
	const timeout = time.Second
	p := newMSPlayer(t, Config{UnpairedAccess: true, ProvisionalTimeout: timeout})
	began := time.Now()
	c := held(t, rawServer(t, p.url))
	act := &wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPairing}, Pairing: &wire.PairingParams{Method: wire.MethodStaticCode}}
	if err := c.WriteMessage(act); err != nil {
		t.Fatal(err)
	}
	in, err := c.Read()
	if err != nil {
		t.Fatalf("no answer to the activation: %v", err)
	}
	if pa, ok := in.JSON.(*wire.PairAbort); !ok || pa.Reason != wire.AbortMethodNotSupported {
		t.Fatalf("got %#v, want pair/abort method_not_supported", in.JSON)
	}
	d := closedSilently(t, c).Sub(began)
	if d < timeout-50*time.Millisecond || d > timeout+500*time.Millisecond {
		t.Fatalf("dropped after %v; want the %v provisional timeout", d, timeout)
	}
}
