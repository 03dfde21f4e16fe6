package player

import (
	"context"
	"errors"
	"time"

	"github.com/tonearm-audio/tonearm/internal/clocksync"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// arrival is a received message with its local arrival time, taken after
// decryption (messaging.md "Transmit timestamps").
type arrival struct {
	in securechan.Inbound
	at int64
	// handled, when set, is closed by the owner once the message is
	// handled; the reader waits for it before reading on.
	handled chan struct{}
}

// conn is one connection's session, owned by run.
type conn struct {
	p     *Player
	sc    *securechan.Conn
	inbox chan arrival

	hello     wire.ClientHello
	reading   bool // the reader runs: a goodbye can wait for the server to close
	act       session.Activation
	filter    *clocksync.Filter
	burst     *clocksync.Burster
	reported  bool // a client/state was sent
	available bool // last reported availability
	pb        *playback
	// outputFailed: the audio output broke; the player stays unavailable.
	outputFailed bool

	// Server-initiated connections only: the arbiter's id for it, and the
	// channel on which another connection's admission closes it.
	arbID    session.ConnID
	kick     chan session.Close
	admitted bool

	serverName string

	// ops are local operator actions (pairing window, cancel) for the
	// owner to run.
	ops chan func() error

	// pair is the pairing machine; epoch the key epoch it last saw.
	pair    *flow.Client
	epoch   uint32
	matched wire.PSKCategory // the PSK category of epoch
}

// update changes the player's status on behalf of this connection: always
// for a client-initiated one, and for a server-initiated one only once the
// arbiter admitted it, so a server being turned away never shows.
func (c *conn) update(f func(*Status)) {
	if c.arbID != 0 && !c.admitted {
		return
	}
	c.p.update(f)
}

func (c *conn) connected(s *Status) {
	c.p.holder = c.arbID // under the status lock, as update holds it
	s.Connected, s.Server, s.ServerName = true, c.sc.Peer(), c.serverName
	cat := c.matched
	if c.pair == nil { // before the first activation no re-handshake can run
		cat = c.sc.Matched().Category
	}
	s.Paired = session.Paired(cat)
}

// farewell closes the connection the way the arbiter says: goodbye or
// pair/abort first when one is set (connection.md "Multiple servers").
func (c *conn) farewell(cl session.Close) {
	switch {
	case cl.Goodbye != "":
		c.goodbye(cl.Goodbye)
	case cl.Abort != "":
		_ = c.sc.WriteMessage(&wire.PairAbort{Reason: cl.Abort})
		c.sc.Close()
	default:
		c.sc.Close()
	}
}

// goodbye sends client/goodbye and closes. While the reader runs it first
// waits, up to goodbyeLinger, for the server to close: messaging.md
// "client/goodbye" has the server initiate the disconnect, and closing at
// once can make a write of the server's fail before it read the reason. A
// server that loses the reason (a refusal, a shutdown) takes the drop for
// a restart and dials again.
func (c *conn) goodbye(reason wire.GoodbyeReason) {
	if !c.reading {
		_ = c.sc.Goodbye(reason)
		return
	}
	if err := c.sc.WriteMessage(&wire.ClientGoodbye{Reason: reason}); err == nil {
		t := time.NewTimer(goodbyeLinger)
		select {
		case <-c.sc.Done():
		case <-t.C:
		}
		t.Stop()
	}
	c.sc.Close()
}

func newSession(p *Player, sc *securechan.Conn) *conn {
	f := clocksync.New()
	c := &conn{p: p, sc: sc, inbox: make(chan arrival, inboxSize), filter: f, burst: clocksync.NewBurster(f),
		ops: make(chan func() error)}
	c.hello = wire.ClientHello{
		Name:           p.cfg.Name,
		SupportedRoles: []wire.Role{wire.RolePlayerV1},
		PlayerSupport:  &wire.PlayerSupport{SupportedFormats: p.cfg.Formats, BufferCapacity: p.cfg.BufferCapacity},
		PairMethods:    p.pairMethods(),
		UnpairedAccess: p.UnpairedAccess(),
	}
	return c
}

var errGoodbye = errors.New("player: goodbye sent")

// run is the owner goroutine.
func (c *conn) run(ctx context.Context) error {
	defer c.sc.Close()
	defer c.stopStream()
	c.reading = true
	go c.read()
	log := c.p.log.With("server", c.sc.Peer().String())

	// messaging.md "Communication" steps 6-8, within one bound: on a
	// server-initiated connection the provisional timeout (connection.md
	// "Multiple servers": dropped if it has not sent server/activate
	// within 30 seconds, not 30 seconds per message).
	bound := helloTimeout
	if c.arbID != 0 && c.p.cfg.ProvisionalTimeout > 0 {
		bound = c.p.cfg.ProvisionalTimeout
	}
	deadline := time.Now().Add(bound)
	first, err := c.next(ctx, time.Until(deadline))
	if err != nil {
		return err
	}
	sh, ok := first.in.JSON.(*wire.ServerHello)
	if !ok {
		return errors.New("player: the server did not start with server/hello")
	}
	c.serverName = sh.Name
	c.update(c.connected)
	if err := c.sc.WriteMessage(&c.hello); err != nil {
		return err
	}
	a, err := c.next(ctx, time.Until(deadline))
	if err != nil {
		return err
	}
	if _, ok := a.in.JSON.(*wire.ServerActivate); !ok {
		return errors.New("player: the server did not send server/activate after the hellos")
	}
	if err := c.newPairFlow(a.in); err != nil {
		return err
	}
	defer func() { _ = c.doPair(c.pair.Dropped()) }()
	// Live before the first activation is handled: an owner's action
	// (unpaired access turned off) must not miss a connection whose roles
	// the status already shows. Its ops wait for the loop below.
	c.p.liveMu.Lock()
	c.p.live[c] = struct{}{}
	c.p.liveMu.Unlock()
	defer func() {
		c.p.liveMu.Lock()
		delete(c.p.live, c)
		c.p.liveMu.Unlock()
	}()
	if err := c.handle(a); err != nil {
		return c.end(err)
	}
	log.Info("connected", "server_name", sh.Name, "psk", string(c.sc.Matched().Category))

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		// Clock sync: send when the burst schedule says, wake when it asks.
		now := c.p.Now()
		send, wake := c.burst.Poll(now)
		if send {
			// client_transmitted is the time the burster recorded: replies
			// are matched by it.
			if err := c.sc.WriteMessage(&wire.ClientTime{ClientTransmitted: now}); err != nil {
				return err
			}
			continue
		}
		if c.pb != nil {
			// While playing, look at the output at least every 250 ms.
			wake = min(wake, c.p.Now()+outputCheck.Microseconds())
			if err := c.checkOutput(); err != nil {
				return err
			}
		}
		if d, ok := c.pair.Deadline(); ok {
			wake = min(wake, c.p.Now()+max(time.Until(d).Microseconds(), 0)+1)
		}
		if c.arbID != 0 && !c.admitted {
			// Still provisional: wake for the provisional timeout.
			c.p.arbMu.Lock()
			d, ok := c.p.arb.NextDeadline()
			c.p.arbMu.Unlock()
			if ok {
				wake = min(wake, c.p.Now()+max(time.Until(d).Microseconds(), 0)+1)
			}
		}
		timer.Reset(time.Duration(wake-c.p.Now()) * time.Microsecond)
		select {
		case ar, ok := <-c.inbox:
			if !ok {
				return c.sc.Err()
			}
			if err := c.handle(ar); err != nil {
				return c.end(err)
			}
		case f := <-c.ops:
			if err := f(); err != nil {
				return c.end(err)
			}
		case cl := <-c.kick: // nil channel for client-initiated connections
			c.farewell(cl)
			return nil
		case <-timer.C:
			if err := c.pairTick(); err != nil {
				return c.end(err)
			}
			if c.arbID != 0 && !c.admitted {
				// The provisional timeout (connection.md): 30 s without an
				// admissible activation.
				c.p.arbMu.Lock()
				out := c.p.arb.Tick(time.Now())
				c.p.arbMu.Unlock()
				if c.p.apply(c, out) {
					return nil
				}
			}
		case <-ctx.Done():
			c.goodbye(wire.GoodbyeShutdown)
			return ctx.Err()
		}
	}
}

