package player

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Pairing by code (pairing.md "Dynamic Pairing Code Flow", "Static
// Pairing Code Flow") between the real server and the real player over
// WebSocket on loopback, in both connection directions.

const rigStatic = "31415926"

// codeRig is the loopback rig with a player offering a code method, the
// codes it showed, and the connection direction.
type codeRig struct {
	*rig
	t     *testing.T
	dial  bool   // server-initiated: Server.Dial to Player.ServeHTTP
	plURL string // the player's endpoint when dial

	mu    sync.Mutex
	codes []CodeEvent
}

type codeOpts struct {
	method  CodeMethod
	formats []wire.CodeFormat
	dial    bool
	srv     func(*server.Config)
	pl      func(*Config)
}

func newCodeRig(t *testing.T, o codeOpts) *codeRig {
	t.Helper()
	cr := &codeRig{t: t, dial: o.dial}
	cr.rig = newRigWith(t, o.srv, func(c *Config) {
		c.PairingCode, c.CodeFormats = o.method, o.formats
		c.OnPairingCode = func(ev CodeEvent) {
			cr.mu.Lock()
			cr.codes = append(cr.codes, ev)
			cr.mu.Unlock()
		}
		if o.method == CodeStatic {
			sc, _ := pairing.ParseStaticCode(rigStatic)
			if err := c.Store.SetStaticCode(sc); err != nil {
				t.Fatal(err)
			}
		}
		if o.pl != nil {
			o.pl(c)
		}
	})
	if o.dial {
		h := httptest.NewServer(cr.pl)
		t.Cleanup(h.Close)
		cr.plURL = "ws" + strings.TrimPrefix(h.URL, "http")
	}
	return cr
}

// connect opens a connection in the rig's direction.
func (r *codeRig) connect() {
	if !r.dial {
		r.rig.connect()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.errs <- r.srv.Dial(ctx, r.plURL) }()
}

// connected waits until the server lists the player.
func (r *codeRig) connected() {
	r.t.Helper()
	waitFor(r.t, "the server to list the player", func() bool {
		_, ok := serverView(r.srv, r.pl.ID())
		return ok && r.pl.Status().Connected
	})
}

// disconnect ends the connection and waits for it to be gone on both sides.
func (r *codeRig) disconnect() {
	r.t.Helper()
	r.stop()
	<-r.errs
	waitFor(r.t, "the connection to be gone", func() bool {
		_, ok := serverView(r.srv, r.pl.ID())
		return !ok && !r.pl.Status().Connected
	})
}

func (r *codeRig) pairState() server.PairingState { return r.srv.PairingState(r.pl.ID()) }

// waitPhase waits for the server's pairing phase (and round, if not 0).
func (r *codeRig) waitPhase(ph server.PairingPhase, round uint32) server.PairingState {
	r.t.Helper()
	var st server.PairingState
	waitFor(r.t, "pairing phase "+ph.String(), func() bool {
		st = r.pairState()
		return st.Phase == ph && (round == 0 || st.Round == round)
	})
	return st
}

// waitLast waits for the attempt to have ended with out.
func (r *codeRig) waitLast(out server.PairingOutcome) {
	r.t.Helper()
	waitFor(r.t, "the attempt to end: "+out.String(), func() bool {
		st := r.pairState()
		return st.Phase == server.PairingNone && st.Last == out && !r.pl.Status().Pairing.Active
	})
}

// shown returns the code the player shows now for round.
func (r *codeRig) shown(round uint32) CodeEvent {
	r.t.Helper()
	var ev CodeEvent
	waitFor(r.t, "the player to show the code", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if n := len(r.codes); n > 0 && !r.codes[n-1].Stop && r.codes[n-1].Round == round {
			ev = r.codes[n-1]
			return true
		}
		return false
	})
	return ev
}

