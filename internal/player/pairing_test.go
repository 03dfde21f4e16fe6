package player

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// Pairing by token (pairing.md "Pairing PSK Flow") between the real
// server and the real player over WebSocket on loopback.

// checkPaired asserts both stores hold the same long-term PSK and the
// session runs on it with the player role.
func checkPaired(t *testing.T, r *rig) {
	t.Helper()
	waitFor(t, "the player to be paired and available", func() bool {
		info, _ := serverView(r.srv, r.pl.ID())
		st := r.pl.Status()
		return info.Status == server.StatusPaired && info.Available && st.Paired
	})
	spsk, ok, err := r.sst.ClientRecord(r.pl.ID())
	if err != nil || !ok {
		t.Fatalf("server record: %v %v", ok, err)
	}
	recs, err := r.pst.ServerRecords()
	if err != nil || len(recs) != 1 || recs[0].Server != r.srv.ID() {
		t.Fatalf("player records: %+v %v", recs, err)
	}
	if !recs[0].PSK.Equal(spsk) {
		t.Fatal("the two sides persisted different long-term PSKs")
	}
	tok, _ := pairing.ParsePSKToken(r.pl.Token())
	if spsk.Equal(tok.PSK) {
		t.Fatal("the long-term PSK is the pairing PSK")
	}
}

// TestTokenPairingWhileConnected: an unpaired player held idle is paired
// when the operator enters its token: re-handshake to the pairing PSK,
// client/pair-init and -finalize, the record persisted on both sides,
// re-handshake to the long-term PSK, then the player role. A reconnect
// uses the long-term PSK.
func TestTokenPairingWhileConnected(t *testing.T) {
	r := newRig(t, true)
	r.connect()
	waitFor(t, "the server to list the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return ok })
	id, err := r.srv.PairWithToken(r.pl.Token())
	if err != nil || id != r.pl.ID() {
		t.Fatalf("PairWithToken: %v %v", id, err)
	}
	checkPaired(t, r)

	r.stop()
	<-r.errs
	r.connect()
	checkPaired(t, r)
}

// TestTokenBeforeConnect: a token entered before the player connects keys
// its first handshake with the pairing PSK and pairs at once, even with
// unpaired access off.
func TestTokenBeforeConnect(t *testing.T) {
	r := newRig(t, false)
	if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
		t.Fatal(err)
	}
	r.connect()
	checkPaired(t, r)
}

