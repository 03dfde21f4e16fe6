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

// Regression tests for the findings of the secure channel review.

// An unset (all-zero) pairing PSK is public: the client refuses to run
// with one, a server cannot pick one, and an unset long-term key is no
// candidate.
func TestUnsetPSKsRefused(t *testing.T) {
	p := newPeers(t)
	_, b := Pipe()
	cfg := p.clientConfig(keys.SuiteAESGCM)
	cfg.PairingPSK = keys.PSK{}
	if _, err := ClientHandshake(context.Background(), b, cfg); err == nil || !strings.Contains(err.Error(), "pairing PSK missing") {
		t.Fatalf("zero pairing PSK: %v", err)
	}
	a, b := Pipe()
	errs := make(chan error, 1)
	go func() {
		_, err := ServerHandshake(context.Background(), a, p.serverConfig(PSKChoice{PSK: keys.PSK{}, Category: wire.PSKPairing}))
		errs <- err
	}()
	if _, err := ClientHandshake(context.Background(), b, p.clientConfig(keys.SuiteAESGCM)); err == nil {
		t.Fatal("client completed against a server choosing an unset PSK")
	}
	if err := <-errs; err == nil {
		t.Fatal("server used an unset PSK")
	}
	// A record whose key is unset is a miss: the client falls back.
	q := newPeers(t)
	var zero keys.PSK
	q.records[zero.ID()] = record{zero, q.server.Public()}
	a, b = Pipe()
	go func() {
		_, _ = ServerHandshake(context.Background(), a, q.serverConfig(PSKChoice{PSK: randomPSK(t), Category: wire.PSKLongTerm}))
	}()
	cc, err := ClientHandshake(context.Background(), b, q.clientConfig(keys.SuiteAESGCM))
	if err != nil || cc.Matched().Category != wire.PSKSentinel {
		t.Fatalf("%v", err)
	}
}

// TestInlineRepliesDuringRehandshake: a server whose reader answers
// client/time inline keeps working through re-handshakes while the client
// bursts (the deadlock the review found).
func TestInlineRepliesDuringRehandshake(t *testing.T) {
	p := newPeers(t)
	lt := randomPSK(t)
	p.records[lt.ID()] = record{lt, p.server.Public()}
	a, b := Pipe()
	scfg := p.serverConfig(SentinelChoice)
	scfg.Timeout = 2 * time.Second
	sc, cc := handshakePair(t, a, b, scfg, p.clientConfig(keys.SuiteAESGCM))
	defer sc.Close()
	defer cc.Close()
	activate(t, sc, cc)
	// The server's reader answers inline, and re-handshakes from the same
	// goroutine every 20 messages.
	serverDone := make(chan error, 1)
	go func() {
		n := 0
		for {
			in, err := sc.Read()
			if err != nil {
				serverDone <- err
				return
			}
			ct, ok := in.JSON.(*wire.ClientTime)
			if !ok {
				continue
			}
			if err := sc.WriteMessage(&wire.ServerTime{ClientTransmitted: ct.ClientTransmitted}); err != nil {
				serverDone <- err
				return
			}
			if n++; n%20 == 0 {
				to := PSKChoice{lt, wire.PSKLongTerm}
				if n%40 == 0 {
					to = SentinelChoice
				}
				if _, err := sc.StartRehandshake(to, &wire.ServerActivate{Activities: []wire.Activity{}}); err != nil && !errors.Is(err, ErrBusy) {
					serverDone <- err
					return
				}
			}
		}
	}()
	// The client sends without waiting for replies and reads them all.
	const total = 200
	go func() {
		for i := range total {
			if err := cc.WriteMessage(&wire.ClientTime{ClientTransmitted: int64(i)}); err != nil {
				return
			}
		}
	}()
	got := 0
	watchdog := time.AfterFunc(10*time.Second, func() { cc.Close() })
	defer watchdog.Stop()
	for got < total {
		in, err := cc.Read()
		if err != nil {
			t.Fatalf("client after %d replies: %v (server: %v)", got, err, sc.Err())
		}
		if st, ok := in.JSON.(*wire.ServerTime); ok {
			if st.ClientTransmitted != int64(got) {
				t.Fatalf("reply %d answers %d", got, st.ClientTransmitted)
			}
			got++
		}
	}
	if got != total || cc.Epoch() == 0 || cc.Epoch() != sc.Epoch() {
		t.Fatalf("%d replies, epochs %d/%d", got, cc.Epoch(), sc.Epoch())
	}
}

