package session

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

func srv(b byte) keys.PublicKey {
	var k keys.PublicKey
	k[0] = b
	return k
}

type opKind uint8

const (
	opOpen opKind = iota + 1
	opAct
	opStart
	opEnd
	opRekey
	opClosed
	opTick
)

// step is one event fed to the arbiter and what must come out of it.
type step struct {
	op     opKind
	id     ConnID
	server byte // opOpen
	paired bool // opOpen, opRekey
	set    ActivitySet
	at     time.Duration // opOpen, opTick: time since t0
	// Expectations.
	closes  []Close
	state   ConnState // of id after the event (not checked for opTick)
	persist byte      // last-playback server persisted by this event, 0 for none
}

func open(id ConnID, server byte, at time.Duration) step {
	return step{op: opOpen, id: id, server: server, at: at, state: StateProvisional}
}

func openPaired(id ConnID, server byte) step {
	return step{op: opOpen, id: id, server: server, paired: true, state: StateProvisional}
}

func act(id ConnID, set ActivitySet, state ConnState, closes ...Close) step {
	return step{op: opAct, id: id, set: set, state: state, closes: closes}
}

func (s step) persists(b byte) step { s.persist = b; return s }

func goodbye(id ConnID, r CloseReason, g wire.GoodbyeReason) Close {
	return Close{Conn: id, Reason: r, Goodbye: g}
}