// end closes with the goodbye a rejection asks for.
func (c *conn) end(err error) error {
	if errors.Is(err, errGoodbye) {
		return nil
	}
	return err
}

// next waits for the next message.
func (c *conn) next(ctx context.Context, d time.Duration) (arrival, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ar, ok := <-c.inbox:
		if !ok {
			return arrival{}, c.sc.Err()
		}
		return ar, nil
	case <-t.C:
		return arrival{}, errors.New("player: the server went quiet during the hellos")
	case <-ctx.Done():
		return arrival{}, ctx.Err()
	}
}

func (c *conn) read() {
	defer close(c.inbox)
	for {
		in, err := c.sc.Read()
		at := c.p.Now()
		if err != nil {
			var pe *securechan.ProtocolError
			if errors.As(err, &pe) {
				c.sc.Close() // an invalid recognized message: close silently
			}
			return
		}
		if in.JSON == nil {
			in.Data = append([]byte(nil), in.Data...)
		}
		ar := arrival{in: in, at: at}
		if _, ok := in.JSON.(*wire.ServerPairFinalize); ok {
			// The server re-handshakes to the new long-term PSK right
			// after server/pair-finalize, and this goroutine answers it
			// inside the next Read: the record must be in the store
			// (persisted by the owner on this message) before then.
			ar.handled = make(chan struct{})
		}
		select {
		case c.inbox <- ar:
		case <-c.sc.Done():
			return
		}
		if ar.handled != nil {
			select {
			case <-ar.handled:
			case <-c.sc.Done():
				return
			}
		}
	}
}

