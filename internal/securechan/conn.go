package securechan

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Role is the side of a connection. The server is always the Noise
// initiator, whichever side dialed.
type Role uint8

// The two roles.
const (
	RoleServer Role = iota + 1
	RoleClient
)

// Channel errors. Those that end the session are sticky.
var (
	// ErrCleartext is a text frame received after the switch to transport
	// mode: a silent failure (connection.md "Failure Handling").
	ErrCleartext = errors.New("securechan: cleartext frame in transport mode")
	// ErrDecrypt is an AEAD failure in transport mode: a silent failure.
	ErrDecrypt = errors.New("securechan: transport message failed authentication")
	// ErrProtocol is a sequence the channel itself forbids (an unexpected
	// noise/handshake, a first message under new keys other than
	// server/activate).
	ErrProtocol = errors.New("securechan: protocol error")
	// ErrConnClosed is returned after Close.
	ErrConnClosed = errors.New("securechan: connection closed")
	// ErrBusy is a re-handshake requested while one is in progress.
	ErrBusy = errors.New("securechan: a re-handshake is already in progress")
	// ErrNotSendable is a binary message the channel refuses to send: empty,
	// or carrying the fragment ID, which only the channel itself may use.
	ErrNotSendable = errors.New("securechan: message has no ID or uses the fragment ID")
)

// Ours: what a server holds back while a re-handshake is pending.
const (
	maxHeldMessages = 1024
	maxHeldBytes    = 1 << 20
)

// DefaultSuite is the suite a client uses when none is configured:
// AES-GCM where the CPU has AES instructions, ChaCha20-Poly1305 elsewhere.
func DefaultSuite() keys.Suite {
	if (cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ) || cpu.ARM64.HasAES {
		return keys.SuiteAESGCM
	}
	return keys.SuiteChaChaPoly
}

// pendingRehandshake is a server re-handshake waiting for message 2.
type pendingRehandshake struct {
	hs         *serverHandshake
	activation []byte // the server/activate to send first under the new keys
	done       chan error
	timer      *time.Timer
}

// Conn is an established secure channel. Read is for one goroutine (the
// session's reader); the write methods are safe for concurrent use.
type Conn struct {
	t       Transport
	role    Role
	from    wire.Sender // the side whose messages Read decodes
	id      *keys.Identity
	rnd     io.Reader
	timeout time.Duration
	lookup  *clientHandshake // client: the PSK candidates for re-handshakes

	stMu      sync.Mutex
	res       Result
	epoch     uint32              // completed key switches
	activated bool                // the initial server/activate was sent (server) or received (client)
	pending   *pendingRehandshake // server: re-handshake awaiting message 2
	err       error               // first fatal error
	closed    chan struct{}

	rxMu           sync.Mutex
	rx             *cipherState
	frameBuf       []byte
	rxBuf          []byte
	reasm          wire.Reassembler
	held           []Inbound // server: old-key messages held during a re-handshake
	heldBytes      int
	heldOut        []Inbound // held messages being returned after it
	expectActivate bool      // client: the next message must be server/activate
	activateTimer  *time.Timer

	txMu     sync.Mutex
	tx       *cipherState
	txPlain  []byte
	txCipher []byte
	frag     wire.Fragmenter
	gate     chan struct{} // non-nil while application writes wait for a re-handshake
}

func newConn(t Transport, role Role, res *Result, id *keys.Identity, rnd io.Reader, timeout time.Duration) (*Conn, error) {
	tx, err := newCipherState(res.Suite, res.tx)
	if err != nil {
		return nil, err
	}
	rx, err := newCipherState(res.Suite, res.rx)
	if err != nil {
		return nil, err
	}
	res.tx, res.rx = nil, nil
	c := &Conn{t: t, role: role, id: id, rnd: rnd, timeout: timeout, res: *res, tx: tx, rx: rx,
		closed: make(chan struct{}), txPlain: make([]byte, 0, 8<<10)}
	c.from = wire.FromClient
	if role == RoleClient {
		c.from = wire.FromServer
	}
	t.SetReadLimit(maxTransportMessage)
	_ = t.SetReadDeadline(time.Time{})
	return c, nil
}

// Role reports the connection's side.
func (c *Conn) Role() Role { return c.role }

// Peer is the other side's static key (client_id or server_id).
func (c *Conn) Peer() keys.PublicKey { c.stMu.Lock(); defer c.stMu.Unlock(); return c.res.Peer }

