package session

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// ConnID names one connection to the Arbiter; the driver assigns it.
type ConnID uint64

// ConnState is a connection's admission state on the client
// (connection.md "Multiple servers (server-initiated)").
type ConnState uint8

// Admission states.
const (
	// StateNone: not open, or closed by a decision of the arbiter.
	StateNone ConnState = iota
	// StateProvisional: the handshake completed and no admissible
	// server/activate has declared the connection's priority yet.
	StateProvisional
	// StateAdmitted: the admitted connection.
	StateAdmitted
	// StateAlongside: a pairing connection held alongside the admitted
	// playback connection.
	StateAlongside
)

var stateNames = [...]string{
	StateNone:        "none",
	StateProvisional: "provisional",
	StateAdmitted:    "admitted",
	StateAlongside:   "admitted-alongside",
}

func (s ConnState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "ConnState(" + strconv.Itoa(int(s)) + ")"
}

// CloseReason says why the arbiter closes a connection.
type CloseReason uint8

// Close reasons.
const (
	// CloseRejected: an incoming connection lost arbitration.
	CloseRejected CloseReason = iota + 1
	// CloseDisplaced: an admitted connection lost to a higher or equal
	// incoming one.
	CloseDisplaced
	// CloseProvisionalTimeout: no admissible server/activate within
	// ProvisionalTimeout; dropped without a message.
	CloseProvisionalTimeout
	// CloseProvisionalCap: too many provisional connections; rejected as
	// lower priority.
	CloseProvisionalCap
	// ClosePairedCap: too many open paired connections for the record
	// capacity (pairing.md "Pairing Records").
	ClosePairedCap
	// CloseConcurrentAttempt: a pairing attempt was about to start while
	// another is in progress.
	CloseConcurrentAttempt
)

var closeNames = [...]string{
	CloseRejected:           "rejected",
	CloseDisplaced:          "displaced",
	CloseProvisionalTimeout: "provisional timeout",
	CloseProvisionalCap:     "provisional cap",
	ClosePairedCap:          "paired-connection cap",
	CloseConcurrentAttempt:  "concurrent pairing attempt",
}

func (r CloseReason) String() string {
	if r > 0 && int(r) < len(closeNames) {
		return closeNames[r]
	}
	return "CloseReason(" + strconv.Itoa(int(r)) + ")"
}

// Close is a connection the driver must close, after sending Goodbye or
// Abort when one is set (never both; neither means close silently).
type Close struct {
	Conn    ConnID
	Reason  CloseReason
	Goodbye wire.GoodbyeReason
	Abort   wire.AbortReason
}

// Outcome is the result of an Arbiter event.
type Outcome struct {
	// State is the admission state of the event's connection afterwards;
	// StateNone when it is among Closes.
	State ConnState
	// Closes are the connections to close, in order.
	Closes []Close
	// PersistLastPlayback is set when the last-playback server changed: the
	// driver persists LastPlayback (connection.md: clients MUST persistently
	// store it).
	PersistLastPlayback bool
	LastPlayback        keys.PublicKey
}

// Admitted reports whether the event's connection is admitted, so the client
// may act on the activation it just admitted.
func (o Outcome) Admitted() bool { return o.State == StateAdmitted || o.State == StateAlongside }

// ArbiterError is a caller error: an event that does not fit the
// connection's state.
type ArbiterError uint8

// Arbiter errors.
const (
	// ErrUnknownConn: the connection is not open (or was closed).
	ErrUnknownConn ArbiterError = iota + 1
	// ErrDuplicateConn: Open with an ID already in use.
	ErrDuplicateConn
	// ErrNotPairing: AttemptStarted on a connection that is not admitted
	// with pairing among its activities.
	ErrNotPairing
	// ErrConfig: NewArbiter with limits outside the spec's bounds.
	ErrConfig
)

var arbErrNames = [...]string{
	ErrUnknownConn:   "unknown connection",
	ErrDuplicateConn: "connection already open",
	ErrNotPairing:    "no admitted pairing activity on the connection",
	ErrConfig:        "invalid arbiter configuration",
}

func (e ArbiterError) Error() string {
	if e > 0 && int(e) < len(arbErrNames) {
		return "session: " + arbErrNames[e]
	}
	return "session: ArbiterError(" + strconv.Itoa(int(e)) + ")"
}

