package player

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Pairing cancelled or dropped at each step a test can reach on real
// connections, in both connection directions. The player is stopped
// between two of its messages by its own randomness: each pairing step
// that answers the server draws first (nonce_B before client/pair-init,
// the CPace scalar before client/pair-auth, the new long-term PSK before
// client/pair-confirm or the token's client/pair-finalize), so a read held
// there keeps the player's owner from answering until the test lets go.
// A connection drop is a TCP proxy between the two cutting both legs.

// Functions of internal/pairing whose randomness holds the player.
const (
	holdNonce = "/internal/pairing.NewNonce"       // before client/pair-init (dynamic)
	holdRound = "/internal/pairing.NewClientRound" // before client/pair-auth
	holdPSK   = "/internal/pairing.GeneratePSK"    // before client/pair-confirm, or the token's client/pair-init
)

// holdRand is crypto/rand, except that once armed, the first read made
// from the named function blocks until released.
type holdRand struct {
	mu      sync.Mutex
	at      string
	held    chan struct{}
	release chan struct{}
}

func (h *holdRand) Read(p []byte) (int, error) {
	h.mu.Lock()
	if h.at != "" && calledFrom(h.at) {
		held, rel := h.held, h.release
		h.at = ""
		h.mu.Unlock()
		close(held)
		<-rel
	} else {
		h.mu.Unlock()
	}
	return rand.Read(p)
}

// arm holds the next read from fn. held is closed once a read is held;
// release lets it go (also at the test's end).
func (h *holdRand) arm(t *testing.T, fn string) (held <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at, h.held, h.release = fn, make(chan struct{}), make(chan struct{})
	rel := h.release
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	return h.held, release
}

// calledFrom reports whether fn (a function name suffix) is on the stack.
func calledFrom(fn string) bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, fn) {
			return true
		}
		if !more {
			return false
		}
	}
}

// cutProxy relays TCP connections to target; cut closes every relayed
// connection at once, both legs, without a WebSocket close or a goodbye.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

// newCutProxy starts a proxy for the WebSocket URL u and returns the URL
// that goes through it.
func newCutProxy(t *testing.T, u string) (*cutProxy, string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: pu.Host}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	pu.Host = ln.Addr().String()
	return p, pu.String()
}

func (p *cutProxy) serve() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, down); up.Close() }()
		go func() { _, _ = io.Copy(down, up); down.Close() }()
	}
}

// cut drops every connection relayed so far.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	return n
}

// wireRig is a codeRig whose connections go through a cutProxy and whose
// player draws from a holdRand.
type wireRig struct {
	*codeRig
	proxy *cutProxy
	rnd   *holdRand
	old   keys.PSK // the seeded record of a paired start, else zero
}

func newWireRig(t *testing.T, o codeOpts) *wireRig {
	t.Helper()
	hr := &holdRand{}
	// A session the proxy cuts at cleanup ends on the player's side
	// after the test: its last log lines are dropped, not written to a
	// finished test.
	log := testOnlyLog(t)
	pl := o.pl
	o.pl = func(c *Config) {
		c.Rand = hr
		c.Log = log
		if pl != nil {
			pl(c)
		}
	}
	r := &wireRig{codeRig: newCodeRig(t, o), rnd: hr}
	if o.dial {
		r.proxy, r.plURL = newCutProxy(t, r.plURL)
	} else {
		r.proxy, r.url = newCutProxy(t, r.url)
	}
	return r
}

// testOnlyLog is testLog for a player whose sessions may end after the
// test: lines logged then are dropped, not written to a finished test.
func testOnlyLog(t *testing.T) *slog.Logger {
	lw := &testOnlyWriter{t: t}
	t.Cleanup(lw.finish)
	return slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", "player")
}