// TestWrongToken: a token naming the player with a PSK it does not hold
// fails the re-handshake; the server forgets it, nothing is persisted and
// the player connects again unpaired.
func TestWrongToken(t *testing.T) {
	r := newRig(t, true)
	r.connect()
	waitFor(t, "the server to list the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return ok })
	bad := pairing.PSKToken{ClientKey: r.pl.ID(), PSK: keys.PSK{9, 9, 9}}.Encode()
	if _, err := r.srv.PairWithToken(bad); err != nil {
		t.Fatal(err)
	}
	if err := <-r.errs; err == nil {
		t.Fatal("the session survived a wrong token")
	}
	if _, ok, _ := r.sst.ClientRecord(r.pl.ID()); ok {
		t.Fatal("the server persisted a record")
	}
	if recs, _ := r.pst.ServerRecords(); len(recs) != 0 {
		t.Fatalf("the player persisted %v", recs)
	}
	r.connect()
	waitFor(t, "the player to be back, unpaired", func() bool {
		info, ok := serverView(r.srv, r.pl.ID())
		return ok && info.Status != server.StatusPaired && r.pl.Status().Connected
	})
}

func TestBadTokenText(t *testing.T) {
	r := newRig(t, true)
	for _, s := range []string{"", "SP:0", "hello", "SP:1" + r.pl.Token()[4:]} {
		if _, err := r.srv.PairWithToken(s); !errors.Is(err, server.ErrBadToken) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// TestTokenPairingWhilePlaying: an approved player that is playing is
// paired by token; once paired it plays the running stream on, audio sent
// after the pairing included.
func TestTokenPairingWhilePlaying(t *testing.T) {
	r := newRig(t, true)
	out := &captureOutput{}
	pl, err := New(Config{Store: r.pst, Name: "Rig Player", UnpairedAccess: true, Output: out, Log: testLog(t, "player")})
	if err != nil {
		t.Fatal(err)
	}
	out.now = pl.Now
	r.pl = pl
	played := func() int {
		out.mu.Lock()
		defer out.mu.Unlock()
		frames := 0 // of audio, stereo
		for _, b := range out.blocks {
			if b.samples[0] != 0 {
				frames += len(b.samples) / 2
			}
		}
		return frames
	}
	r.connect()
	waitFor(t, "the server to list the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return ok })
	if err := r.srv.Approve(r.pl.ID(), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "available", func() bool { i, _ := serverView(r.srv, r.pl.ID()); return i.Available })
	if err := r.srv.Play(&rampSource{n: 48000 * 30}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "audio", func() bool { return played() > 4800 })
	if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
		t.Fatal(err)
	}
	checkPaired(t, r)
	// More than the server's 2 s send-ahead: audio sent after pairing.
	before := played()
	waitFor(t, "audio after pairing", func() bool { return played() > before+3*48000 })
}

// TestTokenPairingServerInitiated: a server that dialed the player pairs
// with it by token; the arbiter learns the connection became paired and
// the player keeps it.
func TestTokenPairingServerInitiated(t *testing.T) {
	pst, _ := store.Open(t.TempDir())
	defer pst.Close()
	pl, err := New(Config{Store: pst, UnpairedAccess: true, Name: "Speaker", Log: testLog(t, "player")})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(pl)
	defer h.Close()
	a := newDialer(t, "A")
	a.dial("ws" + strings.TrimPrefix(h.URL, "http"))
	waitFor(t, "server A to hold the player", func() bool { return pl.Status().ServerName == "A" })
	if _, err := a.srv.PairWithToken(pl.Token()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "paired", func() bool {
		info, _ := serverView(a.srv, pl.ID())
		return info.Status == server.StatusPaired && pl.Status().Paired && pl.Status().ServerName == "A"
	})
	recs, err := pst.ServerRecords()
	if err != nil || len(recs) != 1 || recs[0].Server != a.srv.ID() {
		t.Fatalf("%+v %v", recs, err)
	}
	spsk, ok, err := a.st.ClientRecord(pl.ID())
	if err != nil || !ok || !spsk.Equal(recs[0].PSK) {
		t.Fatalf("server record: %v %v, or a PSK other than the player's", ok, err)
	}
	if tok, _ := pairing.ParsePSKToken(pl.Token()); spsk.Equal(tok.PSK) {
		t.Fatal("the long-term PSK is the pairing PSK")
	}
	select {
	case err := <-a.done:
		t.Fatalf("the connection ended: %v", err)
	default:
	}
}

// TestTokenRepairsPairedPlayer: a token entered for a player already
// paired (unpaired access off) re-keys it from its long-term PSK to the
// pairing PSK and pairs again; both sides replace their record. The
// player judges each activation under the keys it arrived with, even when
// its reader has already completed the next re-handshake.
func TestTokenRepairsPairedPlayer(t *testing.T) {
	r := newRig(t, false)
	old := keys.PSK{4, 2}
	if err := r.sst.PutClientRecord(r.pl.ID(), old); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pst.PutServerRecord(store.ServerRecord{Server: r.srv.ID(), PSK: old, LastUsed: time.Now()}, 5, nil); err != nil {
		t.Fatal(err)
	}
	r.connect()
	waitFor(t, "paired session", func() bool { return r.pl.Status().Paired })
	if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new record", func() bool {
		psk, ok, _ := r.sst.ClientRecord(r.pl.ID())
		return ok && !psk.Equal(old)
	})
	checkPaired(t, r)
	select {
	case err := <-r.errs:
		t.Fatalf("the session ended: %v", err)
	default:
	}
}

// TestTokenOneAttemptPerClient: a client connected twice (two player
// processes sharing an identity is the only way; here, two sessions of
// one player) is paired on one connection only, and both stores end up
// with the same record.
func TestTokenOneAttemptPerClient(t *testing.T) {
	r := newRig(t, true)
	r.connect()
	waitFor(t, "the server to list the player", func() bool { _, ok := serverView(r.srv, r.pl.ID()); return ok })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	second := make(chan error, 1)
	go func() { second <- r.pl.Connect(ctx, r.url) }()
	waitFor(t, "two connections", func() bool {
		n := 0
		for _, c := range r.srv.Clients() {
			if c.ID == r.pl.ID() {
				n++
			}
		}
		return n == 2
	})
	if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a record on both sides", func() bool {
		_, ok, _ := r.sst.ClientRecord(r.pl.ID())
		recs, _ := r.pst.ServerRecords()
		return ok && len(recs) == 1
	})
	// Both connections were signalled; one started an attempt.
	if n := strings.Count(r.srvLog.String(), `msg="pairing started"`); n != 1 {
		t.Fatalf("%d pairing attempts started", n)
	}
	spsk, _, _ := r.sst.ClientRecord(r.pl.ID())
	recs, _ := r.pst.ServerRecords()
	if !recs[0].PSK.Equal(spsk) {
		t.Fatal("the two sides hold different long-term PSKs")
	}
}