// Suite is the connection's cipher suite.
func (c *Conn) Suite() keys.Suite { return c.res.Suite }

// Matched is the PSK the current session keys were derived with, and its
// category. It changes with a re-handshake.
func (c *Conn) Matched() PSKChoice { c.stMu.Lock(); defer c.stMu.Unlock(); return c.res.Matched }

// CredentialMismatch reports the Sentinel fallback of the initial handshake
// (see Result). It stays set across re-handshakes that keep the session on
// the Sentinel, and clears when one re-keys it to a pairing or long-term PSK.
func (c *Conn) CredentialMismatch() bool {
	c.stMu.Lock()
	defer c.stMu.Unlock()
	return c.res.CredentialMismatch
}

// H is the current handshake hash.
func (c *Conn) H() [32]byte { c.stMu.Lock(); defer c.stMu.Unlock(); return c.res.H }

// Epoch counts the key switches completed on this connection: 0 after the
// initial handshake, one more after each re-handshake. Inbound messages
// carry the epoch they arrived under.
func (c *Conn) Epoch() uint32 { c.stMu.Lock(); defer c.stMu.Unlock(); return c.epoch }

// Err returns the error that ended the connection, or nil.
func (c *Conn) Err() error { c.stMu.Lock(); defer c.stMu.Unlock(); return c.err }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// fail ends the connection silently with err (the first error wins) and
// returns the error that ended it. The transport is closed outside the
// state lock: a WebSocket close can wait on a stuck writer.
func (c *Conn) fail(err error) error {
	c.stMu.Lock()
	first := c.err == nil
	var p *pendingRehandshake
	if first {
		c.err = err
		close(c.closed)
		p = c.pending
	}
	err = c.err
	c.stMu.Unlock()
	if p != nil {
		c.finish(p, err)
	}
	if first {
		_ = c.t.Close()
	}
	return err
}

// Close ends the connection without a message.
func (c *Conn) Close() error {
	c.fail(ErrConnClosed)
	return nil
}

// Goodbye sends client/goodbye with reason and closes the connection
// (messaging.md "client/goodbye"). Clients only.
func (c *Conn) Goodbye(reason wire.GoodbyeReason) error {
	if c.role != RoleClient {
		return errors.New("securechan: only a client says goodbye")
	}
	err := c.sendJSON(&wire.ClientGoodbye{Reason: reason}, true)
	c.Close()
	return err
}

// Inbound is one received message: a JSON message, or a binary message
// whose bytes (ID first) stay valid until the next Read.
type Inbound struct {
	JSON  wire.Message // nil for binary messages
	ID    byte         // the binary message ID (wire.IDJSON for JSON)
	Data  []byte       // the whole binary message, ID byte first
	Epoch uint32       // the key epoch it arrived under (see Conn.Epoch)
	// Matched and H describe the handshake of that epoch: a caller on
	// another goroutine than the reader must use these, not Conn.Matched
	// and Conn.H, which may already describe a later re-handshake.
	Matched wire.PSKCategory
	H       [32]byte
}

// ProtocolError is a received JSON message that breaks a spec rule. The
// connection stays open: the caller decides (normally to close).
type ProtocolError struct {
	Err error
}

func (e *ProtocolError) Error() string { return "securechan: invalid message: " + e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }

// Read returns the next message. Transport, decryption and fragmentation
// failures end the connection silently; re-handshake messages are handled
// here and never returned.
//
// While a server re-handshake is pending, the client's old-key messages are
// held back and returned once the new server/activate has gone out, so a
// caller that answers inline never blocks on the paused writers; beyond a
// bound they are discarded, as connection.md "Re-handshake" allows.
func (c *Conn) Read() (Inbound, error) {
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	for {
		if err := c.Err(); err != nil {
			return Inbound{}, err
		}
		if len(c.heldOut) > 0 && !c.rehandshakePending() {
			in := c.heldOut[0]
			c.heldOut = c.heldOut[1:]
			return in, nil
		}
		in, err := c.readOne()
		if err != nil || in.Data == nil {
			if err != nil {
				return Inbound{}, err
			}
			continue
		}
		if c.rehandshakePending() {
			c.hold(in)
			continue
		}
		return in, nil
	}
}

