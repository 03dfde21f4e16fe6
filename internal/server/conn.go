package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tonearm-audio/tonearm/internal/clocksync"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// event is a signal to a connection's owner goroutine.
type event uint8

const (
	// evReactivate: the operator changed the client's approval, or playback
	// started or stopped: re-plan activation and streaming.
	evReactivate event = iota + 1
	// evPair: the operator entered the client's pairing token.
	evPair
)

// sessionActivation is the activation state the session rules track.
type sessionActivation = session.Activation

// errProtocol ends a session that broke the message sequence; the close is
// silent (pairing.md "Protocol Errors", messaging.md "Communication").
var errProtocol = errors.New("server: protocol error")

// rolePolicy is what this server implements today: the player role. Other
// role families are left out of active_roles until the server can serve
// them (messaging.md "server/state": no role without its complete state).
var rolePolicy = session.RolePolicy{Implements: func(r wire.Role) bool { return r == wire.RolePlayerV1 }}

// conn is one client connection. Its fields below mu are written by the
// owner goroutine and read by info.
type conn struct {
	goodbye wire.GoodbyeReason // the client's, once it said goodbye (under mu)
	// readErr is the invalid message that ended the connection (under mu).
	readErr error
	// addr is the peer's address; url the URL the server dialed, "" when
	// the client dialed in.
	addr, url string

	s      *Server
	sc     *securechan.Conn
	events chan event
	inbox  chan securechan.Inbound
	times  chan timeReq

	mu    sync.Mutex
	hello *wire.ClientHello
	act   session.Activation
	state *wire.ClientState

	streaming *streamer // the streamer this connection's player stream belongs to
	// lastGroup is the group/update the client has been sent, nil before
	// the first.
	lastGroup *wire.GroupUpdate
	// playerStateStale: the player role was (re)activated and its
	// client/state has not arrived yet.
	playerStateStale bool
	// pairFlow is the connection's pairing machine; pairing is set while
	// a pairing activation is in force.
	pairFlow *flow.Server
	pairing  bool
	att      attemptInfo // the running attempt's details

	ops chan op // operator actions for the owner
	seq uint64  // order of connection: the newest serves operator actions

	live liveFigures // for the operator's live view (stats.go)
}

func newConn(s *Server, sc *securechan.Conn) *conn {
	return &conn{s: s, sc: sc, events: make(chan event, 4), inbox: make(chan securechan.Inbound, inboxSize),
		times: make(chan timeReq, timeQueue), ops: make(chan op)}
}

func (c *conn) signal(e event) {
	select {
	case c.events <- e:
	default: // one pending signal of each kind is enough
	}
}

