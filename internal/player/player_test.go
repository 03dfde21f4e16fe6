package player

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// The player against the real server, over WebSocket on loopback.

type rig struct {
	srvLog *syncBuffer // the server's log lines
	srv    *server.Server
	sst    *store.Store
	url    string
	pl     *Player
	pst    *store.Store
	errs   chan error
	stop   context.CancelFunc
}

func newRig(t *testing.T, unpaired bool) *rig {
	t.Helper()
	return newRigWith(t, nil, func(c *Config) { c.UnpairedAccess = unpaired })
}

// newRigWith builds the rig with the server's and the player's
// configuration adjusted by scfg and pcfg (either may be nil).
func newRigWith(t *testing.T, scfg func(*server.Config), pcfg func(*Config)) *rig {
	t.Helper()
	sst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srvLog := &syncBuffer{}
	sc := server.Config{Store: sst, Name: "Rig Server",
		Log: slog.New(slog.NewTextHandler(io.MultiWriter(tWriter{t}, srvLog), nil)).With("side", "server")}
	if scfg != nil {
		scfg(&sc)
	}
	srv, err := server.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv)
	pst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pc := Config{Store: pst, Name: "Rig Player", Log: testLog(t, "player")}
	if pcfg != nil {
		pcfg(&pc)
	}
	pl, err := New(pc)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{srvLog: srvLog, srv: srv, sst: sst, url: "ws" + strings.TrimPrefix(h.URL, "http") + "/sendspin", pl: pl, pst: pst, errs: make(chan error, 1)}
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		h.Close()
		sst.Close()
		pst.Close()
	})
	return r
}

func (r *rig) connect() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.errs <- r.pl.Connect(ctx, r.url) }()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func serverView(s *server.Server, id keys.PublicKey) (server.ClientInfo, bool) {
	for _, c := range s.Clients() {
		if c.ID == id {
			return c, true
		}
	}
	return server.ClientInfo{}, false
}

// TestApprovedPlayerBecomesAvailable: an unpaired player is held idle,
// gets the player role when the operator approves it, synchronizes its
// clock and reports available: true, which the server sees.
func TestApprovedPlayerBecomesAvailable(t *testing.T) {
	r := newRig(t, true)
	r.connect()
	waitFor(t, "the server to list the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return ok })
	if st := r.pl.Status(); !st.Connected || st.ServerName != "Rig Server" || st.Paired || len(st.Roles) != 0 {
		t.Fatalf("before approval: %+v", st)
	}
	start := time.Now()
	if err := r.srv.Approve(r.pl.ID(), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "available", func() bool {
		info, _ := serverView(r.srv, r.pl.ID())
		return info.Available
	})
	t.Logf("approval to available: true in %v", time.Since(start))
	st := r.pl.Status()
	if !st.Synced || !st.Available || len(st.Roles) != 1 || st.Roles[0] != wire.RolePlayerV1 {
		t.Fatalf("after approval: %+v", st)
	}
	// Both run on this machine's clock: the offset is the difference of
	// their start times, within a millisecond of the truth.
	if d := st.OffsetUS; d > 1e6 || d < -1e6 {
		t.Fatalf("offset %v µs", d)
	}
}

// TestPairedPlayer: with pairing records on both sides the player connects
// under the long-term PSK and gets its role at once.
func TestPairedPlayer(t *testing.T) {
	r := newRig(t, false)
	lt := keys.PSK{4, 2}
	if err := r.sst.PutClientRecord(r.pl.ID(), lt); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pst.PutServerRecord(store.ServerRecord{Server: r.srv.ID(), PSK: lt, LastUsed: time.Now()}, 5, nil); err != nil {
		t.Fatal(err)
	}
	r.connect()
	waitFor(t, "available", func() bool { info, _ := serverView(r.srv, r.pl.ID()); return info.Available })
	if st := r.pl.Status(); !st.Paired || len(st.Roles) != 1 {
		t.Fatalf("%+v", st)
	}
	if info, _ := serverView(r.srv, r.pl.ID()); info.Status != server.StatusPaired {
		t.Fatalf("%+v", info)
	}
}

// TestUnpairedAccessDisabledStaysIdle: no pairing and no unpaired access:
// the player connects but is never activated.
func TestUnpairedAccessDisabledStaysIdle(t *testing.T) {
	r := newRig(t, false)
	_ = r.sst.Approve(store.Approval{Client: r.pl.ID()})
	r.connect()
	waitFor(t, "the server to list the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return ok })
	time.Sleep(100 * time.Millisecond)
	if st := r.pl.Status(); len(st.Roles) != 0 || st.Available {
		t.Fatalf("%+v", st)
	}
}

// TestShutdownSaysGoodbye: cancelling the player's context sends a
// goodbye; the server drops the client.
func TestShutdownSaysGoodbye(t *testing.T) {
	r := newRig(t, true)
	r.connect()
	waitFor(t, "the server to list the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return ok })
	r.stop()
	if err := <-r.errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect returned %v", err)
	}
	waitFor(t, "the server to drop the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return !ok })
	if st := r.pl.Status(); st.Connected {
		t.Fatal("still connected")
	}
}

// TestConnectErrors: a clear error for a server that is not there.
func TestConnectErrors(t *testing.T) {
	pst, _ := store.Open(t.TempDir())
	defer pst.Close()
	pl, _ := New(Config{Store: pst})
	err := pl.Connect(context.Background(), "ws://127.0.0.1:1/sendspin")
	if err == nil || !strings.Contains(err.Error(), "connecting to ws://127.0.0.1:1/sendspin") {
		t.Fatalf("got %v", err)
	}
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLog logs through t, shown for failing tests and with -v.
func testLog(t *testing.T, who string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", who)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