func abort(id ConnID, r CloseReason) Close {
	return Close{Conn: id, Reason: r, Abort: wire.AbortConcurrentAttempt}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func runSteps(t *testing.T, a *Arbiter, steps []step) {
	t.Helper()
	for i, s := range steps {
		var out Outcome
		var err error
		switch s.op {
		case opOpen:
			out, err = a.Open(s.id, srv(s.server), s.paired, t0.Add(s.at))
		case opAct:
			out, err = a.Activate(s.id, s.set)
		case opStart:
			out, err = a.AttemptStarted(s.id)
		case opEnd:
			err = a.AttemptEnded(s.id)
			out.State = a.State(s.id)
		case opRekey:
			out, err = a.Rekeyed(s.id, s.paired)
		case opClosed:
			a.Closed(s.id)
			out.State = a.State(s.id)
		case opTick:
			out = a.Tick(t0.Add(s.at))
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !slices.Equal(out.Closes, s.closes) {
			t.Fatalf("step %d: closes %+v, want %+v", i, out.Closes, s.closes)
		}
		if s.op != opTick && out.State != s.state {
			t.Fatalf("step %d: state %v, want %v", i, out.State, s.state)
		}
		if s.op != opTick && a.State(s.id) != out.State {
			t.Fatalf("step %d: State() %v disagrees with outcome %v", i, a.State(s.id), out.State)
		}
		for _, c := range out.Closes {
			if a.State(c.Conn) != StateNone {
				t.Fatalf("step %d: closed conn %d still %v", i, c.Conn, a.State(c.Conn))
			}
			if c.Goodbye != "" && c.Abort != "" {
				t.Fatalf("step %d: both goodbye and abort", i)
			}
		}
		if (s.persist != 0) != out.PersistLastPlayback || (s.persist != 0 && out.LastPlayback != srv(s.persist)) {
			t.Fatalf("step %d: persist %v %v, want server %d", i, out.PersistLastPlayback, out.LastPlayback, s.persist)
		}
	}
}

// TestArbiter walks connection.md "Multiple servers (server-initiated)":
// ranking, higher-or-equal accepted, the three exceptions, re-arbitration of
// a pairing connection dropping pairing, no arbitration of later updates, the
// displacement and rejection messages, and the last-playback server.
func TestArbiter(t *testing.T) {
	const A, B, C = 1, 2, 3
	tests := []struct {
		name      string
		cfg       ArbiterConfig
		last      byte
		steps     []step
		finalHold ConnID // admitted holder expected at the end, 0 for none
	}{
		{name: "first connection admitted", steps: []step{
			open(1, A, 0), act(1, NoActivities, StateAdmitted),
		}, finalHold: 1},
		{name: "higher incoming displaces", steps: []step{
			open(1, A, 0), act(1, NoActivities, StateAdmitted),
			open(2, B, 0), act(2, Playback, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)).persists(B),
		}, finalHold: 2},
		{name: "equal incoming displaces", steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Playback, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)).persists(B),
		}, finalHold: 2},
		{name: "lower incoming rejected", steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, NoActivities, StateNone, goodbye(2, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 1},
		{name: "pairing under playback rejected when not held alongside", steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateNone, abort(2, CloseRejected)),
		}, finalHold: 1},
		{name: "incoming pairing displaces empty", steps: []step{
			open(1, A, 0), act(1, NoActivities, StateAdmitted),
			open(2, B, 0), act(2, Pairing, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)),
		}, finalHold: 2},
		{name: "pairing holder without attempt displaced by playback with pair/abort", steps: []step{
			open(1, A, 0), act(1, Pairing, StateAdmitted),
			open(2, B, 0), act(2, Playback, StateAdmitted, abort(1, CloseDisplaced)).persists(B),
		}, finalHold: 2},
		{name: "pairing holder without attempt displaced by pairing", steps: []step{
			open(1, A, 0), act(1, Pairing, StateAdmitted),
			open(2, B, 0), act(2, Pairing, StateAdmitted, abort(1, CloseDisplaced)),
		}, finalHold: 2},
		{name: "attempt not displaced by playback", steps: []step{
			open(1, A, 0), act(1, Pairing, StateAdmitted), {op: opStart, id: 1, state: StateAdmitted},
			open(2, B, 0), act(2, Playback, StateNone, goodbye(2, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 1},
		{name: "attempt not displaced by pairing", steps: []step{
			open(1, A, 0), act(1, Pairing, StateAdmitted), {op: opStart, id: 1, state: StateAdmitted},
			open(2, B, 0), act(2, Pairing, StateNone, abort(2, CloseRejected)),
		}, finalHold: 1},
		{name: "attempt with playback not displaced by playback", steps: []step{
			open(1, A, 0), act(1, Playback|Pairing, StateAdmitted).persists(A), {op: opStart, id: 1, state: StateAdmitted},
			open(2, B, 0), act(2, Playback|Pairing, StateNone, goodbye(2, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 1},
		{name: "ended attempt no longer protects", steps: []step{
			open(1, A, 0), act(1, Pairing, StateAdmitted), {op: opStart, id: 1, state: StateAdmitted}, {op: opEnd, id: 1, state: StateAdmitted},
			open(2, B, 0), act(2, Playback, StateAdmitted, abort(1, CloseDisplaced)).persists(B),
		}, finalHold: 2},
		{name: "cancelling activation ends the attempt", steps: []step{
			open(1, A, 0), act(1, Pairing, StateAdmitted), {op: opStart, id: 1, state: StateAdmitted},
			act(1, Pairing, StateAdmitted),
			open(2, B, 0), act(2, Pairing, StateAdmitted, abort(1, CloseDisplaced)),
		}, finalHold: 2},
		{name: "both empty: incoming last-playback server wins", last: B, steps: []step{
			open(1, A, 0), act(1, NoActivities, StateAdmitted),
			open(2, B, 0), act(2, NoActivities, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)),
		}, finalHold: 2},
		{name: "both empty: incoming not last-playback server", last: C, steps: []step{
			open(1, A, 0), act(1, NoActivities, StateAdmitted),
			open(2, B, 0), act(2, NoActivities, StateNone, goodbye(2, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 1},
		{name: "both empty: holder is the last-playback server", last: A, steps: []step{
			open(1, A, 0), act(1, NoActivities, StateAdmitted),
			open(2, A, 0), act(2, NoActivities, StateNone, goodbye(2, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 1},
		{name: "both empty: no last-playback server", steps: []step{
			open(1, A, 0), act(1, NoActivities, StateAdmitted),
			open(2, B, 0), act(2, NoActivities, StateNone, goodbye(2, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 1},
		{name: "escalation is not arbitrated", steps: []step{
			open(1, A, 0), open(2, B, 0),
			act(1, NoActivities, StateAdmitted),
			act(1, Playback|Pairing, StateAdmitted).persists(A),
			act(1, Playback, StateAdmitted),
			act(2, Playback, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)).persists(B),
		}, finalHold: 2},
		{name: "alongside: pairing held next to playback", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside),
			// A further pairing is arbitrated against the playback holder.
			open(3, C, 0), act(3, Pairing, StateNone, abort(3, CloseRejected)),
		}, finalHold: 1},
		{name: "alongside: incoming playback displaces only the holder", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside), {op: opStart, id: 2, state: StateAlongside},
			open(3, C, 0), act(3, Playback, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)).persists(C),
			{op: opEnd, id: 2, state: StateAlongside},
		}, finalHold: 3},
		{name: "alongside: dropping pairing for playback re-arbitrates and wins", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside),
			act(2, Playback, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)).persists(B),
		}, finalHold: 2},
		{name: "alongside: dropping pairing to empty loses", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside),
			act(2, NoActivities, StateNone, goodbye(2, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 1},
		{name: "alongside: escalation keeping pairing is not arbitrated", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside),
			act(2, Playback|Pairing, StateAlongside).persists(B),
		}, finalHold: 1},
		{name: "alongside: holder gone, pairing connection admitted", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside),
			{op: opClosed, id: 1, state: StateNone},
			// Now the holder, it is displaced by an equal incoming pairing.
			open(3, C, 0), act(3, Pairing, StateAdmitted, abort(2, CloseDisplaced)),
		}, finalHold: 3},
		{name: "alongside: promoted attempt still protected", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside), {op: opStart, id: 2, state: StateAlongside},
			{op: opClosed, id: 1, state: StateNone},
			open(3, C, 0), act(3, Playback, StateNone, goodbye(3, CloseRejected, wire.GoodbyeConcurrentAttempt)),
		}, finalHold: 2},
		{name: "alongside: only one held", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), open(3, C, 0),
			act(2, Pairing, StateAlongside),
			act(3, Pairing, StateNone, abort(3, CloseRejected)),
		}, finalHold: 1},
		{name: "second concurrent attempt refused", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback|Pairing, StateAdmitted).persists(A), {op: opStart, id: 1, state: StateAdmitted},
			open(2, B, 0), act(2, Pairing, StateNone, abort(2, CloseRejected)),
		}, finalHold: 1},
		{name: "attempt on holder and alongside: second refused", cfg: ArbiterConfig{PairingAlongsidePlayback: true}, steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0), act(2, Pairing, StateAlongside), {op: opStart, id: 2, state: StateAlongside},
			act(1, Playback|Pairing, StateAdmitted),
			{op: opStart, id: 1, closes: []Close{abort(1, CloseConcurrentAttempt)}, state: StateNone},
		}, finalHold: 2},
		{name: "last playback persisted only on change", steps: []step{
			open(1, A, 0), act(1, Playback, StateAdmitted).persists(A),
			act(1, Playback, StateAdmitted), act(1, NoActivities, StateAdmitted),
			open(2, A, 0), act(2, Playback, StateAdmitted, goodbye(1, CloseDisplaced, wire.GoodbyeAnotherServer)),
		}, finalHold: 2},
		{name: "provisional timeout", steps: []step{
			open(1, A, 0), open(2, B, 10*time.Second),
			{op: opTick, at: ProvisionalTimeout - time.Nanosecond},
			{op: opTick, at: ProvisionalTimeout, closes: []Close{{Conn: 1, Reason: CloseProvisionalTimeout}}},
			act(2, Pairing, StateAdmitted),
			{op: opTick, at: time.Hour},
		}, finalHold: 2},
		{name: "shortened provisional timeout", cfg: ArbiterConfig{ProvisionalTimeout: time.Second}, steps: []step{
			open(1, A, 0),
			{op: opTick, at: time.Second - time.Nanosecond},
			{op: opTick, at: time.Second, closes: []Close{{Conn: 1, Reason: CloseProvisionalTimeout}}},
		}},
		{name: "provisional cap", cfg: ArbiterConfig{MaxProvisional: 2}, steps: []step{
			open(1, A, 0), open(2, B, 0),
			{op: opOpen, id: 3, server: C, closes: []Close{goodbye(3, CloseProvisionalCap, wire.GoodbyeConcurrentAttempt)}},
			act(1, Playback, StateAdmitted).persists(A),
			open(3, C, 0),
		}, finalHold: 1},
		{name: "paired cap below record capacity", cfg: ArbiterConfig{MaxProvisional: 10, RecordCapacity: 5}, steps: []step{
			openPaired(1, 1), openPaired(2, 2), openPaired(3, 3), openPaired(4, 4),
			{op: opOpen, id: 5, server: 5, paired: true, closes: []Close{goodbye(5, ClosePairedCap, wire.GoodbyeConcurrentAttempt)}},
			open(6, 6, 0),
			{op: opClosed, id: 4},
			openPaired(7, 7),
		}},
		{name: "promotion to paired over the cap drops the newest provisional paired", cfg: ArbiterConfig{MaxProvisional: 10, RecordCapacity: 5, MaxPairedOpen: 2}, steps: []step{
			open(1, A, 0), act(1, Pairing, StateAdmitted),
			openPaired(2, B), openPaired(3, C), open(4, 4, 0),
			{op: opRekey, id: 1, paired: true, state: StateAdmitted, closes: []Close{goodbye(3, ClosePairedCap, wire.GoodbyeConcurrentAttempt)}},
			{op: opRekey, id: 1, paired: true, state: StateAdmitted},
		}, finalHold: 1},
		{name: "promotion with no provisional to drop closes itself", cfg: ArbiterConfig{RecordCapacity: 5, MaxPairedOpen: 1}, steps: []step{
			openPaired(1, A), act(1, Playback, StateAdmitted).persists(A),
			open(2, B, 0),
			{op: opRekey, id: 2, paired: true, state: StateNone, closes: []Close{goodbye(2, ClosePairedCap, wire.GoodbyeConcurrentAttempt)}},
		}, finalHold: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last keys.PublicKey
			if tt.last != 0 {
				last = srv(tt.last)
			}
			a, err := NewArbiter(tt.cfg, last)
			if err != nil {
				t.Fatal(err)
			}
			runSteps(t, a, tt.steps)
			var holders []ConnID
			for id, c := range a.conns {
				if c.state == StateAdmitted {
					holders = append(holders, id)
				}
			}
			if len(holders) > 1 || (tt.finalHold == 0) != (len(holders) == 0) || (len(holders) == 1 && holders[0] != tt.finalHold) {
				t.Errorf("holders %v, want %d", holders, tt.finalHold)
			}
			if a.holder != nil && a.holder.state != StateAdmitted || a.alongside != nil && a.alongside.state != StateAlongside {
				t.Errorf("holder/alongside pointers out of step with states")
			}
		})
	}
}