// handle processes one message.
func (c *conn) handle(ar arrival) error {
	if ar.handled != nil {
		defer close(ar.handled)
	}
	if err := c.keyEpoch(ar.in); err != nil {
		return err
	}
	switch m := ar.in.JSON.(type) {
	case *wire.ServerTime:
		if c.burst.Reply(m.ClientTransmitted, m.ServerReceived, m.ServerTransmitted, ar.at) {
			if c.pb != nil {
				c.pb.setMapping(c.filter.Mapping())
			}
			return c.report()
		}
	case *wire.StreamStart:
		return c.onStreamStart(m)
	case *wire.StreamClear:
		c.onStreamClear(m)
	case *wire.StreamEnd:
		c.onStreamEnd(m)
	case *wire.ServerActivate:
		return c.onActivate(m, ar.in.Matched)
	case *wire.GroupUpdate:
		c.update(func(s *Status) { s.Group = *m })
	case *wire.ServerCommand:
		return c.onCommand(m)
	case *wire.ServerUnpair:
		return c.onUnpair(ar.in.Matched)
	case *wire.ServerPairInit, *wire.ServerPairAuth, *wire.ServerPairConfirm, *wire.ServerPairFinalize, *wire.PairAbort:
		return c.onPairMessage(m)
	case *wire.ServerHello:
		return errors.New("player: a second server/hello") // sent once
	case nil:
		if ar.in.ID == wire.IDAudioChunk {
			return c.onAudio(ar.in.Data)
		}
		// Binary IDs this player does not implement are ignored.
	case *wire.Unknown:
		// Unknown types are ignored after activation.
	}
	return nil
}

// onActivate applies the session rules to a server/activate
// (messaging.md "server/activate").
func (c *conn) onActivate(m *wire.ServerActivate, matched wire.PSKCategory) error {
	d := session.AdmitActivation(matched, session.ClientConfig{UnpairedAccess: c.p.UnpairedAccess(),
		PairMethods: c.hello.PairMethods, SupportedRoles: c.hello.SupportedRoles}, c.act, m)
	if !d.Admissible() {
		c.p.log.Info("refusing an activation", "reason", d.Rejection.String(), "rule", d.Violation.String())
		if reason, ok := d.Rejection.Goodbye(); ok {
			c.goodbye(reason)
			return errGoodbye
		}
		if reason, ok := d.Rejection.Abort(); ok {
			if d.PairingActivation {
				// It counts toward pairing_index all the same, and
				// supersedes any attempt (SESSION-RULES.md reading 5).
				acts, err := c.pair.Refused()
				if err != nil {
					return err
				}
				return c.doPair(acts)
			}
			return c.sc.WriteMessage(&wire.PairAbort{Reason: reason})
		}
		return nil
	}
	if c.arbID != 0 {
		// Admission between servers applies to admissible activations only.
		c.p.arbMu.Lock()
		out, err := c.p.arb.Activate(c.arbID, d.Next.Activities)
		c.p.arbMu.Unlock()
		if err != nil {
			return err
		}
		if c.p.apply(c, out) {
			return errGoodbye
		}
		if out.Admitted() && !c.admitted {
			c.admitted = true
			c.update(c.connected)
		}
	}
	c.act = d.Next
	acts, err := c.pair.Activate(m, time.Now())
	if err != nil {
		return err
	}
	if err := c.doPair(acts); err != nil {
		return err
	}
	if c.pb != nil && !c.playerActive() {
		c.stopStream() // role removed: stop output, clear buffers
	}
	c.update(func(s *Status) {
		s.Activities, s.Roles = d.Next.Activities, append([]wire.Role(nil), d.Next.ActiveRoles...)
	})
	// A newly active role with a state object needs a client/state with it
	// (messaging.md "client/state"); so does the first report.
	for _, r := range d.Changes.Added {
		if r.Family() == "player" {
			return c.sendState()
		}
	}
	if !c.reported && len(d.Next.ActiveRoles) > 0 {
		return c.sendState()
	}
	return nil
}

