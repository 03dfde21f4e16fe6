package flow

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/tonearm-audio/tonearm/internal/cpace"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// ServerConfig configures a Server for one connection.
type ServerConfig struct {
	// ClientID is the client_id presented on the connection (client/init).
	ClientID keys.PublicKey
	// Suite is the connection's negotiated cipher suite.
	Suite keys.Suite
	// H and Category describe the current Noise handshake: its hash h and
	// the category of the PSK that matched.
	H        pairing.HandshakeHash
	Category wire.PSKCategory
	// Rand supplies nonce_A and CPace scalars; nil means crypto/rand.
	Rand io.Reader
	// InitTimeout and AttemptTimeout default to ServerInitTimeout and
	// ServerAttemptTimeout when zero.
	InitTimeout    time.Duration
	AttemptTimeout time.Duration
}

// Server is the server's side of pairing on one connection: it counts the
// pairing activations it sends (the pairing_index), runs the attempt each
// admits with the method it names, and tells its driver when to persist,
// finalize, re-handshake and leave pairing.
//
// The driver reports every server/activate it sends with Activated, every
// pairing message it receives with Receive, operator input with EnterCode
// and Cancel, the time with Tick (at Deadline), the record's persistence
// with Persisted or PersistFailed, and every Noise re-handshake with
// Rehandshaked. Each returns the Actions to carry out, in order.
type Server struct {
	clientID       keys.PublicKey
	suite          keys.Suite
	rnd            io.Reader
	initTimeout    time.Duration
	attemptTimeout time.Duration

	h     pairing.HandshakeHash
	cat   wire.PSKCategory
	state ServerState
	// count is the number of pairing server/activate messages sent since
	// the last Noise handshake (pairing.md "Pairing index").
	count uint32
	// stale is set while messages sent under an earlier activation may
	// still be in flight: from a superseding activation until the client
	// sends a message carrying the current pairing_index.
	stale bool

	// The attempt. wipe clears all of it.
	method       wire.PairMethod
	format       wire.CodeFormat
	deadline     time.Time
	round        uint32
	commit       pairing.Commit
	nonceA       pairing.Nonce
	static       *pairing.StaticCode // entered ahead of client/pair-init
	code         pairing.Code        // the code of the current round
	cround       *pairing.ServerRound
	wk           *pairing.WrapKeys
	psk          keys.PSK
	peerAbort    wire.AbortReason // pair/abort that arrived while persisting
	hasPeerAbort bool
}

// NewServer returns a Server for a connection whose Noise handshake
// completed with cfg.H under a PSK of cfg.Category.
func NewServer(cfg ServerConfig) (*Server, error) {
	if !cfg.Suite.Known() || !cfg.Category.Known() || cfg.ClientID.IsZero() {
		return nil, ErrConfig
	}
	s := &Server{
		clientID:       cfg.ClientID,
		suite:          cfg.Suite,
		rnd:            cfg.Rand,
		initTimeout:    cfg.InitTimeout,
		attemptTimeout: cfg.AttemptTimeout,
		h:              cfg.H,
		cat:            cfg.Category,
		state:          ServerIdle,
	}
	if s.initTimeout <= 0 {
		s.initTimeout = ServerInitTimeout
	}
	if s.attemptTimeout <= 0 {
		s.attemptTimeout = ServerAttemptTimeout
	}
	return s, nil
}

// State returns the current state.
func (s *Server) State() ServerState { return s.state }

// PairingIndex returns the number of pairing server/activate messages sent
// since the last Noise handshake.
func (s *Server) PairingIndex() uint32 { return s.count }

// Method returns the method of the current activation, or "".
func (s *Server) Method() wire.PairMethod { return s.method }

// Deadline returns when the driver must call Tick next, and false if no
// timeout runs.
func (s *Server) Deadline() (time.Time, bool) {
	if s.state.live() {
		return s.deadline, true
	}
	return time.Time{}, false
}