// ArbiterConfig configures the client's admission policy.
type ArbiterConfig struct {
	// PairingAlongsidePlayback admits one incoming pairing connection
	// alongside the admitted playback connection (the spec's MAY). When
	// false such a connection is rejected with pair/abort
	// concurrent_attempt.
	PairingAlongsidePlayback bool
	// MaxProvisional caps the provisional connections held at once;
	// 0 means DefaultMaxProvisional.
	MaxProvisional int
	// RecordCapacity is how many pairing records the client stores; 0 means
	// DefaultRecordCapacity. At least MinRecordCapacity.
	RecordCapacity int
	// MaxPairedOpen caps concurrently open paired connections, provisional
	// or admitted; 0 means RecordCapacity-1. It must stay below
	// RecordCapacity so an evictable record always exists.
	MaxPairedOpen int
	// ProvisionalTimeout is how long a connection may stay provisional;
	// 0 means the spec's ProvisionalTimeout, which is also the most
	// allowed. Tests shorten it.
	ProvisionalTimeout time.Duration
}

type arbConn struct {
	id      ConnID
	server  keys.PublicKey
	paired  bool
	state   ConnState
	opened  time.Time
	seq     uint64
	set     ActivitySet
	attempt bool // a pairing attempt is in progress
}

// Arbiter is the client's multi-server admission state machine
// (connection.md "Multiple servers (server-initiated)"). It is not safe for
// concurrent use: one goroutine owns it and feeds it events.
//
// A driver calls Open when a connection's handshake completes, Activate
// with every server/activate that AdmitActivation found admissible,
// AttemptStarted before sending client/pair-init and AttemptEnded when the
// attempt ends, Rekeyed after a re-handshake, Closed when a connection goes
// away, and Tick at NextDeadline. Each returns the connections to close and
// whether to persist the last-playback server.
type Arbiter struct {
	cfg          ArbiterConfig
	conns        map[ConnID]*arbConn
	holder       *arbConn // the admitted connection
	alongside    *arbConn // a pairing connection held next to a playback holder
	lastPlayback keys.PublicKey
	seq          uint64
}

// NewArbiter returns an arbiter with no connections. lastPlayback is the
// persisted last-playback server_id, zero if none.
func NewArbiter(cfg ArbiterConfig, lastPlayback keys.PublicKey) (*Arbiter, error) {
	if cfg.MaxProvisional == 0 {
		cfg.MaxProvisional = DefaultMaxProvisional
	}
	if cfg.RecordCapacity == 0 {
		cfg.RecordCapacity = DefaultRecordCapacity
	}
	if cfg.MaxPairedOpen == 0 {
		cfg.MaxPairedOpen = cfg.RecordCapacity - 1
	}
	if cfg.ProvisionalTimeout == 0 {
		cfg.ProvisionalTimeout = ProvisionalTimeout
	}
	if cfg.MaxProvisional < 1 || cfg.RecordCapacity < MinRecordCapacity ||
		cfg.MaxPairedOpen < 1 || cfg.MaxPairedOpen >= cfg.RecordCapacity ||
		cfg.ProvisionalTimeout < 0 || cfg.ProvisionalTimeout > ProvisionalTimeout {
		return nil, ErrConfig
	}
	return &Arbiter{cfg: cfg, conns: map[ConnID]*arbConn{}, lastPlayback: lastPlayback}, nil
}

// State returns the admission state of connection id.
func (a *Arbiter) State(id ConnID) ConnState {
	if c := a.conns[id]; c != nil {
		return c.state
	}
	return StateNone
}

// LastPlayback returns the last-playback server_id, zero if none.
func (a *Arbiter) LastPlayback() keys.PublicKey { return a.lastPlayback }

// Backing returns the server_ids whose pairing records back an open paired
// connection, provisional or admitted: records the client must not evict
// (pairing.md "Pairing Records").
func (a *Arbiter) Backing() []keys.PublicKey {
	var out []keys.PublicKey
	for _, c := range a.sorted() {
		if c.paired && !slices.Contains(out, c.server) {
			out = append(out, c.server)
		}
	}
	return out
}

