package securechan

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Reference: one X25519 operation on crypto/ecdh, the same-run yardstick
// for the handshake (GUIDE.md section 7). A handshake side performs 5:
// its ephemeral key generation and four DHs (es, ss, ee, se).
func BenchmarkReferenceX25519(b *testing.B) {
	priv, _ := ecdh.X25519().GenerateKey(nil)
	peer, _ := ecdh.X25519().GenerateKey(nil)
	pub := peer.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := priv.ECDH(pub); err != nil {
			b.Fatal(err)
		}
	}
}

// handshakeOnce runs both state machines in memory: the full Sendspin
// handshake (JSON init messages, Noise messages, PSK selection).
func handshakeOnce(b *testing.B, suite keys.Suite, sRand, cRand io.Reader) *Result {
	c := &clientHandshake{id: fuzzClient, suite: suite, rnd: cRand}
	ci, err := c.start()
	if err != nil {
		b.Fatal(err)
	}
	s := &serverHandshake{id: fuzzServer, choose: func(keys.PublicKey) PSKChoice { return SentinelChoice }, rnd: sRand}
	si, m1, err := s.onClientInit(ci)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.onServerInit(si); err != nil {
		b.Fatal(err)
	}
	d1, _ := noiseData(m1, wire.FromServer)
	m2, _, err := c.onMessage1(d1)
	if err != nil {
		b.Fatal(err)
	}
	res, err := s.onMessage2(m2)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

func BenchmarkHandshakeBothSides(b *testing.B) {
	for _, suite := range []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM} {
		b.Run(string(suite), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				handshakeOnce(b, suite, nil, nil)
			}
		})
	}
}

// BenchmarkHandshakeServerSide measures the server's half alone. With the
// server's ephemeral key fixed, message 1 is the same every time, so the
// client's message 2 is computed once outside the loop.
func BenchmarkHandshakeServerSide(b *testing.B) {
	for _, suite := range []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM} {
		b.Run(string(suite), func(b *testing.B) {
			eph := bytes.Repeat([]byte{5}, 32)
			c := &clientHandshake{id: fuzzClient, suite: suite}
			ci, _ := c.start()
			s := &serverHandshake{id: fuzzServer, choose: func(keys.PublicKey) PSKChoice { return SentinelChoice }, rnd: bytes.NewReader(eph)}
			si, m1, _ := s.onClientInit(ci)
			_ = c.onServerInit(si)
			d1, _ := noiseData(m1, wire.FromServer)
			m2, _, err := c.onMessage1(d1)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				s := &serverHandshake{id: fuzzServer, choose: func(keys.PublicKey) PSKChoice { return SentinelChoice }, rnd: bytes.NewReader(eph)}
				if _, _, err := s.onClientInit(ci); err != nil {
					b.Fatal(err)
				}
				if _, err := s.onMessage2(m2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discard is a transport that drops writes: it isolates sealing and
// framing from the network.
type discard struct{ Transport }

func (discard) WriteFrame(FrameKind, []byte) error { return nil }
func (discard) SetWriteDeadline(time.Time) error   { return nil }

const benchMessage = 3840

// BenchmarkSealAndFrame sends a 3840-byte binary message through Conn.Send:
// the write lock, building the plaintext, sealing, and handing the frame
// to the transport.
func BenchmarkSealAndFrame(b *testing.B) {
	for _, suite := range []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM} {
		b.Run(string(suite), func(b *testing.B) {
			tx, _ := newCipherStateFromKey(suite, [32]byte{1})
			c := &Conn{t: discard{}, tx: tx, closed: make(chan struct{}), timeout: time.Second}
			audio := make([]byte, benchMessage-wire.AudioHeaderSize)
			build := func(dst []byte) ([]byte, error) { return wire.AppendAudioChunk(dst, 1, 2, audio), nil }
			b.SetBytes(benchMessage)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Send(build); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReferenceAEADSeal is the raw AEAD seal of the same 3840 bytes.
func BenchmarkReferenceAEADSeal(b *testing.B) {
	for _, suite := range []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM} {
		b.Run(string(suite), func(b *testing.B) {
			aead, _ := suite.NewAEAD([32]byte{1})
			pt := make([]byte, benchMessage)
			out := make([]byte, 0, benchMessage+16)
			var nonce [12]byte
			b.SetBytes(benchMessage)
			b.ReportAllocs()
			for b.Loop() {
				out = aead.Seal(out[:0], nonce[:], pt, nil)
			}
		})
	}
}

// TestSealDoesNotAllocate pins the zero-allocation send path.
func TestSealDoesNotAllocate(t *testing.T) {
	tx, _ := newCipherStateFromKey(keys.SuiteAESGCM, [32]byte{1})
	c := &Conn{t: discard{}, tx: tx, closed: make(chan struct{}), timeout: time.Second}
	audio := make([]byte, benchMessage)
	build := func(dst []byte) ([]byte, error) { return wire.AppendAudioChunk(dst, 1, 2, audio), nil }
	_ = c.Send(build)
	if n := testing.AllocsPerRun(100, func() { _ = c.Send(build) }); n != 0 {
		t.Fatalf("Send allocates %v times per message", n)
	}
}

// BenchmarkIdleConnMemory reports the heap held per idle established
// connection, both ends, over real WebSockets on loopback.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 100
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr, err := Accept(w, r)
		if err != nil {
			return
		}
		c, err := ServerHandshake(context.Background(), tr, ServerConfig{Identity: fuzzServer})
		if err != nil {
			return
		}
		for {
			if _, err := c.Read(); err != nil {
				return
			}
		}
	}))
	defer server.Close()
	url := "ws" + strings.TrimPrefix(server.URL, "http")
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]*Conn, 0, n)
		for range n {
			tr, err := Dial(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			c, err := ClientHandshake(context.Background(), tr, ClientConfig{Identity: fuzzClient, PairingPSK: keys.PSK{1}})
			if err != nil {
				b.Fatal(err)
			}
			// One message each way warms the buffers a live connection keeps.
			if err := c.WriteMessage(&wire.ClientTime{ClientTransmitted: 1}); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}
