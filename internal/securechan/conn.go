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
)

// DefaultSuite is the suite a client uses when none is configured:
// AES-GCM where the CPU has AES instructions, ChaCha20-Poly1305 elsewhere.
func DefaultSuite() keys.Suite {
	if (cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ) || cpu.ARM64.HasAES {
		return keys.SuiteAESGCM
	}
	return keys.SuiteChaChaPoly
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
	activated bool             // the initial server/activate was sent (server) or received (client)
	pending   *serverHandshake // server: re-handshake awaiting message 2
	pendingCh chan *Result     // server: where Read hands the result over
	err       error            // first fatal error
	closed    chan struct{}

	rxMu           sync.Mutex
	rx             *cipherState
	frameBuf       []byte
	rxBuf          []byte
	reasm          wire.Reassembler
	expectActivate bool // client: the next message must be server/activate

	txMu     sync.Mutex
	tx       *cipherState
	txPlain  []byte
	txCipher []byte
	frag     wire.Fragmenter
	gate     chan struct{} // non-nil while application writes wait for a re-handshake

	rhMu sync.Mutex // one re-handshake at a time
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
		closed: make(chan struct{})}
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
// (see Result).
func (c *Conn) CredentialMismatch() bool {
	c.stMu.Lock()
	defer c.stMu.Unlock()
	return c.res.CredentialMismatch
}

// H is the current handshake hash.
func (c *Conn) H() [32]byte { c.stMu.Lock(); defer c.stMu.Unlock(); return c.res.H }

// Err returns the error that ended the connection, or nil.
func (c *Conn) Err() error { c.stMu.Lock(); defer c.stMu.Unlock(); return c.err }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// fail ends the connection silently with err (the first error wins) and
// returns the error that ended it.
func (c *Conn) fail(err error) error {
	c.stMu.Lock()
	if c.err == nil {
		c.err = err
		close(c.closed)
		_ = c.t.Close()
	}
	err = c.err
	c.stMu.Unlock()
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
	JSON wire.Message // nil for binary messages
	ID   byte         // the binary message ID (wire.IDJSON for JSON)
	Data []byte       // the whole binary message, ID byte first
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
func (c *Conn) Read() (Inbound, error) {
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	for {
		if err := c.Err(); err != nil {
			return Inbound{}, err
		}
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
			continue
		}
		if msg[0] != wire.IDJSON {
			if c.expectActivate {
				return Inbound{}, c.fail(ErrProtocol)
			}
			return Inbound{ID: msg[0], Data: msg}, nil
		}
		m, err := wire.Decode(msg[1:], c.from)
		if err != nil {
			if c.expectActivate {
				return Inbound{}, c.fail(ErrProtocol)
			}
			return Inbound{ID: wire.IDJSON, Data: msg}, &ProtocolError{Err: err}
		}
		if nh, ok := m.(*wire.NoiseHandshake); ok {
			if err := c.onNoiseHandshake(nh.Data); err != nil {
				return Inbound{}, c.fail(err)
			}
			continue
		}
		if _, ok := m.(*wire.ServerActivate); ok && c.role == RoleClient {
			c.stMu.Lock()
			c.activated = true
			c.stMu.Unlock()
			if c.expectActivate {
				c.expectActivate = false
				c.openGate()
			}
		} else if c.expectActivate {
			return Inbound{}, c.fail(ErrProtocol)
		}
		return Inbound{JSON: m, ID: wire.IDJSON, Data: msg}, nil
	}
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

// Send builds a message into dst and sends it. build runs under the write
// lock immediately before encryption, so a timestamp it writes
// (server_transmitted, send_ahead) is taken as late as possible
// (messaging.md "Transmit timestamps"). It returns the message, ID byte
// first, which must not alias anything build does not own.
func (c *Conn) Send(build func(dst []byte) ([]byte, error)) error { return c.send(build, false) }

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
	msg, err := build(c.txPlain[:0])
	if err != nil {
		return err // nothing was sent: the session goes on
	}
	c.txPlain = msg
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
// goroutine (connection.md "Re-handshake").
func (c *Conn) onNoiseHandshake(data []byte) error {
	if c.role == RoleServer {
		return c.onRehandshakeMessage2(data)
	}
	return c.onRehandshakeMessage1(data)
}

// onRehandshakeMessage1 is the client side: read message 1 under the
// current keys, answer with message 2 under the old keys, then switch. From
// message 1 until the new server/activate, application writes wait.
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
	c.stMu.Lock()
	c.res.Matched, c.res.H, c.res.CredentialMismatch = res.Matched, res.H, false
	c.stMu.Unlock()
	c.rx = rx
	c.expectActivate = true
	c.txMu.Lock()
	if c.gate == nil {
		c.gate = make(chan struct{})
	}
	err = c.writeLocked(frame) // message 2 travels under the old keys
	c.tx = tx
	c.txMu.Unlock()
	return err
}

