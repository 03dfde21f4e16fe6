package player

import (
	"errors"
	"fmt"
	"sync"
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
// The player always offers the Pairing PSK method (the operator enters its
// SP:0 token at the server) and, as configured, one pairing-code method:
// the dynamic code, shown through Config.OnPairingCode, or the static code,
// gated by the pairing window.

// ErrNoStaticCode: the player does not offer the static pairing code, so
// it has no pairing window.
var ErrNoStaticCode = errors.New("player: the static pairing code is not offered")

// ErrNoAttempt: no pairing attempt runs on any connection.
var ErrNoAttempt = errors.New("player: no pairing attempt is running")

// CodeEvent is the dynamic pairing code to show, or its withdrawal.
type CodeEvent struct {
	Server     keys.PublicKey
	ServerName string
	// Stop: the attempt that showed the code ended; clear it. The other
	// fields are then zero but Server and ServerName.
	Stop   bool
	Format wire.CodeFormat
	// Text is the presentation form: the digits grouped 123-456, or the
	// SP:1 token for qr_code. Token is the qr_code token for rendering as
	// a QR code (internal/pairing/qr); nil for digits.
	Text  string
	Token pairing.Token
	// Round is the round this emission belongs to; the code is the same
	// in every round of an attempt.
	Round uint32
}

// pairMethods is the client/hello supported_pair_methods this player
// advertises.
func (p *Player) pairMethods() wire.PairMethods {
	// Every client offers the Pairing PSK method (pairing.md "Methods");
	// its token is printed by the operator tools.
	m := wire.PairMethods{PairingPSK: &wire.StaticMethod{Locations: []wire.Location{wire.LocationOperator}}}
	switch p.cfg.PairingCode {
	case CodeDynamic:
		m.DynamicCode = &wire.DynamicMethod{OutChannels: []wire.OutChannel{wire.OutDisplay},
			Formats: append([]wire.CodeFormat(nil), p.cfg.CodeFormats...)}
	case CodeStatic:
		m.StaticCode = &wire.StaticMethod{Locations: []wire.Location{wire.LocationOperator}}
	}
	return m
}

// OpenPairingWindow is the local operator gesture that opens the static
// pairing window (pairing.md "Pairing Window") for
// Config.PairingWindowLifetime; a held-back attempt starts at once.
// Opening it again starts a new window.
func (p *Player) OpenPairingWindow() error {
	if p.static == nil {
		return ErrNoStaticCode
	}
	p.window.Open(time.Now())
	p.log.Info("pairing window opened")
	p.signalAll(func(c *conn) error { return c.pairTick() })
	return nil
}

// ClosePairingWindow is the operator's cancellation of the pairing window:
// later attempts are held back again; one in progress runs to its end.
func (p *Player) ClosePairingWindow() error {
	if p.static == nil {
		return ErrNoStaticCode
	}
	p.window.Cancel()
	p.log.Info("pairing window closed")
	return nil
}

// ResetPairingRounds is the deliberate operator action that lifts the
// round limit's hold-back and resets its count (pairing.md "Rounds"); a
// held-back attempt starts at once.
func (p *Player) ResetPairingRounds() {
	p.rounds.Reset()
	p.log.Info("pairing round limit reset")
	p.signalAll(func(c *conn) error { return c.pairTick() })
}

// CancelPairing is the local user's cancel of the running or held-back
// attempts: pair/abort user_cancelled. ErrNoAttempt if none runs.
func (p *Player) CancelPairing() error {
	var mu sync.Mutex
	cancelled := false
	p.signalAll(func(c *conn) error {
		acts, err := c.pair.Cancel()
		if err != nil {
			return nil // nothing to cancel on this connection
		}
		mu.Lock()
		cancelled = true
		mu.Unlock()
		return c.doPair(acts)
	})
	if !cancelled {
		return ErrNoAttempt
	}
	return nil
}

// signalAll runs f on the owner goroutine of every live connection and
// waits for each.
func (p *Player) signalAll(f func(*conn) error) {
	p.liveMu.Lock()
	conns := make([]*conn, 0, len(p.live))
	for c := range p.live {
		conns = append(conns, c)
	}
	p.liveMu.Unlock()
	for _, c := range conns {
		done := make(chan struct{})
		op := func() error { defer close(done); return f(c) }
		select {
		case c.ops <- op:
		case <-c.sc.Done():
			continue
		}
		select {
		case <-done:
		case <-c.sc.Done():
		}
	}
}

// newPairFlow starts the pairing machine on the handshake the first
// activation arrived under; its pairing_index count starts at zero
// (pairing.md "Pairing index").
func (c *conn) newPairFlow(first securechan.Inbound) error {
	cfg := flow.ClientConfig{ServerID: c.sc.Peer(), Suite: c.sc.Suite(),
		H: pairing.HandshakeHash(first.H), Category: first.Matched, Rand: c.p.cfg.Rand,
		AttemptTimeout: c.p.cfg.PairingAttemptTimeout}
	switch c.p.cfg.PairingCode {
	case CodeDynamic:
		cfg.DynamicFormats, cfg.Rounds = c.p.cfg.CodeFormats, c.p.rounds
	case CodeStatic:
		cfg.StaticCode, cfg.Window = c.p.static, c.p.window
	}
	fl, err := flow.NewClient(cfg)
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

// pairTick runs the attempt timeout, and starts a held-back attempt once
// a pairing window admits it or the round limit was reset.
func (c *conn) pairTick() error {
	if _, ok := c.pair.Deadline(); !ok && c.pair.State() != flow.ClientHeldBack {
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
			sent, err := c.sendPairing(a.Msg)
			if err != nil {
				return err
			}
			if !sent {
				continue
			}
			if _, ok := a.Msg.(*wire.ClientPairInit); ok {
				c.update(func(s *Status) {
					s.Pairing.Active, s.Pairing.HeldBack, s.Pairing.Method = true, 0, c.pair.Method()
				})
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
			name := storedName(c.serverName)
			evicted, err := c.p.cfg.Store.PutServerRecord(store.ServerRecord{Server: a.ServerID, PSK: a.PSK, LastUsed: time.Now(), Name: name},
				c.p.cfg.RecordCapacity, c.p.serverInUse)
			if err != nil {
				return fmt.Errorf("player: saving the pairing record: %w", err)
			}
			if evicted != nil {
				c.p.noteEviction(Eviction{Server: evicted.Server, Name: evicted.Name, For: a.ServerID, ForName: name, At: time.Now()})
			}
			c.p.log.Info("paired", "server", Label(name, a.ServerID), "server_id", a.ServerID.String())
		case flow.AttemptEnded:
			if c.arbID != 0 {
				c.p.arbMu.Lock()
				_ = c.p.arb.AttemptEnded(c.arbID) // unknown only once closed
				c.p.arbMu.Unlock()
			}
			c.update(func(s *Status) {
				s.Pairing = PairingStatus{Last: a.Outcome, LastReason: a.Reason}
			})
			c.p.log.Info("pairing attempt ended", "server", c.sc.Peer().String(), "outcome", a.Outcome.String(), "reason", string(a.Reason))
		case flow.HeldBack:
			c.update(func(s *Status) {
				s.Pairing.Active, s.Pairing.HeldBack, s.Pairing.Method = true, a.Why, c.pair.Method()
			})
			c.p.log.Info("pairing held back", "server", c.sc.Peer().String(), "why", a.Why.String())
		case flow.EmitCode:
			c.emit(a)
		case flow.StopEmitting:
			c.update(func(s *Status) { s.Pairing.Emitting = false })
			if f := c.p.cfg.OnPairingCode; f != nil {
				f(CodeEvent{Server: c.sc.Peer(), ServerName: c.serverName, Stop: true})
			}
		}
	}
	return nil
}

// errStaleKeys: the keys changed since the message being answered.
var errStaleKeys = errors.New("player: the session was re-keyed")

// sendPairing sends a pairing message the machine produced under the keys
// of epoch c.epoch, unless the reader has meanwhile completed a
// re-handshake: the message answers the session those keys ended, and
// under the new keys, before their activation is handled, the server
// would take it for a protocol error (connection.md "Re-handshake": no
// new application messages after Noise message 1). The check runs under
// the write lock, so the message either goes out under the old keys (the
// server discards it with its session) or not at all; the new
// activation, handled next, supersedes the attempt.
func (c *conn) sendPairing(m wire.Message) (bool, error) {
	err := c.sc.Send(func(dst []byte) ([]byte, error) {
		if c.sc.Epoch() != c.epoch {
			return nil, errStaleKeys
		}
		return wire.AppendBinaryJSON(dst, m)
	})
	switch {
	case errors.Is(err, errStaleKeys):
		c.p.log.Debug("a pairing message for the keys before a re-handshake is not sent", "type", string(m.Type()))
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// emit shows the dynamic code through the configured out-channel. The
// display is not a role's output here (the player role plays through the
// audio output), so nothing is suspended (pairing.md "Entering and leaving
// pairing"). The code is never logged: only its round.
func (c *conn) emit(a flow.EmitCode) {
	ev := CodeEvent{Server: c.sc.Peer(), ServerName: c.serverName, Round: a.Round}
	switch code := a.Code.(type) {
	case pairing.DynamicCode:
		ev.Format, ev.Text = wire.FormatDigits, code.Grouped()
	case pairing.QRCode:
		ev.Format, ev.Text, ev.Token = wire.FormatQRCode, code.Encode(), code
	}
	c.update(func(s *Status) { s.Pairing.Emitting, s.Pairing.Round = true, a.Round })
	c.p.log.Info("showing the pairing code", "server", c.sc.Peer().String(), "round", a.Round, "format", string(ev.Format))
	if f := c.p.cfg.OnPairingCode; f != nil {
		f(ev)
	}
}

// serverInUse protects the records of servers with an open connection from
// eviction.
func (p *Player) serverInUse(server keys.PublicKey) bool {
	// Every running session, whichever way it was opened: a player may
	// hold client-initiated sessions to several servers at once.
	p.liveMu.Lock()
	for c := range p.live {
		if c.sc.Peer() == server {
			p.liveMu.Unlock()
			return true
		}
	}
	p.liveMu.Unlock()
	p.arbMu.Lock()
	defer p.arbMu.Unlock()
	for _, c := range p.conns {
		if c.sc.Peer() == server {
			return true
		}
	}
	return false
}
