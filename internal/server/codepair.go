package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// The operator's pairing-code actions (pairing.md "Dynamic Pairing Code
// Flow", "Static Pairing Code Flow"): start an attempt with a connected
// client, enter the code the client shows (or its static code), cancel,
// and unpair. Each call is carried out by the connection's owner goroutine
// and returns once it has been, with an error the operator can read.

// Operator errors of the pairing calls. None of them echoes the input.
var (
	// ErrNotConnected: the client has no connection (past client/hello).
	ErrNotConnected = errors.New("server: the client is not connected")
	// ErrAttemptRunning: a pairing attempt with the client is already
	// running; cancel it first.
	ErrAttemptRunning = errors.New("server: a pairing attempt with the client is already running")
	// ErrNoAttempt: no pairing attempt with the client is running.
	ErrNoAttempt = errors.New("server: no pairing attempt with the client is running")
	// ErrNotAwaitingCode: the attempt does not take a code now (the
	// client has not shown one yet, or the code of this round was already
	// entered).
	ErrNotAwaitingCode = errors.New("server: the pairing attempt is not waiting for a code")
	// ErrBadCode: the entered code is malformed for the attempt's method;
	// the wrapped pairing error says what was expected.
	ErrBadCode = errors.New("server: malformed pairing code")
	// ErrBadRequest: a PairRequest that does not describe a code pairing.
	ErrBadRequest = errors.New("server: invalid pairing request")
	// ErrTooLate: the attempt is finishing (its record is being saved);
	// it can no longer be cancelled.
	ErrTooLate = errors.New("server: the pairing is already completing")
	// ErrNotPaired: there is no pairing record for the client.
	ErrNotPaired = errors.New("server: the client is not paired")
	// ErrNotApproved: the client has no approval to revoke.
	ErrNotApproved = errors.New("server: the client is not approved")
)

// PairRequest asks for a pairing-code attempt with a connected client.
type PairRequest struct {
	Client keys.PublicKey
	// Method is wire.MethodDynamicCode, wire.MethodStaticCode, or "" for
	// whichever code method the client offers, dynamic preferred.
	Method wire.PairMethod
	// Format is the dynamic emission format: wire.FormatDigits,
	// wire.FormatQRCode (only when the operator can scan the client's QR
	// code or paste its SP:1 text), or "" for digits. Static: "".
	Format wire.CodeFormat
	// StaticCode, when set, is the static pairing code entered up front
	// (separators allowed); it is checked before anything is sent.
	StaticCode string
}

// PairingPhase is where a client's pairing attempt stands.
type PairingPhase uint8

// Phases.
const (
	// PairingNone: no attempt runs.
	PairingNone PairingPhase = iota
	// PairingStarting: the pairing activation went out; the client has
	// not started the attempt yet.
	PairingStarting
	// PairingHeldBack: the client holds the attempt back
	// (client/pair-pending): its pairing window is closed or its round
	// limit was reached. PairingState.Message says what it waits for.
	PairingHeldBack
	// PairingAwaitingCode: ask the operator for the code (EnterCode): the
	// one the client shows now (dynamic), or the static code.
	PairingAwaitingCode
	// PairingVerifying: the code was entered; the PAKE round runs.
	PairingVerifying
	// PairingAwaitingClient: the operator entered the client's token
	// while it is not connected; the attempt starts when it connects.
	PairingAwaitingClient
)

var phaseNames = [...]string{"none", "starting", "held back", "waiting for code", "verifying", "waiting for the client"}

