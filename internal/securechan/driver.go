package securechan

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// ServerConfig configures the server side of the handshake.
type ServerConfig struct {
	Identity *keys.Identity
	// ChoosePSK picks the PSK to reference in message 1 for a client: its
	// long-term PSK when a pairing record exists, the pairing PSK from an
	// operator-entered token, else the Sentinel. nil always picks the
	// Sentinel.
	ChoosePSK func(client keys.PublicKey) PSKChoice
	// Rand is the source of ephemeral keys; nil is crypto/rand.
	Rand io.Reader
	// Timeout bounds the wait for each expected handshake message;
	// 0 is DefaultHandshakeTimeout.
	Timeout time.Duration
}

// ClientConfig configures the client side of the handshake.
type ClientConfig struct {
	Identity *keys.Identity
	// Suite is the cipher suite to announce; "" is DefaultSuite().
	Suite keys.Suite
	// PairingPSK is always a candidate (pairing.md "Pairing PSK Flow",
	// standing obligation 1).
	PairingPSK keys.PSK
	// LongTerm looks up a long-term PSK by psk_id, with the server_id of
	// its pairing record; nil means the client holds no records.
	LongTerm func(keys.PSKID) (psk keys.PSK, server keys.PublicKey, ok bool)
	Rand     io.Reader
	Timeout  time.Duration
}

func timeoutOr(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultHandshakeTimeout
	}
	return d
}

// phase runs one step of a handshake under the per-message deadline and
// the context: the transport is closed if ctx ends first.
type phase struct {
	t       Transport
	timeout time.Duration
	buf     []byte
}

func (p *phase) read(ctx context.Context) (FrameKind, []byte, error) {
	dl := time.Now().Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = p.t.SetReadDeadline(dl)
	kind, f, err := p.t.ReadFrame(p.buf)
	if err != nil {
		return 0, nil, err
	}
	p.buf = f
	return kind, f, nil
}

func (p *phase) write(data []byte) error {
	_ = p.t.SetWriteDeadline(time.Now().Add(p.timeout))
	return p.t.WriteFrame(Text, data)
}

// ServerHandshake runs the server side of messaging.md "Communication"
// steps 1-5 on a fresh transport, whichever side dialed. Init failures are
// answered with server/error; every other failure closes silently. The
// transport is closed on any error.
func ServerHandshake(ctx context.Context, t Transport, cfg ServerConfig) (*Conn, error) {
	if cfg.Identity == nil {
		return nil, errors.New("securechan: server identity missing")
	}
	choose := cfg.ChoosePSK
	if choose == nil {
		choose = func(keys.PublicKey) PSKChoice { return SentinelChoice }
	}
	stop := context.AfterFunc(ctx, func() { _ = t.Close() })
	p := &phase{t: t, timeout: timeoutOr(cfg.Timeout)}
	t.SetReadLimit(maxHandshakeFrame)
	hs := &serverHandshake{id: cfg.Identity, choose: choose, rnd: cfg.Rand}
	c, err := serverSteps(ctx, t, p, hs, cfg)
	return finishHandshake(ctx, t, stop, c, err)
}

func serverSteps(ctx context.Context, t Transport, p *phase, hs *serverHandshake, cfg ServerConfig) (*Conn, error) {

	// 1. client/init (text).
	kind, raw, err := p.read(ctx)
	if err != nil {
		return nil, closeWith(t, ErrSilent)
	}
	if kind != Text {
		raw = nil // not JSON of the defined shape: malformed
	}
	// 2-3. server/init and Noise message 1, or server/error.
	serverInit, msg1, err := hs.onClientInit(raw)
	if err != nil {
		if serverInit != nil {
			_ = p.write(serverInit) // the server/error
		}
		return nil, closeWith(t, err)
	}
	if err := p.write(serverInit); err != nil {
		return nil, closeWith(t, err)
	}
	if err := p.write(msg1); err != nil {
		return nil, closeWith(t, err)
	}
	// 4. Noise message 2 (text).
	kind, raw, err = p.read(ctx)
	if err != nil || kind != Text {
		return nil, closeWith(t, ErrSilent)
	}
	data, err := noiseData(raw, wire.FromClient)
	if err != nil {
		return nil, closeWith(t, err)
	}
	res, err := hs.onMessage2(data)
	if err != nil {
		return nil, closeWith(t, err)
	}
	// 5. Transport mode.
	c, err := newConn(t, RoleServer, res, cfg.Identity, cfg.Rand, p.timeout)
	if err != nil {
		return nil, closeWith(t, err)
	}
	return c, nil
}

