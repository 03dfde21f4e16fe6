package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Pairing on the server (pairing.md): the operator's action starts it, the
// flow machine (internal/pairing/flow) decides every step, and this file
// carries the steps out: activations, re-handshakes, the record persisted
// before server/pair-finalize.

// ErrBadToken reports operator input that is not a version-0 pairing token.
var ErrBadToken = errors.New("server: not a valid SP:0 pairing token")

// PairWithToken pairs with a client by its pairing token (pairing.md
// "Pairing PSK Flow"): the operator enters the client's SP:0 token. The
// pairing PSK is remembered for the client's next handshakes; a connected
// client is re-keyed to it and paired now. It returns the token's client;
// PairingState then follows the attempt (its Attempt is this request's).
// ErrAttemptRunning while another attempt with the client runs.
func (s *Server) PairWithToken(token string) (keys.PublicKey, error) {
	t, err := pairing.ParsePSKToken(token)
	if err != nil {
		return keys.PublicKey{}, ErrBadToken
	}
	conns := s.connsFor(t.ClientKey)
	s.mu.Lock()
	running := s.attempts[t.ClientKey]
	s.mu.Unlock()
	if running != nil && running == s.newestConn(t.ClientKey) {
		// An attempt on the client's current connection is the
		// operator's to cancel first. One left on an older connection
		// (the client restarted mid-attempt) ends with that connection
		// and does not hold the token back; its state no longer shows.
		return t.ClientKey, ErrAttemptRunning
	}
	phase, name := PairingAwaitingClient, ""
	if len(conns) > 0 {
		phase, name = PairingStarting, conns[0].helloName()
	}
	n := s.newAttempt(t.ClientKey, func(st *PairingState) { st.Phase, st.Method, st.Name = phase, wire.MethodPairingPSK, name })
	s.mu.Lock()
	s.tokens[t.ClientKey] = pendingToken{psk: t.PSK, attempt: n}
	s.mu.Unlock()
	for _, c := range conns {
		c.signal(evPair)
	}
	if len(conns) == 0 {
		if err := s.bringBackIfGone(t.ClientKey); err != nil {
			s.forgetToken(t.ClientKey, t.PSK)
			s.endAttempt(t.ClientKey, n, OutcomeNotConnected)
			return keys.PublicKey{}, err
		}
	}
	return t.ClientKey, nil
}

// newAttempt numbers a new operator pairing request for client, sets its
// first state and returns its number. What the last attempt ended with
// stays until this one ends.
func (s *Server) newAttempt(client keys.PublicKey, f func(*PairingState)) uint64 {
	var n uint64
	s.setPairing(client, func(st *PairingState) {
		s.attemptSeq++ // setPairing holds s.mu
		n = s.attemptSeq
		*st = PairingState{Attempt: n, Last: st.Last, LastHeldBack: st.LastHeldBack}
		f(st)
	})
	return n
}

// setAttempt changes the client's pairing state only while it is still
// attempt n's: a later operator request owns the state from then on, and
// an older attempt that is still winding down must not overwrite it.
func (s *Server) setAttempt(client keys.PublicKey, n uint64, f func(*PairingState)) {
	s.setPairingIf(client, func(st *PairingState) bool { return st.Attempt == n }, f)
}

// endAttempt records how attempt n ended outside the flow machine (a
// token the client refused before the attempt began).
func (s *Server) endAttempt(client keys.PublicKey, n uint64, out PairingOutcome) {
	s.setAttempt(client, n, func(st *PairingState) {
		*st = PairingState{Method: st.Method, Attempt: st.Attempt, Last: out, Name: st.Name}
	})
}

// pendingToken is a token the operator entered: the client's pairing PSK,
// and the operator's attempt (PairingState.Attempt) it started.
type pendingToken struct {
	psk     keys.PSK
	attempt uint64
}

func (s *Server) token(client keys.PublicKey) (pendingToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[client]
	return tok, ok
}