func (p PairingPhase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

// PairingOutcome is how a client's last pairing attempt ended.
type PairingOutcome uint8

// Outcomes.
const (
	OutcomeNone PairingOutcome = iota
	// OutcomePaired: the client is paired.
	OutcomePaired
	// OutcomeWrongCode: key confirmation failed and the attempt ended
	// (static: one wrong code; dynamic: the client's round limit).
	OutcomeWrongCode
	// OutcomeTimedOut: the client's or the server's timeout ended it.
	OutcomeTimedOut
	// OutcomeCancelled: cancelled here (CancelPairing, or superseded).
	OutcomeCancelled
	// OutcomeCancelledOnDevice: the client's local user cancelled it.
	OutcomeCancelledOnDevice
	// OutcomeNotSupported: the client refused the method or format.
	OutcomeNotSupported
	// OutcomeBusy: the client is pairing with another server.
	OutcomeBusy
	// OutcomeDropped: the connection went away during the attempt.
	OutcomeDropped
	// OutcomeFailed: a protocol error, or the record could not be saved.
	OutcomeFailed
	// OutcomeWrongToken: the client refused the re-handshake to the
	// token's pairing PSK: the token is not the client's current one
	// (mistyped, another device's, or its pairing PSK rotated since).
	OutcomeWrongToken
	// OutcomeNotConnected: the client left and could not be brought back
	// to pair.
	OutcomeNotConnected
)

var outcomeNames = [...]string{"", "paired", "wrong code", "timed out", "cancelled", "cancelled on the device",
	"method not supported by the client", "client busy with another pairing", "connection dropped", "failed",
	"wrong token", "not connected"}

func (o PairingOutcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// PairingState is what the operator sees of a client's pairing.
type PairingState struct {
	Phase  PairingPhase
	Method wire.PairMethod
	Format wire.CodeFormat
	// Round is the dynamic round awaiting or verifying a code (1 for a
	// static code); WrongCodes counts this attempt's rounds whose code
	// was wrong (each led to another round).
	Round      uint32
	WrongCodes int
	// CodeEntered: a static code was entered ahead of the client's
	// client/pair-init.
	CodeEntered bool
	// Message is the client's client/pair-pending text, at most 200
	// characters: show it as plain text attributed to the device, never
	// as markup (pairing.md "client/pair-pending").
	Message string
	// Last is how the previous attempt ended; LastHeldBack is set when it
	// ended while the client held it back (Message then stays).
	Last         PairingOutcome
	LastHeldBack bool
	// Name is the client's name from its client/hello when the attempt
	// began, so the outcome can name it after the connection is gone.
	Name string
	// Attempt numbers the operator's pairing requests (PairWithToken,
	// StartPairing), server-wide and from 1: the state is that attempt's,
	// and Last is its outcome once Phase is PairingNone. A caller that
	// started attempt n waits for Attempt == n and PairingNone.
	Attempt uint64
}

// Done reports whether the state is the end of its attempt.
func (st PairingState) Done() bool {
	return st.Phase == PairingNone && st.Last != OutcomeNone
}

// Text says where the attempt stands, or how it ended, in the words the
// operator reads in ctl and in the console alike (GUIDE.md section 5: one
// outcome, one text). name is how the operator knows the client.
func (st PairingState) Text(name string) string {
	switch st.Phase {
	case PairingAwaitingClient:
		return fmt.Sprintf("waiting for %s to connect; the server pairs it by the token when it does", name)
	case PairingStarting:
		return fmt.Sprintf("starting pairing with %s", name)
	case PairingHeldBack:
		if st.Message != "" {
			return fmt.Sprintf("%s holds the attempt back and says: %q", name, st.Message)
		}
		return fmt.Sprintf("%s holds the attempt back (its pairing window is closed or its round limit was reached)", name)
	case PairingAwaitingCode:
		if st.Method == wire.MethodStaticCode {
			if st.CodeEntered {
				return fmt.Sprintf("the static code was entered; waiting for %s", name)
			}
			return fmt.Sprintf("enter %s's static pairing code", name)
		}
		// A retry keeps the attempt's code (pairing.md "Rounds"); the
		// client allows at most RoundLimit rounds.
		if st.WrongCodes > 0 {
			return fmt.Sprintf("wrong code; enter the code %s shows (round %d of %d)", name, st.Round, flow.RoundLimit)
		}
		return fmt.Sprintf("enter the code %s shows (round %d of %d)", name, st.Round, flow.RoundLimit)
	case PairingVerifying:
		return fmt.Sprintf("checking the code with %s", name)
	}
	switch st.Last {
	case OutcomePaired:
		return fmt.Sprintf("paired with %s", name)
	case OutcomeWrongCode:
		if st.Method == wire.MethodStaticCode {
			return fmt.Sprintf("pairing failed: wrong code; %s ended the attempt", name)
		}
		return fmt.Sprintf("pairing failed: wrong code; %s ended the attempt (its round limit)", name)
	case OutcomeWrongToken:
		return fmt.Sprintf("pairing failed: %s refused the token: it is not its current pairing token (mistyped, another device's, or rotated since)", name)
	case OutcomeTimedOut:
		return "pairing failed: the attempt timed out"
	case OutcomeCancelled:
		return fmt.Sprintf("pairing with %s cancelled", name)
	case OutcomeCancelledOnDevice:
		return fmt.Sprintf("pairing failed: cancelled on %s", name)
	case OutcomeNotSupported:
		return fmt.Sprintf("pairing failed: %s does not support that method or format", name)
	case OutcomeBusy:
		return fmt.Sprintf("pairing failed: %s is pairing with another server", name)
	case OutcomeDropped:
		return fmt.Sprintf("pairing failed: the connection to %s dropped", name)
	case OutcomeNotConnected:
		return fmt.Sprintf("pairing failed: %s is not connected", name)
	case OutcomeFailed:
		return fmt.Sprintf("pairing with %s failed (the server log says why)", name)
	}
	return fmt.Sprintf("no pairing attempt with %s", name)
}

// PairingState returns the client's pairing state, also after its
// connection ended (Last then tells how the attempt ended).
func (s *Server) PairingState(client keys.PublicKey) PairingState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pairStates[client]
}

// setPairing changes the client's pairing state and reports it. Runs on
// the connection's owner goroutine.
func (s *Server) setPairing(client keys.PublicKey, f func(*PairingState)) {
	s.setPairingIf(client, nil, f)
}

// setPairingIf is setPairing when cond (if any) holds for the current
// state, checked under the same lock.
func (s *Server) setPairingIf(client keys.PublicKey, cond func(*PairingState) bool, f func(*PairingState)) {
	s.mu.Lock()
	st := s.pairStates[client]
	if cond != nil && !cond(&st) {
		s.mu.Unlock()
		return
	}
	f(&st)
	s.pairStates[client] = st
	s.mu.Unlock()
	if s.cfg.OnPairing != nil {
		s.cfg.OnPairing(client, st)
	}
}

// StartPairing begins a pairing-code attempt with a connected client
// (pairing.md "Dynamic Pairing Code Flow", "Static Pairing Code Flow"). A
// session not keyed by the Sentinel is re-keyed to it first (the code
// methods run only there). It returns once the pairing activation went
// out; then watch PairingState (or Config.OnPairing) for
// PairingAwaitingCode and call EnterCode. The errors: ErrNotConnected,
// ErrAttemptRunning, ErrBadRequest, ErrBadCode (StaticCode), a
// session.PairingError (method or format not offered), or the connection's
// failure.
func (s *Server) StartPairing(req PairRequest) error {
	var static *pairing.StaticCode
	switch {
	case req.Method != "" && req.Method != wire.MethodDynamicCode && req.Method != wire.MethodStaticCode:
		return fmt.Errorf("%w: %q is not a pairing-code method", ErrBadRequest, req.Method)
	case req.Format != "" && req.Format != wire.FormatDigits && req.Format != wire.FormatQRCode:
		return fmt.Errorf("%w: unknown format %q", ErrBadRequest, req.Format)
	case req.Format != "" && req.Method == wire.MethodStaticCode:
		return fmt.Errorf("%w: a static code has no format", ErrBadRequest)
	case req.StaticCode != "" && req.Method == wire.MethodDynamicCode:
		return fmt.Errorf("%w: a dynamic code is shown by the client during the attempt", ErrBadRequest)
	case req.StaticCode != "":
		c, err := pairing.ParseStaticCode(req.StaticCode)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadCode, err)
		}
		static = &c
		defer clear(c[:])
	}
	c := s.newestConn(req.Client)
	if c == nil {
		var err error
		if c, err = s.absentConn(req.Client); err != nil {
			return err
		}
	}
	return c.do(func(ctx context.Context) (error, error) { return c.startCodePairing(ctx, req, static) })
}