// Open registers a connection whose handshake with server completed, keyed
// with a long-term PSK when paired. It is provisional, or rejected at once
// when a cap is reached.
func (a *Arbiter) Open(id ConnID, server keys.PublicKey, paired bool, now time.Time) (Outcome, error) {
	if a.conns[id] != nil {
		return Outcome{}, ErrDuplicateConn
	}
	reject := func(r CloseReason) (Outcome, error) {
		// Before its first server/activate a client may send only
		// client/goodbye (messaging.md "Communication").
		return Outcome{Closes: []Close{{Conn: id, Reason: r, Goodbye: wire.GoodbyeConcurrentAttempt}}}, nil
	}
	if a.count(func(c *arbConn) bool { return c.state == StateProvisional }) >= a.cfg.MaxProvisional {
		return reject(CloseProvisionalCap)
	}
	if paired && a.count(func(c *arbConn) bool { return c.paired }) >= a.cfg.MaxPairedOpen {
		return reject(ClosePairedCap)
	}
	a.seq++
	a.conns[id] = &arbConn{id: id, server: server, paired: paired, state: StateProvisional, opened: now, seq: a.seq}
	return Outcome{State: StateProvisional}, nil
}

// Activate applies an admissible server/activate declaring set on
// connection id. A provisional connection's first one is arbitrated against
// the admitted connection; later ones are not, except that an alongside
// pairing connection dropping pairing is arbitrated again as if incoming.
// Any activation ends a pairing attempt in progress on the connection
// (pairing.md "Entering and leaving pairing").
func (a *Arbiter) Activate(id ConnID, set ActivitySet) (Outcome, error) {
	c := a.conns[id]
	if c == nil {
		return Outcome{}, ErrUnknownConn
	}
	prev := c.set
	c.set = set
	c.attempt = false
	var out Outcome
	switch {
	case c.state == StateProvisional:
		a.arbitrate(c, &out)
	case c.state == StateAlongside && prev.Has(Pairing) && !set.Has(Pairing):
		a.alongside = nil
		a.arbitrate(c, &out)
	}
	a.notePlayback(c, &out)
	out.State = a.State(id)
	return out, nil
}

// arbitrate admits or rejects incoming connection c against the holder.
func (a *Arbiter) arbitrate(c *arbConn, out *Outcome) {
	h := a.holder
	if h == nil {
		a.admit(c)
		return
	}
	in, cur := c.set.Rank(), h.set.Rank()
	switch {
	case h.attempt:
		// A pairing attempt is not displaced by an incoming playback or
		// pairing connection, and an empty one ranks lower anyway.
		a.reject(c, out)
	case in == RankEmpty && cur == RankEmpty:
		if !a.lastPlayback.IsZero() && c.server.Equal(a.lastPlayback) && !h.server.Equal(a.lastPlayback) {
			a.displace(h, out)
			a.admit(c)
		} else {
			a.reject(c, out)
		}
	case in == RankPairing && cur == RankPlayback:
		if a.cfg.PairingAlongsidePlayback && a.alongside == nil {
			c.state = StateAlongside
			a.alongside = c
		} else {
			a.reject(c, out)
		}
	case in >= cur:
		a.displace(h, out)
		a.admit(c)
	default:
		a.reject(c, out)
	}
}

func (a *Arbiter) admit(c *arbConn) {
	c.state = StateAdmitted
	a.holder = c
}

// farewell is what a connection of rank r is sent when it leaves: a pairing
// connection gets pair/abort concurrent_attempt, others the goodbye.
func farewell(c *arbConn, reason CloseReason, goodbye wire.GoodbyeReason) Close {
	cl := Close{Conn: c.id, Reason: reason}
	if c.set.Rank() == RankPairing {
		cl.Abort = wire.AbortConcurrentAttempt
	} else {
		cl.Goodbye = goodbye
	}
	return cl
}

// displace closes the holder for an incoming connection: goodbye
// another_server, or pair/abort concurrent_attempt for a pairing one.
func (a *Arbiter) displace(h *arbConn, out *Outcome) {
	out.Closes = append(out.Closes, farewell(h, CloseDisplaced, wire.GoodbyeAnotherServer))
	// The incoming connection takes the holder's place; an alongside
	// pairing connection stays alongside it.
	delete(a.conns, h.id)
	h.state = StateNone
	a.holder = nil
}

// reject closes an incoming connection: goodbye concurrent_attempt, or
// pair/abort concurrent_attempt for a pairing one.
func (a *Arbiter) reject(c *arbConn, out *Outcome) {
	out.Closes = append(out.Closes, farewell(c, CloseRejected, wire.GoodbyeConcurrentAttempt))
	a.remove(c)
}

// remove forgets c. A holder's alongside pairing connection becomes the
// admitted connection.
func (a *Arbiter) remove(c *arbConn) {
	delete(a.conns, c.id)
	c.state = StateNone
	switch c {
	case a.holder:
		a.holder = nil
		if al := a.alongside; al != nil {
			a.alongside = nil
			al.state = StateAdmitted
			a.holder = al
		}
	case a.alongside:
		a.alongside = nil
	}
}

