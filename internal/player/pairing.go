package player

import (
	"errors"
	"fmt"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Pairing on the player (pairing.md): the flow machine
// (internal/pairing/flow) decides every step; this file carries them out.
// The player offers the Pairing PSK method only: the operator enters the
// player's SP:0 token at the server.

// newPairFlow starts the pairing machine on the handshake the first
// activation arrived under; its pairing_index count starts at zero
// (pairing.md "Pairing index").
func (c *conn) newPairFlow(first securechan.Inbound) error {
	fl, err := flow.NewClient(flow.ClientConfig{ServerID: c.sc.Peer(), Suite: c.sc.Suite(),
		H: pairing.HandshakeHash(first.H), Category: first.Matched, Rand: c.p.cfg.Rand})
	if err != nil {
		return fmt.Errorf("player: pairing: %w", err)
	}
	c.pair, c.epoch, c.matched = fl, first.Epoch, first.Matched
	return nil
}

// keyEpoch notes a completed re-handshake before the first message under
// the new keys is handled: the pairing machine restarts its count on the
// new handshake hash and the status shows the new PSK's category. The
// keys come with the message: the reader may already have completed a
// later re-handshake.
func (c *conn) keyEpoch(in securechan.Inbound) error {
	if in.Epoch <= c.epoch {
		return nil
	}
	c.epoch, c.matched = in.Epoch, in.Matched
	if c.arbID != 0 {
		// A re-handshake to a long-term PSK promotes the connection to
		// paired, which counts against the paired cap (connection.md
		// "Multiple servers (server-initiated)").
		c.p.arbMu.Lock()
		out, err := c.p.arb.Rekeyed(c.arbID, session.Paired(in.Matched))
		c.p.arbMu.Unlock()
		if err != nil {
			return err
		}
		if c.p.apply(c, out) {
			return errGoodbye
		}
	}
	c.update(c.connected)
	acts, err := c.pair.Rehandshaked(pairing.HandshakeHash(in.H), in.Matched)
	if err != nil {
		return err
	}
	return c.doPair(acts)
}

// onPairMessage feeds a pairing message from the server to the machine.
func (c *conn) onPairMessage(m wire.Message) error {
	acts, err := c.pair.Receive(m, time.Now())
	if err != nil {
		return err
	}
	return c.doPair(acts)
}

// pairTick runs the attempt timeout.
func (c *conn) pairTick() error {
	if _, ok := c.pair.Deadline(); !ok {
		return nil
	}
	return c.doPair(c.pair.Tick(time.Now()))
}

// errPairingClosed ends a session the pairing machine closed.
var errPairingClosed = errors.New("player: pairing protocol error")

// doPair carries out flow actions in order.
func (c *conn) doPair(acts []flow.Action) error {
	for _, a := range acts {
		switch a := a.(type) {
		case flow.Send:
			if _, ok := a.Msg.(*wire.ClientPairInit); ok && c.arbID != 0 {
				// One attempt at a time across servers: a second one is
				// turned away with pair/abort concurrent_attempt (pairing.md
				// "pair/abort").
				c.p.arbMu.Lock()
				out, err := c.p.arb.AttemptStarted(c.arbID)
				c.p.arbMu.Unlock()
				if err != nil {
					return err
				}
				if c.p.apply(c, out) {
					return errGoodbye
				}
			}
			if err := c.sc.WriteMessage(a.Msg); err != nil {
				return err
			}
		case flow.Close:
			// pairing.md "Protocol Errors": close without a message.
			c.sc.Close()
			if a.Err != nil {
				return fmt.Errorf("%w: %v", errPairingClosed, a.Err)
			}
			return errPairingClosed
		case flow.ClientPersistRecord:
			// Durable before the server's re-handshake can use it: the
			// long-term lookup reads the store (pairing.md "Pairing
			// Records").
			evicted, err := c.p.cfg.Store.PutServerRecord(store.ServerRecord{Server: a.ServerID, PSK: a.PSK, LastUsed: time.Now()},
				c.p.cfg.RecordCapacity, c.p.serverInUse)
			if err != nil {
				return fmt.Errorf("player: saving the pairing record: %w", err)
			}
			if evicted != nil {
				c.p.log.Info("pairing record evicted", "server", evicted.String())
			}
			c.p.log.Info("paired", "server", a.ServerID.String())
		case flow.AttemptEnded:
			if c.arbID != 0 {
				c.p.arbMu.Lock()
				_ = c.p.arb.AttemptEnded(c.arbID) // unknown only once closed
				c.p.arbMu.Unlock()
			}
			c.p.log.Info("pairing attempt ended", "server", c.sc.Peer().String(), "outcome", a.Outcome.String())
		case flow.HeldBack:
			c.p.log.Info("pairing held back", "why", a.Why.String())
		case flow.EmitCode, flow.StopEmitting:
			// Not produced: the player offers no code method.
		}
	}
	return nil
}

// serverInUse protects the records of servers with an open connection from
// eviction.
func (p *Player) serverInUse(server keys.PublicKey) bool {
	p.mu.Lock()
	cur := p.state.Connected && p.state.Server == server
	p.mu.Unlock()
	if cur {
		return true
	}
	p.arbMu.Lock()
	defer p.arbMu.Unlock()
	for _, c := range p.conns {
		if c.sc.Peer() == server {
			return true
		}
	}
	return false
}