func TestArbiterDeadlineAndBacking(t *testing.T) {
	a, err := NewArbiter(ArbiterConfig{}, keys.PublicKey{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.NextDeadline(); ok {
		t.Error("deadline with no connections")
	}
	mustOpen := func(id ConnID, s byte, paired bool, at time.Duration) {
		if out, err := a.Open(id, srv(s), paired, t0.Add(at)); err != nil || out.State != StateProvisional {
			t.Fatalf("open %d: %+v %v", id, out, err)
		}
	}
	mustOpen(1, 1, true, 5*time.Second)
	mustOpen(2, 2, false, 2*time.Second)
	mustOpen(3, 1, true, 9*time.Second)
	if d, ok := a.NextDeadline(); !ok || !d.Equal(t0.Add(2*time.Second+ProvisionalTimeout)) {
		t.Errorf("NextDeadline = %v %v", d, ok)
	}
	if got := a.Backing(); !slices.Equal(got, []keys.PublicKey{srv(1)}) {
		t.Errorf("Backing = %v", got)
	}
	if _, err := a.Activate(2, Playback); err != nil {
		t.Fatal(err)
	}
	if d, ok := a.NextDeadline(); !ok || !d.Equal(t0.Add(5*time.Second+ProvisionalTimeout)) {
		t.Errorf("NextDeadline after admission = %v %v", d, ok)
	}
	if a.LastPlayback() != srv(2) {
		t.Errorf("LastPlayback = %v", a.LastPlayback())
	}
}

func TestArbiterErrors(t *testing.T) {
	a, _ := NewArbiter(ArbiterConfig{}, keys.PublicKey{})
	if _, err := a.Activate(9, Playback); !errors.Is(err, ErrUnknownConn) {
		t.Errorf("Activate unknown: %v", err)
	}
	if _, err := a.AttemptStarted(9); !errors.Is(err, ErrUnknownConn) {
		t.Errorf("AttemptStarted unknown: %v", err)
	}
	if err := a.AttemptEnded(9); !errors.Is(err, ErrUnknownConn) {
		t.Errorf("AttemptEnded unknown: %v", err)
	}
	if _, err := a.Rekeyed(9, true); !errors.Is(err, ErrUnknownConn) {
		t.Errorf("Rekeyed unknown: %v", err)
	}
	a.Closed(9) // no-op
	if _, err := a.Open(1, srv(1), false, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Open(1, srv(1), false, t0); !errors.Is(err, ErrDuplicateConn) {
		t.Errorf("duplicate Open: %v", err)
	}
	if _, err := a.AttemptStarted(1); !errors.Is(err, ErrNotPairing) {
		t.Errorf("attempt on provisional: %v", err)
	}
	if _, err := a.Activate(1, Playback); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AttemptStarted(1); !errors.Is(err, ErrNotPairing) {
		t.Errorf("attempt without pairing: %v", err)
	}
	if ErrConfig.Error() == "" || ArbiterError(50).Error() == "" {
		t.Error("error text")
	}
}

func TestArbiterConfig(t *testing.T) {
	tests := []struct {
		cfg ArbiterConfig
		ok  bool
	}{
		{ArbiterConfig{}, true},
		{ArbiterConfig{RecordCapacity: MinRecordCapacity}, true},
		{ArbiterConfig{RecordCapacity: MinRecordCapacity - 1}, false},
		{ArbiterConfig{RecordCapacity: 5, MaxPairedOpen: 5}, false},
		{ArbiterConfig{RecordCapacity: 5, MaxPairedOpen: 4}, true},
		{ArbiterConfig{MaxPairedOpen: -1}, false},
		{ArbiterConfig{MaxProvisional: -1}, false},
		{ArbiterConfig{ProvisionalTimeout: time.Second}, true},
		{ArbiterConfig{ProvisionalTimeout: ProvisionalTimeout + 1}, false},
		{ArbiterConfig{ProvisionalTimeout: -1}, false},
	}
	for _, tt := range tests {
		_, err := NewArbiter(tt.cfg, keys.PublicKey{})
		if (err == nil) != tt.ok {
			t.Errorf("NewArbiter(%+v) err = %v", tt.cfg, err)
		}
	}
}

func TestArbiterStrings(t *testing.T) {
	for s, want := range map[ConnState]string{StateNone: "none", StateProvisional: "provisional", StateAdmitted: "admitted", StateAlongside: "admitted-alongside", 9: "ConnState(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
	if CloseDisplaced.String() != "displaced" || CloseReason(0).String() != "CloseReason(0)" {
		t.Error("CloseReason.String")
	}
}
