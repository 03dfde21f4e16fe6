package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// ServerStats is the server side's cost over the measured window.
type ServerStats struct {
	CPUSeconds  float64 `json:"cpu_seconds"` // user + system
	WallSeconds float64 `json:"wall_seconds"`
	RSSBytes    int64   `json:"rss_bytes"`
	HeapBytes   uint64  `json:"heap_bytes"`
	Streaming   int     `json:"streaming"` // players available when the window began
}

// FanoutServer is the server side of the fan-out: the real Tonearm server
// (or the plain baseline), approving every client that connects, as an
// operator would.
type FanoutServer struct {
	URL       string
	srv       *server.Server
	base      *BaselineServer
	st        *store.Store
	hs        *http.Server
	cancel    context.CancelFunc
	cpu0      float64
	wall0     time.Time
	approved  int
	streaming int
}

// StartFanoutServer starts the server on loopback; baseline selects the
// plain WebSocket fan-out.
func StartFanoutServer(dir string, baseline bool) (*FanoutServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &FanoutServer{}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	if baseline {
		f.base = NewBaselineServer()
		f.hs = &http.Server{Handler: f.base}
		f.URL = "ws://" + ln.Addr().String() + "/"
	} else {
		st, err := store.Open(filepath.Join(dir, "server"))
		if err != nil {
			ln.Close()
			return nil, err
		}
		f.st = st
		f.srv, err = server.New(server.Config{Store: st, Name: "bench"})
		if err != nil {
			st.Close()
			ln.Close()
			return nil, err
		}
		f.hs = &http.Server{Handler: f.srv}
		f.URL = "ws://" + ln.Addr().String() + "/sendspin"
		go f.approve(ctx)
	}
	go f.hs.Serve(ln)
	return f, nil
}

// approve plays the operator: every unapproved client is approved.
func (f *FanoutServer) approve(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range f.srv.Clients() {
			if c.Status == server.StatusUnapproved {
				if f.srv.Approve(c.ID, false) == nil {
					f.approved++
				}
			}
		}
	}
}

// settle is the pause between every player being available and the
// start of playback.
const settle = time.Second

// Play starts the stream (the test signal) and the measured window.
func (f *FanoutServer) Play() error {
	if f.srv == nil {
		f.streaming = f.base.Conns()
		f.cpu0, f.wall0 = cpuSeconds(), time.Now()
		return nil // the baseline streams from the start
	}
	// Every client was approved before the load generator said it was
	// ready; the operator stops watching, so that the measured window is
	// the streaming alone, not a console polling the client list.
	f.cancel()
	// The operator plays once every player is available and the server has
	// settled from 2000 handshakes: what is measured is the streaming, as
	// an operator would start it, not a start on the heels of the
	// connections. A start's own cost is the start-up lead's business.
	for wait := time.Now(); time.Since(wait) < 10*time.Second; time.Sleep(100 * time.Millisecond) {
		f.streaming = 0
		all := f.srv.Clients()
		for _, c := range all {
			if c.Available {
				f.streaming++
			}
		}
		if f.streaming == len(all) {
			break
		}
	}
	time.Sleep(settle)
	f.cpu0, f.wall0 = cpuSeconds(), time.Now()
	tone, err := audio.NewTone(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16})
	if err != nil {
		return err
	}
	return f.srv.Play(tone)
}

// Stats ends the window.
func (f *FanoutServer) Stats() ServerStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ServerStats{CPUSeconds: cpuSeconds() - f.cpu0, WallSeconds: time.Since(f.wall0).Seconds(), RSSBytes: rss(),
		HeapBytes: ms.HeapInuse, Streaming: f.streaming}
}

// Close stops everything.
func (f *FanoutServer) Close() {
	f.cancel()
	if f.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = f.srv.Shutdown(ctx)
		cancel()
	}
	f.hs.Close()
	if f.st != nil {
		f.st.Close()
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// rss is the resident set size from /proc (0 where there is none).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// ErrNoTaskset reports a machine without taskset(1), which pins the two
// sides to their cores.
var ErrNoTaskset = errors.New("bench: taskset not found (Debian: apt-get install util-linux)")
