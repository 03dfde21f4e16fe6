package securechan

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

func newIdentity(t testing.TB) *keys.Identity {
	t.Helper()
	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomPSK(t testing.TB) keys.PSK {
	id := newIdentity(t) // 32 random bytes, conveniently
	return keys.PSK(id.Private())
}

// peers is a server and a client identity with the client's credentials.
type peers struct {
	server, client *keys.Identity
	pairing        keys.PSK
	records        map[keys.PSKID]record // the client's pairing records
}

type record struct {
	psk    keys.PSK
	server keys.PublicKey
}

func newPeers(t testing.TB) *peers {
	return &peers{server: newIdentity(t), client: newIdentity(t), pairing: randomPSK(t), records: map[keys.PSKID]record{}}
}

func (p *peers) clientConfig(suite keys.Suite) ClientConfig {
	return ClientConfig{Identity: p.client, Suite: suite, PairingPSK: p.pairing, Timeout: 5 * time.Second,
		LongTerm: func(id keys.PSKID) (keys.PSK, keys.PublicKey, bool) {
			r, ok := p.records[id]
			return r.psk, r.server, ok
		}}
}

func (p *peers) serverConfig(choice PSKChoice) ServerConfig {
	return ServerConfig{Identity: p.server, Timeout: 5 * time.Second,
		ChoosePSK: func(client keys.PublicKey) PSKChoice {
			if client != p.client.Public() {
				panic("ChoosePSK called with the wrong client")
			}
			return choice
		}}
}

// TestHandshakeMatrix covers both suites and each PSK category, with the
// Sentinel fallback on each side and the misbinding check.
func TestHandshakeMatrix(t *testing.T) {
	for _, suite := range []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM} {
		t.Run(string(suite), func(t *testing.T) {
			p := newPeers(t)
			lt := randomPSK(t)
			p.records[lt.ID()] = record{lt, p.server.Public()}
			other := randomPSK(t)
			cases := []struct {
				name     string
				choice   PSKChoice
				want     wire.PSKCategory
				mismatch bool
			}{
				{"sentinel", SentinelChoice, wire.PSKSentinel, false},
				{"pairing", PSKChoice{p.pairing, wire.PSKPairing}, wire.PSKPairing, false},
				{"long-term", PSKChoice{lt, wire.PSKLongTerm}, wire.PSKLongTerm, false},
				// The client lost its record: it falls back, the server retries
				// under the Sentinel and sees the credential-mismatch signal.
				{"long-term miss", PSKChoice{other, wire.PSKLongTerm}, wire.PSKSentinel, true},
				{"pairing miss", PSKChoice{other, wire.PSKPairing}, wire.PSKSentinel, true},
				// A PSK the client holds under another category is a miss.
				{"category mismatch", PSKChoice{lt, wire.PSKPairing}, wire.PSKSentinel, true},
				{"pairing psk as long-term", PSKChoice{p.pairing, wire.PSKLongTerm}, wire.PSKSentinel, true},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					a, b := Pipe()
					sc, cc := handshakePair(t, a, b, p.serverConfig(c.choice), p.clientConfig(suite))
					defer sc.Close()
					defer cc.Close()
					for side, conn := range map[string]*Conn{"server": sc, "client": cc} {
						if conn.Matched().Category != c.want || conn.CredentialMismatch() != c.mismatch || conn.Suite() != suite {
							t.Fatalf("%s: matched %s mismatch %v", side, conn.Matched().Category, conn.CredentialMismatch())
						}
					}
					if sc.Peer() != p.client.Public() || cc.Peer() != p.server.Public() || sc.H() != cc.H() {
						t.Fatal("peers or hashes disagree")
					}
					exchange(t, sc, cc)
				})
			}
			t.Run("misbinding", func(t *testing.T) {
				q := newPeers(t)
				bound := randomPSK(t)
				q.records[bound.ID()] = record{bound, newIdentity(t).Public()} // bound to another server
				a, b := Pipe()
				errs := make(chan error, 1)
				go func() {
					_, err := ServerHandshake(context.Background(), a, q.serverConfig(PSKChoice{bound, wire.PSKLongTerm}))
					errs <- err
				}()
				_, err := ClientHandshake(context.Background(), b, q.clientConfig(suite))
				if !errors.Is(err, ErrMisbinding) {
					t.Fatalf("client: %v", err)
				}
				if err := <-errs; !errors.Is(err, ErrSilent) {
					t.Fatalf("server: %v", err)
				}
			})
		})
	}
}

