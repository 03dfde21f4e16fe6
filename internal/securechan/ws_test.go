package securechan

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// These tests run over real WebSocket connections on loopback.

// outcome is what the test server saw on one connection.
type outcome struct {
	handshakeErr error
	delivered    [][]byte // every message Read returned, in order
	readErr      error
}

// wsServer is a Sendspin secure-channel endpoint that answers client/time
// with server/time and reports each connection's outcome.
type wsServer struct {
	*httptest.Server
	outcomes chan outcome
}

func startServer(t testing.TB, cfg func() ServerConfig) *wsServer {
	t.Helper()
	s := &wsServer{outcomes: make(chan outcome, 4096)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr, err := Accept(w, r)
		if err != nil {
			return
		}
		c, err := ServerHandshake(context.Background(), tr, cfg())
		if err != nil {
			s.outcomes <- outcome{handshakeErr: err}
			return
		}
		var o outcome
		for {
			in, err := c.Read()
			if err != nil {
				o.readErr = err
				c.Close()
				s.outcomes <- o
				return
			}
			o.delivered = append(o.delivered, bytes.Clone(in.Data))
			if ct, ok := in.JSON.(*wire.ClientTime); ok {
				if err := c.WriteMessage(&wire.ServerTime{ClientTransmitted: ct.ClientTransmitted, ServerReceived: 1, ServerTransmitted: 2}); err != nil {
					o.readErr = err
					s.outcomes <- o
					return
				}
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *wsServer) url() string { return "ws" + strings.TrimPrefix(s.URL, "http") + WebSocketPath }

func (s *wsServer) next(t testing.TB) outcome {
	t.Helper()
	select {
	case o := <-s.outcomes:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome from the server")
		return outcome{}
	}
}

// goodSession proves the server still serves: a full handshake and a
// time exchange on a fresh connection.
func goodSession(t testing.TB, s *wsServer, ccfg ClientConfig) {
	t.Helper()
	tr, err := Dial(context.Background(), s.url())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ClientHandshake(context.Background(), tr, ccfg)
	if err != nil {
		t.Fatalf("fresh connection refused: %v", err)
	}
	if err := c.WriteMessage(&wire.ClientTime{ClientTransmitted: 77}); err != nil {
		t.Fatal(err)
	}
	in, err := c.Read()
	if st, ok := in.JSON.(*wire.ServerTime); err != nil || !ok || st.ClientTransmitted != 77 {
		t.Fatalf("fresh connection: %v %#v", err, in.JSON)
	}
	c.Close()
	if o := s.next(t); o.handshakeErr != nil || len(o.delivered) != 1 {
		t.Fatalf("fresh connection outcome %+v", o)
	}
}

func dialRaw(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

// readUntilClose returns the data frames received until the connection
// closes; it fails the test if it stays open.
func readUntilClose(t testing.TB, c *websocket.Conn) [][]byte {
	t.Helper()
	var got [][]byte
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection still open")
			}
			return got
		}
		got = append(got, b)
	}
}

func TestInitFailuresOverWebSocket(t *testing.T) {
	p := newPeers(t)
	s := startServer(t, func() ServerConfig { return p.serverConfig(SentinelChoice) })
	id := p.client.Public().String()
	cases := []struct {
		name string
		kind int
		msg  string
		want wire.ErrorReason
	}{
		{"version 2", websocket.TextMessage, `{"type":"client/init","payload":{"client_id":"` + id + `","version":2,"suite":"25519_AESGCM_SHA256"}}`, wire.ReasonUnsupportedVersion},
		{"version 0 with junk", websocket.TextMessage, `{"type":"client/init","payload":{"version":0,"suite":7}}`, wire.ReasonUnsupportedVersion},
		{"version string", websocket.TextMessage, `{"type":"client/init","payload":{"client_id":"` + id + `","version":"1","suite":"25519_AESGCM_SHA256"}}`, wire.ReasonMalformed},
		{"version float", websocket.TextMessage, `{"type":"client/init","payload":{"client_id":"` + id + `","version":1.5,"suite":"25519_AESGCM_SHA256"}}`, wire.ReasonMalformed},
		{"version missing", websocket.TextMessage, `{"type":"client/init","payload":{"client_id":"` + id + `","suite":"25519_AESGCM_SHA256"}}`, wire.ReasonMalformed},
		{"unknown suite", websocket.TextMessage, `{"type":"client/init","payload":{"client_id":"` + id + `","version":1,"suite":"25519_ChaChaPoly_BLAKE2s"}}`, wire.ReasonUnsupportedSuite},
		{"malformed json", websocket.TextMessage, `{"type":"client/init","payload":{`, wire.ReasonMalformed},
		{"bad client_id", websocket.TextMessage, `{"type":"client/init","payload":{"client_id":"nope","version":1,"suite":"25519_AESGCM_SHA256"}}`, wire.ReasonMalformed},
		{"binary frame", websocket.BinaryMessage, `{"type":"client/init"}`, wire.ReasonMalformed},
		{"oversized", websocket.TextMessage, strings.Repeat(" ", 5000), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := dialRaw(t, s.url())
			defer ws.Close()
			if err := ws.WriteMessage(c.kind, []byte(c.msg)); err != nil {
				t.Fatal(err)
			}
			got := readUntilClose(t, ws)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("oversized init answered: %q", got)
				}
			} else if len(got) != 1 || string(got[0]) != `{"type":"server/error","payload":{"reason":"`+string(c.want)+`"}}` {
				t.Fatalf("response %q, want server/error %s then close", got, c.want)
			}
			if o := s.next(t); o.handshakeErr == nil {
				t.Fatal("server accepted")
			}
			goodSession(t, s, p.clientConfig(keys.SuiteAESGCM))
		})
	}
}