// withdrawn reports whether no code is shown.
func (r *codeRig) withdrawn() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.codes) == 0 || r.codes[len(r.codes)-1].Stop
}

func (r *codeRig) lastEvent() CodeEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.codes) == 0 {
		return CodeEvent{}
	}
	return r.codes[len(r.codes)-1]
}

// noRecords asserts that neither side persisted a record other than the
// ones given (zero PSK: none).
func (r *codeRig) noNewRecords(old keys.PSK) {
	r.t.Helper()
	spsk, ok, err := r.sst.ClientRecord(r.pl.ID())
	if err != nil || ok != (old != keys.PSK{}) || (ok && !spsk.Equal(old)) {
		r.t.Fatalf("server record changed: %v %v", ok, err)
	}
	recs, err := r.pst.ServerRecords()
	if err != nil {
		r.t.Fatal(err)
	}
	if old == (keys.PSK{}) && len(recs) != 0 || old != (keys.PSK{}) && (len(recs) != 1 || !recs[0].PSK.Equal(old)) {
		r.t.Fatalf("player records changed: %d", len(recs))
	}
}

// wrong returns a well-formed code that is not the right one.
func wrong(ev CodeEvent) string {
	if ev.Format == wire.FormatQRCode {
		qc, _ := pairing.ParseCodeToken(ev.Text)
		qc[0] ^= 1
		return qc.Encode()
	}
	d := []byte(strings.ReplaceAll(ev.Text, "-", ""))
	d[5] = '0' + (d[5]-'0'+1)%10
	return string(d)
}

// seedPaired gives both sides a record for each other.
func (r *codeRig) seedPaired(psk keys.PSK) {
	r.t.Helper()
	if err := r.sst.PutClientRecord(r.pl.ID(), psk); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.pst.PutServerRecord(store.ServerRecord{Server: r.srv.ID(), PSK: psk, LastUsed: time.Now()}, 5, nil); err != nil {
		r.t.Fatal(err)
	}
}

// TestCodePairing: the happy paths of all three code formats, in both
// connection directions, from a Sentinel session and from a paired one
// (re-keyed to the Sentinel first); then a reconnect lands on the new
// long-term PSK with no pairing activity.
func TestCodePairing(t *testing.T) {
	type method struct {
		name    string
		m       CodeMethod
		formats []wire.CodeFormat
		format  wire.CodeFormat
	}
	methods := []method{
		{"digits", CodeDynamic, nil, ""},
		{"qr_code", CodeDynamic, []wire.CodeFormat{wire.FormatQRCode, wire.FormatDigits}, wire.FormatQRCode},
		{"static", CodeStatic, nil, ""},
	}
	for _, m := range methods {
		for _, dial := range []bool{false, true} {
			for _, paired := range []bool{false, true} {
				name := m.name
				if dial {
					name += "/server-initiated"
				} else {
					name += "/client-initiated"
				}
				if paired {
					name += "/from-paired"
				} else {
					name += "/from-sentinel"
				}
				t.Run(name, func(t *testing.T) {
					r := newCodeRig(t, codeOpts{method: m.m, formats: m.formats, dial: dial})
					old := keys.PSK{7, 7}
					if paired {
						r.seedPaired(old)
					}
					r.connect()
					r.connected()
					if paired {
						waitFor(t, "the paired session", func() bool { return r.pl.Status().Paired })
					}
					if m.m == CodeStatic {
						if err := r.pl.OpenPairingWindow(); err != nil {
							t.Fatal(err)
						}
					}
					if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), Format: m.format}); err != nil {
						t.Fatal(err)
					}
					st := r.waitPhase(server.PairingAwaitingCode, 1)
					code := rigStatic[:4] + " " + rigStatic[4:]
					if m.m == CodeDynamic {
						ev := r.shown(1)
						if st.Method != wire.MethodDynamicCode || st.Format != ev.Format {
							t.Fatalf("server %+v, player showed %s", st, ev.Format)
						}
						code = ev.Text
						if ev.Format == wire.FormatQRCode {
							if _, ok := ev.Token.(pairing.QRCode); !ok || !strings.HasPrefix(code, "SP:1") {
								t.Fatalf("qr event: %T", ev.Token)
							}
							code = "  " + strings.ToLower(code) + "\n" // lenient token input
						} else if len(code) != 7 || code[3] != '-' {
							t.Fatalf("digits not grouped 3-3: %d chars", len(code))
						}
					} else if st.Method != wire.MethodStaticCode {
						t.Fatalf("server %+v", st)
					}
					if err := r.srv.EnterCode(r.pl.ID(), code); err != nil {
						t.Fatal(err)
					}
					checkPaired(t, r.rig)
					spsk, _, _ := r.sst.ClientRecord(r.pl.ID())
					if spsk.Equal(old) {
						t.Fatal("the record was not replaced")
					}
					r.waitLast(server.OutcomePaired)
					if pl := r.pl.Status(); pl.Pairing.Last != flow.OutcomePaired || pl.PairingWindow {
						t.Fatalf("player after pairing: %+v", pl)
					}
					if m.m == CodeDynamic && !r.lastEvent().Stop {
						t.Fatal("the code is still shown")
					}

					started := strings.Count(r.srvLog.String(), `msg="pairing started"`)
					r.disconnect()
					r.connect()
					checkPaired(t, r.rig)
					if r.pl.Status().Pairing.Active || r.pairState().Phase != server.PairingNone ||
						strings.Count(r.srvLog.String(), `msg="pairing started"`) != started {
						t.Fatal("pairing activity after the reconnect")
					}
				})
			}
		}
	}
}