// forgetToken drops the client's token; with a non-zero psk only if it is
// still that token (the operator may have entered a new one meanwhile).
func (s *Server) forgetToken(client keys.PublicKey, psk keys.PSK) {
	s.mu.Lock()
	if cur, ok := s.tokens[client]; ok && (psk == (keys.PSK{}) || cur.psk.Equal(psk)) {
		delete(s.tokens, client)
	}
	s.mu.Unlock()
}

// claimAttempt reserves the client's one pairing attempt for c.
func (s *Server) claimAttempt(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	client := c.sc.Peer()
	if cur, ok := s.attempts[client]; ok && cur != c {
		return false
	}
	s.attempts[client] = c
	return true
}

// releaseAttempt frees the reservation c holds, if any. A token the
// operator entered meanwhile goes to the client's other connections (one
// that could not claim the attempt while c held it).
func (s *Server) releaseAttempt(c *conn) {
	client := c.sc.Peer()
	s.mu.Lock()
	held := s.attempts[client] == c
	if held {
		delete(s.attempts, client)
	}
	_, token := s.tokens[client]
	s.mu.Unlock()
	if !held || !token {
		return
	}
	for _, o := range s.connsFor(client) {
		if o != c {
			o.signal(evPair)
		}
	}
}

// startTokenPairing runs on the owner: re-handshake to the token's pairing
// PSK if needed, then the pairing activation (pairing.md "Pairing PSK
// Flow"). Tokens are looked up by the client_id the connection presented,
// so the token's client_key matches it by construction.
func (c *conn) startTokenPairing(ctx context.Context, tok pendingToken) error {
	psk, n := tok.psk, tok.attempt
	if c.pairing {
		return nil // an attempt runs; the token is used when it ends
	}
	if !c.s.claimAttempt(c) {
		return nil // another connection of this client is pairing
	}
	var to *securechan.PSKChoice
	if c.sc.Matched().Category != wire.PSKPairing || !c.sc.Matched().PSK.Equal(psk) {
		to = &securechan.PSKChoice{PSK: psk, Category: wire.PSKPairing}
	}
	err := c.beginAttempt(ctx, &wire.PairingParams{Method: wire.MethodPairingPSK}, to, attemptInfo{token: true, tokenPSK: psk, number: n})
	if err != nil {
		c.s.releaseAttempt(c)
		var refused *rehandshakeError
		switch {
		case errors.As(err, &refused) && ctx.Err() == nil:
			// The client refused the token's PSK: the token was wrong or
			// stale (its pairing PSK rotated). Forget it.
			c.s.forgetToken(c.sc.Peer(), psk)
			c.s.endAttempt(c.sc.Peer(), n, OutcomeWrongToken)
			c.s.log.Warn("pairing by token failed: the client refused the token's pairing PSK", "client", c.sc.Peer().String(), "err", err)
		case ctx.Err() != nil:
			c.s.endAttempt(c.sc.Peer(), n, OutcomeDropped)
		default:
			c.s.forgetToken(c.sc.Peer(), psk)
			c.s.endAttempt(c.sc.Peer(), n, OutcomeFailed)
			c.s.log.Warn("pairing by token failed", "client", c.sc.Peer().String(), "err", err)
		}
	}
	return err
}

// attemptInfo describes the running attempt beyond what the machine
// keeps.
type attemptInfo struct {
	params wire.PairingParams
	// token: started by PairWithToken with tokenPSK; the token is
	// forgotten when the attempt ends.
	token    bool
	tokenPSK keys.PSK
	// number is the attempt's PairingState.Attempt: its updates apply
	// only while the state is still this attempt's.
	number uint64
	// returnTo is the long-term PSK the connection ran on before the
	// attempt re-keyed it; an attempt that ends without pairing re-keys
	// back to it (SPEC-NOTES 52).
	returnTo *securechan.PSKChoice
}

// rehandshakeError is a failed re-handshake: the connection is closed.
type rehandshakeError struct{ err error }

func (e *rehandshakeError) Error() string { return "server: re-handshake: " + e.err.Error() }
func (e *rehandshakeError) Unwrap() error { return e.err }