// testOnlyWriter logs through t until the test finishes, then drops.
type testOnlyWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testOnlyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *testOnlyWriter) finish() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// wait waits for ch to close.
func wait(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// ended waits for the session to end on both sides after a drop.
func (r *wireRig) ended() {
	r.t.Helper()
	select {
	case <-r.errs:
	case <-time.After(10 * time.Second):
		r.t.Fatal("the session did not end")
	}
	waitFor(r.t, "the connection to be gone", func() bool {
		_, ok := serverView(r.srv, r.pl.ID())
		return !ok && !r.pl.Status().Connected
	})
}

// pairStep is a step of an attempt that a test can stop at.
type pairStep struct {
	name   string
	method string // token, dynamic, static
	paired bool   // from a paired session (both sides hold a record)
	hold   string // the player is held drawing from this function; "" not held
	wrong  bool   // a wrong dynamic code first (the step is then in round 2)
	code   bool   // the right code entered
	window bool   // static: the pairing window opened first
	limit  bool   // dynamic: a round limit of 1, reached by a wrong code first
	phase  server.PairingPhase
	round  uint32
}

var pairSteps = []pairStep{
	{name: "token/before client-pair-init", method: "token", hold: holdPSK, phase: server.PairingStarting},
	{name: "dynamic/before client-pair-init", method: "dynamic", hold: holdNonce, phase: server.PairingStarting},
	{name: "dynamic/code shown", method: "dynamic", phase: server.PairingAwaitingCode, round: 1},
	{name: "dynamic/before client-pair-auth", method: "dynamic", hold: holdRound, code: true, phase: server.PairingVerifying, round: 1},
	{name: "dynamic/before client-pair-confirm", method: "dynamic", hold: holdPSK, code: true, phase: server.PairingVerifying, round: 1},
	{name: "dynamic/after a wrong code", method: "dynamic", wrong: true, phase: server.PairingAwaitingCode, round: 2},
	{name: "dynamic/after a wrong code, before client-pair-confirm", method: "dynamic", hold: holdPSK, wrong: true, code: true, phase: server.PairingVerifying, round: 2},
	{name: "dynamic/held back by the round limit", method: "dynamic", limit: true, phase: server.PairingHeldBack},
	{name: "static/held back", method: "static", phase: server.PairingHeldBack},
	{name: "static/waiting for the code", method: "static", window: true, phase: server.PairingAwaitingCode, round: 1},
	{name: "static/before client-pair-auth", method: "static", window: true, hold: holdRound, code: true, phase: server.PairingVerifying, round: 1},
	{name: "static/before client-pair-confirm", method: "static", window: true, hold: holdPSK, code: true, phase: server.PairingVerifying, round: 1},
	{name: "token/from paired/before client-pair-init", method: "token", paired: true, hold: holdPSK, phase: server.PairingStarting},
	{name: "dynamic/from paired/before client-pair-confirm", method: "dynamic", paired: true, hold: holdPSK, code: true, phase: server.PairingVerifying, round: 1},
	{name: "static/from paired/held back", method: "static", paired: true, phase: server.PairingHeldBack},
}

// begin connects, from a paired session if the step says so.
func (r *wireRig) begin(s pairStep) {
	if s.paired {
		r.old = keys.PSK{5, 5, 5}
		r.seedPaired(r.old)
	}
	r.connect()
	r.connected()
	if s.paired {
		r.onOldRecord()
	}
}

// onOldRecord waits for the session to run on the seeded long-term PSK.
func (r *wireRig) onOldRecord() {
	r.t.Helper()
	waitFor(r.t, "the session on the old record", func() bool {
		info, _ := serverView(r.srv, r.pl.ID())
		return r.pl.Status().Paired && info.Status == server.StatusPaired && info.Available
	})
	r.noNewRecords(r.old)
}

func (s pairStep) opts(dial bool) codeOpts {
	o := codeOpts{dial: dial}
	if s.limit {
		o.pl = func(c *Config) { c.RoundLimit = 1 }
	}
	switch s.method {
	case "dynamic":
		o.method = CodeDynamic
	case "static":
		o.method = CodeStatic
	}
	return o
}

// reach starts an attempt and drives it to the step; a held player is
// held when it returns, and release lets it go on.
func (r *wireRig) reach(s pairStep) (release func()) {
	t := r.t
	t.Helper()
	release = func() {}
	var held <-chan struct{}
	if s.hold != "" && !s.code {
		held, release = r.rnd.arm(t, s.hold)
	}
	if s.window {
		if err := r.pl.OpenPairingWindow(); err != nil {
			t.Fatal(err)
		}
	}
	if s.limit {
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
		r.waitPhase(server.PairingAwaitingCode, 1)
		if err := r.srv.EnterCode(r.pl.ID(), wrong(r.shown(1))); err != nil {
			t.Fatal(err)
		}
		r.waitLast(server.OutcomeWrongCode)
	}
	switch s.method {
	case "token":
		if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
			t.Fatal(err)
		}
	default:
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
	}
	if s.method == "static" && s.code {
		r.waitPhase(server.PairingAwaitingCode, 1)
		held, release = r.rnd.arm(t, s.hold)
		if err := r.srv.EnterCode(r.pl.ID(), rigStatic); err != nil {
			t.Fatal(err)
		}
	}
	if s.method == "dynamic" && !s.limit && (s.wrong || s.code || s.hold == "") {
		r.waitPhase(server.PairingAwaitingCode, 1)
		ev := r.shown(1)
		if s.wrong {
			if err := r.srv.EnterCode(r.pl.ID(), wrong(ev)); err != nil {
				t.Fatal(err)
			}
			r.waitPhase(server.PairingAwaitingCode, 2)
			r.shown(2)
		}
		if s.code {
			held, release = r.rnd.arm(t, s.hold)
			if err := r.srv.EnterCode(r.pl.ID(), ev.Text); err != nil {
				t.Fatal(err)
			}
		}
	}
	if held != nil {
		wait(t, "the player to be held", held)
	}
	st := r.waitPhase(s.phase, s.round)
	wrongs := 0
	if s.wrong {
		wrongs = 1
	}
	if st.WrongCodes != wrongs {
		t.Fatalf("server at %s: %+v", s.name, st)
	}
	r.noNewRecords(r.old)
	return release
}