// EnterCode passes the code the operator entered to the client's running
// attempt: the 6 digits the client shows (digits format), its SP:1 token
// text (qr_code format), or its 8-digit static code. Spaces and hyphens
// are stripped; a malformed code is refused with ErrBadCode before
// anything is sent. A static code may be entered as soon as the attempt
// started; a dynamic one once PairingState shows PairingAwaitingCode
// (ErrNotAwaitingCode before). A wrong code shows as another round
// (WrongCodes) or as the attempt's end (OutcomeWrongCode).
func (s *Server) EnterCode(client keys.PublicKey, code string) error {
	s.mu.Lock()
	c := s.attempts[client]
	s.mu.Unlock()
	if c == nil {
		return ErrNoAttempt
	}
	return c.do(func(context.Context) (error, error) { return c.enterCode(code) })
}

// CancelPairing cancels the client's running attempt: pair/abort
// user_cancelled, then an activation without pairing (pairing.md
// "Entering and leaving pairing"). ErrNoAttempt when none runs,
// ErrTooLate once its record is being saved.
func (s *Server) CancelPairing(client keys.PublicKey) error {
	s.mu.Lock()
	c := s.attempts[client]
	tok, token := s.tokens[client]
	s.mu.Unlock()
	if c == nil && token {
		// A token waiting for its client to connect: the attempt is
		// the token; cancelling drops it.
		s.forgetToken(client, keys.PSK{})
		s.endAttempt(client, tok.attempt, OutcomeCancelled)
		return nil
	}
	if c == nil {
		return ErrNoAttempt
	}
	return c.do(func(context.Context) (error, error) {
		if !c.pairing {
			return ErrNoAttempt, nil
		}
		acts, err := c.pairFlow.Cancel()
		switch {
		case errors.Is(err, flow.ErrTooLate):
			return ErrTooLate, nil
		case err != nil:
			return ErrNoAttempt, nil
		}
		err = c.doPair(acts)
		return err, err
	})
}

