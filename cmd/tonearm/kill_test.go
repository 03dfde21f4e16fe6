package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// child runs `tonearm ARGS...` as a child process (this test binary).
func child(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = &syncBuf{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// relay forwards WebSocket messages between a player and the server, and
// lets the test hold each server-to-player message before it goes on.
type relay struct {
	target string
	hold   func() // called before each server-to-player message
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	down, err := securechan.Upgrader().Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer down.Close()
	up, _, err := websocket.DefaultDialer.Dial(rl.target, nil)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	pump := func(from, to *websocket.Conn, hold func()) {
		defer wg.Done()
		defer from.Close()
		defer to.Close()
		for {
			typ, msg, err := from.ReadMessage()
			if err != nil {
				return
			}
			if hold != nil {
				hold()
			}
			if to.WriteMessage(typ, msg) != nil {
				return
			}
		}
	}
	go pump(up, down, rl.hold)
	go pump(down, up, nil)
	wg.Wait()
}

func clientInfo(srv *server.Server, id keys.PublicKey) (server.ClientInfo, bool) {
	for _, c := range srv.Clients() {
		if c.ID == id {
			return c, true
		}
	}
	return server.ClientInfo{}, false
}

// TestKillBetweenPersists is issue 4's crash test: the player process is
// killed with SIGKILL after the server persisted its pairing record and
// before the player received server/pair-finalize (so before it could
// persist its own). Neither store holds half a record; the restarted
// player meets a server that expects the long-term PSK it never stored,
// falls back to the Sentinel (connection.md "Sentinel Fallback"), the
// server shows it as needing re-pairing, and pairing again by token
// recovers: the next connection lands on the long-term PSK.
func TestKillBetweenPersists(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	dir := t.TempDir()
	sst, err := store.Open(filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer sst.Close()
	srv, err := server.New(server.Config{Store: sst, Name: "Crash test"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(sln)
	defer hs.Close()

	pstate := filepath.Join(dir, "player")
	tokenOut, err := tonearm(t, "player", "--state", pstate, "token")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(tokenOut)
	id, err := keys.ParsePublicKey(mustPlayerID(t, pstate))
	if err != nil {
		t.Fatal(err)
	}

	// The relay kills the player the moment the server's record exists:
	// whatever message is in flight (server/pair-finalize or one before
	// it), the player has not received finalize and has persisted nothing.
	var (
		player *exec.Cmd
		killed = make(chan struct{})
		once   sync.Once
	)
	rl := &relay{target: "ws://" + sln.Addr().String() + "/"}
	rl.hold = func() {
		if _, ok, _ := sst.ClientRecord(id); ok {
			once.Do(func() {
				player.Process.Signal(syscall.SIGKILL)
				player.Wait()
				close(killed)
			})
			<-killed
		}
	}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rhs := &http.Server{Handler: rl}
	go rhs.Serve(rln)
	defer rhs.Close()
	relayURL := "ws://" + rln.Addr().String() + "/sendspin"

	playerArgs := []string{"player", "--state", pstate, "--server", relayURL, "--out", "null", "--no-mdns"}
	player = child(t, playerArgs...)
	waitFor(t, "the player to connect", 10*time.Second, func() bool { _, ok := clientInfo(srv, id); return ok })
	if _, err := srv.PairWithToken(token); err != nil {
		t.Fatal(err)
	}
	select {
	case <-killed:
	case <-time.After(15 * time.Second):
		t.Fatal("the server never persisted its record")
	}
	if ws, ok := player.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("player ended %v, want killed", player.ProcessState)
	}

	// Both stores are whole: the server holds the new record, the player
	// none (it opens cleanly: no half-written state).
	if psk, ok, err := sst.ClientRecord(id); err != nil || !ok || psk == (keys.PSK{}) {
		t.Fatalf("server record: ok=%v err=%v", ok, err)
	}
	out, err := tonearm(t, "player", "--state", pstate, "records")
	if err != nil || !strings.Contains(out, "no pairing records") {
		t.Fatalf("player records after the kill: %q %v", out, err)
	}

	// Recovery: the restarted player falls back to the Sentinel; the
	// operator sees "needs re-pairing" and pairs again.
	rl.hold = nil
	player = child(t, playerArgs...)
	waitFor(t, "the server to flag the credential mismatch", 15*time.Second, func() bool {
		c, ok := clientInfo(srv, id)
		return ok && c.Mismatch && c.Status != server.StatusPaired
	})
	if _, err := srv.PairWithToken(token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the re-pairing", 15*time.Second, func() bool {
		c, ok := clientInfo(srv, id)
		return ok && c.Status == server.StatusPaired && !c.Mismatch
	})
	// A clean restart lands on the long-term PSK with no pairing activity.
	player.Process.Signal(syscall.SIGTERM)
	player.Wait()
	out, err = tonearm(t, "player", "--state", pstate, "records", "-v")
	if err != nil || !strings.Contains(out, srv.ID().String()) {
		t.Fatalf("player records after re-pairing: %q %v", out, err)
	}
	player = child(t, playerArgs...)
	waitFor(t, "the paired reconnect", 15*time.Second, func() bool {
		c, ok := clientInfo(srv, id)
		return ok && c.Status == server.StatusPaired && !c.Mismatch && !c.Activities.Has(session.Pairing)
	})
}

func mustPlayerID(t *testing.T, state string) string {
	t.Helper()
	out, err := tonearm(t, "player", "--state", state, "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "id" {
			return f[1]
		}
	}
	t.Fatalf("no id in %q", out)
	return ""
}