// beginAttempt sends the pairing activation with params, first
// re-handshaking to the PSK to when set, with the activation as the first
// message under the new keys (pairing.md "Pairing PSK Flow",
// SESSION-RULES.md reading 7). The machine vets the activation before it
// is sent (CanActivate or Activated).
func (c *conn) beginAttempt(ctx context.Context, params *wire.PairingParams, to *securechan.PSKChoice, info attemptInfo) error {
	cat := c.sc.Matched().Category
	if to != nil {
		cat = to.Category
	}
	msg, res, _, err := c.planFor(c.s.streamerOf(c), cat, params)
	if err != nil {
		return err
	}
	if to == nil {
		if err := c.pairActivated(params); err != nil {
			return err
		}
		c.endStreamUnless(res.Next)
		if err := c.sc.WriteMessage(msg); err != nil {
			return err
		}
	} else {
		if err := c.pairFlow.CanActivate(to.Category, params); err != nil {
			return err
		}
		prev := c.sc.Matched()
		c.endStreamUnless(res.Next)
		if err := c.sc.Rehandshake(ctx, *to, msg); err != nil {
			return &rehandshakeError{err}
		}
		if err := c.rekeyed(); err != nil {
			return err
		}
		if err := c.pairActivated(params); err != nil {
			return err
		}
		if prev.Category == wire.PSKLongTerm {
			info.returnTo = &prev
		}
	}
	info.params = *params
	name := c.helloName()
	start := func(st *PairingState) {
		*st = PairingState{Phase: PairingStarting, Method: params.Method, Format: params.Format, Last: st.Last,
			Attempt: st.Attempt, Name: name}
	}
	if info.token {
		// Numbered when the operator entered the token.
		c.s.setAttempt(c.sc.Peer(), info.number, start)
	} else {
		info.number = c.s.newAttempt(c.sc.Peer(), start)
	}
	c.pairing, c.att = true, info
	c.setActivation(res.Next)
	if err := c.announceGroup(); err != nil {
		return err
	}
	c.s.log.Info("pairing started", "client", c.sc.Peer().String(), "method", string(params.Method), "format", string(params.Format))
	return nil
}

// newPairFlow creates the connection's pairing machine once, after the
// hellos; re-handshakes reset it through Rehandshaked.
func (c *conn) newPairFlow() error {
	fl, err := flow.NewServer(flow.ServerConfig{ClientID: c.sc.Peer(), Suite: c.sc.Suite(),
		H: pairing.HandshakeHash(c.sc.H()), Category: c.sc.Matched().Category, Rand: c.s.cfg.Rand,
		InitTimeout: c.s.cfg.PairingInitTimeout, AttemptTimeout: c.s.cfg.PairingAttemptTimeout})
	if err != nil {
		return err
	}
	c.pairFlow = fl
	return nil
}

// rekeyed tells the machine about a completed re-handshake.
func (c *conn) rekeyed() error {
	acts, err := c.pairFlow.Rehandshaked(pairing.HandshakeHash(c.sc.H()), c.sc.Matched().Category)
	if err != nil {
		return err
	}
	return c.doPair(acts)
}

// pairActivated reports a sent (or about to be sent) activation to the
// flow machine and carries out what it returns.
func (c *conn) pairActivated(p *wire.PairingParams) error {
	acts, err := c.pairFlow.Activated(p, time.Now())
	if err != nil {
		return err
	}
	return c.doPair(acts)
}

// onPairMessage feeds a pairing message to the flow machine. Messages the
// client sent under keys a re-handshake has since replaced belong to the
// session before it and are dropped (PAIRING-FLOWS.md, driver contract).
func (c *conn) onPairMessage(m wire.Message, epoch uint32) error {
	if epoch != c.sc.Epoch() {
		return nil
	}
	acts, err := c.pairFlow.Receive(m, time.Now())
	if err != nil {
		return err
	}
	return c.doPair(acts)
}

