package flow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// build makes a harness for fc and takes k steps of its flow.
func build(t *testing.T, fc flowCase, k int) *harness {
	t.Helper()
	h := newHarness(t, hcfg{cat: fc.cat, seed: 42})
	p := fc.params
	h.activate(&p)
	for i := 0; i < k && h.step(); i++ {
	}
	return h
}

// stepsOf counts the steps of fc's complete flow.
func stepsOf(t *testing.T, fc flowCase) int {
	h := build(t, fc, 0)
	n := 0
	for h.step() {
		n++
	}
	return n
}

// atEachStep runs f on a fresh harness stopped after k steps, for every k
// from before the activation is delivered to the end of the flow.
func atEachStep(t *testing.T, f func(t *testing.T, fc flowCase, k int)) {
	for _, fc := range flowCases {
		n := stepsOf(t, fc)
		for k := 0; k <= n; k++ {
			t.Run(fmt.Sprintf("%s/step%d", fc.name, k), func(t *testing.T) { f(t, fc, k) })
		}
	}
}

func (h *harness) closes() bool { return h.srvClosed || h.cliClosed }

func (h *harness) sent(line string) bool { return slices.Contains(h.messages(), line) }

// An operator cancel on the server at every step: pair/abort
// user_cancelled, then a cancelling server/activate; whatever the client
// still had in flight is discarded; nothing is persisted; nobody closes.
func TestServerCancelAtEachStep(t *testing.T) {
	atEachStep(t, func(t *testing.T, fc flowCase, k int) {
		h := build(t, fc, k)
		before := h.srv.State()
		acts, err := h.srv.Cancel()
		if !before.live() {
			if err == nil {
				t.Fatalf("Cancel in %s succeeded", before)
			}
			return
		}
		if err != nil {
			t.Fatalf("Cancel in %s: %v", before, err)
		}
		h.srvActs(acts)
		h.run()
		if h.closes() {
			t.Fatalf("closed after cancel in %s:\n%s", before, h.dump())
		}
		h.noRecords()
		ab, act := h.indexOf("S> pair/abort user_cancelled"), h.indexOf("S> server/activate []")
		if ab < 0 || act < ab {
			t.Fatalf("want pair/abort then server/activate:\n%s", h.dump())
		}
		if h.srv.State() != ServerEnded || h.cli.State() != ClientIdle || h.emitting {
			t.Fatalf("after cancel: server %s, client %s, emitting %v", h.srv.State(), h.cli.State(), h.emitting)
		}
	})
}