// Unpair deletes the client's pairing record and sends server/unpair on
// its paired connections, which the client answers by deleting its own
// record and closing with goodbye unpaired (messaging.md "server/unpair").
// An offline client's record is deleted all the same; its next handshake
// falls back to the Sentinel. ErrNotPaired when there is no record.
func (s *Server) Unpair(client keys.PublicKey) error {
	_, ok, err := s.cfg.Store.ClientRecord(client)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotPaired
	}
	if err := s.cfg.Store.DeleteClientRecord(client); err != nil {
		return err
	}
	s.log.Info("client unpaired", "client", client.String())
	s.noteUnpaired(client)
	for _, c := range s.connsFor(client) {
		err := c.do(func(context.Context) (error, error) {
			if c.sc.Matched().Category == wire.PSKLongTerm {
				err := c.sc.WriteMessage(&wire.ServerUnpair{})
				return err, err
			}
			// An unpaired session (a credential mismatch) may now be
			// activated normally.
			err := c.sync()
			return err, err
		})
		if err != nil && !errors.Is(err, ErrNotConnected) {
			s.log.Info("unpair: a connection ended", "client", client.String(), "err", err)
		}
	}
	return nil
}

// newestConn returns the client's most recent connection past client/hello.
func (s *Server) newestConn(client keys.PublicKey) *conn {
	var best *conn
	for _, c := range s.connsFor(client) {
		if _, ok := c.info(); ok && (best == nil || c.seq > best.seq) {
			best = c
		}
	}
	return best
}

// op is an operator action run by a connection's owner goroutine. f
// returns the caller's result and an error that ends the connection.
type op struct {
	f    func(ctx context.Context) (result, fatal error)
	done chan error
}

// do runs f on the owner goroutine and returns its result.
func (c *conn) do(f func(ctx context.Context) (result, fatal error)) error {
	o := op{f: f, done: make(chan error, 1)}
	select {
	case c.ops <- o:
	case <-c.sc.Done():
		return ErrNotConnected
	}
	select {
	case err := <-o.done:
		return err
	case <-c.sc.Done():
		// The owner may have run it just before the close.
		select {
		case err := <-o.done:
			return err
		default:
			return ErrNotConnected
		}
	}
}