// TestCodeWrongThenRight: a wrong dynamic code makes the client ask for
// another round (client/pair-retry); the code shown stays the same, and
// the right one pairs. Both directions.
func TestCodeWrongThenRight(t *testing.T) {
	for _, dial := range []bool{false, true} {
		r := newCodeRig(t, codeOpts{method: CodeDynamic, dial: dial})
		r.connect()
		r.connected()
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
		r.waitPhase(server.PairingAwaitingCode, 1)
		ev := r.shown(1)
		if err := r.srv.EnterCode(r.pl.ID(), wrong(ev)); err != nil {
			t.Fatal(err)
		}
		st := r.waitPhase(server.PairingAwaitingCode, 2)
		if st.WrongCodes != 1 {
			t.Fatalf("%+v", st)
		}
		if ev2 := r.shown(2); ev2.Text != ev.Text {
			t.Fatal("the code changed between rounds")
		}
		r.noNewRecords(keys.PSK{})
		if err := r.srv.EnterCode(r.pl.ID(), ev.Text); err != nil {
			t.Fatal(err)
		}
		checkPaired(t, r.rig)
	}
}

// TestCodeRoundLimit: twenty wrong codes end the attempt at the client's
// round limit; the next attempt is held back (client/pair-pending) until
// the operator resets the player's count, and then pairs.
func TestCodeRoundLimit(t *testing.T) {
	r := newCodeRig(t, codeOpts{method: CodeDynamic})
	r.connect()
	r.connected()
	if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
		t.Fatal(err)
	}
	for round := uint32(1); round <= flow.RoundLimit; round++ {
		r.waitPhase(server.PairingAwaitingCode, round)
		if err := r.srv.EnterCode(r.pl.ID(), wrong(r.shown(round))); err != nil {
			t.Fatal(err)
		}
	}
	r.waitLast(server.OutcomeWrongCode)
	if pl := r.pl.Status().Pairing; pl.Last != flow.OutcomeAborted || pl.LastReason != wire.AbortPairingCodeMismatch {
		t.Fatalf("player: %+v", pl)
	}
	if !r.lastEvent().Stop {
		t.Fatal("the code is still shown")
	}
	r.noNewRecords(keys.PSK{})

	if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
		t.Fatal(err)
	}
	st := r.waitPhase(server.PairingHeldBack, 0)
	if st.Message != flow.DefaultLimitPending {
		t.Fatalf("pending message %q", st.Message)
	}
	if pl := r.pl.Status().Pairing; !pl.Active || pl.HeldBack != flow.HoldRoundLimit {
		t.Fatalf("player: %+v", pl)
	}
	if err := r.srv.EnterCode(r.pl.ID(), "123456"); !errors.Is(err, server.ErrNotAwaitingCode) {
		t.Fatalf("code while held back: %v", err)
	}
	r.pl.ResetPairingRounds()
	r.waitPhase(server.PairingAwaitingCode, 1)
	if err := r.srv.EnterCode(r.pl.ID(), r.shown(1).Text); err != nil {
		t.Fatal(err)
	}
	checkPaired(t, r.rig)
}