// run is the owner goroutine: hellos, the first activation, then messages
// and operator signals until the connection ends.
func (c *conn) run(ctx context.Context) error {
	defer c.sc.Close()
	log := c.s.log.With("client", c.sc.Peer().String())
	go c.read()
	go c.replyTimes()
	// messaging.md "Communication" steps 6-8.
	if err := c.sc.WriteMessage(&wire.ServerHello{Name: c.s.cfg.Name}); err != nil {
		return err
	}
	timer := time.NewTimer(helloTimeout)
	defer timer.Stop()
	select {
	case in, ok := <-c.inbox:
		if !ok {
			return c.sc.Err()
		}
		hello, isHello := in.JSON.(*wire.ClientHello)
		if !isHello {
			// Only an encrypted goodbye may precede client/hello.
			if gb, ok := in.JSON.(*wire.ClientGoodbye); ok {
				log.Info("client said goodbye before hello", "reason", gb.Reason)
				c.mu.Lock()
				c.goodbye = gb.Reason
				c.mu.Unlock()
				return nil
			}
			return fmt.Errorf("%w: %s before client/hello", errProtocol, messageName(in))
		}
		c.mu.Lock()
		c.hello = hello
		c.mu.Unlock()
		c.s.noteHello(c, hello.Name)
		c.s.groupConnect(c, hello.Name)
		defer c.s.groupDisconnect(c)
	case <-timer.C:
		return errNoHello
	case <-ctx.Done():
		return ctx.Err()
	}
	defer c.endStream(false)
	if err := c.newPairFlow(); err != nil {
		return err
	}
	if tok, ok := c.s.token(c.sc.Peer()); ok && c.sc.Matched().Category == wire.PSKPairing && c.sc.Matched().PSK.Equal(tok.psk) {
		// Keyed by the token the operator entered: the first activation
		// is the pairing one (pairing.md "Pairing PSK Flow").
		if err := c.startTokenPairing(ctx, tok); err != nil {
			return err
		}
	} else {
		if err := c.sync(); err != nil {
			return err
		}
		if ok {
			// A token for a client that connected under another PSK:
			// re-handshake to the pairing PSK and pair now.
			if err := c.startTokenPairing(ctx, tok); err != nil {
				return err
			}
		}
	}
	log.Info("client connected", "name", c.hello.Name, "psk", string(c.sc.Matched().Category),
		"needs_repairing", c.sc.CredentialMismatch())
	defer func() {
		_ = c.doPair(c.pairFlow.Dropped())
		c.s.releaseAttempt(c)
	}()
	for {
		// The pairing attempt's timeout (pairing.md "Entering and leaving
		// pairing").
		var pairDeadline <-chan time.Time
		if d, ok := c.pairFlow.Deadline(); ok {
			pairDeadline = time.After(time.Until(d))
		}
		select {
		case <-pairDeadline:
			if err := c.doPair(c.pairFlow.Tick(time.Now())); err != nil {
				log.Info("closing the connection", "err", err)
				return err
			}
		case in, ok := <-c.inbox:
			if !ok {
				return c.sc.Err()
			}
			if err := c.handle(in); err != nil {
				if errors.Is(err, errGoodbye) {
					return nil
				}
				log.Info("closing the connection", "err", err)
				return err
			}
		case e := <-c.events:
			switch e {
			case evReactivate:
				if err := c.sync(); err != nil {
					return err
				}
			case evPair:
				if tok, ok := c.s.token(c.sc.Peer()); ok {
					if err := c.startTokenPairing(ctx, tok); err != nil {
						return err
					}
				}
			}
		case o := <-c.ops:
			res, err := o.f(ctx)
			o.done <- res
			if err != nil {
				if errors.Is(err, errGoodbye) {
					return nil
				}
				log.Info("closing the connection", "err", err)
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var errGoodbye = errors.New("server: client said goodbye")

// errNoHello ends a connection whose client/hello did not come in time.
var errNoHello = errors.New("server: no client/hello")

// messageName names a received message for the operator.
func messageName(in securechan.Inbound) string {
	if in.JSON != nil {
		return string(in.JSON.Type())
	}
	return fmt.Sprintf("binary message %d", in.ID)
}

// ended describes how the session ended (err is run's result; the
// connection is closed).
func (c *conn) ended(err error) *Ended {
	c.mu.Lock()
	said := c.goodbye != ""
	c.mu.Unlock()
	if !said {
		// A client that refuses the session says goodbye and closes at
		// once, and a write of ours can fail on the closed connection
		// before the goodbye was handled. It was read, in order, into
		// the inbox: its reason decides the reconnect (messaging.md
		// "client/goodbye"), so a refused server does not redial at once.
		for in := range c.inbox {
			if gb, ok := in.JSON.(*wire.ClientGoodbye); ok {
				c.mu.Lock()
				c.goodbye = gb.Reason
				c.mu.Unlock()
				break
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &Ended{Goodbye: c.goodbye, Activities: c.act.Activities, Err: err}
}

// read is the connection's reader. It answers client/time itself, so the
// receive time is taken as the message is read and the reply is not
// delayed by the owner; everything else goes to the owner.
func (c *conn) read() {
	defer close(c.inbox)
	for {
		in, err := c.sc.Read()
		received := c.s.Now()
		if err != nil {
			var pe *securechan.ProtocolError
			if errors.As(err, &pe) {
				c.mu.Lock()
				c.readErr = pe.Err
				c.mu.Unlock()
				c.sc.Close() // an invalid recognized message: close silently
			}
			return
		}
		if ct, ok := in.JSON.(*wire.ClientTime); ok {
			select {
			case c.times <- timeReq{transmitted: ct.ClientTransmitted, received: received}:
			default:
				// The client sends far faster than its replies can go out:
				// this one is dropped, as a lost message would be (the
				// client's clock filter takes replies as they come).
			}
			continue
		}
		if in.JSON == nil {
			in.Data = append([]byte(nil), in.Data...) // valid only until the next Read
		}
		select {
		case c.inbox <- in:
		case <-c.sc.Done():
			return
		}
	}
}

// timeReq is a client/time to answer: its client_transmitted and when it
// was read.
type timeReq struct{ transmitted, received int64 }

// replyTimes answers client/time. It is not the reader: a reply waits
// while a re-handshake pauses writes, and the reader must keep reading
// for the re-handshake's message 2 meanwhile.
func (c *conn) replyTimes() {
	var view clocksync.ServerView
	for {
		select {
		case t := <-c.times:
			reply := &wire.ServerTime{ClientTransmitted: t.transmitted, ServerReceived: t.received}
			err := c.sc.Send(func(dst []byte) ([]byte, error) {
				// Stamped immediately before encryption (messaging.md
				// "Transmit timestamps").
				reply.ServerTransmitted = c.s.Now()
				return wire.AppendBinaryJSON(dst, reply)
			})
			if err != nil {
				return
			}
			if e, changed := view.Exchange(reply.ClientTransmitted, reply.ServerReceived, reply.ServerTransmitted); changed {
				c.live.setClock(e)
			}
		case <-c.sc.Done():
			return
		}
	}
}

// view is what the session rules need to know about this connection.
func (c *conn) view() session.ServerView {
	client := c.sc.Peer()
	v := session.ServerView{Matched: c.sc.Matched().Category, Hello: c.hello}
	if a, ok, err := c.s.cfg.Store.ApprovalOf(client); err == nil && ok {
		v.Approval = session.ApprovalImplied
		if a.Source {
			v.Approval = session.ApprovalExplicit
		}
	}
	if _, ok, err := c.s.cfg.Store.ClientRecord(client); err == nil && ok {
		v.RecordExists = true
	}
	return v
}

// plan works out the activation the connection should have now. Until
// playback starts the activities stay empty (messaging.md: declare the
// minimal set, an unused playback activity would displace other servers),
// while a playback-capable connection already carries the roles the server
// would use. changed is false when it is what the client already has.
func (c *conn) plan(st *streamer) (msg *wire.ServerActivate, res session.ServerResult, changed bool, err error) {
	return c.planFor(st, c.sc.Matched().Category, nil)
}

// planFor plans the activation for a session keyed with category (a
// re-handshake plans for the PSK it switches to), declaring pairing with
// params when set.
func (c *conn) planFor(st *streamer, category wire.PSKCategory, params *wire.PairingParams) (msg *wire.ServerActivate, res session.ServerResult, changed bool, err error) {
	v := c.view()
	v.Matched = category
	roles := []wire.Role{}
	for _, set := range v.PermittedSets() {
		if set == session.Playback {
			roles = append(roles, v.SelectRoles(session.Playback, rolePolicy)...)
			break
		}
	}
	acts := []wire.Activity{}
	if st != nil && hasPlayer(roles) {
		acts = []wire.Activity{wire.ActivityPlayback}
	}
	if params != nil {
		acts = append(acts, wire.ActivityPairing)
	}
	msg = &wire.ServerActivate{Activities: acts, ActiveRoles: roles, HasActiveRoles: true, Pairing: params}
	c.mu.Lock()
	prev := c.act
	c.mu.Unlock()
	res, err = v.CheckActivate(prev, msg)
	if err != nil {
		// The rules refused our plan: fall back to what is always sendable,
		// the pairing alone when pairing was asked for.
		msg.Activities, msg.ActiveRoles = []wire.Activity{}, []wire.Role{}
		if params != nil {
			msg.Activities = []wire.Activity{wire.ActivityPairing}
		}
		if res, err = v.CheckActivate(prev, msg); err != nil {
			return nil, res, false, err
		}
	}
	changed = !prev.Activated || res.Next.Activities != prev.Activities || !sameRoles(res.Next.ActiveRoles, prev.ActiveRoles)
	return msg, res, changed, nil
}

func sameRoles(a, b []wire.Role) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// handle processes one message after the first activation.
func (c *conn) handle(in securechan.Inbound) error {
	switch m := in.JSON.(type) {
	case nil:
		// Binary: no client-to-server stream role is active on this server
		// yet, so source audio is a protocol error (roles/source/v1.md);
		// IDs it does not implement are ignored.
		if wire.ClassOf(in.ID) == wire.ClassSource {
			return fmt.Errorf("%w: source audio while no source role is active", errProtocol)
		}
	case *wire.ClientState:
		c.mu.Lock()
		was := c.state != nil && c.state.Available
		c.state = m
		c.mu.Unlock()
		if was && !m.Available {
			// messaging.md "Server behavior when a client becomes
			// unavailable": out of its group, or its group stopped.
			c.s.leaveGroup(c)
		}
		if m.Player != nil {
			c.playerStateStale = false
		}
		if st := c.streaming; st != nil {
			st.setOutputDelay(c, c.outputDelay())
			if err := st.reformat(c); err != nil {
				return err
			}
		}
		return c.sync()
	case *wire.ClientGoodbye:
		c.s.log.Info("client said goodbye", "client", c.sc.Peer().String(), "reason", m.Reason)
		c.mu.Lock()
		c.goodbye = m.Reason
		c.mu.Unlock()
		return errGoodbye
	case *wire.ClientHello:
		return fmt.Errorf("%w: a second client/hello", errProtocol) // sent once per connection
	case *wire.Unknown:
		// Ignored after activation (messaging.md "Communication").
	case *wire.ClientLeave:
		// Handled as becoming unavailable (messaging.md "client/leave").
		c.s.leaveGroup(c)
		return c.sync()
	case *wire.ClientCommand:
		// No controller role is served yet: nothing to do.
	case *wire.ClientPairPending, *wire.ClientPairInit, *wire.ClientPairAuth, *wire.ClientPairRetry,
		*wire.ClientPairConfirm, *wire.ClientPairFinalize, *wire.PairAbort:
		return c.onPairMessage(m, in.Epoch)
	default:
		// client-stream messages: no source stream was opened, so they are
		// out of sequence.
		return fmt.Errorf("%w: %s out of sequence", errProtocol, messageName(in))
	}
	return nil
}

// info is the operator's view of the connection; false before client/hello.
func (c *conn) info() (ClientInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hello == nil {
		return ClientInfo{}, false
	}
	v := c.view()
	// The credential-mismatch signal itself (connection.md "Sentinel
	// Fallback"), not "a record exists and this session is not on it":
	// that also holds for a connection pairing right now, whose record
	// was just saved.
	info := ClientInfo{ID: c.sc.Peer(), Name: c.hello.Name, Mismatch: c.sc.CredentialMismatch() && v.RecordExists,
		Activities: c.act.Activities, Roles: append([]wire.Role(nil), c.act.ActiveRoles...), Suite: c.sc.Suite()}
	switch {
	case session.Paired(v.Matched):
		info.Status = StatusPaired
	case v.Approval != session.ApprovalNone:
		info.Status = StatusApproved
	}
	if c.state != nil {
		info.Available = c.state.Available
	}
	info.UnpairedAccess = c.hello.UnpairedAccess
	for _, m := range []wire.PairMethod{wire.MethodPairingPSK, wire.MethodStaticCode, wire.MethodDynamicCode} {
		if c.hello.PairMethods.Offers(m) {
			info.PairMethods = append(info.PairMethods, m)
		}
	}
	return info, true
}

// helloName is the client's name from client/hello, or "" before it.
func (c *conn) helloName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hello == nil {
		return ""
	}
	return c.hello.Name
}

// bufferCapacity is the player's buffer_capacity.
func (c *conn) bufferCapacity() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hello == nil || c.hello.PlayerSupport == nil {
		return 0
	}
	return c.hello.PlayerSupport.BufferCapacity
}

// playerState is the player's latest client/state player object.
func (c *conn) playerState() *wire.PlayerState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		return nil
	}
	return c.state.Player
}

// outputDelay is the latest output_delay_ms.
func (c *conn) outputDelay() int {
	if ps := c.playerState(); ps != nil {
		return ps.OutputDelayMS
	}
	return 0
}

// lead is how far ahead the first chunk must be scheduled for this player:
// min_buffer_ms, extended toward required_lead_time_ms since our sources
// are buffered, plus output_delay_ms, which neither of them includes
// (roles/player/v1.md "Server Audio Send Constraints").
func (c *conn) lead() time.Duration {
	ps := c.playerState()
	if ps == nil {
		return minStartLead
	}
	ms := max(ps.MinBufferMS, ps.RequiredLeadTimeMS) + int64(ps.OutputDelayMS)
	return max(time.Duration(ms)*time.Millisecond, minStartLead)
}

// minLead is the least send-ahead of the player's first chunk:
// min_buffer_ms plus output_delay_ms (roles/player/v1.md "Server Audio Send
// Constraints").
func (c *conn) minLead() time.Duration {
	ps := c.playerState()
	if ps == nil {
		return minStartLead
	}
	return time.Duration(ps.MinBufferMS+int64(ps.OutputDelayMS)) * time.Millisecond
}

func hasPlayer(roles []wire.Role) bool {
	for _, r := range roles {
		if r.Family() == "player" {
			return true
		}
	}
	return false
}

// sync brings activation and streaming in line with what the server is
// doing and what the client reported (messaging.md "server/activate",
// "stream/start", "External Source Handling"):
//   - a stream ends before the activation that drops its role or playback,
//     and when the client becomes unavailable; the client then stays out
//     of this playback until the operator plays again;
//   - a stream starts only for an available client whose client/state
//     since the player role was (re)activated has arrived.
func (c *conn) sync() error {
	if c.pairing {
		// A new activation would cancel the pairing attempt: changes wait
		// for the activation that ends it, which syncs again. The group
		// is told of at once.
		return c.announceGroup()
	}
	st := c.s.streamerOf(c)
	c.mu.Lock()
	available := c.state != nil && c.state.Available
	c.mu.Unlock()
	if gu, ok := c.s.groupUpdateOf(c); ok && c.lastGroup != nil && gu.GroupID != c.lastGroup.GroupID {
		// Moved to another group: its group/update comes before the
		// stream/end of the old group's stream (messaging.md "Server
		// behavior when a client becomes unavailable").
		if err := c.announceGroup(); err != nil {
			return err
		}
	}
	msg, res, changed, err := c.plan(st)
	if err != nil {
		return err
	}
	playing := res.Next.Activities.Has(session.Playback) && hasPlayer(res.Next.ActiveRoles)
	if c.streaming != nil && (c.streaming != st || !available || !playing) {
		c.endStream(true) // before the activation that follows
	}
	if changed {
		// Every activation is reported to the pairing machine, so it
		// discards what a client sent before it saw it.
		acts, err := c.pairFlow.Activated(nil, time.Now())
		if err != nil {
			return err
		}
		if err := c.doPair(acts); err != nil {
			return err
		}
		if err := c.sc.WriteMessage(msg); err != nil {
			return err
		}
		c.mu.Lock()
		c.act = res.Next
		c.mu.Unlock()
		for _, r := range res.Changes.Added {
			if r.Family() == "player" {
				c.playerStateStale = true // wait for the client/state it requires
			}
		}
		if hasPlayer(res.Next.ActiveRoles) {
			// A newcomer waiting in a solo group joins the default group
			// now; that re-plans this connection once more.
			c.s.groupRoles(c)
		}
	}
	if err := c.announceGroup(); err != nil {
		return err
	}
	if st != nil && playing && available && !c.playerStateStale && c.streaming == nil {
		if err := st.join(c); err != nil {
			c.s.log.Info("not streaming to a client", "client", c.sc.Peer().String(), "err", err)
			return nil
		}
		c.streaming = st
	}
	return nil
}

// announceGroup sends group/update when the client's group, or its
// playback state, differs from what the client was last told, carrying
// every field (messaging.md "group/update"); never before the first
// server/activate.
func (c *conn) announceGroup() error {
	c.mu.Lock()
	activated := c.act.Activated
	c.mu.Unlock()
	gu, ok := c.s.groupUpdateOf(c)
	if !activated || !ok || (c.lastGroup != nil && *c.lastGroup == gu) {
		return nil
	}
	if err := c.sc.WriteMessage(&gu); err != nil {
		return err
	}
	c.lastGroup = &gu
	return nil
}

// endStream stops the player stream; with send, it tells the client.
func (c *conn) endStream(send bool) {
	if c.streaming == nil {
		return
	}
	left := c.streaming.leave(c)
	c.streaming = nil
	if send && left {
		_ = c.sc.WriteMessage(&wire.StreamEnd{Roles: []string{wire.StreamPlayer}})
	}
}