// pairAgain runs a whole attempt of the step's method on the open
// connection and checks both stores hold the new record.
func (r *wireRig) pairAgain(s pairStep) {
	t := r.t
	t.Helper()
	switch s.method {
	case "token":
		if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
			t.Fatal(err)
		}
	case "dynamic":
		if s.limit {
			r.pl.ResetPairingRounds()
		}
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
		r.waitPhase(server.PairingAwaitingCode, 1)
		if err := r.srv.EnterCode(r.pl.ID(), r.shown(1).Text); err != nil {
			t.Fatal(err)
		}
	case "static":
		if err := r.pl.OpenPairingWindow(); err != nil {
			t.Fatal(err)
		}
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: rigStatic}); err != nil {
			t.Fatal(err)
		}
	}
	r.waitLast(server.OutcomePaired)
	checkPaired(t, r.rig)
	if psk, _, _ := r.sst.ClientRecord(r.pl.ID()); psk.Equal(r.old) {
		t.Fatal("the old record was not replaced")
	}
}

func dirName(dial bool) string {
	if dial {
		return "server-initiated"
	}
	return "client-initiated"
}

// TestCancelAtEachStep: the operator cancels the attempt at each step,
// with the player held between its messages where the step needs it. The
// server reports the cancel and leaves pairing at once; the player, let
// go, sends what it was about to (the server discards it as the ended
// attempt's) and then sees pair/abort user_cancelled. Nothing is
// persisted on either side, a shown code is withdrawn, and the same
// connection pairs afterwards (both sides still count pairing_index in
// step).
func TestCancelAtEachStep(t *testing.T) {
	for _, s := range pairSteps {
		for _, dial := range []bool{false, true} {
			t.Run(s.name+"/"+dirName(dial), func(t *testing.T) {
				r := newWireRig(t, s.opts(dial))
				r.begin(s)
				release := r.reach(s)
				if err := r.srv.CancelPairing(r.pl.ID()); err != nil {
					t.Fatal(err)
				}
				if st := r.pairState(); st.Phase != server.PairingNone || st.Last != server.OutcomeCancelled {
					t.Fatalf("server after the cancel: %+v", st)
				}
				if err := r.srv.CancelPairing(r.pl.ID()); !errors.Is(err, server.ErrNoAttempt) {
					t.Fatalf("second cancel: %v", err)
				}
				release()
				waitFor(t, "the player to see the cancel", func() bool {
					pl := r.pl.Status().Pairing
					return !pl.Active && pl.Last == flow.OutcomePeerAborted && pl.LastReason == wire.AbortUserCancelled
				})
				waitFor(t, "the code withdrawn", r.withdrawn)
				if s.window && !r.pl.Status().PairingWindow {
					t.Fatal("a cancelled attempt closed the pairing window")
				}
				if s.paired {
					// Back on the long-term PSK it ran on before.
					r.onOldRecord()
				} else if r.pl.Status().Paired {
					t.Fatal("the player is paired")
				}
				r.noNewRecords(r.old)
				if st := r.pairState(); st.Last != server.OutcomeCancelled {
					t.Fatalf("server after the player went on: %+v", st)
				}
				r.pairAgain(s)
			})
		}
	}
}