// TestStaticWindow: a static attempt waits (client/pair-pending) until
// the operator opens the pairing window on the player; a code entered up
// front is used once the client starts. Both directions.
func TestStaticWindow(t *testing.T) {
	for _, dial := range []bool{false, true} {
		r := newCodeRig(t, codeOpts{method: CodeStatic, dial: dial})
		r.connect()
		r.connected()
		if r.pl.Status().PairingWindow {
			t.Fatal("the window is open before any gesture")
		}
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: "3141-5926"}); err != nil {
			t.Fatal(err)
		}
		st := r.waitPhase(server.PairingHeldBack, 0)
		if st.Message != flow.DefaultWindowPending || !st.CodeEntered {
			t.Fatalf("%+v", st)
		}
		if pl := r.pl.Status().Pairing; pl.HeldBack != flow.HoldNoWindow {
			t.Fatalf("player: %+v", pl)
		}
		if err := r.pl.OpenPairingWindow(); err != nil {
			t.Fatal(err)
		}
		checkPaired(t, r.rig)
		if r.pl.Status().PairingWindow {
			t.Fatal("a completed pairing left the window open")
		}
	}
}

// TestStaticWindowExpired: a window whose lifetime ended admits nothing.
func TestStaticWindowExpired(t *testing.T) {
	r := newCodeRig(t, codeOpts{method: CodeStatic, pl: func(c *Config) { c.PairingWindowLifetime = 20 * time.Millisecond }})
	r.connect()
	r.connected()
	if err := r.pl.OpenPairingWindow(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the window to expire", func() bool { return !r.pl.Status().PairingWindow })
	if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), Method: wire.MethodStaticCode}); err != nil {
		t.Fatal(err)
	}
	r.waitPhase(server.PairingHeldBack, 0)
	if err := r.srv.CancelPairing(r.pl.ID()); err != nil {
		t.Fatal(err)
	}
	r.waitLast(server.OutcomeCancelled)
	r.noNewRecords(keys.PSK{})
}

// TestStaticFifthFailure: each wrong static code ends its attempt; the
// fifth closes the pairing window, so the sixth attempt is held back.
func TestStaticFifthFailure(t *testing.T) {
	r := newCodeRig(t, codeOpts{method: CodeStatic})
	r.connect()
	r.connected()
	if err := r.pl.OpenPairingWindow(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= flow.WindowMaxFailures; i++ {
		if !r.pl.Status().PairingWindow {
			t.Fatalf("the window closed after %d failures", i-1)
		}
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: "27182818"}); err != nil {
			t.Fatal(err)
		}
		r.waitLast(server.OutcomeWrongCode)
		r.noNewRecords(keys.PSK{})
	}
	if r.pl.Status().PairingWindow {
		t.Fatal("the fifth failure left the window open")
	}
	if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: rigStatic}); err != nil {
		t.Fatal(err)
	}
	r.waitPhase(server.PairingHeldBack, 0)
	if err := r.pl.OpenPairingWindow(); err != nil {
		t.Fatal(err)
	}
	checkPaired(t, r.rig)
}