func (c *Conn) rehandshakePending() bool {
	c.stMu.Lock()
	defer c.stMu.Unlock()
	return c.pending != nil
}

// hold keeps a copy of an old-key message for after the re-handshake.
func (c *Conn) hold(in Inbound) {
	if len(c.held) >= maxHeldMessages || c.heldBytes+len(in.Data) > maxHeldBytes {
		return // discarded: the spec lets the server ignore them
	}
	in.Data = append([]byte(nil), in.Data...)
	c.held = append(c.held, in)
	c.heldBytes += len(in.Data)
}

// readOne reads and processes one frame. It returns an Inbound with nil
// Data when the frame produced nothing for the caller (a fragment, a
// handshake message).
func (c *Conn) readOne() (Inbound, error) {
	kind, f, err := c.t.ReadFrame(c.frameBuf)
	if err != nil {
		return Inbound{}, c.fail(err)
	}
	c.frameBuf = f
	if kind != Binary {
		return Inbound{}, c.fail(ErrCleartext)
	}
	pt, err := c.rx.open(c.rxBuf[:0], f)
	if err != nil {
		return Inbound{}, c.fail(ErrDecrypt)
	}
	c.rxBuf = pt
	msg, err := c.reasm.Feed(pt)
	if err != nil {
		return Inbound{}, c.fail(err)
	}
	if msg == nil {
		return Inbound{}, nil
	}
	c.stMu.Lock()
	base := Inbound{Epoch: c.epoch, Matched: c.res.Matched.Category, H: c.res.H}
	c.stMu.Unlock()
	if msg[0] != wire.IDJSON {
		if c.expectActivate {
			return Inbound{}, c.fail(ErrProtocol)
		}
		base.ID, base.Data = msg[0], msg
		return base, nil
	}
	base.ID, base.Data = wire.IDJSON, msg
	m, err := wire.Decode(msg[1:], c.from)
	if err != nil {
		if c.expectActivate {
			return Inbound{}, c.fail(ErrProtocol)
		}
		return base, &ProtocolError{Err: err}
	}
	if nh, ok := m.(*wire.NoiseHandshake); ok {
		if err := c.onNoiseHandshake(nh.Data); err != nil {
			return Inbound{}, c.fail(err)
		}
		return Inbound{}, nil
	}
	if _, ok := m.(*wire.ServerActivate); ok && c.role == RoleClient {
		c.stMu.Lock()
		c.activated = true
		c.stMu.Unlock()
		if c.expectActivate {
			c.expectActivate = false
			c.activateTimer.Stop()
			c.openGate()
		}
	} else if c.expectActivate {
		return Inbound{}, c.fail(ErrProtocol)
	}
	base.JSON = m
	return base, nil
}

// WriteMessage sends a JSON message.
func (c *Conn) WriteMessage(m wire.Message) error { return c.sendJSON(m, false) }

func (c *Conn) sendJSON(m wire.Message, bypassGate bool) error {
	err := c.send(func(dst []byte) ([]byte, error) { return wire.AppendBinaryJSON(dst, m) }, bypassGate)
	if _, ok := m.(*wire.ServerActivate); ok && err == nil && c.role == RoleServer {
		// After the initial activation the server may re-handshake.
		c.stMu.Lock()
		c.activated = true
		c.stMu.Unlock()
	}
	return err
}

// WriteBinary sends a binary message (ID byte first), fragmenting it if it
// does not fit one Noise transport message.
func (c *Conn) WriteBinary(msg []byte) error {
	return c.send(func(dst []byte) ([]byte, error) { return append(dst, msg...), nil }, false)
}

// Send builds a message and sends it. build must append the message, ID
// byte first, to dst and return the result (as the wire Append functions
// do); it runs under the write lock immediately before encryption, so a
// timestamp it writes (server_transmitted, send_ahead) is taken as late as
// possible (messaging.md "Transmit timestamps").
func (c *Conn) Send(build func(dst []byte) ([]byte, error)) error { return c.send(build, false) }

// sameArray reports whether b extends a's backing array (append in place).
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}