// TestSilentFailuresOverWebSocket covers the failures answered by a silent
// close, each followed by a fresh good session.
func TestSilentFailuresOverWebSocket(t *testing.T) {
	p := newPeers(t)
	s := startServer(t, func() ServerConfig {
		cfg := p.serverConfig(SentinelChoice)
		cfg.Timeout = 200 * time.Millisecond
		return cfg
	})
	ccfg := p.clientConfig(keys.SuiteChaChaPoly)

	// handshaken returns an established client and its raw transport.
	handshaken := func(t *testing.T) (*Conn, Transport) {
		tr, err := Dial(context.Background(), s.url())
		if err != nil {
			t.Fatal(err)
		}
		c, err := ClientHandshake(context.Background(), tr, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		return c, tr
	}
	expectClosed := func(t *testing.T, c *Conn, wantErr func(error) bool) {
		t.Helper()
		if _, err := c.Read(); err == nil {
			t.Fatal("client got a message after the failure")
		}
		o := s.next(t)
		if o.handshakeErr != nil || !wantErr(o.readErr) {
			t.Fatalf("server outcome %+v", o)
		}
		goodSession(t, s, ccfg)
	}

	t.Run("cleartext after switch", func(t *testing.T) {
		c, tr := handshaken(t)
		_ = tr.WriteFrame(Text, []byte(`{"type":"client/time","payload":{"client_transmitted":1}}`))
		expectClosed(t, c, func(err error) bool { return errors.Is(err, ErrCleartext) })
	})
	t.Run("oversized transport message", func(t *testing.T) {
		c, tr := handshaken(t)
		_ = tr.WriteFrame(Binary, make([]byte, maxTransportMessage+1))
		expectClosed(t, c, func(err error) bool { return err != nil && !errors.Is(err, ErrDecrypt) })
	})
	t.Run("garbage transport message", func(t *testing.T) {
		c, tr := handshaken(t)
		_ = tr.WriteFrame(Binary, []byte("not a noise transport message"))
		expectClosed(t, c, func(err error) bool { return errors.Is(err, ErrDecrypt) })
	})
	t.Run("empty transport message", func(t *testing.T) {
		c, tr := handshaken(t)
		_ = tr.WriteFrame(Binary, nil)
		expectClosed(t, c, func(err error) bool { return errors.Is(err, ErrDecrypt) })
	})
	for _, fc := range []struct {
		name string
		msgs [][]byte
		rule wire.FragmentRule
	}{
		{"first fragment in flight", [][]byte{{1, 2, 0, '{'}, {1, 2, 0, '{'}}, wire.FragFirstInFlight},
		{"fragment with none in flight", [][]byte{{1, 0, 'x'}}, wire.FragNoneInFlight},
		{"message inside fragments", [][]byte{{1, 2, 12, 0}, {12, 0, 0, 0, 0, 0, 0, 0, 0}}, wire.FragInterleaved},
		{"reserved flag", [][]byte{{1, 0x42, 0, '{'}}, wire.FragReservedFlags},
		{"orig_type 1", [][]byte{{1, 3, 1, 0}}, wire.FragOrigTypeOne},
	} {
		t.Run(fc.name, func(t *testing.T) {
			c, _ := handshaken(t)
			for _, m := range fc.msgs {
				if err := sendRaw(c, m); err != nil {
					t.Fatal(err)
				}
			}
			expectClosed(t, c, func(err error) bool {
				var fe *wire.FragmentError
				return errors.As(err, &fe) && fe.Rule == fc.rule
			})
		})
	}
	t.Run("replayed transport message", func(t *testing.T) {
		rec := &recorder{}
		tr, err := Dial(context.Background(), s.url())
		if err != nil {
			t.Fatal(err)
		}
		rec.Transport = tr
		c, err := ClientHandshake(context.Background(), rec, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		rec.take()
		_ = c.WriteMessage(&wire.ClientTime{ClientTransmitted: 5})
		if _, err := c.Read(); err != nil {
			t.Fatal(err)
		}
		f := rec.take()[0]
		_ = tr.WriteFrame(Binary, f.data) // the same ciphertext again
		expectClosed(t, c, func(err error) bool { return errors.Is(err, ErrDecrypt) })
	})
	t.Run("reordered transport messages", func(t *testing.T) {
		rec := &recorder{}
		tr, _ := Dial(context.Background(), s.url())
		rec.Transport = tr
		c, err := ClientHandshake(context.Background(), rec, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		rec.take()
		// Seal two messages without sending them in order.
		hold := &holdTransport{Transport: tr}
		c.t = hold
		_ = c.WriteMessage(&wire.ClientTime{ClientTransmitted: 1})
		_ = c.WriteMessage(&wire.ClientTime{ClientTransmitted: 2})
		c.t = tr
		_ = tr.WriteFrame(Binary, hold.held[1])
		_ = tr.WriteFrame(Binary, hold.held[0])
		expectClosed(t, c, func(err error) bool { return errors.Is(err, ErrDecrypt) })
	})
	t.Run("stalled before client/init", func(t *testing.T) {
		ws := dialRaw(t, s.url())
		defer ws.Close()
		if got := readUntilClose(t, ws); len(got) != 0 {
			t.Fatalf("stalled peer got %q", got)
		}
		if o := s.next(t); !errors.Is(o.handshakeErr, ErrSilent) {
			t.Fatalf("%+v", o)
		}
		goodSession(t, s, ccfg)
	})
	t.Run("stalled after server/init", func(t *testing.T) {
		ws := dialRaw(t, s.url())
		defer ws.Close()
		ci, _ := wire.MarshalInit(&wire.ClientInit{ClientID: p.client.Public(), Version: 1, Suite: keys.SuiteAESGCM})
		_ = ws.WriteMessage(websocket.TextMessage, ci)
		if got := readUntilClose(t, ws); len(got) != 2 {
			t.Fatalf("got %d frames, want server/init and message 1 only", len(got))
		}
		if o := s.next(t); !errors.Is(o.handshakeErr, ErrSilent) {
			t.Fatalf("%+v", o)
		}
		goodSession(t, s, ccfg)
	})
}

// sendRaw seals and sends a plaintext as is, bypassing the checks of the
// write API, to put malformed fragment sequences on the wire.
func sendRaw(c *Conn, plaintext []byte) error {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	return c.writeLocked(plaintext)
}

// holdTransport keeps written frames instead of sending them.
type holdTransport struct {
	Transport
	held [][]byte
}

func (h *holdTransport) WriteFrame(_ FrameKind, data []byte) error {
	h.held = append(h.held, bytes.Clone(data))
	return nil
}

// TestServerDialsClient: the server is the Noise initiator even when it
// opens the WebSocket (server-initiated connections).
func TestServerDialsClient(t *testing.T) {
	p := newPeers(t)
	clients := make(chan *Conn, 1)
	player := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr, err := Accept(w, r)
		if err != nil {
			return
		}
		c, err := ClientHandshake(context.Background(), tr, p.clientConfig(keys.SuiteChaChaPoly))
		if err != nil {
			t.Error(err)
			return
		}
		clients <- c
		<-c.Done()
	}))
	defer player.Close()
	tr, err := Dial(context.Background(), "ws"+strings.TrimPrefix(player.URL, "http")+WebSocketPath)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ServerHandshake(context.Background(), tr, p.serverConfig(PSKChoice{p.pairing, wire.PSKPairing}))
	if err != nil {
		t.Fatal(err)
	}
	cc := <-clients
	if sc.Role() != RoleServer || cc.Role() != RoleClient || cc.Matched().Category != wire.PSKPairing {
		t.Fatal("roles")
	}
	exchange(t, sc, cc)
	sc.Close()
	cc.Close()
}

