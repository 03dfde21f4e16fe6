package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tonearm-audio/tonearm/internal/bench"
	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

var benchCommand = command{
	name:    "bench",
	summary: "measure fan-out, sync and startup as docs/PERFORMANCE.md reports them",
	usage:   "fanout [--players N,N...] [--seconds S] [--baseline|--both] | startup [--runs N] | pair [--runs N] | sync [--seconds S]",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) == 0 {
				return errors.New("bench: give fanout, startup, pair or sync")
			}
			sub := flag.NewFlagSet("tonearm bench "+args[0], flag.ContinueOnError)
			sub.SetOutput(io.Discard)
			switch args[0] {
			case "fanout":
				players := sub.String("players", "250,500,1000,1500,2000,2500", "player counts to try, in order; stops at the first that fails")
				seconds := sub.Float64("seconds", 60, "measured window per count")
				baseline := sub.Bool("baseline", false, "measure the plain WebSocket fan-out only")
				both := sub.Bool("both", false, "measure Tonearm and the plain WebSocket baseline, in the same run")
				profile := sub.String("cpuprofile", "", "write the server side's CPU profile of the last count to this file")
				if err := sub.Parse(args[1:]); err != nil {
					return fmt.Errorf("bench fanout: %v", err)
				}
				counts, err := parseCounts(*players)
				if err != nil {
					return err
				}
				kinds := []bool{*baseline}
				if *both {
					kinds = []bool{false, true}
				}
				return benchFanout(ctx, e, counts, time.Duration(*seconds*float64(time.Second)), kinds, *profile)
			case "fanout-server": // a child of fanout, pinned to its core
				baseline := sub.Bool("baseline", false, "")
				profile := sub.String("cpuprofile", "", "")
				if err := sub.Parse(args[1:]); err != nil {
					return err
				}
				return fanoutServerChild(e, *baseline, *profile)
			case "fanout-load": // a child of fanout, pinned to its core
				url := sub.String("url", "", "")
				players := sub.Int("players", 0, "")
				seconds := sub.Float64("seconds", 60, "")
				baseline := sub.Bool("baseline", false, "")
				if err := sub.Parse(args[1:]); err != nil {
					return err
				}
				return fanoutLoadChild(ctx, e, *url, *players, time.Duration(*seconds*float64(time.Second)), *baseline)
			case "startup":
				runs := sub.Int("runs", 20, "reconnects to time")
				if err := sub.Parse(args[1:]); err != nil {
					return fmt.Errorf("bench startup: %v", err)
				}
				if *runs < 1 || *runs > 1000 {
					return errors.New("bench startup: --runs must be between 1 and 1000")
				}
				return benchStartup(ctx, e, *runs)
			case "pair":
				runs := sub.Int("runs", 20, "pairings to time per method")
				if err := sub.Parse(args[1:]); err != nil {
					return fmt.Errorf("bench pair: %v", err)
				}
				if *runs < 1 || *runs > 1000 {
					return errors.New("bench pair: --runs must be between 1 and 1000")
				}
				return benchPair(ctx, e, *runs)
			case "sync":
				seconds := sub.Float64("seconds", 10, "how long to play")
				if err := sub.Parse(args[1:]); err != nil {
					return fmt.Errorf("bench sync: %v", err)
				}
				if *seconds <= 0 || *seconds > 600 {
					return errors.New("bench sync: --seconds must be between 0 and 600")
				}
				return runDemo(ctx, e, time.Duration(*seconds*float64(time.Second)), "", false)
			}
			return fmt.Errorf("bench: unknown benchmark %q; give fanout, startup, pair or sync", args[0])
		}
	},
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 20000 {
			return nil, fmt.Errorf("bench fanout: --players takes counts from 1 to 20000, not %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// benchFanout runs the server side pinned to CPU 0 and the load generator
// pinned to CPU 1, for each count until one fails.
func benchFanout(ctx context.Context, e *env, counts []int, window time.Duration, kinds []bool, profile string) error {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return bench.ErrNoTaskset
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "fan-out of 48 kHz stereo 16-bit PCM, server on CPU 0, load generator on CPU 1, %v per count\n", window)
	for _, baseline := range kinds {
		name := "tonearm (encrypted, Sendspin)"
		if baseline {
			name = "baseline (plain WebSocket, 20 ms chunks)"
		}
		fmt.Fprintf(e.stdout, "== %s\n", name)
		best := 0
		for _, n := range counts {
			res, st, err := fanoutOnce(ctx, taskset, self, n, window, baseline, profile)
			if err != nil {
				return err
			}
			verdict := "ok"
			if !res.OK() {
				verdict = "FAIL"
			}
			perPlayerCPU := st.CPUSeconds / st.WallSeconds / float64(n) * 100
			fmt.Fprintf(e.stdout, "%-4s %s\n     server: %.0f%% of a core (%.3f%% per player), RSS %.0f MiB (%.0f KiB per player), %d players available at the start\n",
				verdict, res, st.CPUSeconds/st.WallSeconds*100, perPlayerCPU, float64(st.RSSBytes)/(1<<20),
				float64(st.RSSBytes)/1024/float64(n), st.Streaming)
			if !res.OK() {
				break
			}
			best = n
		}
		fmt.Fprintf(e.stdout, "%s: %d players with every chunk on time\n", name, best)
	}
	return nil
}

func fanoutOnce(ctx context.Context, taskset, self string, n int, window time.Duration, baseline bool, profile string) (bench.Result, bench.ServerStats, error) {
	var res bench.Result
	var st bench.ServerStats
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sargs := []string{"-c", "0", self, "bench", "fanout-server"}
	if baseline {
		sargs = append(sargs, "--baseline")
	}
	if profile != "" {
		sargs = append(sargs, "--cpuprofile", profile)
	}
	srv := exec.CommandContext(ctx, taskset, sargs...)
	srv.Env = append(os.Environ(), childEnv+"=1")
	srv.Stderr = os.Stderr
	sin, _ := srv.StdinPipe()
	sout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		return res, st, err
	}
	defer func() { sin.Close(); srv.Wait() }()
	sr := bufio.NewReader(sout)
	url, err := expectLine(sr, "url ")
	if err != nil {
		return res, st, fmt.Errorf("bench: server side: %w", err)
	}
	largs := []string{"-c", "1", self, "bench", "fanout-load", "--url", url, "--players", strconv.Itoa(n),
		"--seconds", strconv.FormatFloat(window.Seconds(), 'f', -1, 64)}
	if baseline {
		largs = append(largs, "--baseline")
	}
	load := exec.CommandContext(ctx, taskset, largs...)
	load.Env = srv.Env
	load.Stderr = os.Stderr
	lout, _ := load.StdoutPipe()
	if err := load.Start(); err != nil {
		return res, st, err
	}
	defer load.Wait()
	lr := bufio.NewReader(lout)
	if _, err := expectLine(lr, "ready"); err != nil {
		return res, st, fmt.Errorf("bench: load generator: %w", err)
	}
	fmt.Fprintln(sin, "play")
	line, err := expectLine(lr, "result ")
	if err != nil {
		return res, st, fmt.Errorf("bench: load generator: %w", err)
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, st, err
	}
	fmt.Fprintln(sin, "stats")
	line, err = expectLine(sr, "stats ")
	if err != nil {
		return res, st, fmt.Errorf("bench: server side: %w", err)
	}
	err = json.Unmarshal([]byte(line), &st)
	return res, st, err
}