// doPair carries out flow actions in order.
func (c *conn) doPair(acts []flow.Action) error {
	for i := 0; i < len(acts); i++ {
		if e, ok := acts[i].(flow.AttemptEnded); ok && e.Outcome == flow.OutcomePaired && i+1 < len(acts) {
			if r, ok := acts[i+1].(flow.RequestRehandshake); ok {
				// The machine ends the attempt before the re-handshake to
				// the new long-term PSK; the operator is told "paired"
				// once the connection runs on it, so that a listing read
				// right after shows the client paired, not still pairing.
				// If the re-handshake fails the pairing stands all the
				// same: both sides hold the record.
				err := c.promote(r.PSK)
				c.attemptEnded(e)
				if err != nil {
					return err
				}
				i++
				continue
			}
		}
		switch a := acts[i].(type) {
		case flow.Send:
			if err := c.sc.WriteMessage(a.Msg); err != nil {
				return err
			}
			if _, ok := a.Msg.(*wire.ServerPairAuth); ok {
				c.setPairing(func(st *PairingState) { st.Phase = PairingVerifying })
			}
		case flow.Close:
			if a.Err != nil {
				return fmt.Errorf("%w: pairing: %v", errProtocol, a.Err)
			}
			return errProtocol
		case flow.ServerPersistRecord:
			// The record is durable before server/pair-finalize can exist:
			// only Persisted produces it (pairing.md "Pairing Records").
			var next []flow.Action
			var err error
			if perr := c.s.cfg.Store.PutClientRecord(a.ClientID, a.PSK); perr != nil {
				c.s.log.Error("saving a pairing record", "err", perr)
				next, err = c.pairFlow.PersistFailed()
			} else {
				// Paired: the token has done its job, whatever happens to
				// this connection next.
				c.s.forgetToken(a.ClientID, keys.PSK{})
				next, err = c.pairFlow.Persisted()
			}
			if err != nil {
				return err
			}
			if err := c.doPair(next); err != nil {
				return err
			}
		case flow.DiscardApproval:
			if err := c.s.cfg.Store.Revoke(a.ClientID); err != nil {
				return err
			}
		case flow.RequestRehandshake:
			if err := c.promote(a.PSK); err != nil {
				return err
			}
		case flow.LeavePairing:
			if err := c.leavePairing(); err != nil {
				return err
			}
		case flow.ClientPending:
			c.setPairing(func(st *PairingState) { st.Phase, st.Message = PairingHeldBack, a.Message })
			c.s.log.Info("the client holds pairing back", "client", c.sc.Peer().String())
		case flow.AwaitCode:
			c.setPairing(func(st *PairingState) {
				st.Phase, st.Round, st.Message = PairingAwaitingCode, a.Round, ""
				st.WrongCodes = int(a.Round) - 1 // each retry followed a wrong code
			})
			c.s.log.Info("pairing: waiting for the operator's code", "client", c.sc.Peer().String(), "round", a.Round)
		case flow.AttemptEnded:
			c.attemptEnded(a)
		}
	}
	return nil
}

// attemptEnded records how the connection's attempt ended.
func (c *conn) attemptEnded(a flow.AttemptEnded) {
	if c.att.token && a.Outcome != flow.OutcomePaired {
		// A token attempt that ends without pairing takes its token
		// along, also when the connection dropped or closed on a
		// protocol error: the operator enters it again to retry
		// (SPEC-NOTES 45), rather than the next connection pairing
		// unasked.
		c.s.forgetToken(c.sc.Peer(), c.att.tokenPSK)
	}
	out := outcomeOf(a)
	c.setPairing(func(st *PairingState) {
		held := st.Phase == PairingHeldBack
		msg := ""
		if held {
			msg = st.Message
		}
		*st = PairingState{Method: st.Method, Format: st.Format, WrongCodes: st.WrongCodes, Last: out,
			LastHeldBack: held, Message: msg, Attempt: st.Attempt, Name: st.Name}
	})
	c.s.log.Info("pairing attempt ended", "client", c.sc.Peer().String(), "outcome", out.String())
}