// recordSession runs a deterministic session (fixed ephemeral keys) and
// returns each side's frames and how many server frames answer each client
// frame.
type session struct {
	client, server []frame
	replies        []int
}

func deterministicPeers(t testing.TB) (*peers, func() ServerConfig, func() ClientConfig) {
	p := newPeers(t)
	sEph, cEph := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
	scfg := func() ServerConfig {
		cfg := p.serverConfig(SentinelChoice)
		cfg.Rand = bytes.NewReader(sEph)
		cfg.Timeout = 500 * time.Millisecond
		return cfg
	}
	ccfg := func() ClientConfig {
		cfg := p.clientConfig(keys.SuiteAESGCM)
		cfg.Rand = bytes.NewReader(cEph)
		cfg.Timeout = 500 * time.Millisecond
		return cfg
	}
	return p, scfg, ccfg
}

func recordSession(t testing.TB, s *wsServer, ccfg ClientConfig) session {
	tr, err := Dial(context.Background(), s.url())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Transport: tr}
	srec := &readRecorder{Transport: rec}
	c, err := ClientHandshake(context.Background(), srec, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	var sess session
	sess.replies = []int{2, 0}
	_ = c.WriteMessage(&wire.ClientHello{Name: "tamper", SupportedRoles: []wire.Role{},
		PairMethods: wire.PairMethods{PairingPSK: &wire.StaticMethod{}}})
	sess.replies = append(sess.replies, 0)
	for i := range 3 {
		_ = c.WriteMessage(&wire.ClientTime{ClientTransmitted: int64(i)})
		if _, err := c.Read(); err != nil {
			t.Fatal(err)
		}
		sess.replies = append(sess.replies, 1)
	}
	_ = c.WriteBinary(wire.AppendSourceChunk(nil, 42, []byte{1, 2, 3, 4}))
	sess.replies = append(sess.replies, 0)
	c.Close()
	s.next(t)
	sess.client, sess.server = rec.take(), srec.take()
	if len(sess.client) != len(sess.replies) || len(sess.server) != 5 {
		t.Fatalf("recorded %d client and %d server frames", len(sess.client), len(sess.server))
	}
	return sess
}