// Activated records a server/activate the driver is about to send: p is
// its pairing object, nil when 'pairing' is not among its activities. Call
// it before sending; on error send nothing (the parameters are not allowed
// on this connection) and the state is unchanged.
//
// A pairing activation admits a new attempt and counts toward the
// pairing_index; it supersedes any attempt in progress (pairing.md
// "Entering and leaving pairing"). An activation without 'pairing' leaves
// pairing, cancelling an attempt in progress.
func (s *Server) Activated(p *wire.PairingParams, now time.Time) ([]Action, error) {
	switch s.state {
	case ServerClosed:
		return nil, ErrClosed
	case ServerPersisting, ServerRehandshake:
		// Finish the record first: PersistFailed, or re-handshake and then
		// activate (connection.md "Re-handshake").
		return nil, ErrState
	}
	if p != nil {
		if err := s.checkActivation(p); err != nil {
			return nil, err
		}
	}
	var acts []Action
	if s.state.live() {
		acts = append(acts, AttemptEnded{Outcome: OutcomeCancelled})
	}
	s.wipe()
	if p == nil {
		if s.count > 0 {
			s.state = ServerEnded
		} else {
			s.state = ServerIdle
		}
		return acts, nil
	}
	s.count++
	s.stale = s.count > 1
	s.method, s.format = p.Method, p.Format
	s.deadline = now.Add(s.initTimeout)
	s.state = ServerAwaitInit
	return acts, nil
}

// CanActivate reports whether the activation with pairing object p (nil
// when 'pairing' is not among its activities) could be reported with
// Activated after a re-handshake to a PSK of category cat, and changes
// nothing. A driver whose activation goes out as the first message under
// new keys (connection.md "Re-handshake") asks this before starting the
// re-handshake, so the machine vets the message before it is sent; once
// the re-handshake completes it calls Rehandshaked and then Activated,
// which then succeed.
func (s *Server) CanActivate(cat wire.PSKCategory, p *wire.PairingParams) error {
	switch {
	case s.state == ServerClosed:
		return ErrClosed
	case s.state == ServerPersisting:
		return ErrState // Rehandshaked would refuse it
	case !cat.Known():
		return ErrConfig
	case p == nil:
		return nil
	}
	probe := Server{cat: cat} // the count restarts on the new handshake
	return probe.checkActivation(p)
}

// checkActivation applies messaging.md "server/activate": pairing_psk if
// and only if the pairing PSK matched, no pairing on a long-term PSK, a
// format exactly for the dynamic method.
func (s *Server) checkActivation(p *wire.PairingParams) error {
	if s.count == math.MaxUint32 {
		return fmt.Errorf("%w: pairing_index would overflow", ErrActivation)
	}
	switch p.Method {
	case wire.MethodPairingPSK:
		if s.cat != wire.PSKPairing || p.Format != "" {
			return ErrActivation
		}
	case wire.MethodStaticCode:
		if s.cat != wire.PSKSentinel || p.Format != "" {
			return ErrActivation
		}
	case wire.MethodDynamicCode:
		if s.cat != wire.PSKSentinel || (p.Format != wire.FormatDigits && p.Format != wire.FormatQRCode) {
			return ErrActivation
		}
	default:
		return ErrActivation
	}
	return nil
}

// Receive processes a pairing message from the client.
func (s *Server) Receive(m wire.Message, now time.Time) ([]Action, error) {
	if s.state == ServerClosed {
		return nil, ErrClosed
	}
	switch m := m.(type) {
	case *wire.ClientPairPending:
		return s.indexed(m.PairingIndex, func() []Action { return s.onPending(m) }), nil
	case *wire.ClientPairInit:
		return s.indexed(m.PairingIndex, func() []Action { return s.onInit(m, now) }), nil
	case *wire.ClientPairAuth:
		return s.unindexed(ServerAwaitAuth, func() []Action { return s.onAuth(m) }), nil
	case *wire.ClientPairRetry:
		if s.method != wire.MethodDynamicCode && !s.discards() {
			return s.fail(ErrOutOfSequence), nil // static flow omits it
		}
		return s.unindexed(ServerAwaitConfirm, s.onRetry), nil
	case *wire.ClientPairConfirm:
		return s.unindexed(ServerAwaitConfirm, func() []Action { return s.onConfirm(m) }), nil
	case *wire.ClientPairFinalize:
		return s.unindexed(ServerAwaitFinalize, func() []Action { return s.onFinalize(m) }), nil
	case *wire.PairAbort:
		return s.onAbort(m), nil
	}
	return nil, ErrNotPairing
}

