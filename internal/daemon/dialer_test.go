package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// A real server redials a real player's endpoint over loopback. The
// endpoint fails the Noise handshake (it accepts the WebSocket and
// closes it) or serves the player, as the test says. The dialer's clock
// is the test's: each wait it asks for is reported and passes at once.
func TestDialerBacksOffOnHandshakeFailures(t *testing.T) {
	sst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sst.Close()
	srv, err := server.New(server.Config{Store: sst, Name: "Hub"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	pst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pst.Close()
	pl, err := player.New(player.Config{Store: pst, Name: "Speaker"})
	if err != nil {
		t.Fatal(err)
	}

	var (
		serve   atomic.Bool // serve the player; else fail the handshake
		mu      sync.Mutex
		endCurr context.CancelFunc // ends the session being served
		ended   chan struct{}      // closed when that session's handler returned
	)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !serve.Load() {
			if tr, err := securechan.AcceptFromServer(w, r); err == nil {
				tr.Close()
			}
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		done := make(chan struct{})
		mu.Lock()
		endCurr, ended = cancel, done
		mu.Unlock()
		defer close(done)
		pl.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer h.Close()
	url := "ws" + strings.TrimPrefix(h.URL, "http")

	var (
		clock   = time.Unix(1_800_000_000, 0)
		clockMu sync.Mutex
		errs    []error
	)
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waits := make(chan time.Duration)
	release := make(chan struct{})
	d := newDialer(ctx, slog.New(slog.DiscardHandler), func(ctx context.Context, url string) error {
		err := srv.Dial(ctx, url)
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		return err
	}, nil)
	d.backoff = session.Backoff{Base: time.Second, Max: 8 * time.Second}
	d.stable = 30 * time.Second
	d.jitter = func() float64 { return 1 } // the top of each jitter range
	d.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	d.after = func(w time.Duration) <-chan time.Time {
		select {
		case waits <- w:
			select {
			case <-release:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	defer d.wait()
	defer cancel()

	// next checks the coming wait, then lets the next attempt go, to be
	// served or failed.
	next := func(want time.Duration, serveNext bool) {
		t.Helper()
		select {
		case got := <-waits:
			if got != want {
				t.Fatalf("waited %v, want %v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no redial (want a wait of %v)", want)
		}
		serve.Store(serveNext)
		release <- struct{}{}
	}
	connected := func() {
		t.Helper()
		waitFor(t, "the server to hold the player", func() bool { return len(srv.Clients()) == 1 })
	}
	// end ends the session being served and waits until the player has
	// let go of it. Until then the player still holds that connection,
	// and its arbiter would refuse the server's next one (an idle
	// newcomer does not displace an idle holder), which is right for the
	// player but not what this test is about.
	end := func() {
		t.Helper()
		mu.Lock()
		endCurr()
		done := ended
		mu.Unlock()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the player did not let go of the ended session")
		}
	}

	d.set("speaker", []string{url})
	// Failed handshakes: the wait doubles from the base up to the cap.
	next(1*time.Second, false)
	next(2*time.Second, false)
	next(4*time.Second, false)
	next(8*time.Second, true)
	// A session that ends before it was stable is one more failure.
	connected()
	end()
	next(8*time.Second, true)
	// A session that lasted: the next failure waits the base again.
	connected()
	advance(30 * time.Second)
	end()
	next(1*time.Second, false)
	next(2*time.Second, false)

	cancel()
	d.wait()
	mu.Lock()
	defer mu.Unlock()
	if len(errs) < 7 {
		t.Fatalf("%d attempts", len(errs))
	}
	for i, err := range errs[:7] {
		var e *server.Ended
		session := errors.As(err, &e)
		if want := i == 4 || i == 5; session != want {
			t.Errorf("attempt %d: %v; want a session: %v", i+1, err, want)
		}
	}
}
