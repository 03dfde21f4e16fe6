package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/discovery"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runBG runs f until the test ends, then checks it returned nil.
func runBG(t *testing.T, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("did not stop")
		}
	})
}

// consoleClients lists the server's clients through its console.
func consoleClients(t *testing.T, url string) []map[string]any {
	t.Helper()
	resp, err := http.Get(url + "/api/clients")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Clients []map[string]any `json:"clients"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l.Clients
}

func startServer(t *testing.T, adv discovery.Advertiser, br discovery.Browser) ServerInfo {
	t.Helper()
	ready := make(chan ServerInfo, 1)
	runBG(t, func(ctx context.Context) error {
		return RunServer(ctx, ServerOptions{State: filepath.Join(t.TempDir(), "server"), Name: "Hub", Listen: "127.0.0.1:0",
			Console: "127.0.0.1:0", Play: SourceNone, Advertiser: adv, Browser: br, Ready: func(i ServerInfo) { ready <- i }})
	})
	select {
	case info := <-ready:
		return info
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	return ServerInfo{}
}

func startPlayer(t *testing.T, state string, o PlayerOptions) PlayerInfo {
	t.Helper()
	ready := make(chan PlayerInfo, 1)
	o.State, o.Out = state, "null"
	o.Ready = func(i PlayerInfo) { ready <- i }
	runBG(t, func(ctx context.Context) error { return RunPlayer(ctx, o) })
	select {
	case info := <-ready:
		return info
	case <-time.After(10 * time.Second):
		t.Fatal("player did not start")
	}
	return PlayerInfo{}
}

// Server-initiated: the player advertises _sendspin._tcp, the server
// browses, finds it and connects (connection.md "Server Initiated
// Connections").
func TestDiscoveryServerFindsPlayer(t *testing.T) {
	mem := discovery.NewMemory()
	pinfo := startPlayer(t, filepath.Join(t.TempDir(), "p"), PlayerOptions{Name: "Porch", Listen: "127.0.0.1:0", Advertiser: mem, Browser: mem})
	sinfo := startServer(t, mem, mem)
	waitFor(t, "the server to connect to the discovered player", func() bool {
		for _, c := range consoleClients(t, sinfo.ConsoleURL) {
			if c["id"] == pinfo.ID && c["connected"] == true && c["name"] == "Porch" {
				return true
			}
		}
		return false
	})
}

// Client-initiated: the server advertises _sendspin-server._tcp, a player
// with --server auto browses, finds it and connects.
func TestDiscoveryPlayerFindsServer(t *testing.T) {
	mem := discovery.NewMemory()
	sinfo := startServer(t, mem, mem)
	pinfo := startPlayer(t, filepath.Join(t.TempDir(), "p"), PlayerOptions{Name: "Attic", Server: ServerAuto, Advertiser: mem, Browser: mem})
	waitFor(t, "the player to connect to the discovered server", func() bool {
		for _, c := range consoleClients(t, sinfo.ConsoleURL) {
			if c["id"] == pinfo.ID && c["connected"] == true {
				return true
			}
		}
		return false
	})
}

// The control socket reaches the running player; changes its connections
// would not pick up are refused while it runs.
func TestControlSocket(t *testing.T) {
	state := filepath.Join(t.TempDir(), "p")
	pinfo := startPlayer(t, state, PlayerOptions{Name: "Den", Listen: "127.0.0.1:0"})
	reply, err := Control(state, ControlRequest{Op: OpStatus})
	if err != nil || reply.Error != "" || !reply.Running {
		t.Fatalf("status: %+v %v", reply, err)
	}
	var st PlayerStatus
	if err := json.Unmarshal(reply.Result, &st); err != nil || st.ID != pinfo.ID || st.Name != "Den" {
		t.Fatalf("status %+v %v", st, err)
	}
	reply, err = Control(state, ControlRequest{Op: OpToken})
	if err != nil || !strings.Contains(string(reply.Result), "SP:0") {
		t.Fatalf("token: %+v %v", reply, err)
	}
	for _, op := range []string{OpRotatePSK, OpFactoryReset} {
		reply, err = Control(state, ControlRequest{Op: op})
		if err != nil || reply.Error != errRunning.Error() {
			t.Fatalf("%s while running: %+v %v", op, reply, err)
		}
	}
	reply, _ = Control(state, ControlRequest{Op: "nope"})
	if reply.Error != `unknown operation "nope"` {
		t.Fatalf("unknown op: %+v", reply)
	}
}

// A malformed or oversized control request gets an error reply, and the
// socket keeps serving.
func TestControlSocketMalformed(t *testing.T) {
	state := filepath.Join(t.TempDir(), "p")
	startPlayer(t, state, PlayerOptions{Listen: "127.0.0.1:0"})
	for _, req := range []string{"not json\n", strings.Repeat("x", maxControlRequest+10)} {
		c, err := net.Dial("unix", filepath.Join(state, ControlSocket))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, req)
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.Contains(string(b), "malformed control request") {
			t.Fatalf("reply %q", b)
		}
	}
	if reply, err := Control(state, ControlRequest{Op: OpStatus}); err != nil || reply.Error != "" {
		t.Fatalf("after bad requests: %+v %v", reply, err)
	}
}

// The timeline output records silence between streams and starts a new
// file for a new format; a closed stream is never rendered again.
func TestTimelineOutput(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	now := func() int64 { return time.Since(start).Microseconds() }
	o := &TimelineOutput{Path: filepath.Join(dir, "out.wav"), Now: now}
	f := audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
	var closed atomic.Bool
	var calls atomic.Int64
	render := func(out []int32, _ int64) {
		if closed.Load() {
			t.Error("render called after its stream closed")
		}
		calls.Add(1)
		for i := range out {
			out[i] = 1 << 16
		}
	}
	s, err := o.Open(f, render)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "some audio", func() bool { return calls.Load() > 5 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	time.Sleep(50 * time.Millisecond) // silence
	var mu sync.Mutex
	s2, err := o.Open(f, func(out []int32, _ int64) {
		mu.Lock()
		defer mu.Unlock()
		for i := range out {
			out[i] = 2 << 16
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	s2.Close()
	// Another format: a second file.
	s3, err := o.Open(audio.Format{SampleRate: 44100, Channels: 1, BitDepth: 16}, func(out []int32, _ int64) {})
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := audio.OpenWAV(filepath.Join(dir, "out.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]int32, 1<<20)
	n, _ := audio.ReadFull(r, buf)
	// The file runs 1s, then 0s, then 2s: the gap was recorded.
	var runs []int32
	for _, v := range buf[:n] {
		if len(runs) == 0 || runs[len(runs)-1] != v {
			runs = append(runs, v)
		}
	}
	if len(runs) < 3 || runs[0] != 1<<16 || runs[1] != 0 || runs[2] != 2<<16 {
		t.Fatalf("value runs %v, want 1, 0, 2 (<<16)", runs[:min(len(runs), 5)])
	}
	var tm Timing
	if b, err := os.ReadFile(filepath.Join(dir, "out-2.wav.json")); err != nil || json.Unmarshal(b, &tm) != nil || tm.SampleRate != 44100 {
		t.Fatalf("second file's timing: %s %v", b, err)
	}
}

func TestParseOutput(t *testing.T) {
	for spec, ok := range map[string]bool{"null": true, "wav:a.wav": true, "wav:": false, "device": true, "device:hw0": true,
		"device:": false, "": false, "WAV:x": false} {
		if _, _, err := ParseOutput(spec); (err == nil) != ok {
			t.Errorf("ParseOutput(%q) = %v", spec, err)
		}
	}
}

func TestInstanceName(t *testing.T) {
	id := "abcdefghijkl"
	if got := instanceName("Kitchen", id); got != "Kitchen (abcdef)" {
		t.Fatal(got)
	}
	long := strings.Repeat("é", 40) // 80 bytes
	got := instanceName(long, id)
	if len(got) > 63 || !strings.HasSuffix(got, " (abcdef)") || !utf8.ValidString(got) {
		t.Fatalf("%q (%d bytes)", got, len(got))
	}
}

// The server redials a player by how its session ended.
func TestRedialPolicy(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{errors.New("connection refused"), true},
		{&server.Ended{Goodbye: wire.GoodbyeRestart}, true},
		{&server.Ended{Goodbye: wire.GoodbyeShutdown}, false},
		{&server.Ended{Goodbye: wire.GoodbyeAnotherServer}, false},
		{&server.Ended{Goodbye: wire.GoodbyePairingRequired}, false},
		{&server.Ended{Goodbye: wire.GoodbyeConcurrentAttempt}, true},
		{&server.Ended{Activities: session.Playback, Err: io.EOF}, true},
		{&server.Ended{Activities: session.Pairing, Err: io.EOF}, false},
		{&server.Ended{Err: io.EOF}, true},
	}
	for _, c := range cases {
		if got := redialPlayer(c.err); got != c.want {
			t.Errorf("redialPlayer(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