// exchange checks that messages flow both ways, JSON and binary, small and
// fragmented.
func exchange(t testing.TB, sc, cc *Conn) {
	t.Helper()
	if err := sc.WriteMessage(&wire.ServerHello{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	in, err := cc.Read()
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := in.JSON.(*wire.ServerHello); !ok || h.Name != "s" {
		t.Fatalf("got %#v", in.JSON)
	}
	big := make([]byte, 200000)
	big[0] = wire.IDSourceAudio
	for i := range big[1:] {
		big[i+1] = byte(i)
	}
	go func() { _ = cc.WriteBinary(big) }()
	in, err = sc.Read()
	if err != nil || !bytes.Equal(in.Data, big) || in.ID != wire.IDSourceAudio {
		t.Fatalf("fragmented message: %v", err)
	}
}

func TestServerInitFailuresOverPipe(t *testing.T) {
	p := newPeers(t)
	cases := []struct {
		name string
		in   []byte
		kind FrameKind
		want wire.ErrorReason
	}{
		{"version", []byte(`{"type":"client/init","payload":{"version":3}}`), Text, wire.ReasonUnsupportedVersion},
		{"suite", []byte(`{"type":"client/init","payload":{"client_id":"` + p.client.Public().String() + `","version":1,"suite":"25519_AESGCM_BLAKE2s"}}`), Text, wire.ReasonUnsupportedSuite},
		{"json", []byte(`{"type":`), Text, wire.ReasonMalformed},
		{"binary frame", []byte(`{"type":"client/init"}`), Binary, wire.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := Pipe()
			errs := make(chan error, 1)
			go func() {
				_, err := ServerHandshake(context.Background(), a, p.serverConfig(SentinelChoice))
				errs <- err
			}()
			if err := b.WriteFrame(c.kind, c.in); err != nil {
				t.Fatal(err)
			}
			kind, reply, err := b.ReadFrame(nil)
			if err != nil || kind != Text {
				t.Fatalf("no reply: %v", err)
			}
			if want := `{"type":"server/error","payload":{"reason":"` + string(c.want) + `"}}`; string(reply) != want {
				t.Fatalf("reply %s", reply)
			}
			var ie *wire.InitError
			if err := <-errs; !errors.As(err, &ie) || ie.Reason != c.want {
				t.Fatalf("server error %v", err)
			}
			if _, _, err := b.ReadFrame(nil); err == nil {
				t.Fatal("connection not closed after server/error")
			}
		})
	}
}

func TestClientSeesServerError(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	go func() {
		_, _, _ = a.ReadFrame(nil)
		_ = a.WriteFrame(Text, []byte(`{"type":"server/error","payload":{"reason":"unsupported_suite"}}`))
	}()
	_, err := ClientHandshake(context.Background(), b, p.clientConfig(keys.SuiteAESGCM))
	var sr *ServerRejected
	if !errors.As(err, &sr) || sr.Reason != wire.ReasonUnsupportedSuite {
		t.Fatalf("got %v", err)
	}
}

// TestHandshakeTimeout: a stalled peer is dropped after the per-phase
// timeout, on either side.
func TestHandshakeTimeout(t *testing.T) {
	p := newPeers(t)
	a, _ := Pipe()
	cfg := p.serverConfig(SentinelChoice)
	cfg.Timeout = 50 * time.Millisecond
	start := time.Now()
	if _, err := ServerHandshake(context.Background(), a, cfg); !errors.Is(err, ErrSilent) {
		t.Fatalf("server: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("timeout not applied")
	}
	_, b := Pipe()
	ccfg := p.clientConfig(keys.SuiteAESGCM)
	ccfg.Timeout = 50 * time.Millisecond
	if _, err := ClientHandshake(context.Background(), b, ccfg); !errors.Is(err, ErrSilent) {
		t.Fatalf("client: %v", err)
	}
	// A cancelled context ends a handshake too.
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := Pipe()
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := ServerHandshake(ctx, c, p.serverConfig(SentinelChoice)); err == nil {
		t.Fatal("cancelled handshake succeeded")
	}
}

// TestRehandshake promotes a Sentinel session to a long-term PSK and checks
// the re-handshake rules: old keys before message 2, activation first under
// new keys, no Sentinel fallback on a miss.
func TestRehandshake(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	sc, cc := handshakePair(t, a, b, p.serverConfig(SentinelChoice), p.clientConfig(keys.SuiteChaChaPoly))
	defer sc.Close()
	defer cc.Close()
	if err := sc.Rehandshake(context.Background(), PSKChoice{p.pairing, wire.PSKPairing}, &wire.ServerActivate{Activities: []wire.Activity{}}); err == nil {
		t.Fatal("re-handshake before the initial activation")
	}
	activate(t, sc, cc)
	h0 := sc.H()

	lt := randomPSK(t)
	p.records[lt.ID()] = record{lt, p.server.Public()}
	rehandshake(t, sc, cc, PSKChoice{lt, wire.PSKLongTerm})
	if sc.Matched().Category != wire.PSKLongTerm || cc.Matched().Category != wire.PSKLongTerm || sc.H() == h0 || sc.H() != cc.H() {
		t.Fatal("not promoted")
	}
	exchange(t, sc, cc)

	// To the pairing PSK and back: it is always a candidate.
	rehandshake(t, sc, cc, PSKChoice{p.pairing, wire.PSKPairing})
	exchange(t, sc, cc)

	// A miss during re-handshake fails the connection; no fallback.
	gone := randomPSK(t)
	serr := make(chan error, 1)
	go func() {
		serr <- sc.Rehandshake(context.Background(), PSKChoice{gone, wire.PSKLongTerm}, &wire.ServerActivate{Activities: []wire.Activity{}})
	}()
	go func() { _, _ = sc.Read() }()
	if _, err := cc.Read(); !errors.Is(err, ErrLookupMiss) {
		t.Fatalf("client: %v", err)
	}
	if err := <-serr; err == nil {
		t.Fatal("server re-handshake succeeded against a miss")
	}
}

func activate(t testing.TB, sc, cc *Conn) {
	t.Helper()
	if err := sc.WriteMessage(&wire.ServerActivate{Activities: []wire.Activity{}, HasActiveRoles: true, ActiveRoles: []wire.Role{}}); err != nil {
		t.Fatal(err)
	}
	if in, err := cc.Read(); err != nil || in.JSON.Type() != wire.TypeServerActivate {
		t.Fatalf("activation: %v", err)
	}
}

// rehandshake runs a re-handshake with a temporary reader on the server.
func rehandshake(t testing.TB, sc, cc *Conn, to PSKChoice) {
	t.Helper()
	errs := make(chan error, 2)
	go func() {
		errs <- sc.Rehandshake(context.Background(), to, &wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPlayback}})
	}()
	go func() {
		_, err := sc.Read() // carries message 2; returns the client's probe below
		errs <- err
	}()
	in, err := cc.Read()
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := in.JSON.(*wire.ServerActivate); !ok || !a.Has(wire.ActivityPlayback) {
		t.Fatalf("first message after re-handshake: %#v", in.JSON)
	}
	// The message carries the keys it arrived under: the new handshake's.
	if in.Epoch != cc.Epoch() || in.Matched != to.Category || in.H != cc.H() || in.H != sc.H() {
		t.Fatalf("inbound keys: epoch %d/%d, %s/%s", in.Epoch, cc.Epoch(), in.Matched, to.Category)
	}
	if err := cc.WriteMessage(&wire.ClientTime{ClientTransmitted: 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestRehandshakeUnderLoad re-keys repeatedly while both sides stream
// messages; every message arrives exactly once and in order. Run with
// -race (and -count=100 for the bar).
func TestRehandshakeUnderLoad(t *testing.T) {
	p := newPeers(t)
	lt := randomPSK(t)
	p.records[lt.ID()] = record{lt, p.server.Public()}
	a, b := Pipe()
	sc, cc := handshakePair(t, a, b, p.serverConfig(SentinelChoice), p.clientConfig(keys.SuiteAESGCM))
	defer sc.Close()
	defer cc.Close()
	activate(t, sc, cc)

	const n = 300
	var wg sync.WaitGroup
	send := func(c *Conn, from wire.Sender) {
		defer wg.Done()
		for i := range n {
			var m wire.Message = &wire.ClientTime{ClientTransmitted: int64(i)}
			if from == wire.FromServer {
				m = &wire.ServerTime{ClientTransmitted: int64(i)}
			}
			if err := c.WriteMessage(m); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
		}
	}
	// Readers run until the connection closes: message 2 and the new
	// activation arrive through them.
	type tally struct {
		mu  sync.Mutex
		got []int64
	}
	recv := func(c *Conn, tl *tally) {
		for {
			in, err := c.Read()
			if err != nil {
				return
			}
			tl.mu.Lock()
			switch m := in.JSON.(type) {
			case *wire.ClientTime:
				tl.got = append(tl.got, m.ClientTransmitted)
			case *wire.ServerTime:
				tl.got = append(tl.got, m.ClientTransmitted)
			}
			tl.mu.Unlock()
		}
	}
	var fromClient, fromServer tally
	wg.Add(2)
	go send(sc, wire.FromServer)
	go send(cc, wire.FromClient)
	go recv(sc, &fromClient)
	go recv(cc, &fromServer)
	choices := []PSKChoice{{lt, wire.PSKLongTerm}, {p.pairing, wire.PSKPairing}, SentinelChoice}
	for i := range 6 {
		if err := sc.Rehandshake(context.Background(), choices[i%3], &wire.ServerActivate{Activities: []wire.Activity{}}); err != nil {
			t.Fatalf("re-handshake %d: %v", i, err)
		}
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, tl := range []*tally{&fromClient, &fromServer} {
		for {
			tl.mu.Lock()
			n2 := len(tl.got)
			tl.mu.Unlock()
			if n2 >= n || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	for name, tl := range map[string]*tally{"client to server": &fromClient, "server to client": &fromServer} {
		tl.mu.Lock()
		if len(tl.got) != n {
			t.Fatalf("%s: %d messages, want %d", name, len(tl.got), n)
		}
		for i, v := range tl.got {
			if v != int64(i) {
				t.Fatalf("%s: message %d is %d", name, i, v)
			}
		}
		tl.mu.Unlock()
	}
	if sc.H() != cc.H() {
		t.Fatal("hashes differ")
	}
}

func TestRehandshakeRules(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	sc, cc := handshakePair(t, a, b, p.serverConfig(SentinelChoice), p.clientConfig(keys.SuiteAESGCM))
	defer sc.Close()
	activate(t, sc, cc)
	if err := cc.Rehandshake(context.Background(), SentinelChoice, &wire.ServerActivate{}); err == nil {
		t.Fatal("client re-handshake")
	}
	// A client never sends noise/handshake in transport mode.
	if err := cc.WriteMessage(&wire.NoiseHandshake{Data: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Read(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("server accepted a client handshake message: %v", err)
	}
	select {
	case <-sc.Done():
	default:
		t.Fatal("server connection still open after a protocol error")
	}
	if cc.Err() != nil {
		t.Fatalf("client failed on its own: %v", cc.Err())
	}
}