// TestCodeCancel: the operator cancels at each step a person can see:
// while held back, while waiting for the first code, after a wrong code,
// and with a static code entered ahead; the device's user cancels too.
// Nothing is persisted, the shown code is withdrawn, and a new attempt
// on the same connection still pairs (the pairing_index stays in step).
func TestCodeCancel(t *testing.T) {
	// A round limit of 2 reaches the hold-back with one wrong code.
	r := newCodeRig(t, codeOpts{method: CodeDynamic, pl: func(c *Config) { c.RoundLimit = 2 }})
	r.connect()
	r.connected()
	if err := r.srv.CancelPairing(r.pl.ID()); !errors.Is(err, server.ErrNoAttempt) {
		t.Fatalf("cancel without attempt: %v", err)
	}
	if err := r.pl.CancelPairing(); !errors.Is(err, ErrNoAttempt) {
		t.Fatalf("player cancel without attempt: %v", err)
	}
	start := func() {
		t.Helper()
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
	}
	cancelled := func() {
		t.Helper()
		if err := r.srv.CancelPairing(r.pl.ID()); err != nil {
			t.Fatal(err)
		}
		r.waitLast(server.OutcomeCancelled)
		if pl := r.pl.Status().Pairing; pl.Last != flow.OutcomePeerAborted || pl.LastReason != wire.AbortUserCancelled {
			t.Fatalf("player: %+v", pl)
		}
		waitFor(t, "the code withdrawn", r.withdrawn)
		r.noNewRecords(keys.PSK{})
	}

	// Waiting for the first code.
	start()
	r.waitPhase(server.PairingAwaitingCode, 1)
	r.shown(1)
	cancelled()
	r.pl.ResetPairingRounds()

	// After a wrong code: the second round's code was shown, so the
	// count is at the limit.
	start()
	r.waitPhase(server.PairingAwaitingCode, 1)
	if err := r.srv.EnterCode(r.pl.ID(), wrong(r.shown(1))); err != nil {
		t.Fatal(err)
	}
	r.waitPhase(server.PairingAwaitingCode, 2)
	r.shown(2)
	cancelled()

	// Held back by the round limit.
	start()
	r.waitPhase(server.PairingHeldBack, 0)
	cancelled()
	r.pl.ResetPairingRounds()

	// The device's user cancels.
	start()
	r.waitPhase(server.PairingAwaitingCode, 1)
	r.shown(1)
	if err := r.pl.CancelPairing(); err != nil {
		t.Fatal(err)
	}
	r.waitLast(server.OutcomeCancelledOnDevice)
	if !r.withdrawn() {
		t.Fatal("the code is still shown")
	}
	r.noNewRecords(keys.PSK{})
	r.pl.ResetPairingRounds()

	// And after all that, the same connection pairs.
	start()
	r.waitPhase(server.PairingAwaitingCode, 1)
	if err := r.srv.EnterCode(r.pl.ID(), r.shown(1).Text); err != nil {
		t.Fatal(err)
	}
	checkPaired(t, r.rig)
}

// TestStaticCancelCodeAhead: a static code entered up front, cancelled
// while the player waits for its window; the window is not consumed.
func TestStaticCancelCodeAhead(t *testing.T) {
	r := newCodeRig(t, codeOpts{method: CodeStatic, dial: true})
	r.connect()
	r.connected()
	if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: rigStatic}); err != nil {
		t.Fatal(err)
	}
	if st := r.waitPhase(server.PairingHeldBack, 0); !st.CodeEntered {
		t.Fatalf("%+v", st)
	}
	if err := r.srv.CancelPairing(r.pl.ID()); err != nil {
		t.Fatal(err)
	}
	r.waitLast(server.OutcomeCancelled)
	r.noNewRecords(keys.PSK{})
	// The code entered ahead went with the attempt.
	if err := r.pl.OpenPairingWindow(); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
		t.Fatal(err)
	}
	if st := r.waitPhase(server.PairingAwaitingCode, 1); st.CodeEntered {
		t.Fatalf("%+v", st)
	}
	if err := r.srv.CancelPairing(r.pl.ID()); err != nil {
		t.Fatal(err)
	}
	r.waitLast(server.OutcomeCancelled)
	// A cancelled attempt does not close the window (pairing.md "Pairing
	// Window").
	if !r.pl.Status().PairingWindow {
		t.Fatal("a cancelled attempt closed the window")
	}
}