// notePlayback records the last-playback server: the server that most
// recently held an admitted connection with playback among its activities.
func (a *Arbiter) notePlayback(c *arbConn, out *Outcome) {
	if c.state != StateAdmitted && c.state != StateAlongside || !c.set.Has(Playback) {
		return
	}
	if !a.lastPlayback.Equal(c.server) {
		a.lastPlayback = c.server
		out.PersistLastPlayback = true
		out.LastPlayback = c.server
	}
}

// AttemptStarted reports that the client is about to send client/pair-init on
// connection id. If another attempt is in progress the connection is closed
// with pair/abort concurrent_attempt instead (pairing.md "pair/abort").
func (a *Arbiter) AttemptStarted(id ConnID) (Outcome, error) {
	c := a.conns[id]
	if c == nil {
		return Outcome{}, ErrUnknownConn
	}
	if c.state != StateAdmitted && c.state != StateAlongside || !c.set.Has(Pairing) {
		return Outcome{}, ErrNotPairing
	}
	for _, o := range a.conns {
		if o != c && o.attempt {
			a.remove(c)
			return Outcome{Closes: []Close{{Conn: id, Reason: CloseConcurrentAttempt, Abort: wire.AbortConcurrentAttempt}}}, nil
		}
	}
	c.attempt = true
	return Outcome{State: c.state}, nil
}

// AttemptEnded reports that the pairing attempt on id ended: success
// (server/pair-finalize), pair/abort either way, or timeout.
func (a *Arbiter) AttemptEnded(id ConnID) error {
	c := a.conns[id]
	if c == nil {
		return ErrUnknownConn
	}
	c.attempt = false
	return nil
}

// Rekeyed reports a completed re-handshake on id, paired when the new PSK is
// a long-term one. Promotion to paired that would exceed MaxPairedOpen
// closes the newest other provisional paired connection as lower priority,
// or this one if there is none.
func (a *Arbiter) Rekeyed(id ConnID, paired bool) (Outcome, error) {
	c := a.conns[id]
	if c == nil {
		return Outcome{}, ErrUnknownConn
	}
	was := c.paired
	c.paired = paired
	var out Outcome
	if paired && !was && a.count(func(o *arbConn) bool { return o.paired }) > a.cfg.MaxPairedOpen {
		victim := c
		for _, o := range slices.Backward(a.sorted()) {
			if o != c && o.paired && o.state == StateProvisional {
				victim = o
				break
			}
		}
		out.Closes = append(out.Closes, farewell(victim, ClosePairedCap, wire.GoodbyeConcurrentAttempt))
		a.remove(victim)
	}
	out.State = a.State(id)
	return out, nil
}

// Closed forgets a connection that went away for any reason. It is a no-op
// for a connection the arbiter already closed.
func (a *Arbiter) Closed(id ConnID) {
	if c := a.conns[id]; c != nil {
		a.remove(c)
	}
}

// Tick drops provisional connections that have gone the provisional
// timeout (ArbiterConfig.ProvisionalTimeout) without an admissible
// server/activate. Each is closed without a message.
func (a *Arbiter) Tick(now time.Time) Outcome {
	var out Outcome
	for _, c := range a.sorted() {
		if c.state == StateProvisional && !now.Before(c.opened.Add(a.cfg.ProvisionalTimeout)) {
			out.Closes = append(out.Closes, Close{Conn: c.id, Reason: CloseProvisionalTimeout})
			a.remove(c)
		}
	}
	return out
}

// NextDeadline returns when Tick next has work, if any provisional
// connection is open.
func (a *Arbiter) NextDeadline() (time.Time, bool) {
	var next time.Time
	ok := false
	for _, c := range a.conns {
		if c.state != StateProvisional {
			continue
		}
		if d := c.opened.Add(a.cfg.ProvisionalTimeout); !ok || d.Before(next) {
			next, ok = d, true
		}
	}
	return next, ok
}

func (a *Arbiter) count(f func(*arbConn) bool) int {
	n := 0
	for _, c := range a.conns {
		if f(c) {
			n++
		}
	}
	return n
}

// sorted returns the connections in opening order.
func (a *Arbiter) sorted() []*arbConn {
	out := make([]*arbConn, 0, len(a.conns))
	for _, c := range a.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y *arbConn) int { return cmp.Compare(x.seq, y.seq) })
	return out
}