// playerActive reports whether the player role is active.
func (c *conn) playerActive() bool {
	for _, r := range c.act.ActiveRoles {
		if r.Family() == "player" {
			return true
		}
	}
	return false
}

// report sends a client/state when availability changes: a player reports
// available: true only once its clock has converged.
func (c *conn) report() error {
	synced := c.filter.Converged() && !c.outputFailed
	m := c.filter.Mapping()
	c.update(func(s *Status) { s.Synced, s.OffsetUS = synced, m.Offset })
	if synced == c.available && c.reported {
		return nil
	}
	if !c.reported && len(c.act.ActiveRoles) == 0 {
		return nil
	}
	return c.sendState()
}

// sendUnavailable reports available: false after the output failed; it
// stays so for this connection.
func (c *conn) sendUnavailable() error {
	c.outputFailed = true
	return c.sendState()
}

func (c *conn) sendState() error {
	synced := c.filter.Converged() && !c.outputFailed
	st := &wire.ClientState{Available: synced}
	if c.playerActive() {
		snap := c.p.Status()
		vol, muted := snap.Volume, snap.Muted
		st.Player = &wire.PlayerState{Volume: &vol, Muted: &muted, OutputDelayMS: c.p.cfg.OutputDelayMS,
			RequiredLeadTimeMS: 200, MinBufferMS: 50,
			SupportedCommands: []wire.PlayerCommandName{wire.PlayerCmdVolume, wire.PlayerCmdMute}}
	}
	if err := c.sc.WriteMessage(st); err != nil {
		return err
	}
	c.reported, c.available = true, synced
	c.update(func(s *Status) { s.Available = synced })
	return nil
}

// onCommand applies a player command the player offers; others are
// ignored (roles/player/v1.md "server/command player object").
func (c *conn) onCommand(m *wire.ServerCommand) error {
	if m.Player == nil || !c.playerActive() {
		return nil
	}
	switch m.Player.Command {
	case wire.PlayerCmdVolume:
		c.update(func(s *Status) { s.Volume = m.Player.Volume })
	case wire.PlayerCmdMute:
		c.update(func(s *Status) { s.Muted = m.Player.Mute })
	default:
		return nil
	}
	if c.pb != nil {
		st := c.p.Status()
		c.pb.setGain(gainOf(st.Volume, st.Muted))
	}
	// State updates follow every change (roles/player/v1.md).
	return c.sendState()
}

// onUnpair: a paired server drops its record (messaging.md
// "server/unpair").
func (c *conn) onUnpair(matched wire.PSKCategory) error {
	switch session.OnServerUnpair(matched, c.act) {
	case session.UnpairRemoveRecord:
		if err := c.p.cfg.Store.DeleteServerRecord(c.sc.Peer()); err != nil {
			return err
		}
		// The owner learns it from the player too, after the server is
		// gone (issue 11).
		c.p.noteServerEvent(ServerEvent{Server: c.sc.Peer(), Name: c.serverName,
			What: "unpaired this player; its pairing record was removed", At: time.Now()})
		c.goodbye(wire.GoodbyeUnpaired)
		return errGoodbye
	case session.UnpairIgnore:
		return nil
	}
	return errors.New("player: server/unpair out of sequence")
}