// TestCodeCancelFromPaired: a paired connection re-keyed to the Sentinel
// for a new pairing goes back to its long-term PSK when the attempt is
// cancelled; both records stay.
func TestCodeCancelFromPaired(t *testing.T) {
	r := newCodeRig(t, codeOpts{method: CodeDynamic})
	old := keys.PSK{5, 5}
	r.seedPaired(old)
	r.connect()
	r.connected()
	waitFor(t, "paired", func() bool { return r.pl.Status().Paired })
	if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
		t.Fatal(err)
	}
	r.waitPhase(server.PairingAwaitingCode, 1)
	if r.pl.Status().Paired {
		t.Fatal("the attempt runs on the long-term PSK")
	}
	if err := r.srv.CancelPairing(r.pl.ID()); err != nil {
		t.Fatal(err)
	}
	r.waitLast(server.OutcomeCancelled)
	waitFor(t, "back on the long-term PSK", func() bool {
		info, _ := serverView(r.srv, r.pl.ID())
		return r.pl.Status().Paired && info.Status == server.StatusPaired && info.Available
	})
	r.noNewRecords(old)
}

// TestCodeTimeouts: the server's wait for client/pair-init, the server's
// attempt bound, and the player's attempt timeout each end an attempt
// with nothing persisted. The timeouts are short, and the tests wait for
// them to have passed: nothing else can end the attempt.
func TestCodeTimeouts(t *testing.T) {
	t.Run("server init timeout", func(t *testing.T) {
		r := newCodeRig(t, codeOpts{method: CodeStatic,
			srv: func(c *server.Config) { c.PairingInitTimeout = 50 * time.Millisecond }})
		r.connect()
		r.connected()
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
		r.waitLast(server.OutcomeTimedOut)
		if st := r.pairState(); !st.LastHeldBack || st.Message != flow.DefaultWindowPending {
			t.Fatalf("server: %+v", st)
		}
		if pl := r.pl.Status().Pairing; pl.Last != flow.OutcomeCancelled {
			t.Fatalf("player: %+v", pl)
		}
		r.noNewRecords(keys.PSK{})
	})
	t.Run("server attempt timeout", func(t *testing.T) {
		r := newCodeRig(t, codeOpts{method: CodeDynamic, dial: true,
			srv: func(c *server.Config) { c.PairingAttemptTimeout = 50 * time.Millisecond }})
		r.connect()
		r.connected()
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
		r.waitLast(server.OutcomeTimedOut)
		if !r.withdrawn() {
			t.Fatal("the code is still shown")
		}
		r.noNewRecords(keys.PSK{})
	})
	t.Run("player attempt timeout", func(t *testing.T) {
		r := newCodeRig(t, codeOpts{method: CodeDynamic,
			pl: func(c *Config) { c.PairingAttemptTimeout = 50 * time.Millisecond }})
		r.connect()
		r.connected()
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
		r.waitLast(server.OutcomeTimedOut)
		if pl := r.pl.Status().Pairing; pl.Last != flow.OutcomeAborted || pl.LastReason != wire.AbortAttemptTimeout {
			t.Fatalf("player: %+v", pl)
		}
		r.noNewRecords(keys.PSK{})
	})
}