func (c *Conn) send(build func([]byte) ([]byte, error), bypassGate bool) error {
	c.txMu.Lock()
	for !bypassGate && c.gate != nil {
		g := c.gate
		c.txMu.Unlock()
		select {
		case <-g:
		case <-c.closed:
			return c.Err()
		}
		c.txMu.Lock()
	}
	defer c.txMu.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	dst := c.txPlain[:0]
	msg, err := build(dst)
	if err != nil {
		return err // nothing was sent: the session goes on
	}
	if len(msg) == 0 || msg[0] == wire.IDFragment {
		return ErrNotSendable
	}
	switch {
	case sameArray(msg, dst):
		c.txPlain = msg[:0]
	case len(msg) > cap(dst) && len(msg) <= wire.MaxPlaintext:
		// Grown by append: keep a buffer of the new size for next time
		// (fragmented messages do not set the size we keep).
		c.txPlain = make([]byte, 0, len(msg))
	}
	return c.writeLocked(msg)
}

// writeLocked seals and sends one message; txMu is held.
func (c *Conn) writeLocked(msg []byte) error {
	_ = c.t.SetWriteDeadline(time.Now().Add(c.timeout))
	err := c.frag.Split(msg, func(p []byte) error {
		ct, err := c.tx.seal(c.txCipher[:0], p)
		if err != nil {
			return err
		}
		c.txCipher = ct
		return c.t.WriteFrame(Binary, ct)
	})
	if err != nil {
		var fe *wire.FragmentError
		if errors.As(err, &fe) {
			return err // a message we refused to send; the session goes on
		}
		return c.fail(err)
	}
	return nil
}

func (c *Conn) openGate() {
	c.txMu.Lock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
	c.txMu.Unlock()
}

// onNoiseHandshake handles an in-band handshake message on the reader
// (connection.md "Re-handshake").
func (c *Conn) onNoiseHandshake(data []byte) error {
	if c.role == RoleServer {
		return c.onRehandshakeMessage2(data)
	}
	return c.onRehandshakeMessage1(data)
}

// keyed records a completed key switch.
func (c *Conn) keyed(res *Result) {
	c.stMu.Lock()
	defer c.stMu.Unlock()
	// A rotation that stays on the Sentinel keeps the mismatch signal: the
	// server's record still exists (connection.md "Sentinel Fallback").
	mismatch := c.res.CredentialMismatch && res.Matched.Category == wire.PSKSentinel
	c.res.Matched, c.res.H, c.res.CredentialMismatch = res.Matched, res.H, mismatch
	c.epoch++
}

// onRehandshakeMessage1 is the client side: read message 1 under the
// current keys, answer with message 2 under the old keys, then switch. From
// message 1 until the new server/activate, application writes wait; the
// activation must come within the handshake timeout.
func (c *Conn) onRehandshakeMessage1(msg1 []byte) error {
	c.stMu.Lock()
	activated, prev := c.activated, c.res
	c.stMu.Unlock()
	if !activated || c.expectActivate {
		return ErrProtocol
	}
	hs := &clientHandshake{id: c.id, suite: prev.Suite, pairingPSK: c.lookup.pairingPSK, longTerm: c.lookup.longTerm,
		rnd: c.rnd, prologue: prev.H[:]}
	hs.res.Suite, hs.res.Peer = prev.Suite, prev.Peer
	msg2, res, err := hs.onMessage1(msg1)
	if err != nil {
		return err
	}
	tx, err := newCipherState(res.Suite, res.tx)
	if err != nil {
		return err
	}
	rx, err := newCipherState(res.Suite, res.rx)
	if err != nil {
		return err
	}
	frame, err := wire.AppendBinaryJSON(nil, &wire.NoiseHandshake{Data: msg2})
	if err != nil {
		return err
	}
	c.keyed(res)
	c.rx = rx
	c.expectActivate = true
	c.activateTimer = time.AfterFunc(c.timeout, func() { c.fail(ErrSilent) })
	c.txMu.Lock()
	if c.gate == nil {
		c.gate = make(chan struct{})
	}
	err = c.writeLocked(frame) // message 2 travels under the old keys
	c.tx = tx
	c.txMu.Unlock()
	return err
}

