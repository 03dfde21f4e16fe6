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
// client is re-keyed to it and paired now. It returns the token's client.
func (s *Server) PairWithToken(token string) (keys.PublicKey, error) {
	t, err := pairing.ParsePSKToken(token)
	if err != nil {
		return keys.PublicKey{}, ErrBadToken
	}
	s.mu.Lock()
	s.tokens[t.ClientKey] = t.PSK
	s.mu.Unlock()
	for _, c := range s.connsFor(t.ClientKey) {
		c.signal(evPair)
	}
	return t.ClientKey, nil
}

func (s *Server) token(client keys.PublicKey) (keys.PSK, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	psk, ok := s.tokens[client]
	return psk, ok
}

// forgetToken drops the client's token; with a non-zero psk only if it is
// still that token (the operator may have entered a new one meanwhile).
func (s *Server) forgetToken(client keys.PublicKey, psk keys.PSK) {
	s.mu.Lock()
	if cur, ok := s.tokens[client]; ok && (psk == (keys.PSK{}) || cur.Equal(psk)) {
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

// releaseAttempt frees the reservation c holds, if any.
func (s *Server) releaseAttempt(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if client := c.sc.Peer(); s.attempts[client] == c {
		delete(s.attempts, client)
	}
}

// startTokenPairing runs on the owner: re-handshake to the token's pairing
// PSK if needed, then the pairing activation (pairing.md "Pairing PSK
// Flow"). Tokens are looked up by the client_id the connection presented,
// so the token's client_key matches it by construction.
func (c *conn) startTokenPairing(ctx context.Context, psk keys.PSK) error {
	if c.pairing {
		return nil // an attempt runs; the token is used when it ends
	}
	if !c.s.claimAttempt(c) {
		return nil // another connection of this client is pairing
	}
	started := false
	defer func() {
		if !started {
			c.s.releaseAttempt(c)
		}
	}()
	params := &wire.PairingParams{Method: wire.MethodPairingPSK}
	msg, res, _, err := c.planFor(c.s.streamer(), wire.PSKPairing, params)
	if err != nil {
		return err
	}
	c.endStreamUnless(res.Next)
	if c.sc.Matched().Category != wire.PSKPairing || !c.sc.Matched().PSK.Equal(psk) {
		// The activation goes out as the first message under the new
		// keys, so the machine learns of it after the fact; nothing the
		// client sends in answer is read before this returns.
		if err := c.sc.Rehandshake(ctx, securechan.PSKChoice{PSK: psk, Category: wire.PSKPairing}, msg); err != nil {
			if ctx.Err() == nil {
				// The client refused the token's PSK: the token was wrong
				// or stale (its pairing PSK rotated). Forget it.
				c.s.forgetToken(c.sc.Peer(), psk)
				c.s.log.Warn("pairing by token failed: the re-handshake to the token's PSK failed", "client", c.sc.Peer().String(), "err", err)
			}
			return err
		}
		if err := c.rekeyed(); err != nil {
			return err
		}
		if err := c.pairActivated(params); err != nil {
			return err
		}
	} else {
		if err := c.pairActivated(params); err != nil {
			return err
		}
		if err := c.sc.WriteMessage(msg); err != nil {
			return err
		}
	}
	c.pairing, c.pairPSK, started = true, psk, true
	c.setActivation(res.Next)
	c.s.log.Info("pairing started", "client", c.sc.Peer().String(), "method", string(params.Method))
	return nil
}

// newPairFlow creates the connection's pairing machine once, after the
// hellos; re-handshakes reset it through Rehandshaked.
func (c *conn) newPairFlow() error {
	fl, err := flow.NewServer(flow.ServerConfig{ClientID: c.sc.Peer(), Suite: c.sc.Suite(),
		H: pairing.HandshakeHash(c.sc.H()), Category: c.sc.Matched().Category, Rand: c.s.cfg.Rand})
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
	for _, a := range acts {
		switch a := a.(type) {
		case flow.Send:
			if err := c.sc.WriteMessage(a.Msg); err != nil {
				return err
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
			msg, res, _, err := c.plan(c.s.streamer())
			if err != nil {
				return err
			}
			next, err := c.pairFlow.Activated(nil, time.Now())
			if err != nil {
				return err
			}
			c.endStreamUnless(res.Next)
			if err := c.sc.WriteMessage(msg); err != nil {
				return err
			}
			c.setActivation(res.Next)
			// The attempt is over without a pairing: the operator enters
			// the token again to retry.
			c.pairing = false
			c.s.releaseAttempt(c)
			c.s.forgetToken(c.sc.Peer(), c.pairPSK)
			if _, ok := c.s.token(c.sc.Peer()); ok {
				c.signal(evPair) // a new token was entered meanwhile
			}
			if err := c.doPair(next); err != nil {
				return err
			}
			if err := c.sync(); err != nil { // changes held during the attempt
				return err
			}
		case flow.ClientPending:
			c.s.log.Info("the client holds pairing back", "client", c.sc.Peer().String(), "message", a.Message)
		case flow.AttemptEnded:
			c.s.log.Info("pairing attempt ended", "client", c.sc.Peer().String(), "outcome", a.Outcome.String())
		}
	}
	return nil
}

// promote re-keys the connection to the new long-term PSK and activates it
// as a paired session (pairing.md: "the server re-handshakes to the new
// long-term PSK, then sends server/activate").
func (c *conn) promote(psk keys.PSK) error {
	msg, res, _, err := c.planFor(c.s.streamer(), wire.PSKLongTerm, nil)
	if err != nil {
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
	c.pairing = false
	c.s.releaseAttempt(c)
	c.s.log.Info("client paired", "client", c.sc.Peer().String())
	if err := c.doPair(acts); err != nil {
		return err
	}
	return c.sync() // changes held during the attempt; joins a running stream
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
}