// finishHandshake settles a handshake against its context: a cancellation
// is reported as the context's error, and one that lands just as the
// handshake succeeds closes the new connection instead of leaving it to a
// transport closed behind its back.
func finishHandshake(ctx context.Context, t Transport, stop func() bool, c *Conn, err error) (*Conn, error) {
	stopped := stop()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if !stopped {
		c.Close()
		return nil, ctx.Err()
	}
	return c, nil
}

// ClientHandshake runs the client side of the handshake on a fresh
// transport, whichever side dialed. A server/error is returned as
// *ServerRejected; every failure closes the transport.
func ClientHandshake(ctx context.Context, t Transport, cfg ClientConfig) (*Conn, error) {
	if cfg.Identity == nil {
		return nil, errors.New("securechan: client identity missing")
	}
	suite := cfg.Suite
	if suite == "" {
		suite = DefaultSuite()
	}
	if cfg.PairingPSK == (keys.PSK{}) {
		// An unset pairing PSK would be a public one: anyone could match it.
		return nil, closeWith(t, errors.New("securechan: client pairing PSK missing"))
	}
	stop := context.AfterFunc(ctx, func() { _ = t.Close() })
	p := &phase{t: t, timeout: timeoutOr(cfg.Timeout)}
	t.SetReadLimit(maxHandshakeFrame)
	hs := &clientHandshake{id: cfg.Identity, suite: suite, pairingPSK: cfg.PairingPSK, longTerm: cfg.LongTerm, rnd: cfg.Rand}
	c, err := clientSteps(ctx, t, p, hs, cfg)
	return finishHandshake(ctx, t, stop, c, err)
}

func clientSteps(ctx context.Context, t Transport, p *phase, hs *clientHandshake, cfg ClientConfig) (*Conn, error) {

	// 1. client/init.
	ci, err := hs.start()
	if err != nil {
		return nil, closeWith(t, err)
	}
	if err := p.write(ci); err != nil {
		return nil, closeWith(t, err)
	}
	// 2. server/init, or server/error.
	kind, raw, err := p.read(ctx)
	if err != nil || kind != Text {
		return nil, closeWith(t, ErrSilent)
	}
	if err := hs.onServerInit(raw); err != nil {
		return nil, closeWith(t, err)
	}
	// 3-4. Noise message 1 in, message 2 out.
	kind, raw, err = p.read(ctx)
	if err != nil || kind != Text {
		return nil, closeWith(t, ErrSilent)
	}
	data, err := noiseData(raw, wire.FromServer)
	if err != nil {
		return nil, closeWith(t, err)
	}
	msg2, res, err := hs.onMessage1(data)
	if err != nil {
		return nil, closeWith(t, err)
	}
	frame, err := wire.Marshal(&wire.NoiseHandshake{Data: msg2})
	if err != nil {
		return nil, closeWith(t, err)
	}
	if err := p.write(frame); err != nil {
		return nil, closeWith(t, err)
	}
	// 5. Transport mode.
	c, err := newConn(t, RoleClient, res, cfg.Identity, cfg.Rand, p.timeout)
	if err != nil {
		return nil, closeWith(t, err)
	}
	c.lookup = &clientHandshake{pairingPSK: cfg.PairingPSK, longTerm: cfg.LongTerm}
	return c, nil
}

func closeWith(t Transport, err error) error {
	_ = t.Close()
	return err
}