// onRehandshakeMessage2 is the server side, on the reader: message 2
// completes the pending re-handshake. Later frames use the new receive
// keys; the activation goes out first under the new send keys, and only
// then do the paused writers and the held messages resume.
func (c *Conn) onRehandshakeMessage2(msg2 []byte) error {
	c.stMu.Lock()
	p := c.pending
	c.stMu.Unlock()
	if p == nil {
		return ErrProtocol // clients never start a handshake
	}
	res, err := p.hs.onMessage2(msg2)
	if err != nil {
		return err
	}
	rx, err := newCipherState(res.Suite, res.rx)
	if err != nil {
		return err
	}
	tx, err := newCipherState(res.Suite, res.tx)
	if err != nil {
		return err
	}
	c.rx = rx
	c.keyed(res)
	c.txMu.Lock()
	c.tx = tx
	err = c.writeLocked(p.activation)
	if err == nil {
		close(c.gate)
		c.gate = nil
	}
	c.txMu.Unlock()
	if err != nil {
		return err
	}
	c.heldOut = append(c.heldOut, c.held...)
	c.held, c.heldBytes = nil, 0
	c.finish(p, nil)
	return nil
}

// finish reports a pending re-handshake's outcome once, whoever gets there
// first (the reader, the timeout, a failure).
func (c *Conn) finish(p *pendingRehandshake, err error) {
	c.stMu.Lock()
	defer c.stMu.Unlock()
	if c.pending != p {
		return
	}
	c.pending = nil
	p.timer.Stop()
	p.done <- err
}

// StartRehandshake begins re-keying the channel to a new PSK
// (connection.md "Re-handshake"): it sends message 1 under the current keys
// and pauses application writes. The reader completes it when message 2
// arrives: it switches keys, sends activate as the first message under the
// new keys, and resumes the writers. The returned channel reports the
// outcome once. Servers only, after the initial server/activate; safe to
// call from any goroutine, the reader's included. Any failure, or no
// message 2 within the handshake timeout, ends the connection silently.
func (c *Conn) StartRehandshake(to PSKChoice, activate *wire.ServerActivate) (<-chan error, error) {
	if c.role != RoleServer {
		return nil, errors.New("securechan: only a server re-handshakes")
	}
	if activate == nil {
		return nil, errors.New("securechan: re-handshake needs the server/activate to send")
	}
	if to.Category != wire.PSKSentinel && to.PSK == (keys.PSK{}) {
		return nil, errors.New("securechan: re-handshake to an unset PSK")
	}
	// Everything is checked before anything is sent.
	activation, err := wire.AppendBinaryJSON(nil, activate)
	if err != nil {
		return nil, err
	}
	c.stMu.Lock()
	prev, activated, busy := c.res, c.activated, c.pending != nil
	c.stMu.Unlock()
	switch {
	case !activated:
		return nil, errors.New("securechan: re-handshake before the initial server/activate")
	case busy:
		return nil, ErrBusy
	}
	hs := &serverHandshake{id: c.id, rnd: c.rnd}
	hs.res = Result{Suite: prev.Suite, Peer: prev.Peer, Matched: to}
	msg1, err := hs.start(prev.H[:])
	if err != nil {
		return nil, err
	}
	frame, err := wire.AppendBinaryJSON(nil, &wire.NoiseHandshake{Data: msg1})
	if err != nil {
		return nil, err
	}
	p := &pendingRehandshake{hs: hs, activation: activation, done: make(chan error, 1)}

	c.txMu.Lock()
	for c.gate != nil { // a client's activation wait cannot hold a server's gate; only our own
		g := c.gate
		c.txMu.Unlock()
		select {
		case <-g:
		case <-c.closed:
			return nil, c.Err()
		}
		c.txMu.Lock()
	}
	c.stMu.Lock()
	if c.pending != nil || c.err != nil {
		err := c.err
		c.stMu.Unlock()
		c.txMu.Unlock()
		if err == nil {
			err = ErrBusy
		}
		return nil, err
	}
	// Pending before message 1 leaves: message 2 may come back at once.
	c.pending = p
	p.timer = time.AfterFunc(c.timeout, func() { c.fail(ErrSilent) })
	c.stMu.Unlock()
	c.gate = make(chan struct{})
	err = c.writeLocked(frame) // message 1 travels under the old keys
	c.txMu.Unlock()
	if err != nil {
		return nil, c.fail(err)
	}
	return p.done, nil
}

// Rehandshake runs StartRehandshake and waits for the outcome. It must not
// be called from the goroutine that calls Read: that goroutine must keep
// reading for message 2 to arrive. A context that ends first stops the
// wait, not the re-handshake.
func (c *Conn) Rehandshake(ctx context.Context, to PSKChoice, activate *wire.ServerActivate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done, err := c.StartRehandshake(to, activate)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
