package player

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// Server-initiated connections: two real servers dial one real player; the
// player's arbiter decides which holds it (connection.md "Multiple servers
// (server-initiated)").

type dialer struct {
	srv  *server.Server
	st   *store.Store
	done chan error
}

func newDialer(t *testing.T, name string) *dialer {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	d := &dialer{srv: srv, st: st, done: make(chan error, 1)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		st.Close()
	})
	return d
}

func (d *dialer) dial(url string) { go func() { d.done <- d.srv.Dial(context.Background(), url) }() }

func TestServerInitiatedAdmission(t *testing.T) {
	pst, _ := store.Open(t.TempDir())
	defer pst.Close()
	pl, err := New(Config{Store: pst, UnpairedAccess: true, Name: "Speaker"})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(pl)
	defer h.Close()
	url := "ws" + strings.TrimPrefix(h.URL, "http")

	a, b := newDialer(t, "A"), newDialer(t, "B")
	for _, d := range []*dialer{a, b} {
		_ = d.st.Approve(store.Approval{Client: pl.ID()})
	}
	a.dial(url)
	waitFor(t, "server A to hold the player", func() bool { return pl.Status().ServerName == "A" && pl.Status().Available })

	// Both idle (no activities): the incoming B is not the last-playback
	// server, so the player keeps A and turns B away.
	b.dial(url)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server B was not turned away")
	}
	if st := pl.Status(); st.ServerName != "A" {
		t.Fatalf("the player is held by %q", st.ServerName)
	}
	if _, ok := serverView(a.srv, pl.ID()); !ok {
		t.Fatal("server A lost the player")
	}

	// B plays: an incoming playback connection outranks A's idle one; A is
	// displaced with goodbye another_server and the player remembers B as
	// its last-playback server.
	src, _ := newTestTone()
	if err := b.srv.Play(src); err != nil {
		t.Fatal(err)
	}
	b.dial(url)
	waitFor(t, "server B to take the player", func() bool { return pl.Status().ServerName == "B" })
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server A was not displaced")
	}
	waitFor(t, "the last-playback server to be saved", func() bool {
		k, ok, _ := pst.LastPlaybackServer()
		return ok && k == b.srv.ID()
	})
}

func newTestTone() (*rampSource, error) { return &rampSource{n: 48000 * 30}, nil }