// promote re-keys the connection to the new long-term PSK and activates it
// as a paired session (pairing.md: "the server re-handshakes to the new
// long-term PSK, then sends server/activate").
func (c *conn) promote(psk keys.PSK) error {
	msg, res, _, err := c.planFor(c.s.streamerOf(c), wire.PSKLongTerm, nil)
	if err != nil {
		return err
	}
	if err := c.pairFlow.CanActivate(wire.PSKLongTerm, nil); err != nil {
		return err
	}
	c.endStreamUnless(res.Next)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.sc.Rehandshake(ctx, securechan.PSKChoice{PSK: psk, Category: wire.PSKLongTerm}, msg); err != nil {
		return err
	}
	if err := c.rekeyed(); err != nil {
		return err
	}
	acts, err := c.pairFlow.Activated(nil, time.Now())
	if err != nil {
		return err
	}
	c.setActivation(res.Next)
	// The number stays: the machine's AttemptEnded is still to come.
	c.pairing, c.att = false, attemptInfo{number: c.att.number}
	c.s.releaseAttempt(c)
	c.s.log.Info("client paired", "client", c.sc.Peer().String())
	if err := c.doPair(acts); err != nil {
		return err
	}
	return c.sync() // changes held during the attempt; joins a running stream
}

// leavePairing ends an attempt without pairing: an activation without
// 'pairing' (pairing.md "Entering and leaving pairing"). A connection the
// attempt had re-keyed away from its long-term PSK goes back to it, as
// long as that is still the client's record; otherwise it stays on the
// attempt's PSK with the activities that PSK allows.
func (c *conn) leavePairing() error {
	back := c.att.returnTo
	if back != nil {
		if psk, ok, err := c.s.cfg.Store.ClientRecord(c.sc.Peer()); err != nil || !ok || !psk.Equal(back.PSK) {
			back = nil
		}
	}
	cat := c.sc.Matched().Category
	if back != nil {
		cat = back.Category
	}
	msg, res, _, err := c.planFor(c.s.streamerOf(c), cat, nil)
	if err != nil {
		return err
	}
	var next []flow.Action
	if back == nil {
		if next, err = c.pairFlow.Activated(nil, time.Now()); err != nil {
			return err
		}
		c.endStreamUnless(res.Next)
		if err := c.sc.WriteMessage(msg); err != nil {
			return err
		}
	} else {
		if err := c.pairFlow.CanActivate(back.Category, nil); err != nil {
			return err
		}
		c.endStreamUnless(res.Next)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.sc.Rehandshake(ctx, *back, msg); err != nil {
			return err
		}
		if err := c.rekeyed(); err != nil {
			return err
		}
		if next, err = c.pairFlow.Activated(nil, time.Now()); err != nil {
			return err
		}
	}
	c.setActivation(res.Next)
	att := c.att
	// The number stays: the machine's AttemptEnded is in next.
	c.pairing, c.att = false, attemptInfo{number: att.number}
	c.s.releaseAttempt(c)
	if att.token {
		// The operator enters the token again to retry.
		c.s.forgetToken(c.sc.Peer(), att.tokenPSK)
	}
	if _, ok := c.s.token(c.sc.Peer()); ok {
		c.signal(evPair) // a new token was entered meanwhile
	}
	if err := c.doPair(next); err != nil {
		return err
	}
	return c.sync() // changes held during the attempt
}

// endStreamUnless ends the player stream before an activation that drops
// the player role or playback (messaging.md "server/activate").
func (c *conn) endStreamUnless(next sessionActivation) {
	if c.streaming != nil && (!hasPlayer(next.ActiveRoles) || !next.Activities.Has(session.Playback)) {
		c.endStream(true)
	}
}

func (c *conn) setActivation(next sessionActivation) {
	c.mu.Lock()
	prev := c.act
	c.act = next
	c.mu.Unlock()
	if hasPlayer(next.ActiveRoles) && !hasPlayer(prev.ActiveRoles) {
		c.playerStateStale = true
	}
	if hasPlayer(next.ActiveRoles) {
		c.s.groupRoles(c)
	}
}

// setPairing changes the state of the connection's pairing attempt, as
// long as the client's state is still that attempt's.
func (c *conn) setPairing(f func(*PairingState)) {
	c.s.setAttempt(c.sc.Peer(), c.att.number, f)
}