// indexed applies pairing.md "Pairing index" to client/pair-pending and
// client/pair-init: lower than the count is a leftover, discarded; higher
// is a protocol error; equal proves the client saw the current activation.
func (s *Server) indexed(idx uint32, h func() []Action) []Action {
	switch {
	case idx > s.count:
		return s.fail(ErrIndexAhead)
	case idx < s.count:
		return nil
	case s.state == ServerEnded:
		// Sent before the client observed our pair/abort or leave.
		return nil
	}
	s.stale = false
	return h()
}

// discards reports whether un-indexed pairing messages are silently
// discarded: after our pair/abort or leave, and after a superseding
// activation until the client shows it saw it (pairing.md "Entering and
// leaving pairing").
func (s *Server) discards() bool {
	return s.state == ServerEnded || (s.stale && s.state == ServerAwaitInit)
}

// unindexed runs h if the state is want, discards a stale message, and
// treats anything else as a sequence violation.
func (s *Server) unindexed(want ServerState, h func() []Action) []Action {
	switch {
	case s.discards():
		return nil
	case s.state != want:
		return s.fail(ErrOutOfSequence)
	}
	return h()
}

// onPending: client/pair-pending precedes an attempt of a code method; the
// Pairing PSK Flow omits it (pairing.md "Messages").
func (s *Server) onPending(m *wire.ClientPairPending) []Action {
	if s.state != ServerAwaitInit || s.method == wire.MethodPairingPSK {
		return s.fail(ErrOutOfSequence)
	}
	s.state = ServerPending
	return []Action{ClientPending{Message: m.DisplayMessage()}}
}

// onInit starts the attempt (pairing.md "client/pair-init").
func (s *Server) onInit(m *wire.ClientPairInit, now time.Time) []Action {
	if s.state != ServerAwaitInit && s.state != ServerPending {
		return s.fail(ErrOutOfSequence)
	}
	switch s.method {
	case wire.MethodPairingPSK:
		// Pairing PSK Flow: client/pair-finalize follows at once.
		if m.CommitB != nil {
			return s.fail(ErrFieldUnexpected)
		}
		s.begin(now)
		s.state = ServerAwaitFinalize
		return nil

	case wire.MethodStaticCode:
		if m.CommitB != nil {
			return s.fail(ErrFieldUnexpected)
		}
		s.begin(now)
		s.round = 1 // "PAKE": always 1 in the Static Pairing Code Flow
		if s.static != nil {
			// The operator entered the code ahead: server/pair-auth now
			// that client/pair-init arrived ("server/pair-auth").
			code := *s.static
			acts, err := s.startRound(code)
			if err != nil {
				return s.localFail(err)
			}
			return acts
		}
		s.state = ServerAwaitCode
		return []Action{AwaitCode{Method: s.method, Round: 1}}

	default: // dynamic
		// Binding values: commit_B first, then nonce_A in round 1.
		if m.CommitB == nil {
			return s.fail(ErrFieldMissing)
		}
		nonceA, err := pairing.NewNonce(s.rnd)
		if err != nil {
			return s.localFail(err)
		}
		s.begin(now)
		s.commit = pairing.Commit(*m.CommitB)
		s.nonceA = nonceA
		s.round = 1
		s.state = ServerAwaitCode
		na := [wire.NonceSize]byte(nonceA)
		return []Action{
			Send{Msg: &wire.ServerPairInit{NonceA: &na}},
			AwaitCode{Method: s.method, Format: s.format, Round: 1},
		}
	}
}

// begin starts the attempt: the server's own attempt timeout runs.
func (s *Server) begin(now time.Time) {
	s.deadline = now.Add(s.attemptTimeout)
}