// TestCodeDrop: a connection dropped mid-attempt ends it on both sides;
// nothing is persisted, the static window bound to the connection closes,
// and a code can no longer be entered.
func TestCodeDrop(t *testing.T) {
	for _, dial := range []bool{false, true} {
		r := newCodeRig(t, codeOpts{method: CodeStatic, dial: dial})
		r.connect()
		r.connected()
		if err := r.pl.OpenPairingWindow(); err != nil {
			t.Fatal(err)
		}
		if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
			t.Fatal(err)
		}
		r.waitPhase(server.PairingAwaitingCode, 1)
		r.disconnect()
		waitFor(t, "the server to see the drop", func() bool { return r.pairState().Last == server.OutcomeDropped })
		if err := r.srv.EnterCode(r.pl.ID(), rigStatic); !errors.Is(err, server.ErrNoAttempt) {
			t.Fatalf("code after the drop: %v", err)
		}
		if pl := r.pl.Status(); pl.Pairing.Last != flow.OutcomeDropped || pl.PairingWindow {
			t.Fatalf("player: %+v", pl)
		}
		r.noNewRecords(keys.PSK{})
	}
}

// TestCodeRequestErrors: what the operator's calls refuse, before
// anything goes on the wire.
func TestCodeRequestErrors(t *testing.T) {
	r := newCodeRig(t, codeOpts{method: CodeDynamic})
	id := r.pl.ID()
	if err := r.srv.StartPairing(server.PairRequest{Client: id}); !errors.Is(err, server.ErrNotConnected) {
		t.Fatalf("not connected: %v", err)
	}
	if err := r.srv.EnterCode(id, "123456"); !errors.Is(err, server.ErrNoAttempt) {
		t.Fatalf("no attempt: %v", err)
	}
	r.connect()
	r.connected()
	for _, c := range []struct {
		req  server.PairRequest
		want error
	}{
		{server.PairRequest{Client: id, Method: wire.MethodStaticCode}, session.ErrMethodNotOffered},
		{server.PairRequest{Client: id, Format: wire.FormatQRCode}, session.ErrMethodNotOffered},
		{server.PairRequest{Client: id, Method: wire.MethodPairingPSK}, server.ErrBadRequest},
		{server.PairRequest{Client: id, Format: "png"}, server.ErrBadRequest},
		{server.PairRequest{Client: id, StaticCode: "1234"}, server.ErrBadCode},
		{server.PairRequest{Client: id, StaticCode: rigStatic}, server.ErrBadRequest},
	} {
		if err := r.srv.StartPairing(c.req); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.req, err, c.want)
		}
	}
	if st := r.pairState(); st.Phase != server.PairingNone {
		t.Fatalf("a refused request started pairing: %+v", st)
	}
	if err := r.srv.StartPairing(server.PairRequest{Client: id}); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.StartPairing(server.PairRequest{Client: id}); !errors.Is(err, server.ErrAttemptRunning) {
		t.Fatalf("second attempt: %v", err)
	}
	r.waitPhase(server.PairingAwaitingCode, 1)
	ev := r.shown(1)
	for _, bad := range []string{"", "12345", "1234567", "12a456", "SP:1AAAA", ev.Text + "0"} {
		err := r.srv.EnterCode(id, bad)
		if !errors.Is(err, server.ErrBadCode) {
			t.Fatalf("%d-char code: %v", len(bad), err)
		}
		if strings.Contains(err.Error(), ev.Text[:3]) {
			t.Fatal("the error echoes the input")
		}
	}
	if st := r.pairState(); st.Phase != server.PairingAwaitingCode || st.Round != 1 || st.WrongCodes != 0 {
		t.Fatalf("a malformed code changed the attempt: %+v", st)
	}
	if err := r.srv.EnterCode(id, " "+ev.Text+" "); err != nil {
		t.Fatal(err)
	}
	checkPaired(t, r.rig)
	if err := r.pl.OpenPairingWindow(); !errors.Is(err, ErrNoStaticCode) {
		t.Fatalf("window on a dynamic player: %v", err)
	}
}