// TestDeviceCancelAtEachStep: the player's local user cancels
// (pair/abort user_cancelled from the device) at each step where the
// player's owner is free to take the action: the server reports the
// cancel on the device, nothing is persisted, a paired session goes back
// to its record, a static window stays open, and the connection pairs
// afterwards.
func TestDeviceCancelAtEachStep(t *testing.T) {
	for _, s := range pairSteps {
		if s.hold != "" {
			continue // the owner is held: nothing runs on it
		}
		for _, dial := range []bool{false, true} {
			t.Run(s.name+"/"+dirName(dial), func(t *testing.T) {
				r := newWireRig(t, s.opts(dial))
				r.begin(s)
				r.reach(s)()
				if err := r.pl.CancelPairing(); err != nil {
					t.Fatal(err)
				}
				if pl := r.pl.Status().Pairing; pl.Active || pl.Last != flow.OutcomeAborted || pl.LastReason != wire.AbortUserCancelled {
					t.Fatalf("player after the cancel: %+v", pl)
				}
				if err := r.pl.CancelPairing(); !errors.Is(err, ErrNoAttempt) {
					t.Fatalf("second cancel: %v", err)
				}
				r.waitLast(server.OutcomeCancelledOnDevice)
				if !r.withdrawn() {
					t.Fatal("the code is still shown")
				}
				if s.window && !r.pl.Status().PairingWindow {
					t.Fatal("a cancelled attempt closed the pairing window")
				}
				if s.paired {
					r.onOldRecord()
				}
				r.noNewRecords(r.old)
				r.pairAgain(s)
			})
		}
	}
}

// TestDropAtEachStep: the connection drops (both TCP legs cut, no close
// message) at each step. Both sides end the attempt as dropped, nothing
// is persisted, the operator can no longer enter a code, and a fresh
// connection pairs once the operator starts again. A token is forgotten
// with its dropped attempt (SPEC-NOTES 45): the reconnect runs under the
// Sentinel with no attempt until the operator enters it again.
func TestDropAtEachStep(t *testing.T) {
	for _, s := range pairSteps {
		for _, dial := range []bool{false, true} {
			t.Run(s.name+"/"+dirName(dial), func(t *testing.T) {
				r := newWireRig(t, s.opts(dial))
				r.begin(s)
				release := r.reach(s)
				if n := r.proxy.cut(); n != 2 {
					t.Fatalf("the proxy relayed %d connections", n/2)
				}
				release()
				r.ended()
				waitFor(t, "the server to see the drop", func() bool { return r.pairState().Last == server.OutcomeDropped })
				if st := r.pairState(); st.Phase != server.PairingNone || st.LastHeldBack != (s.phase == server.PairingHeldBack) {
					t.Fatalf("server after the drop: %+v", st)
				}
				if err := r.srv.EnterCode(r.pl.ID(), rigStatic); !errors.Is(err, server.ErrNoAttempt) {
					t.Fatalf("code after the drop: %v", err)
				}
				if pl := r.pl.Status(); pl.Pairing.Last != flow.OutcomeDropped || pl.Pairing.Active || pl.Paired || pl.PairingWindow {
					t.Fatalf("player after the drop: %+v", pl)
				}
				if !r.withdrawn() {
					t.Fatal("the code is still shown")
				}
				r.noNewRecords(r.old)

				started := strings.Count(r.srvLog.String(), `msg="pairing started"`)
				r.connect()
				r.connected()
				if st := r.pairState(); st.Phase != server.PairingNone ||
					strings.Count(r.srvLog.String(), `msg="pairing started"`) != started {
					t.Fatalf("an attempt runs on the new connection: %+v", st)
				}
				if s.paired {
					r.onOldRecord()
				} else if info, _ := serverView(r.srv, r.pl.ID()); info.Status == server.StatusPaired || r.pl.Status().Paired {
					t.Fatalf("paired on the new connection: %+v", info)
				}
				r.noNewRecords(r.old)
				r.pairAgain(s)
			})
		}
	}
}

