package flow

import (
	"sync"
	"time"
)

// Rounds is the client's round limit counter (pairing.md "Rounds"): the
// rounds since the last verified server_kc, and whether the limit holds
// attempts back. One Rounds serves every connection of a client: the
// count is not partitioned by server_id or source address. It is safe
// for concurrent use. The zero value is not usable; use NewRounds.
type Rounds struct {
	mu    sync.Mutex
	limit int
	count int  // rounds begun (code emitted) since the last verified server_kc
	held  bool // the limit was reached; only Reset clears it
}

// NewRounds returns a counter that aborts at limit rounds. A limit of 0,
// or above the spec's RoundLimit, means RoundLimit: a client MAY stop
// earlier but MUST NOT go further.
func NewRounds(limit int) *Rounds {
	if limit <= 0 || limit > RoundLimit {
		limit = RoundLimit
	}
	return &Rounds{limit: limit}
}

// Count returns the rounds since the last verified server_kc or reset.
func (r *Rounds) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// HeldBack reports whether the limit holds Dynamic Pairing Code attempts
// back: it was reached (also by rounds of abandoned attempts) and no
// operator reset followed.
func (r *Rounds) HeldBack() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.heldLocked()
}

func (r *Rounds) heldLocked() bool {
	if r.count >= r.limit {
		r.held = true
	}
	return r.held
}

// Reset is the deliberate, manufacturer-defined operator action that ends
// a hold-back and resets the count. Call Client.Tick on held-back
// connections afterwards.
func (r *Rounds) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count, r.held = 0, false
}

// begin counts a round whose code is being emitted. It reports false,
// counting nothing, when the limit holds rounds back or is used up.
func (r *Rounds) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.heldLocked() {
		return false
	}
	r.count++
	return true
}

// verified records a verified server_kc: the count restarts. A hold-back
// stays until Reset.
func (r *Rounds) verified() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count = 0
}

// failed records a failed server_kc and reports whether another round is
// allowed. At the limit it starts the hold-back.
func (r *Rounds) failed() (retry bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.heldLocked()
}

// Window is the client's pairing window for the Static Pairing Code Flow
// (pairing.md "Pairing Window"). One Window serves every connection of a
// client and is safe for concurrent use. The zero value is not usable;
// use NewWindow.
type Window struct {
	mu       sync.Mutex
	lifetime time.Duration
	open     bool
	gen      uint64 // counts openings; an attempt remembers its window's
	expires  time.Time
	owner    *Client // the connection that carries the window's first attempt
	failures int
}

// NewWindow returns a closed window whose openings last lifetime (0 means
// WindowLifetime).
func NewWindow(lifetime time.Duration) *Window {
	if lifetime <= 0 {
		lifetime = WindowLifetime
	}
	return &Window{lifetime: lifetime}
}

// Open opens a window on an operator gesture at now. A gesture while a
// window is open opens a new one: a fresh lifetime, no failures, not yet
// bound to a connection. Call Client.Tick on held-back connections
// afterwards.
func (w *Window) Open(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open = true
	w.gen++
	w.expires = now.Add(w.lifetime)
	w.owner = nil
	w.failures = 0
}

// Cancel closes the window on operator cancellation. An attempt already
// in progress runs to its own end.
func (w *Window) Cancel() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeLocked()
}

// IsOpen reports whether the window is open at now.
func (w *Window) IsOpen(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expireLocked(now)
	return w.open
}

// Expires returns when the open window closes by lifetime, and false if
// it is closed.
func (w *Window) Expires() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expires, w.open
}

// Failures returns the failed attempts counted against the open window.
func (w *Window) Failures() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures
}

func (w *Window) closeLocked() {
	w.open = false
	w.owner = nil
	w.failures = 0
	w.expires = time.Time{}
}

// expireLocked closes the window silently once its lifetime is over.
func (w *Window) expireLocked(now time.Time) {
	if w.open && !now.Before(w.expires) {
		w.closeLocked()
	}
}

// admit starts an attempt of c at now if the window admits it: open, and
// unbound or bound to c. The first admitted attempt binds the window to
// c. It returns the window generation the attempt belongs to.
func (w *Window) admit(c *Client, now time.Time) (gen uint64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expireLocked(now)
	if !w.open || (w.owner != nil && w.owner != c) {
		return 0, false
	}
	w.owner = c
	return w.gen, true
}

// failed counts a failed attempt (server_kc verification failed) of the
// window generation gen; the fifth closes the window. Attempts of an
// earlier window, or of one already closed, count against nothing.
func (w *Window) failed(gen uint64, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expireLocked(now)
	if !w.open || w.gen != gen {
		return
	}
	w.failures++
	if w.failures >= WindowMaxFailures {
		w.closeLocked()
	}
}

// completed closes the window on a completed pairing.
func (w *Window) completed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeLocked()
}

// dropped closes the window if c carries it.
func (w *Window) dropped(c *Client) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open && w.owner == c {
		w.closeLocked()
	}
}