// EnterCode takes the pairing code the operator entered: a
// pairing.StaticCode for the static method (accepted ahead of
// client/pair-init too), a pairing.DynamicCode (digits) or pairing.QRCode
// (qr_code) for the dynamic method, once per round after AwaitCode. It
// sends server/pair-auth as soon as client/pair-init arrived and the code
// is known (pairing.md "server/pair-auth").
func (s *Server) EnterCode(code pairing.Code) ([]Action, error) {
	if s.state == ServerClosed {
		return nil, ErrClosed
	}
	if err := s.checkCode(code); err != nil {
		return nil, err
	}
	switch s.state {
	case ServerAwaitInit, ServerPending:
		if s.method != wire.MethodStaticCode {
			return nil, ErrState
		}
		c := code.(pairing.StaticCode)
		s.static = &c
		return nil, nil
	case ServerAwaitCode:
		return s.startRound(code)
	}
	return nil, ErrState
}

func (s *Server) checkCode(code pairing.Code) error {
	var ok bool
	switch s.method {
	case wire.MethodStaticCode:
		_, ok = code.(pairing.StaticCode)
	case wire.MethodDynamicCode:
		if s.format == wire.FormatQRCode {
			_, ok = code.(pairing.QRCode)
		} else {
			_, ok = code.(pairing.DynamicCode)
		}
	default:
		return ErrState // no code in the Pairing PSK Flow, nor outside pairing
	}
	if !ok {
		return ErrCodeKind
	}
	return nil
}

// startRound runs a CPace round as party A with code: server/pair-auth.
func (s *Server) startRound(code pairing.Code) ([]Action, error) {
	r, err := pairing.NewServerRound(pairing.RoundParams{
		Suite: s.suite, H: s.h, PairingIndex: s.count, Round: s.round, Code: code,
	}, s.rnd)
	if err != nil {
		return nil, err
	}
	s.code, s.cround = code, r
	if s.static != nil {
		clear(s.static[:])
		s.static = nil
	}
	s.state = ServerAwaitAuth
	return []Action{Send{Msg: &wire.ServerPairAuth{PakeMsg1: [wire.ShareSize]byte(r.Share())}}}, nil
}

// onAuth: client/pair-auth carries Yb; answer with server_kc.
func (s *Server) onAuth(m *wire.ClientPairAuth) []Action {
	ta, err := s.cround.Receive(cpace.Share(m.PakeMsg2))
	if err != nil {
		return s.fail(ErrLowOrderShare)
	}
	s.state = ServerAwaitConfirm
	return []Action{Send{Msg: &wire.ServerPairConfirm{ServerKC: [wire.TagSize]byte(ta)}}}
}

// onRetry: the client's server_kc check failed and it asks for another
// round (pairing.md "Rounds"). The binding values stay; a new round needs
// a new code entry and a fresh CPace run with its own sid.
func (s *Server) onRetry() []Action {
	if s.round >= ServerMaxRounds {
		return s.abort(wire.AbortPairingCodeMismatch)
	}
	s.cround = nil
	s.code = nil
	s.round++
	s.state = ServerAwaitCode
	return []Action{
		Send{Msg: &wire.ServerPairInit{}}, // nonce_A only in the first round
		AwaitCode{Method: s.method, Format: s.format, Round: s.round},
	}
}

// onConfirm is pairing.md "Server verification", in its order. Only when
// every check passed does the server go on to client/pair-finalize.
func (s *Server) onConfirm(m *wire.ClientPairConfirm) []Action {
	dynamic := s.method == wire.MethodDynamicCode
	switch {
	case dynamic && m.WrappedNonceB == nil:
		return s.fail(ErrFieldMissing)
	case !dynamic && m.WrappedNonceB != nil:
		return s.fail(ErrFieldUnexpected)
	}
	// 1. client_kc. A failed key confirmation is pair/abort
	// pairing_code_mismatch; the wrapped_psk that follows is discarded
	// by the Ended state.
	wk, err := s.cround.Confirm(cpace.Tag(m.ClientKC))
	s.cround = nil
	if err != nil {
		return s.abort(wire.AbortPairingCodeMismatch)
	}
	if dynamic {
		// 2. wrapped_nonce_B unwraps to the opening of commit_B.
		nonceB, err := wk.UnwrapNonce(pairing.Wrapped(*m.WrappedNonceB))
		if err != nil {
			wk.Wipe()
			return s.fail(ErrNonceUnwrap)
		}
		// 3. The entered code is the code derived from (h, nonce_A,
		// nonce_B): the operator read it from this client on this
		// handshake.
		err = pairing.VerifyReveal(s.commit, nonceB, s.h, s.nonceA, s.code)
		clear(nonceB[:])
		switch {
		case errors.Is(err, pairing.ErrCommitMismatch):
			wk.Wipe()
			return s.fail(ErrCommitOpening)
		case err != nil:
			wk.Wipe()
			return s.fail(ErrCodeBinding)
		}
	}
	s.wk = wk
	s.state = ServerAwaitFinalize
	return nil
}