// onRehandshakeMessage2 is the server side: message 2 completes the
// pending re-handshake; later frames use the new keys.
func (c *Conn) onRehandshakeMessage2(msg2 []byte) error {
	c.stMu.Lock()
	hs, ch := c.pending, c.pendingCh
	c.pending, c.pendingCh = nil, nil
	c.stMu.Unlock()
	if hs == nil {
		return ErrProtocol // clients never start a handshake
	}
	res, err := hs.onMessage2(msg2)
	if err != nil {
		return err
	}
	rx, err := newCipherState(res.Suite, res.rx)
	if err != nil {
		return err
	}
	c.rx = rx
	ch <- res
	return nil
}

// Rehandshake re-keys the channel to a new PSK and then sends activate as
// the first message under the new keys (connection.md "Re-handshake").
// Servers only, after the initial server/activate, and only while another
// goroutine is reading: message 2 arrives through Read. Application writes
// wait from message 1 until activate is sent. Any failure ends the
// connection silently.
func (c *Conn) Rehandshake(ctx context.Context, to PSKChoice, activate *wire.ServerActivate) error {
	if c.role != RoleServer {
		return errors.New("securechan: only a server re-handshakes")
	}
	if activate == nil {
		return errors.New("securechan: re-handshake needs the server/activate to send")
	}
	c.rhMu.Lock()
	defer c.rhMu.Unlock()
	c.stMu.Lock()
	prev, activated := c.res, c.activated
	c.stMu.Unlock()
	if !activated {
		return errors.New("securechan: re-handshake before the initial server/activate")
	}
	// The activation is checked before anything is sent.
	activation, err := wire.AppendBinaryJSON(nil, activate)
	if err != nil {
		return err
	}
	hs := &serverHandshake{id: c.id, rnd: c.rnd}
	hs.res = Result{Suite: prev.Suite, Peer: prev.Peer, Matched: to}
	msg1, err := hs.start(prev.H[:])
	if err != nil {
		return err
	}
	frame, err := wire.AppendBinaryJSON(nil, &wire.NoiseHandshake{Data: msg1})
	if err != nil {
		return err
	}
	ch := make(chan *Result, 1)
	c.stMu.Lock()
	c.pending, c.pendingCh = hs, ch
	c.stMu.Unlock()

	c.txMu.Lock()
	for c.gate != nil {
		g := c.gate
		c.txMu.Unlock()
		select {
		case <-g:
		case <-c.closed:
			return c.Err()
		}
		c.txMu.Lock()
	}
	c.gate = make(chan struct{})
	err = c.writeLocked(frame) // message 1 travels under the old keys
	c.txMu.Unlock()
	if err != nil {
		return c.fail(err)
	}

	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	var res *Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return c.fail(ctx.Err())
	case <-timer.C:
		return c.fail(ErrSilent)
	case <-c.closed:
		return c.Err()
	}
	tx, err := newCipherState(res.Suite, res.tx)
	if err != nil {
		return c.fail(err)
	}
	c.stMu.Lock()
	c.res.Matched, c.res.H, c.res.CredentialMismatch = res.Matched, res.H, false
	c.stMu.Unlock()

	c.txMu.Lock()
	defer c.txMu.Unlock()
	c.tx = tx
	if err := c.writeLocked(activation); err != nil {
		return err
	}
	close(c.gate)
	c.gate = nil
	return nil
}
