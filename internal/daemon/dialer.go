package daemon

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/tonearm-audio/tonearm/internal/session"
)

// dialer keeps a connection up to each of its targets: a peer named on
// the command line or found by mDNS. One goroutine per target runs
// sessions one after another, with a growing, jittered wait between
// failures (messaging.md "client/goodbye": servers SHOULD back off on
// repeated Noise-handshake failures).
//
// A failure is any attempt that did not become a stable session: a dial
// or handshake that failed, or a session that ended within stable of its
// start. A session that lasted stable ends the run of failures, so the
// next failure waits the base delay again (SPEC-NOTES.md note 68).
type dialer struct {
	ctx context.Context
	// session runs one connection to url until it ends.
	session func(ctx context.Context, url string) error
	// again says whether to reconnect after a session ended with err.
	again func(err error) bool
	log   *slog.Logger

	// The policy and its clock; tests replace them.
	backoff session.Backoff
	stable  time.Duration
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	jitter  func() float64

	mu      sync.Mutex
	targets map[string]*target
	wg      sync.WaitGroup
}

type target struct {
	urls    []string
	removed bool // gone from mDNS: finish the current session, then stop
	cancel  context.CancelFunc
}

func newDialer(ctx context.Context, log *slog.Logger, run func(context.Context, string) error, again func(error) bool) *dialer {
	if again == nil {
		again = func(error) bool { return true }
	}
	return &dialer{ctx: ctx, session: run, again: again, log: log, targets: map[string]*target{},
		backoff: session.Backoff{Base: redialBase, Max: redialMax}, stable: stableSession,
		now: time.Now, after: time.After, jitter: rand.Float64}
}

// set starts or updates the target key with its URLs in preference order.
// An update does not disturb a running session; the next attempt uses the
// new URLs.
func (d *dialer) set(key string, urls []string) {
	if len(urls) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.targets[key]; ok {
		t.urls = slices.Clone(urls)
		t.removed = false
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	t := &target{urls: slices.Clone(urls), cancel: cancel}
	d.targets[key] = t
	d.wg.Add(1)
	go d.loop(ctx, key, t)
}

// remove stops redialing key once its current session, if any, ends.
func (d *dialer) remove(key string) {
	d.mu.Lock()
	if t, ok := d.targets[key]; ok {
		t.removed = true
	}
	d.mu.Unlock()
}

// wait returns when every target's goroutine has ended (after the
// dialer's context is done).
func (d *dialer) wait() { d.wg.Wait() }

func (d *dialer) loop(ctx context.Context, key string, t *target) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		if d.targets[key] == t {
			delete(d.targets, key)
		}
		d.mu.Unlock()
		t.cancel()
	}()
	failures := 0
	for attempt := 0; ; attempt++ {
		d.mu.Lock()
		if t.removed {
			d.mu.Unlock()
			return
		}
		url := t.urls[attempt%len(t.urls)]
		d.mu.Unlock()
		began := d.now()
		err := d.session(ctx, url)
		if ctx.Err() != nil {
			return
		}
		if d.now().Sub(began) >= d.stable {
			failures = 0
		}
		failures++
		if !d.again(err) {
			d.log.Info("not reconnecting", "peer", key, "err", err)
			return
		}
		wait := d.backoff.Delay(failures, d.jitter())
		d.log.Debug("connection ended; reconnecting", "peer", key, "url", url, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-d.after(wait):
		}
	}
}