// TestUnpair: the operator unpairs a connected paired player: the server
// drops its record, sends server/unpair, and the player drops its own and
// closes with goodbye unpaired. An offline client's record goes too.
func TestUnpair(t *testing.T) {
	for _, dial := range []bool{false, true} {
		r := newCodeRig(t, codeOpts{dial: dial})
		r.seedPaired(keys.PSK{3, 3})
		r.connect()
		r.connected()
		waitFor(t, "paired", func() bool { return r.pl.Status().Paired })
		if err := r.srv.Unpair(r.pl.ID()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-r.errs:
		case <-time.After(10 * time.Second):
			t.Fatal("the session did not end")
		}
		waitFor(t, "the player's record gone", func() bool {
			recs, err := r.pst.ServerRecords()
			return err == nil && len(recs) == 0
		})
		r.noNewRecords(keys.PSK{})
		waitFor(t, "the goodbye unpaired at the server", func() bool {
			return strings.Contains(r.srvLog.String(), "reason=unpaired")
		})
		if err := r.srv.Unpair(r.pl.ID()); !errors.Is(err, server.ErrNotPaired) {
			t.Fatalf("second unpair: %v", err)
		}
	}
	// Offline.
	r := newCodeRig(t, codeOpts{})
	if err := r.sst.PutClientRecord(r.pl.ID(), keys.PSK{1}); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.Unpair(r.pl.ID()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.sst.ClientRecord(r.pl.ID()); ok {
		t.Fatal("the offline client's record stayed")
	}
}

// TestRefusedActivationCounts: a pairing activation the player refuses
// (a method it does not offer: pair/abort method_not_supported, the
// connection open) still counts toward its pairing_index, so the next
// attempt's client/pair-init carries the server's count. The server here
// is a bare secure channel, since ours never sends such an activation.
func TestRefusedActivationCounts(t *testing.T) {
	got := make(chan wire.Message, 8)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr, err := securechan.Accept(w, r)
		if err != nil {
			return
		}
		id, _ := keys.GenerateIdentity(nil)
		c, err := securechan.ServerHandshake(context.Background(), tr, securechan.ServerConfig{Identity: id})
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.WriteMessage(&wire.ServerHello{Name: "Bare"})
		pairingOn := func(p wire.PairingParams) *wire.ServerActivate {
			return &wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPairing}, Pairing: &p}
		}
		for {
			in, err := c.Read()
			if err != nil {
				return
			}
			switch m := in.JSON.(type) {
			case *wire.ClientHello:
				_ = c.WriteMessage(&wire.ServerActivate{HasActiveRoles: true})
				_ = c.WriteMessage(pairingOn(wire.PairingParams{Method: wire.MethodStaticCode}))
			case *wire.PairAbort:
				got <- m
				_ = c.WriteMessage(pairingOn(wire.PairingParams{Method: wire.MethodDynamicCode, Format: wire.FormatDigits}))
			case *wire.ClientPairInit:
				got <- m
				return
			}
		}
	}))
	defer h.Close()
	r := newCodeRig(t, codeOpts{method: CodeDynamic})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.pl.Connect(ctx, "ws"+strings.TrimPrefix(h.URL, "http")) }()
	for _, want := range []string{"abort", "init"} {
		select {
		case m := <-got:
			switch m := m.(type) {
			case *wire.PairAbort:
				if want != "abort" || m.Reason != wire.AbortMethodNotSupported {
					t.Fatalf("%s: abort %s", want, m.Reason)
				}
			case *wire.ClientPairInit:
				if want != "init" || m.PairingIndex != 2 {
					t.Fatalf("%s: client/pair-init with pairing_index %d, want 2", want, m.PairingIndex)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", want)
		}
	}
}