// readRecorder records every frame read through a transport.
type readRecorder struct {
	Transport
	mu     sync.Mutex
	frames []frame
}

func (r *readRecorder) ReadFrame(buf []byte) (FrameKind, []byte, error) {
	k, b, err := r.Transport.ReadFrame(buf)
	if err == nil {
		r.mu.Lock()
		r.frames = append(r.frames, frame{k, bytes.Clone(b)})
		r.mu.Unlock()
	}
	return k, b, err
}

func (r *readRecorder) take() []frame { r.mu.Lock(); defer r.mu.Unlock(); return r.frames }

// TestTamperEveryClientByte flips every byte of every frame a client sent in
// a recorded session and replays it to a fresh server: the server never
// delivers the tampered message or anything after it, and ends the session.
func TestTamperEveryClientByte(t *testing.T) {
	_, scfg, ccfg := deterministicPeers(t)
	s := startServer(t, scfg)
	sess := recordSession(t, s, ccfg())
	step := 1
	if testing.Short() {
		step = 7
	}
	total := 0
	for fi, f := range sess.client {
		for pos := 0; pos < len(f.data); pos += step {
			ws := dialRaw(t, s.url())
			for k := 0; k <= fi || k < len(sess.client); k++ {
				data := sess.client[k].data
				if k == fi {
					data = bytes.Clone(data)
					data[pos] ^= 0xff
				}
				mt := websocket.BinaryMessage
				if sess.client[k].kind == Text {
					mt = websocket.TextMessage
				}
				if ws.WriteMessage(mt, data) != nil {
					break
				}
				closed := false
				_ = ws.SetReadDeadline(time.Now().Add(2 * time.Second))
				for range sess.replies[k] {
					if _, _, err := ws.ReadMessage(); err != nil {
						closed = true
						break
					}
				}
				if closed {
					break
				}
			}
			ws.Close()
			o := s.next(t)
			switch {
			case fi < 2:
				if o.handshakeErr == nil {
					t.Fatalf("frame %d byte %d: handshake accepted a tampered frame", fi, pos)
				}
			default:
				if o.handshakeErr != nil || o.readErr == nil || len(o.delivered) != fi-2 {
					t.Fatalf("frame %d byte %d: delivered %d messages (want %d), %v", fi, pos, len(o.delivered), fi-2, o.readErr)
				}
			}
			total++
		}
	}
	if total < 100 {
		t.Fatalf("only %d positions tried", total)
	}
	t.Logf("%d tampered client sessions rejected", total)
	goodSession(t, s, ccfg())
}

