package securechan

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// FrameKind is the kind of a complete WebSocket message.
type FrameKind uint8

// The two data message kinds Sendspin uses (messaging.md "Communication").
const (
	Text FrameKind = iota + 1
	Binary
)

// Transport carries complete WebSocket messages. Control frames (ping,
// pong, close) stay inside it. ReadFrame is called by one goroutine at a
// time and WriteFrame by one goroutine at a time; Conn guarantees both.
type Transport interface {
	// ReadFrame reads the next whole message, reusing buf when it is
	// large enough. A message over the read limit is an error.
	ReadFrame(buf []byte) (FrameKind, []byte, error)
	WriteFrame(kind FrameKind, data []byte) error
	// SetReadLimit bounds the size of the next messages read.
	SetReadLimit(n int)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// wsTransport adapts a gorilla WebSocket connection.
type wsTransport struct {
	c *websocket.Conn
}

// NewWebSocketTransport wraps an established WebSocket connection.
func NewWebSocketTransport(c *websocket.Conn) Transport {
	return &wsTransport{c: c}
}

func (t *wsTransport) ReadFrame(buf []byte) (FrameKind, []byte, error) {
	mt, r, err := t.c.NextReader()
	if err != nil {
		return 0, nil, err
	}
	kind := Binary
	if mt == websocket.TextMessage {
		kind = Text
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return kind, buf, nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

func (t *wsTransport) WriteFrame(kind FrameKind, data []byte) error {
	mt := websocket.BinaryMessage
	if kind == Text {
		mt = websocket.TextMessage
	}
	return t.c.WriteMessage(mt, data)
}

func (t *wsTransport) SetReadLimit(n int)                 { t.c.SetReadLimit(int64(n)) }
func (t *wsTransport) SetReadDeadline(d time.Time) error  { return t.c.SetReadDeadline(d) }
func (t *wsTransport) SetWriteDeadline(d time.Time) error { return t.c.SetWriteDeadline(d) }

// Close sends a normal close frame, best effort, and closes the socket.
func (t *wsTransport) Close() error {
	_ = t.c.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return t.c.Close()
}

// Upgrader returns the WebSocket upgrader for Sendspin endpoints: plain
// ws:// (connection.md), no compression (Noise ciphertext does not
// compress), any origin (Sendspin peers are not browsers; the channel
// authenticates them).
func Upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 16 << 10,
		CheckOrigin:     func(*http.Request) bool { return true },
	}
}

// Accept upgrades an HTTP request to a Sendspin WebSocket transport on a
// server's endpoint, which browser-based clients may use too.
func Accept(w http.ResponseWriter, r *http.Request) (Transport, error) {
	c, err := Upgrader().Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	return NewWebSocketTransport(c), nil
}

// AcceptFromServer upgrades a request on a player's endpoint (servers dial
// players in server-initiated mode). Browsers always send an Origin header
// with a WebSocket request and Sendspin servers do not, so requests with
// one are refused: a web page the user visits must not be able to act as a
// server towards the speaker on their network.
func AcceptFromServer(w http.ResponseWriter, r *http.Request) (Transport, error) {
	if r.Header.Get("Origin") != "" {
		http.Error(w, "browser requests are not accepted here", http.StatusForbidden)
		return nil, errors.New("securechan: refused a WebSocket request with an Origin header")
	}
	return Accept(w, r)
}

// Dial opens a Sendspin WebSocket transport to a ws:// URL.
func Dial(ctx context.Context, url string) (Transport, error) {
	d := websocket.Dialer{
		HandshakeTimeout: DefaultHandshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  16 << 10,
		NetDialContext:   (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
	}
	c, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return NewWebSocketTransport(c), nil
}

// Pipe returns two connected in-memory transports, for unit tests of the
// layers above. Frames are copied, limits and deadlines enforced.
func Pipe() (Transport, Transport) {
	ab, ba := make(chan frame, 64), make(chan frame, 64)
	done := make(chan struct{})
	var once sync.Once
	closeAll := func() { once.Do(func() { close(done) }) }
	a := &pipeEnd{in: ba, out: ab, done: done, closeAll: closeAll, limit: 1 << 30}
	b := &pipeEnd{in: ab, out: ba, done: done, closeAll: closeAll, limit: 1 << 30}
	return a, b
}

type frame struct {
	kind FrameKind
	data []byte
}

type pipeEnd struct {
	in, out  chan frame
	done     chan struct{}
	closeAll func()
	mu       sync.Mutex
	limit    int
	deadline time.Time
}

// ErrClosed is returned by a closed in-memory transport.
var ErrClosed = errors.New("securechan: transport closed")

// errTimeout is the in-memory transport's deadline error.
type errTimeout struct{}

func (errTimeout) Error() string   { return "securechan: i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

func (p *pipeEnd) ReadFrame(buf []byte) (FrameKind, []byte, error) {
	p.mu.Lock()
	dl, limit := p.deadline, p.limit
	p.mu.Unlock()
	var timer <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timer = t.C
	}
	deliver := func(f frame) (FrameKind, []byte, error) {
		if len(f.data) > limit {
			p.closeAll()
			return 0, nil, errors.New("securechan: read limit exceeded")
		}
		return f.kind, append(buf[:0], f.data...), nil
	}
	// Frames sent before a close are still delivered, as on a socket.
	select {
	case f := <-p.in:
		return deliver(f)
	default:
	}
	select {
	case f := <-p.in:
		return deliver(f)
	case <-p.done:
		select {
		case f := <-p.in:
			return deliver(f)
		default:
			return 0, nil, ErrClosed
		}
	case <-timer:
		return 0, nil, errTimeout{}
	}
}

func (p *pipeEnd) WriteFrame(kind FrameKind, data []byte) error {
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	select {
	case p.out <- frame{kind: kind, data: append([]byte(nil), data...)}:
		return nil
	case <-p.done:
		return ErrClosed
	}
}

func (p *pipeEnd) SetReadLimit(n int) { p.mu.Lock(); p.limit = n; p.mu.Unlock() }

func (p *pipeEnd) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	p.mu.Unlock()
	return nil
}

func (p *pipeEnd) SetWriteDeadline(time.Time) error { return nil }

func (p *pipeEnd) Close() error { p.closeAll(); return nil }