// startCodePairing runs on the owner: plan the method and format from the
// client's descriptors, re-key to the Sentinel if needed, send the
// pairing activation.
func (c *conn) startCodePairing(ctx context.Context, req PairRequest, static *pairing.StaticCode) (result, fatal error) {
	if c.pairing {
		return ErrAttemptRunning, nil
	}
	mreq := session.RequestCode
	switch req.Method {
	case wire.MethodDynamicCode:
		mreq = session.RequestDynamic
	case wire.MethodStaticCode:
		mreq = session.RequestStatic
	}
	plan, err := session.PlanPairing(c.sc.Matched().Category, &c.hello.PairMethods, mreq, req.Format == wire.FormatQRCode)
	if err != nil {
		return err, nil
	}
	p := plan.Params
	switch {
	case req.Format != "" && p.Method == wire.MethodDynamicCode && p.Format != req.Format:
		return fmt.Errorf("%w (%s)", session.ErrMethodNotOffered, req.Format), nil
	case static != nil && p.Method != wire.MethodStaticCode:
		return fmt.Errorf("%w: the client pairs by a dynamic code, not a static one", ErrBadRequest), nil
	}
	if !c.s.claimAttempt(c) {
		return ErrAttemptRunning, nil
	}
	var to *securechan.PSKChoice
	if plan.RehandshakeTo != "" {
		sn := securechan.SentinelChoice
		to = &sn
	}
	if err := c.beginAttempt(ctx, &p, to, attemptInfo{}); err != nil {
		c.s.releaseAttempt(c)
		return err, err
	}
	if static != nil {
		acts, err := c.pairFlow.EnterCode(*static)
		if err != nil {
			return err, err // not reachable: the machine awaits client/pair-init
		}
		c.setPairing(func(st *PairingState) { st.CodeEntered = true })
		if err := c.doPair(acts); err != nil {
			return err, err
		}
	}
	return nil, nil
}

// enterCode runs on the owner: parse the code for the attempt's method,
// then hand it to the machine.
func (c *conn) enterCode(text string) (result, fatal error) {
	if !c.pairing {
		return ErrNoAttempt, nil
	}
	var code pairing.Code
	var err error
	switch p := c.att.params; {
	case p.Method == wire.MethodStaticCode:
		var sc pairing.StaticCode
		sc, err = pairing.ParseStaticCode(text)
		code = sc
	case p.Method == wire.MethodDynamicCode && p.Format == wire.FormatQRCode:
		var qc pairing.QRCode
		qc, err = pairing.ParseCodeToken(text)
		code = qc
	case p.Method == wire.MethodDynamicCode:
		var dc pairing.DynamicCode
		dc, err = pairing.ParseDynamicCode(text)
		code = dc
	default:
		return ErrNotAwaitingCode, nil // pairing by token: no code
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadCode, err), nil
	}
	state := c.pairFlow.State()
	acts, err := c.pairFlow.EnterCode(code)
	if err != nil {
		return ErrNotAwaitingCode, nil
	}
	if state != flow.ServerAwaitCode { // a static code ahead of client/pair-init
		c.setPairing(func(st *PairingState) { st.CodeEntered = true })
	}
	err = c.doPair(acts)
	return err, err
}

// outcomeOf maps the machine's ending to the operator's words.
func outcomeOf(e flow.AttemptEnded) PairingOutcome {
	switch e.Outcome {
	case flow.OutcomePaired:
		return OutcomePaired
	case flow.OutcomeAborted, flow.OutcomePeerAborted:
		switch e.Reason {
		case wire.AbortPairingCodeMismatch:
			return OutcomeWrongCode
		case wire.AbortAttemptTimeout:
			return OutcomeTimedOut
		case wire.AbortUserCancelled:
			if e.Outcome == flow.OutcomeAborted {
				return OutcomeCancelled
			}
			return OutcomeCancelledOnDevice
		case wire.AbortMethodNotSupported:
			return OutcomeNotSupported
		case wire.AbortConcurrentAttempt:
			return OutcomeBusy
		}
		return OutcomeFailed
	case flow.OutcomeCancelled:
		return OutcomeCancelled
	case flow.OutcomeTimedOut:
		return OutcomeTimedOut
	case flow.OutcomeDropped:
		return OutcomeDropped
	}
	return OutcomeFailed
}