// TestTamperEveryServerByte flips every byte a server sent in the recorded
// session and replays the server side to a real client: the client fails
// no later than the tampered frame and never accepts it.
func TestTamperEveryServerByte(t *testing.T) {
	_, scfg, ccfg := deterministicPeers(t)
	s := startServer(t, scfg)
	sess := recordSession(t, s, ccfg())
	step := 1
	if testing.Short() {
		step = 7
	}
	total := 0
	defer func() { t.Logf("%d tampered server sessions rejected", total) }()
	for fj, f := range sess.server {
		for pos := 0; pos < len(f.data); pos += step {
			total++
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := Upgrader().Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				sent := 0
				for k := range sess.client {
					if _, _, err := ws.ReadMessage(); err != nil {
						return
					}
					for range sess.replies[k] {
						data := sess.server[sent].data
						if sent == fj {
							data = bytes.Clone(data)
							data[pos] ^= 0xff
						}
						mt := websocket.BinaryMessage
						if sess.server[sent].kind == Text {
							mt = websocket.TextMessage
						}
						if ws.WriteMessage(mt, data) != nil {
							return
						}
						sent++
					}
				}
			}))
			tr, err := Dial(context.Background(), "ws"+strings.TrimPrefix(fake.URL, "http"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := ClientHandshake(context.Background(), tr, ccfg())
			if fj < 2 {
				if err == nil {
					t.Fatalf("server frame %d byte %d: handshake accepted", fj, pos)
				}
				fake.Close()
				continue
			}
			if err != nil {
				t.Fatalf("server frame %d byte %d: handshake failed early: %v", fj, pos, err)
			}
			_ = c.WriteMessage(&wire.ClientHello{Name: "tamper", SupportedRoles: []wire.Role{},
				PairMethods: wire.PairMethods{PairingPSK: &wire.StaticMethod{}}})
			got := 0
			for i := range 3 {
				_ = c.WriteMessage(&wire.ClientTime{ClientTransmitted: int64(i)})
				if _, err := c.Read(); err != nil {
					break
				}
				got++
			}
			if got != fj-2 {
				t.Fatalf("server frame %d byte %d: client accepted %d replies, want %d", fj, pos, got, fj-2)
			}
			c.Close()
			fake.Close()
		}
	}
}