// onFinalize takes the long-term PSK: in the clear in the Pairing PSK
// Flow, wrapped under the CPace output otherwise. The record must be
// persisted before server/pair-finalize.
func (s *Server) onFinalize(m *wire.ClientPairFinalize) []Action {
	var psk keys.PSK
	if s.method == wire.MethodPairingPSK {
		switch {
		case m.WrappedPSK != nil:
			return s.fail(ErrFieldUnexpected)
		case m.LongTermPSK == nil:
			return s.fail(ErrFieldMissing)
		}
		psk = *m.LongTermPSK
	} else {
		switch {
		case m.LongTermPSK != nil:
			return s.fail(ErrFieldUnexpected)
		case m.WrappedPSK == nil:
			return s.fail(ErrFieldMissing)
		}
		var err error
		psk, err = s.wk.UnwrapPSK(pairing.Wrapped(*m.WrappedPSK))
		s.wk.Wipe()
		s.wk = nil
		if err != nil {
			return s.fail(ErrPSKUnwrap)
		}
	}
	if weakPSK(psk) {
		clear(psk[:])
		return s.fail(ErrWeakPSK)
	}
	s.psk = psk
	s.state = ServerPersisting
	return []Action{ServerPersistRecord{ClientID: s.clientID, PSK: psk}}
}

func weakPSK(p keys.PSK) bool {
	return p.Equal(keys.PSK{}) || p.Equal(keys.Sentinel)
}

// Persisted reports that the driver durably stored the record handed out
// by ServerPersistRecord. Only now does the server send
// server/pair-finalize (pairing.md "server/pair-finalize"), then
// re-handshake to the new PSK.
func (s *Server) Persisted() ([]Action, error) {
	if s.state != ServerPersisting {
		if s.state == ServerClosed {
			return nil, ErrClosed
		}
		return nil, ErrState
	}
	if s.hasPeerAbort {
		// The client ended the attempt while we persisted: it will not
		// take server/pair-finalize, so leave pairing instead. The record
		// stays; the client's next handshake lands in the Sentinel
		// Fallback and the operator can re-pair (connection.md).
		reason := s.peerAbort
		s.wipe()
		s.state = ServerEnded
		return []Action{LeavePairing{}, AttemptEnded{Outcome: OutcomePeerAborted, Reason: reason}}, nil
	}
	psk := s.psk
	s.wipe()
	s.state = ServerRehandshake
	return []Action{
		DiscardApproval{ClientID: s.clientID},
		Send{Msg: &wire.ServerPairFinalize{}},
		AttemptEnded{Outcome: OutcomePaired},
		RequestRehandshake{PSK: psk},
	}, nil
}

// PersistFailed reports that the record could not be stored. The server
// ends the attempt with a server/activate in place of
// server/pair-finalize, which persists nothing on the client (pairing.md
// "Entering and leaving pairing").
func (s *Server) PersistFailed() ([]Action, error) {
	if s.state != ServerPersisting {
		if s.state == ServerClosed {
			return nil, ErrClosed
		}
		return nil, ErrState
	}
	s.wipe()
	s.state = ServerEnded
	return []Action{LeavePairing{}, AttemptEnded{Outcome: OutcomePersistFailed}}, nil
}

// Rehandshaked reports a completed Noise re-handshake (connection.md
// "Re-handshake"): the new hash h and matched PSK category. The
// pairing_index count restarts. The driver then sends the server/activate
// that declares the connection's activities and reports it with
// Activated.
func (s *Server) Rehandshaked(h pairing.HandshakeHash, cat wire.PSKCategory) ([]Action, error) {
	switch {
	case s.state == ServerClosed:
		return nil, ErrClosed
	case s.state == ServerPersisting:
		return nil, ErrState
	case !cat.Known():
		return nil, ErrConfig
	}
	var acts []Action
	if s.state.live() {
		acts = append(acts, AttemptEnded{Outcome: OutcomeCancelled})
	}
	s.wipe()
	s.h, s.cat = h, cat
	s.count, s.stale = 0, false
	s.state = ServerIdle
	return acts, nil
}