// TestMismatchSurvivesSentinelRotation: re-keying a credential-mismatch
// session to a fresh Sentinel session keeps the signal; pairing clears it.
func TestMismatchSurvivesSentinelRotation(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	sc, cc := handshakePair(t, a, b, p.serverConfig(PSKChoice{randomPSK(t), wire.PSKLongTerm}), p.clientConfig(keys.SuiteAESGCM))
	defer sc.Close()
	defer cc.Close()
	activate(t, sc, cc)
	if !sc.CredentialMismatch() {
		t.Fatal("no mismatch")
	}
	rehandshake(t, sc, cc, SentinelChoice)
	if !sc.CredentialMismatch() || !cc.CredentialMismatch() {
		t.Fatal("a Sentinel rotation cleared the mismatch signal")
	}
	rehandshake(t, sc, cc, PSKChoice{p.pairing, wire.PSKPairing})
	if sc.CredentialMismatch() || cc.CredentialMismatch() {
		t.Fatal("re-keying to the pairing PSK kept the mismatch signal")
	}
}

func TestWriteAPIRefusals(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	sc, cc := handshakePair(t, a, b, p.serverConfig(SentinelChoice), p.clientConfig(keys.SuiteAESGCM))
	defer sc.Close()
	defer cc.Close()
	for _, m := range [][]byte{nil, {wire.IDFragment, 3, 0, '{'}} {
		if err := sc.WriteBinary(m); !errors.Is(err, ErrNotSendable) {
			t.Fatalf("% x: %v", m, err)
		}
	}
	// A build that returns its own buffer does not lend it to the channel.
	own := make([]byte, 0, 64)
	own = append(own, wire.IDAudioChunk, 1, 2, 3)
	if err := sc.Send(func([]byte) ([]byte, error) { return own, nil }); err != nil {
		t.Fatal(err)
	}
	if err := sc.WriteMessage(&wire.ServerHello{Name: "after"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(own, []byte{wire.IDAudioChunk, 1, 2, 3}) {
		t.Fatalf("the caller's buffer was overwritten: % x", own)
	}
	// The connection is still healthy.
	for _, want := range []byte{wire.IDAudioChunk, wire.IDJSON} {
		in, err := cc.Read()
		if err != nil || in.ID != want {
			t.Fatalf("read %v %v", in.ID, err)
		}
	}
}

// TestRehandshakeContext: a cancelled context refuses to start; ending the
// wait does not end a healthy connection.
func TestRehandshakeContext(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	sc, cc := handshakePair(t, a, b, p.serverConfig(SentinelChoice), p.clientConfig(keys.SuiteAESGCM))
	defer sc.Close()
	defer cc.Close()
	activate(t, sc, cc)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sc.Rehandshake(ctx, SentinelChoice, &wire.ServerActivate{Activities: []wire.Activity{}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if sc.Err() != nil {
		t.Fatal("a cancelled re-handshake ended the connection")
	}
	exchange(t, sc, cc)
}

// TestClientActivationTimeout: a server that never sends the new
// activation does not freeze the client forever.
func TestClientActivationTimeout(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	ccfg := p.clientConfig(keys.SuiteAESGCM)
	ccfg.Timeout = 100 * time.Millisecond
	sc, cc := handshakePair(t, a, b, p.serverConfig(SentinelChoice), ccfg)
	defer sc.Close()
	activate(t, sc, cc)
	// Message 1 by hand, and then silence.
	hs := &serverHandshake{id: p.server}
	hs.res = Result{Suite: sc.Suite(), Peer: sc.Peer(), Matched: SentinelChoice}
	h := sc.H()
	msg1, err := hs.start(h[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.WriteMessage(&wire.NoiseHandshake{Data: msg1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := cc.Read(); !errors.Is(err, ErrSilent) {
		t.Fatalf("client: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("timeout not applied")
	}
	if err := cc.WriteMessage(&wire.ClientTime{}); err == nil {
		t.Fatal("write after the failure succeeded")
	}
}

// TestServerTimeoutWithoutReader: nobody reading for message 2 still ends
// the re-handshake, and the paused writers, within the timeout.
func TestServerTimeoutWithoutReader(t *testing.T) {
	p := newPeers(t)
	a, b := Pipe()
	scfg := p.serverConfig(SentinelChoice)
	scfg.Timeout = 100 * time.Millisecond
	sc, cc := handshakePair(t, a, b, scfg, p.clientConfig(keys.SuiteAESGCM))
	defer cc.Close()
	activate(t, sc, cc)
	done, err := sc.StartRehandshake(SentinelChoice, &wire.ServerActivate{Activities: []wire.Activity{}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sc.WriteMessage(&wire.ServerHello{Name: "x"}); err == nil {
			t.Error("a paused write went out after the failure")
		}
	}()
	if err := <-done; !errors.Is(err, ErrSilent) {
		t.Fatalf("got %v", err)
	}
	wg.Wait()
}

func TestAcceptFromServerRefusesBrowsers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tr, err := AcceptFromServer(w, r); err == nil {
			tr.Close()
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	h := http.Header{"Origin": []string{"http://evil.example"}}
	if _, resp, err := websocket.DefaultDialer.Dial(url, h); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("browser request accepted: %v", err)
	}
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("server request refused: %v", err)
	}
	resp.Body.Close()
	c.Close()
}