// A local cancel on the client at every step where it holds an attempt.
func TestClientCancelAtEachStep(t *testing.T) {
	atEachStep(t, func(t *testing.T, fc flowCase, k int) {
		h := build(t, fc, k)
		before := h.cli.State()
		acts, err := h.cli.Cancel()
		if before != ClientHeldBack && !before.inAttempt() {
			if !errors.Is(err, ErrState) {
				t.Fatalf("Cancel in %s: %v", before, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		h.cliActs(acts)
		h.run()
		if h.closes() {
			t.Fatalf("closed after client cancel in %s:\n%s", before, h.dump())
		}
		if h.cliRecord != nil {
			t.Fatalf("client persisted after cancelling:\n%s", h.dump())
		}
		// The one race the spec leaves open: the client cancels after
		// its client/pair-finalize; the server may persist and finalize
		// before it sees the abort (connection.md "Sentinel Fallback":
		// an interrupted finalize).
		if h.srvRecord != nil && before != ClientAwaitFinalize {
			t.Fatalf("server persisted after a cancel in %s:\n%s", before, h.dump())
		}
		if !h.sent("C> pair/abort user_cancelled") || h.emitting {
			t.Fatalf("no pair/abort, or still emitting:\n%s", h.dump())
		}
	})
}

// The client's attempt timeout at every step: pair/abort attempt_timeout
// when an attempt is in progress, nothing otherwise (client/pair-pending
// does not start it).
func TestClientTimeoutAtEachStep(t *testing.T) {
	atEachStep(t, func(t *testing.T, fc flowCase, k int) {
		h := build(t, fc, k)
		before := h.cli.State()
		dl, ok := h.cli.Deadline()
		if ok != before.inAttempt() {
			t.Fatalf("Deadline %v in %s", ok, before)
		}
		if ok && !dl.Equal(t0.Add(AttemptTimeout)) {
			t.Fatalf("deadline %v, want %v", dl, t0.Add(AttemptTimeout))
		}
		if acts := h.cli.Tick(t0.Add(AttemptTimeout - time.Nanosecond)); len(acts) != 0 {
			t.Fatalf("early tick: %v", acts)
		}
		h.now = t0.Add(AttemptTimeout)
		h.cliActs(h.cli.Tick(h.now))
		if !before.inAttempt() {
			if len(h.toSrv) != 0 {
				t.Fatal("timeout outside an attempt")
			}
			return
		}
		h.run()
		if h.closes() || h.cliRecord != nil || (h.srvRecord != nil && before != ClientAwaitFinalize) {
			t.Fatalf("after timeout in %s:\n%s", before, h.dump())
		}
		if !h.sent("C> pair/abort attempt_timeout") {
			t.Fatalf("no attempt_timeout:\n%s", h.dump())
		}
	})
}

// The server's own timeouts at every step: a cancelling server/activate.
func TestServerTimeoutAtEachStep(t *testing.T) {
	atEachStep(t, func(t *testing.T, fc flowCase, k int) {
		h := build(t, fc, k)
		before := h.srv.State()
		if _, ok := h.srv.Deadline(); ok != before.live() {
			t.Fatalf("Deadline %v in %s", ok, before)
		}
		h.now = t0.Add(max(ServerInitTimeout, ServerAttemptTimeout))
		h.srvActs(h.srv.Tick(h.now))
		h.run()
		if !before.live() {
			return
		}
		if h.closes() {
			t.Fatalf("closed:\n%s", h.dump())
		}
		h.noRecords()
		if !slices.Contains(h.ends, "S:timed out") || h.srv.State() != ServerEnded || h.cli.State() != ClientIdle {
			t.Fatalf("after timeout: %v server %s client %s\n%s", h.ends, h.srv.State(), h.cli.State(), h.dump())
		}
	})
}

// Samples of every pairing message each side receives.
func clientSamples(idx uint32) []wire.Message {
	var c [32]byte
	var w [48]byte
	psk := keys.PSK{1}
	return []wire.Message{
		&wire.ClientPairPending{PairingIndex: idx},
		&wire.ClientPairInit{PairingIndex: idx},
		&wire.ClientPairInit{PairingIndex: idx, CommitB: &c},
		&wire.ClientPairAuth{PakeMsg2: [32]byte{9}},
		&wire.ClientPairRetry{},
		&wire.ClientPairConfirm{},
		&wire.ClientPairConfirm{WrappedNonceB: &w},
		&wire.ClientPairFinalize{LongTermPSK: &psk},
		&wire.ClientPairFinalize{WrappedPSK: &w},
		&wire.PairAbort{Reason: wire.AbortUserCancelled},
	}
}

func serverSamples() []wire.Message {
	var n [32]byte
	return []wire.Message{
		&wire.ServerPairInit{NonceA: &n},
		&wire.ServerPairInit{},
		&wire.ServerPairAuth{PakeMsg1: [32]byte{9}},
		&wire.ServerPairConfirm{},
		&wire.ServerPairFinalize{},
		&wire.PairAbort{Reason: wire.AbortUserCancelled},
	}
}

// serverAccepts is the sequence table of pairing.md "Messages", written
// independently of the implementation: which message types a server in
// state s of method m takes in sequence.
func serverAccepts(s ServerState, m wire.PairMethod, t wire.Type) bool {
	switch s {
	case ServerAwaitInit:
		return t == wire.TypeClientPairInit || t == wire.TypePairAbort ||
			(t == wire.TypeClientPairPending && m != wire.MethodPairingPSK)
	case ServerPending:
		return t == wire.TypeClientPairInit || t == wire.TypePairAbort
	case ServerAwaitCode:
		return t == wire.TypePairAbort
	case ServerAwaitAuth:
		return t == wire.TypeClientPairAuth || t == wire.TypePairAbort
	case ServerAwaitConfirm:
		return t == wire.TypeClientPairConfirm || t == wire.TypePairAbort ||
			(t == wire.TypeClientPairRetry && m == wire.MethodDynamicCode)
	case ServerAwaitFinalize:
		return t == wire.TypeClientPairFinalize || t == wire.TypePairAbort
	}
	return false
}

func clientAccepts(s ClientState, t wire.Type) bool {
	switch s {
	case ClientHeldBack:
		return t == wire.TypePairAbort
	case ClientAwaitServerInit:
		return t == wire.TypeServerPairInit || t == wire.TypePairAbort
	case ClientAwaitAuth:
		return t == wire.TypeServerPairAuth || t == wire.TypePairAbort
	case ClientAwaitConfirm:
		return t == wire.TypeServerPairConfirm || t == wire.TypePairAbort
	case ClientAwaitFinalize:
		return t == wire.TypeServerPairFinalize || t == wire.TypePairAbort
	}
	return false
}

// Every message out of sequence, at every step of every flow, on both
// sides: a protocol error (close, no message, nothing persisted); after an
// abort or leave, a silent discard.
func TestOutOfSequenceAtEachStep(t *testing.T) {
	atEachStep(t, func(t *testing.T, fc flowCase, k int) {
		probe := build(t, fc, k)
		sst, cst, idx := probe.srv.State(), probe.cli.State(), probe.srv.PairingIndex()
		for i, m := range clientSamples(idx) {
			if serverAccepts(sst, fc.params.Method, m.Type()) {
				continue
			}
			h := build(t, fc, k)
			n := len(h.log)
			acts, err := h.srv.Receive(h.wireTrip(m, wire.FromClient), h.now)
			if err != nil {
				t.Fatalf("server %s sample %d: %v", sst, i, err)
			}
			h.srvActs(acts)
			switch sst {
			case ServerEnded:
				if len(h.log) != n {
					t.Fatalf("server %s: %s not discarded: %v", sst, m.Type(), h.log[n:])
				}
			case ServerIdle:
				if !h.srvClosed {
					t.Fatalf("server %s: %s did not close", sst, m.Type())
				}
			default:
				if !errors.Is(h.srvClose, ErrOutOfSequence) {
					t.Fatalf("server %s (%s): %s gave %v", sst, fc.name, describe(m), h.srvClose)
				}
			}
			h.run()
			h.noRecordsAfterClose()
		}
		for i, m := range serverSamples() {
			if clientAccepts(cst, m.Type()) {
				continue
			}
			h := build(t, fc, k)
			n := len(h.log)
			acts, err := h.cli.Receive(h.wireTrip(m, wire.FromServer), h.now)
			if err != nil {
				t.Fatalf("client %s sample %d: %v", cst, i, err)
			}
			h.cliActs(acts)
			switch {
			case cst == ClientAborted,
				m.Type() == wire.TypePairAbort && (cst == ClientEnded || cst == ClientDone):
				if len(h.log) != n {
					t.Fatalf("client %s: %s not discarded: %v", cst, m.Type(), h.log[n:])
				}
			default:
				if !errors.Is(h.cliClose, ErrOutOfSequence) {
					t.Fatalf("client %s (%s): %s gave %v", cst, fc.name, describe(m), h.cliClose)
				}
			}
			h.run()
			h.noRecordsAfterClose()
		}
	})
}

// noRecordsAfterClose: a side that closed on a protocol error persists
// nothing afterwards. (Its peer may still act on messages sent before the
// close: the interrupted finalize of connection.md "Sentinel Fallback".)
func (h *harness) noRecordsAfterClose() {
	h.t.Helper()
	for _, side := range []string{"S", "C"} {
		closed := false
		for _, l := range h.log {
			switch {
			case strings.HasPrefix(l, side+": close"):
				closed = true
			case closed && (l == side+": persist" || l == side+"> server/pair-finalize"):
				h.t.Fatalf("%s persisted after closing:\n%s", side, h.dump())
			}
		}
	}
}
