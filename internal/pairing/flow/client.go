package flow

import (
	"io"
	"math"
	"slices"
	"time"

	"github.com/tonearm-audio/tonearm/internal/cpace"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// ClientConfig configures a Client for one connection. The methods it
// offers must be the ones the client advertised in client/hello
// supported_pair_methods; the Pairing PSK method is always offered
// (pairing.md "Pairing": clients MUST implement it).
type ClientConfig struct {
	// ServerID is the server_id from server/init.
	ServerID keys.PublicKey
	// Suite is the connection's negotiated cipher suite.
	Suite keys.Suite
	// H and Category describe the current Noise handshake: its hash h and
	// the category of the PSK that matched.
	H        pairing.HandshakeHash
	Category wire.PSKCategory

	// StaticCode is the device's static pairing code; nil when the client
	// does not offer static_pairing_code. Window is then required.
	StaticCode *pairing.StaticCode
	// Window is the client's pairing window, shared by its connections.
	Window *Window
	// DynamicFormats are the dynamic emission formats offered; empty when
	// the client does not offer dynamic_pairing_code. Rounds is then
	// required.
	DynamicFormats []wire.CodeFormat
	// Rounds is the client's round-limit counter, shared by its
	// connections.
	Rounds *Rounds

	// Rand supplies nonce_B, CPace scalars and new long-term PSKs; nil
	// means crypto/rand.
	Rand io.Reader
	// AttemptTimeout defaults to AttemptTimeout when zero.
	AttemptTimeout time.Duration
	// WindowPending and LimitPending are the client/pair-pending messages
	// for the two hold-backs (at most MaxPendingMessage characters);
	// empty means DefaultWindowPending and DefaultLimitPending.
	WindowPending string
	LimitPending  string
}

// Client is the client's side of pairing on one connection: it counts the
// pairing activations it receives (the pairing_index), holds attempts
// back while no pairing window admits them or the round limit holds,
// answers the server's messages, and tells its driver when to emit the
// code and when to persist.
//
// The driver reports every admitted server/activate with Activate (after
// the session layer's activity-set checks), every pairing message with
// Receive, the time and local gestures with Tick (at Deadline, and after a
// window opened or the round limit was reset), local cancels with Cancel,
// arbitration losses with RejectConcurrent, re-handshakes with
// Rehandshaked and a lost connection with Dropped.
type Client struct {
	serverID       keys.PublicKey
	suite          keys.Suite
	static         *pairing.StaticCode
	window         *Window
	formats        []wire.CodeFormat
	rounds         *Rounds
	rnd            io.Reader
	attemptTimeout time.Duration
	windowPending  string
	limitPending   string

	h     pairing.HandshakeHash
	cat   wire.PSKCategory
	state ClientState
	// count is the number of pairing server/activate messages received
	// since the last Noise handshake (pairing.md "Pairing index").
	count uint32

	// The attempt. wipe clears all of it.
	method    wire.PairMethod
	format    wire.CodeFormat
	deadline  time.Time
	emitting  bool
	round     uint32
	windowGen uint64
	nonceB    pairing.Nonce
	code      pairing.Code
	cround    *pairing.ClientRound
	psk       keys.PSK // sent in client/pair-finalize, persisted only on server/pair-finalize
}

// NewClient returns a Client for a connection whose Noise handshake
// completed with cfg.H under a PSK of cfg.Category.
func NewClient(cfg ClientConfig) (*Client, error) {
	switch {
	case !cfg.Suite.Known(), !cfg.Category.Known(), cfg.ServerID.IsZero():
		return nil, ErrConfig
	case cfg.StaticCode != nil && cfg.Window == nil:
		return nil, ErrConfig
	case len(cfg.DynamicFormats) > 0 && cfg.Rounds == nil:
		return nil, ErrConfig
	}
	for _, f := range cfg.DynamicFormats {
		if f != wire.FormatDigits && f != wire.FormatQRCode {
			return nil, ErrConfig
		}
	}
	c := &Client{
		serverID:       cfg.ServerID,
		suite:          cfg.Suite,
		window:         cfg.Window,
		formats:        slices.Clone(cfg.DynamicFormats),
		rounds:         cfg.Rounds,
		rnd:            cfg.Rand,
		attemptTimeout: cfg.AttemptTimeout,
		windowPending:  truncate(cfg.WindowPending),
		limitPending:   truncate(cfg.LimitPending),
		h:              cfg.H,
		cat:            cfg.Category,
		state:          ClientIdle,
	}
	if cfg.StaticCode != nil {
		sc := *cfg.StaticCode
		c.static = &sc
	}
	if c.attemptTimeout <= 0 {
		c.attemptTimeout = AttemptTimeout
	}
	if c.windowPending == "" {
		c.windowPending = DefaultWindowPending
	}
	if c.limitPending == "" {
		c.limitPending = DefaultLimitPending
	}
	return c, nil
}

func truncate(s string) string {
	n := 0
	for i := range s {
		if n == MaxPendingMessage {
			return s[:i]
		}
		n++
	}
	return s
}

// State returns the current state.
func (c *Client) State() ClientState { return c.state }

// PairingIndex returns the number of pairing server/activate messages
// received since the last Noise handshake.
func (c *Client) PairingIndex() uint32 { return c.count }

// Method returns the method of the attempt admitted by the current
// activation (running or held back), or "".
func (c *Client) Method() wire.PairMethod { return c.method }

// InAttempt reports whether a pairing attempt is in progress, from
// client/pair-init until success or abort: such an attempt is not
// displaced by an incoming connection (connection.md "Multiple servers").
func (c *Client) InAttempt() bool { return c.state.inAttempt() }

// Deadline returns when the driver must call Tick for the attempt
// timeout, and false if none runs.
func (c *Client) Deadline() (time.Time, bool) {
	if c.state.inAttempt() {
		return c.deadline, true
	}
	return time.Time{}, false
}

// Activate processes an admitted server/activate. Any activation abandons
// the attempt in progress, discarding its state (and the PSK of a sent
// client/pair-finalize: nothing is persisted). One with 'pairing' admits a
// new attempt: the client checks the method, then starts it or holds it
// back with client/pair-pending.
func (c *Client) Activate(act *wire.ServerActivate, now time.Time) ([]Action, error) {
	if c.state == ClientClosed {
		return nil, ErrClosed
	}
	pairingOn := act.Has(wire.ActivityPairing)
	if pairingOn && c.count == math.MaxUint32 {
		return c.close(ErrIndexOverflow), nil
	}
	acts := c.abandon(OutcomeCancelled)
	if !pairingOn {
		c.state = ClientIdle
		return acts, nil
	}
	c.count++
	p := act.Pairing
	if !c.offers(p) {
		// messaging.md "server/activate": a method the matched PSK
		// disallows or the client does not currently offer, or a format
		// it does not offer.
		return append(acts, c.abort(wire.AbortMethodNotSupported)...), nil
	}
	c.method, c.format = p.Method, p.Format
	return append(acts, c.start(now)...), nil
}

// Refused records a pairing server/activate that the session layer
// refused with pair/abort method_not_supported (messaging.md
// "server/activate": the connection stays open). It counts toward the
// pairing_index all the same - the server counts the activations it sent,
// so both sides stay in step (SESSION-RULES.md reading 5) - abandons any
// attempt in progress, which the server's new activation superseded, and
// sends the abort. Pairing messages are then discarded until the next
// server/activate.
func (c *Client) Refused() ([]Action, error) {
	if c.state == ClientClosed {
		return nil, ErrClosed
	}
	if c.count == math.MaxUint32 {
		return c.close(ErrIndexOverflow), nil
	}
	acts := c.abandon(OutcomeCancelled)
	c.count++
	return append(acts, c.abort(wire.AbortMethodNotSupported)...), nil
}

// offers checks the activation's pairing object against the client's
// offer and the matched PSK: pairing_psk exactly on the pairing PSK (the
// receiving side of the invariant, pairing.md "Pairing PSK Flow"
// obligation 2), code methods on the Sentinel.
func (c *Client) offers(p *wire.PairingParams) bool {
	if p == nil {
		return false
	}
	switch p.Method {
	case wire.MethodPairingPSK:
		return c.cat == wire.PSKPairing && p.Format == ""
	case wire.MethodStaticCode:
		return c.cat == wire.PSKSentinel && p.Format == "" && c.static != nil
	case wire.MethodDynamicCode:
		return c.cat == wire.PSKSentinel && p.Format != "" && slices.Contains(c.formats, p.Format)
	}
	return false
}

// start begins the admitted attempt or holds it back.
func (c *Client) start(now time.Time) []Action {
	switch c.method {
	case wire.MethodPairingPSK:
		// Pairing PSK Flow: client/pair-init followed immediately by
		// client/pair-finalize carrying the new long-term PSK.
		psk, err := pairing.GeneratePSK(c.rnd)
		if err != nil {
			return c.close(err)
		}
		c.psk = psk
		c.deadline = now.Add(c.attemptTimeout)
		c.state = ClientAwaitFinalize
		return []Action{
			Send{Msg: &wire.ClientPairInit{PairingIndex: c.count}},
			Send{Msg: &wire.ClientPairFinalize{LongTermPSK: &psk}},
		}

	case wire.MethodStaticCode:
		// Every static attempt is gesture-gated (pairing.md "Pairing
		// Window").
		gen, ok := c.window.admit(c, now)
		if !ok {
			return c.holdBack(HoldNoWindow)
		}
		return c.startStatic(gen, now)

	default: // dynamic
		if c.rounds.HeldBack() {
			return c.holdBack(HoldRoundLimit)
		}
		return c.startDynamic(now)
	}
}

// startStatic sends client/pair-init in a window of generation gen that
// admitted this connection.
func (c *Client) startStatic(gen uint64, now time.Time) []Action {
	c.windowGen = gen
	c.round = 1
	c.code = *c.static
	c.deadline = now.Add(c.attemptTimeout)
	c.state = ClientAwaitAuth
	return []Action{Send{Msg: &wire.ClientPairInit{PairingIndex: c.count}}}
}

// startDynamic sends client/pair-init with commit_B.
func (c *Client) startDynamic(now time.Time) []Action {
	// Commit to nonce_B before any value from the server is known
	// (pairing.md "Binding values").
	nonceB, err := pairing.NewNonce(c.rnd)
	if err != nil {
		return c.close(err)
	}
	c.nonceB = nonceB
	commit := [wire.CommitSize]byte(nonceB.Commit())
	c.round = 0
	c.deadline = now.Add(c.attemptTimeout)
	c.state = ClientAwaitServerInit
	return []Action{Send{Msg: &wire.ClientPairInit{PairingIndex: c.count, CommitB: &commit}}}
}

// holdBack sends client/pair-pending (pairing.md "client/pair-pending").
// It does not start the attempt or its timeout.
func (c *Client) holdBack(why HoldReason) []Action {
	msg := c.windowPending
	if why == HoldRoundLimit {
		msg = c.limitPending
	}
	c.state = ClientHeldBack
	return []Action{
		Send{Msg: &wire.ClientPairPending{PairingIndex: c.count, Message: msg}},
		HeldBack{Why: why},
	}
}

// Tick applies the attempt timeout at now (pair/abort attempt_timeout),
// and starts a held-back attempt once a window admits it or the round
// limit was reset. Call it at Deadline and after such local actions.
func (c *Client) Tick(now time.Time) []Action {
	switch {
	case c.state.inAttempt():
		if now.Before(c.deadline) {
			return nil
		}
		return c.abort(wire.AbortAttemptTimeout)
	case c.state == ClientHeldBack:
		// Start only when admitted now: no second client/pair-pending.
		switch c.method {
		case wire.MethodStaticCode:
			if gen, ok := c.window.admit(c, now); ok {
				return c.startStatic(gen, now)
			}
		case wire.MethodDynamicCode:
			if !c.rounds.HeldBack() {
				return c.startDynamic(now)
			}
		}
	}
	return nil
}

// Receive processes a pairing message from the server.
func (c *Client) Receive(m wire.Message, now time.Time) ([]Action, error) {
	if c.state == ClientClosed {
		return nil, ErrClosed
	}
	switch m := m.(type) {
	case *wire.ServerPairInit:
		return c.expect(ClientAwaitServerInit, func() []Action { return c.onServerInit(m) }), nil
	case *wire.ServerPairAuth:
		return c.expect(ClientAwaitAuth, func() []Action { return c.onServerAuth(m) }), nil
	case *wire.ServerPairConfirm:
		return c.expect(ClientAwaitConfirm, func() []Action { return c.onServerConfirm(m, now) }), nil
	case *wire.ServerPairFinalize:
		return c.expect(ClientAwaitFinalize, c.onServerFinalize), nil
	case *wire.PairAbort:
		return c.onAbort(m), nil
	}
	return nil, ErrNotPairing
}

// expect runs h in state want. After this client's own pair/abort,
// messages are discarded until the next server/activate (pairing.md
// "Entering and leaving pairing"); anything else out of state is a
// sequence violation.
func (c *Client) expect(want ClientState, h func() []Action) []Action {
	switch c.state {
	case ClientAborted:
		return nil
	case want:
		return h()
	}
	return c.close(ErrOutOfSequence)
}

// onServerInit begins a round of the Dynamic Pairing Code Flow. The code
// is derived on the first round's message and emitted on every one.
func (c *Client) onServerInit(m *wire.ServerPairInit) []Action {
	code := c.code
	switch {
	case c.round == 0 && m.NonceA == nil:
		return c.close(ErrFieldMissing)
	case c.round > 0 && m.NonceA != nil:
		return c.close(ErrFieldUnexpected)
	case c.round == 0:
		nonceA := pairing.Nonce(*m.NonceA)
		if c.format == wire.FormatQRCode {
			code = pairing.DeriveQRCode(c.h, nonceA, c.nonceB)
		} else {
			code = pairing.DeriveDynamicCode(c.h, nonceA, c.nonceB)
		}
	}
	// The round counts toward the limit once its code is emitted. A
	// limit reached meanwhile on another connection ends the attempt.
	if !c.rounds.begin() {
		return c.abort(wire.AbortPairingCodeMismatch)
	}
	c.code = code
	c.round++
	c.emitting = true
	c.state = ClientAwaitAuth
	return []Action{EmitCode{Round: c.round, Code: code}}
}

// onServerAuth answers Ya with Yb in a fresh CPace run with its own sid.
func (c *Client) onServerAuth(m *wire.ServerPairAuth) []Action {
	r, err := pairing.NewClientRound(pairing.RoundParams{
		Suite: c.suite, H: c.h, PairingIndex: c.count, Round: c.round, Code: c.code,
	}, c.rnd)
	if err != nil {
		return c.close(err)
	}
	yb, err := r.Respond(cpace.Share(m.PakeMsg1))
	if err != nil {
		return c.close(ErrLowOrderShare)
	}
	c.cround = r
	c.state = ClientAwaitConfirm
	return []Action{Send{Msg: &wire.ClientPairAuth{PakeMsg2: [wire.ShareSize]byte(yb)}}}
}

// onServerConfirm is "Client verification": only a verified server_kc
// reveals anything; client/pair-confirm and client/pair-finalize go
// back-to-back.
func (c *Client) onServerConfirm(m *wire.ServerPairConfirm, now time.Time) []Action {
	tb, wk, err := c.cround.Confirm(cpace.Tag(m.ServerKC))
	c.cround = nil
	if err != nil {
		if c.method == wire.MethodStaticCode {
			// A failed attempt counts against the window (pairing.md
			// "Pairing Window"); the static flow has no retry.
			c.window.failed(c.windowGen, now)
			return c.abort(wire.AbortPairingCodeMismatch)
		}
		// pairing.md "Rounds": retry, or abort at the round limit.
		if !c.rounds.failed() {
			return c.abort(wire.AbortPairingCodeMismatch)
		}
		c.state = ClientAwaitServerInit
		return []Action{Send{Msg: &wire.ClientPairRetry{}}}
	}
	defer wk.Wipe()
	if c.method == wire.MethodDynamicCode {
		c.rounds.verified()
	}
	psk, err := pairing.GeneratePSK(c.rnd)
	if err != nil {
		return c.close(err)
	}
	confirm := &wire.ClientPairConfirm{ClientKC: [wire.TagSize]byte(tb)}
	if c.method == wire.MethodDynamicCode {
		wn, err := wk.WrapNonce(c.nonceB)
		if err != nil {
			return c.close(err)
		}
		w := [wire.WrappedSize]byte(wn)
		confirm.WrappedNonceB = &w
	}
	wp, err := wk.WrapPSK(psk)
	if err != nil {
		return c.close(err)
	}
	w := [wire.WrappedSize]byte(wp)
	c.psk = psk
	c.state = ClientAwaitFinalize
	return []Action{
		Send{Msg: confirm},
		Send{Msg: &wire.ClientPairFinalize{WrappedPSK: &w}},
	}
}

// onServerFinalize: the server persisted its record; only now does the
// client persist its own (pairing.md "server/pair-finalize").
func (c *Client) onServerFinalize() []Action {
	var acts []Action
	if c.emitting {
		acts = append(acts, StopEmitting{})
	}
	acts = append(acts,
		ClientPersistRecord{ServerID: c.serverID, PSK: c.psk},
		AttemptEnded{Outcome: OutcomePaired},
	)
	if c.window != nil {
		c.window.completed()
	}
	c.wipe()
	c.state = ClientDone
	return acts
}

// onAbort handles the server's pair/abort.
func (c *Client) onAbort(m *wire.PairAbort) []Action {
	switch c.state {
	case ClientIdle:
		return c.close(ErrOutOfSequence)
	case ClientAborted, ClientEnded, ClientDone:
		return nil // the attempt already ended: no effect
	}
	var acts []Action
	if c.emitting {
		acts = append(acts, StopEmitting{})
	}
	c.wipe()
	c.state = ClientEnded
	return append(acts, AttemptEnded{Outcome: OutcomePeerAborted, Reason: m.Reason})
}

// Cancel is the local operator's cancel: pair/abort user_cancelled.
func (c *Client) Cancel() ([]Action, error) {
	switch {
	case c.state == ClientClosed:
		return nil, ErrClosed
	case c.state == ClientHeldBack || c.state.inAttempt():
		return c.abort(wire.AbortUserCancelled), nil
	}
	return nil, ErrState
}

// RejectConcurrent ends pairing on this connection as arbitration
// decided (connection.md "Multiple servers"): pair/abort
// concurrent_attempt, then close.
func (c *Client) RejectConcurrent() ([]Action, error) {
	if c.state == ClientClosed {
		return nil, ErrClosed
	}
	acts := c.abandon(OutcomeAborted)
	for i, a := range acts {
		if e, ok := a.(AttemptEnded); ok {
			e.Reason = wire.AbortConcurrentAttempt
			acts[i] = e
		}
	}
	if c.window != nil {
		c.window.dropped(c)
	}
	c.state = ClientClosed
	return append([]Action{Send{Msg: &wire.PairAbort{Reason: wire.AbortConcurrentAttempt}}},
		append(acts, Close{})...), nil
}

// Rehandshaked reports a completed Noise re-handshake: the new hash h and
// matched PSK category. The pairing_index count restarts; an attempt
// under way cannot continue on a new h.
func (c *Client) Rehandshaked(h pairing.HandshakeHash, cat wire.PSKCategory) ([]Action, error) {
	switch {
	case c.state == ClientClosed:
		return nil, ErrClosed
	case !cat.Known():
		return nil, ErrConfig
	}
	acts := c.abandon(OutcomeDropped)
	c.h, c.cat = h, cat
	c.count = 0
	c.state = ClientIdle
	return acts, nil
}

// Dropped reports that the connection is gone: its pairing window, if it
// carries one, closes (pairing.md "Pairing Window").
func (c *Client) Dropped() []Action {
	if c.state == ClientClosed {
		return nil
	}
	acts := c.abandon(OutcomeDropped)
	if c.window != nil {
		c.window.dropped(c)
	}
	c.state = ClientClosed
	return acts
}

// abandon ends a held-back or running attempt without a message.
func (c *Client) abandon(o Outcome) []Action {
	if c.state != ClientHeldBack && !c.state.inAttempt() {
		c.wipe()
		return nil
	}
	var acts []Action
	if c.emitting {
		acts = append(acts, StopEmitting{})
	}
	c.wipe()
	return append(acts, AttemptEnded{Outcome: o})
}

// abort sends pair/abort with reason; later pairing messages are
// discarded until the next server/activate.
func (c *Client) abort(reason wire.AbortReason) []Action {
	acts := []Action{Send{Msg: &wire.PairAbort{Reason: reason}}}
	if c.emitting {
		acts = append(acts, StopEmitting{})
	}
	c.wipe()
	c.state = ClientAborted
	return append(acts, AttemptEnded{Outcome: OutcomeAborted, Reason: reason})
}

// close ends the connection without a message: a protocol error, or a
// local failure.
func (c *Client) close(err error) []Action {
	var acts []Action
	if c.emitting {
		acts = append(acts, StopEmitting{})
	}
	if c.state == ClientHeldBack || c.state.inAttempt() {
		acts = append(acts, AttemptEnded{Outcome: OutcomeProtocolError})
	}
	c.wipe()
	if c.window != nil {
		c.window.dropped(c)
	}
	c.state = ClientClosed
	return append(acts, Close{Err: err})
}

// wipe discards every value of the attempt.
func (c *Client) wipe() {
	clear(c.nonceB[:])
	clear(c.psk[:])
	c.method, c.format = "", ""
	c.emitting = false
	c.round, c.windowGen = 0, 0
	c.code, c.cround = nil, nil
}