// Cancel is the operator's cancel: pair/abort user_cancelled, then a
// cancelling server/activate (pairing.md "Entering and leaving pairing").
func (s *Server) Cancel() ([]Action, error) {
	switch {
	case s.state == ServerClosed:
		return nil, ErrClosed
	case s.state == ServerPersisting || s.state == ServerRehandshake:
		return nil, ErrTooLate
	case !s.state.live():
		return nil, ErrState
	}
	return s.abort(wire.AbortUserCancelled), nil
}

// Tick applies the server's timeouts at now: waiting for client/pair-init
// (ServerInitTimeout) and the attempt (ServerAttemptTimeout). On expiry it
// cancels with a server/activate; no pair/abort reason is the server's to
// send for it.
func (s *Server) Tick(now time.Time) []Action {
	if !s.state.live() || now.Before(s.deadline) {
		return nil
	}
	s.wipe()
	s.state = ServerEnded
	return []Action{LeavePairing{}, AttemptEnded{Outcome: OutcomeTimedOut}}
}

// Dropped reports that the connection is gone.
func (s *Server) Dropped() []Action {
	var acts []Action
	if s.state.live() || s.state == ServerPersisting {
		acts = append(acts, AttemptEnded{Outcome: OutcomeDropped})
	}
	s.wipe()
	s.state = ServerClosed
	return acts
}

// onAbort handles the client's pair/abort.
func (s *Server) onAbort(m *wire.PairAbort) []Action {
	switch {
	case s.state == ServerIdle:
		return s.fail(ErrOutOfSequence)
	case s.state == ServerEnded || s.state == ServerRehandshake:
		return nil // we already ended the attempt: no effect
	case s.state == ServerPersisting:
		if !s.hasPeerAbort {
			s.peerAbort, s.hasPeerAbort = m.Reason, true
		}
		return nil
	}
	// A live attempt ends. While stale (after a superseding activation)
	// the abort may be a leftover of the old attempt or a refusal of this
	// one (method_not_supported); ending this one is the safe reading
	// (docs/PAIRING-FLOWS.md).
	s.wipe()
	s.state = ServerEnded
	acts := []Action{AttemptEnded{Outcome: OutcomePeerAborted, Reason: m.Reason}}
	if m.Reason != wire.AbortConcurrentAttempt {
		// concurrent_attempt: the client closes the connection itself.
		acts = append(acts, LeavePairing{})
	}
	return acts
}

// abort sends pair/abort with reason and leaves pairing.
func (s *Server) abort(reason wire.AbortReason) []Action {
	s.wipe()
	s.state = ServerEnded
	return []Action{
		Send{Msg: &wire.PairAbort{Reason: reason}},
		LeavePairing{},
		AttemptEnded{Outcome: OutcomeAborted, Reason: reason},
	}
}

// fail is a protocol error: close without a message, persist nothing.
func (s *Server) fail(pe ProtocolError) []Action {
	return s.close(pe)
}

// localFail closes on a local failure (randomness).
func (s *Server) localFail(err error) []Action {
	return s.close(err)
}

func (s *Server) close(err error) []Action {
	var acts []Action
	if s.state.live() || s.state == ServerPersisting {
		acts = append(acts, AttemptEnded{Outcome: OutcomeProtocolError})
	}
	s.wipe()
	s.state = ServerClosed
	return append(acts, Close{Err: err})
}

// wipe discards every value of the attempt.
func (s *Server) wipe() {
	if s.wk != nil {
		s.wk.Wipe()
	}
	if s.static != nil {
		clear(s.static[:])
	}
	clear(s.psk[:])
	clear(s.nonceA[:])
	clear(s.commit[:])
	s.method, s.format = "", ""
	s.round = 0
	s.static, s.code, s.cround, s.wk = nil, nil, nil, nil
	s.peerAbort, s.hasPeerAbort = "", false
}