// expectLine reads lines until one starts with prefix and returns the
// rest.
func expectLine(r *bufio.Reader, prefix string) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("ended before %q: %w", strings.TrimSpace(prefix), err)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), strings.TrimSpace(prefix)); ok {
			return strings.TrimSpace(rest), nil
		}
	}
}

func fanoutServerChild(e *env, baseline bool, profile string) error {
	dir, err := os.MkdirTemp("", "tonearm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := bench.StartFanoutServer(dir, baseline)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(e.stdout, "url %s\n", f.URL)
	in := bufio.NewScanner(e.stdin)
	for in.Scan() {
		switch in.Text() {
		case "play":
			if err := f.Play(); err != nil {
				return err
			}
			if profile != "" {
				pf, err := os.Create(profile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(pf); err != nil {
					return err
				}
				defer func() { pprof.StopCPUProfile(); pf.Close() }()
			}
		case "stats":
			b, _ := json.Marshal(f.Stats())
			fmt.Fprintf(e.stdout, "stats %s\n", b)
		}
	}
	return nil
}

func fanoutLoadChild(ctx context.Context, e *env, url string, n int, window time.Duration, baseline bool) error {
	var res bench.Result
	var err error
	if baseline {
		fmt.Fprintln(e.stdout, "ready")
		res, err = bench.RunBaselineLoad(ctx, url, n, window)
	} else {
		res, err = bench.RunLoad(ctx, bench.LoadConfig{URL: url, Players: n, Window: window,
			Ready: func() { fmt.Fprintln(e.stdout, "ready") }})
	}
	if err != nil {
		return err
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(e.stdout, "result %s\n", b)
	return nil
}

// benchStartup times a paired player's reconnect: from the start of the
// WebSocket connection to its client/state with available: true (issue
// 5's target: 300 ms), over loopback.
func benchStartup(ctx context.Context, e *env, runs int) error {
	root, err := os.MkdirTemp("", "tonearm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	sst, err := store.Open(filepath.Join(root, "server"))
	if err != nil {
		return err
	}
	defer sst.Close()
	srv, err := server.New(server.Config{Store: sst, Name: "bench"})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	url := "ws://" + ln.Addr().String() + "/sendspin"
	pst, err := store.Open(filepath.Join(root, "player"))
	if err != nil {
		return err
	}
	defer pst.Close()
	pl, err := player.New(player.Config{Store: pst, Name: "bench"})
	if err != nil {
		return err
	}
	// Pair once by token, as the operator would.
	if _, err := srv.PairWithToken(pl.Token()); err != nil {
		return err
	}
	var active []float64
	connect := func() (time.Duration, error) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		begin := time.Now()
		go func() { done <- pl.Connect(cctx, url) }()
		defer func() { cancel(); <-done }()
		activated := false
		for !pl.Status().Available {
			if !activated && len(pl.Status().Roles) > 0 {
				activated = true
				active = append(active, float64(time.Since(begin))/float64(time.Millisecond))
			}
			select {
			case err := <-done:
				return 0, fmt.Errorf("bench startup: connection ended: %v", err)
			case <-time.After(50 * time.Microsecond):
			}
			if time.Since(begin) > 10*time.Second {
				return 0, errors.New("bench startup: the player never became available")
			}
		}
		took := time.Since(begin)
		if !pl.Status().Paired {
			return 0, errors.New("bench startup: the player is not paired")
		}
		return took, nil
	}
	if _, err := connect(); err != nil { // the pairing connection
		return err
	}
	active = nil
	var ds []float64
	for range runs {
		d, err := connect()
		if err != nil {
			return err
		}
		ds = append(ds, float64(d)/float64(time.Millisecond))
	}
	if len(active) > 0 {
		fmt.Fprintf(e.stdout, "paired reconnect to the first server/activate with roles over loopback (%d runs): %s\n", len(active), spread(active))
	}
	fmt.Fprintf(e.stdout, "paired reconnect to available over loopback (%d runs): %s\n", runs, spread(ds))
	return nil
}

// spread formats p50, p99 and max of durations in ms.
func spread(ds []float64) string {
	ds = slices.Clone(ds)
	sort.Float64s(ds)
	pct := func(q float64) float64 { return ds[max(0, min(len(ds)-1, int(math.Ceil(q*float64(len(ds))))-1))] }
	unit, f := "ms", 1.0
	if ds[len(ds)-1] < 10 {
		unit, f = "us", 1000
	}
	return fmt.Sprintf("p50 %.0f %s, p99 %.0f %s, max %.0f %s", pct(0.5)*f, unit, pct(0.99)*f, unit, ds[len(ds)-1]*f, unit)
}

// benchPair times pairing by each method over loopback, from the
// operator's action to the player holding its record, with the operator's
// input (the code shown) supplied at once.
func benchPair(ctx context.Context, e *env, runs int) error {
	root, err := os.MkdirTemp("", "tonearm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	sst, err := store.Open(filepath.Join(root, "server"))
	if err != nil {
		return err
	}
	defer sst.Close()
	srv, err := server.New(server.Config{Store: sst, Name: "bench"})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	url := "ws://" + ln.Addr().String() + "/sendspin"
	methods := []struct {
		name string
		code player.CodeMethod
	}{{"pairing token", player.CodeOff}, {"dynamic code (digits)", player.CodeDynamic}, {"static code", player.CodeStatic}}
	for _, m := range methods {
		var ds []float64
		for i := range runs {
			d, err := pairOnce(ctx, srv, url, filepath.Join(root, fmt.Sprintf("p-%d-%d", m.code, i)), m.code)
			if err != nil {
				return fmt.Errorf("bench pair: %s: %w", m.name, err)
			}
			ds = append(ds, float64(d)/float64(time.Millisecond))
		}
		fmt.Fprintf(e.stdout, "pairing by %s over loopback (%d runs): %s\n", m.name, runs, spread(ds))
	}
	return nil
}

func pairOnce(ctx context.Context, srv *server.Server, url, dir string, method player.CodeMethod) (time.Duration, error) {
	st, err := store.Open(dir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	shown := make(chan string, 1)
	cfg := player.Config{Store: st, Name: "bench", PairingCode: method,
		OnPairingCode: func(ev player.CodeEvent) {
			if !ev.Stop {
				select {
				case shown <- ev.Text:
				default:
				}
			}
		}}
	var static string
	if method == player.CodeStatic {
		c, err := st.StaticCode(nil)
		if err != nil {
			return 0, err
		}
		static = c.Digits()
	}
	pl, err := player.New(cfg)
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pl.Connect(cctx, url) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !pl.Status().Connected || !listed(srv, pl) {
		if time.Now().After(deadline) {
			return 0, errors.New("the player did not connect")
		}
		time.Sleep(time.Millisecond)
	}
	if method == player.CodeStatic {
		if err := pl.OpenPairingWindow(); err != nil {
			return 0, err
		}
	}
	begin := time.Now()
	switch method {
	case player.CodeOff:
		if _, err := srv.PairWithToken(pl.Token()); err != nil {
			return 0, err
		}
	case player.CodeStatic:
		if err := srv.StartPairing(server.PairRequest{Client: pl.ID(), Method: wire.MethodStaticCode, StaticCode: static}); err != nil {
			return 0, err
		}
	case player.CodeDynamic:
		if err := srv.StartPairing(server.PairRequest{Client: pl.ID(), Method: wire.MethodDynamicCode}); err != nil {
			return 0, err
		}
		select {
		case code := <-shown:
			for srv.PairingState(pl.ID()).Phase != server.PairingAwaitingCode {
				if time.Now().After(deadline) {
					return 0, errors.New("the server never asked for the code")
				}
				time.Sleep(50 * time.Microsecond)
			}
			if err := srv.EnterCode(pl.ID(), code); err != nil {
				return 0, err
			}
		case <-time.After(10 * time.Second):
			return 0, errors.New("no code shown")
		}
	}
	for !pl.Status().Paired {
		if time.Now().After(deadline) {
			return 0, errors.New("the pairing did not complete")
		}
		time.Sleep(50 * time.Microsecond)
	}
	return time.Since(begin), nil
}