// TestStaticWindowClosedByOwner: the player's owner closes the static
// pairing window (pairing.md "Pairing Window": operator cancellation).
// An attempt the server starts afterwards is held back with
// client/pair-pending, a code entered ahead is not used and nothing is
// persisted, until the window is opened again. An attempt already in
// progress runs to its end: the right code pairs, a wrong one fails, and
// the next attempt is held back. Both directions.
func TestStaticWindowClosedByOwner(t *testing.T) {
	for _, dial := range []bool{false, true} {
		t.Run("before the attempt/"+dirName(dial), func(t *testing.T) {
			r := newWireRig(t, codeOpts{method: CodeStatic, dial: dial})
			r.connect()
			r.connected()
			if err := r.pl.OpenPairingWindow(); err != nil {
				t.Fatal(err)
			}
			if err := r.pl.ClosePairingWindow(); err != nil {
				t.Fatal(err)
			}
			if r.pl.Status().PairingWindow {
				t.Fatal("the window is open after its cancellation")
			}
			if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: rigStatic}); err != nil {
				t.Fatal(err)
			}
			st := r.waitPhase(server.PairingHeldBack, 0)
			if st.Message != flow.DefaultWindowPending || !st.CodeEntered || st.Method != wire.MethodStaticCode {
				t.Fatalf("server: %+v", st)
			}
			if pl := r.pl.Status().Pairing; !pl.Active || pl.HeldBack != flow.HoldNoWindow {
				t.Fatalf("player: %+v", pl)
			}
			if err := r.srv.EnterCode(r.pl.ID(), rigStatic); err != nil {
				t.Fatal(err) // a static code may be entered again ahead
			}
			r.noNewRecords(keys.PSK{})
			if st := r.pairState(); st.Phase != server.PairingHeldBack {
				t.Fatalf("the attempt went on without a window: %+v", st)
			}
			if err := r.pl.OpenPairingWindow(); err != nil {
				t.Fatal(err)
			}
			checkPaired(t, r.rig)
			r.waitLast(server.OutcomePaired)
			if r.pl.Status().PairingWindow {
				t.Fatal("a completed pairing left the window open")
			}
		})
		t.Run("during the attempt, right code/"+dirName(dial), func(t *testing.T) {
			r := newWireRig(t, codeOpts{method: CodeStatic, dial: dial})
			r.connect()
			r.connected()
			if err := r.pl.OpenPairingWindow(); err != nil {
				t.Fatal(err)
			}
			if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
				t.Fatal(err)
			}
			r.waitPhase(server.PairingAwaitingCode, 1)
			if err := r.pl.ClosePairingWindow(); err != nil {
				t.Fatal(err)
			}
			if pl := r.pl.Status(); pl.PairingWindow || !pl.Pairing.Active {
				t.Fatalf("player: %+v", pl)
			}
			if err := r.srv.EnterCode(r.pl.ID(), rigStatic); err != nil {
				t.Fatal(err)
			}
			checkPaired(t, r.rig)
			r.waitLast(server.OutcomePaired)
		})
		t.Run("during the attempt, wrong code/"+dirName(dial), func(t *testing.T) {
			r := newWireRig(t, codeOpts{method: CodeStatic, dial: dial})
			r.connect()
			r.connected()
			if err := r.pl.OpenPairingWindow(); err != nil {
				t.Fatal(err)
			}
			if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
				t.Fatal(err)
			}
			r.waitPhase(server.PairingAwaitingCode, 1)
			if err := r.pl.ClosePairingWindow(); err != nil {
				t.Fatal(err)
			}
			if err := r.srv.EnterCode(r.pl.ID(), "27182818"); err != nil {
				t.Fatal(err)
			}
			r.waitLast(server.OutcomeWrongCode)
			if pl := r.pl.Status().Pairing; pl.Last != flow.OutcomeAborted || pl.LastReason != wire.AbortPairingCodeMismatch {
				t.Fatalf("player: %+v", pl)
			}
			r.noNewRecords(keys.PSK{})
			// The window stays closed: the next attempt waits for it.
			if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: rigStatic}); err != nil {
				t.Fatal(err)
			}
			r.waitPhase(server.PairingHeldBack, 0)
			r.noNewRecords(keys.PSK{})
			if err := r.pl.OpenPairingWindow(); err != nil {
				t.Fatal(err)
			}
			checkPaired(t, r.rig)
			r.waitLast(server.OutcomePaired)
		})
	}
	r := newCodeRig(t, codeOpts{method: CodeDynamic})
	if err := r.pl.ClosePairingWindow(); !errors.Is(err, ErrNoStaticCode) {
		t.Fatalf("closing the window of a dynamic player: %v", err)
	}
}
