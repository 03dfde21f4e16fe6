package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/playout"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

var demoCommand = command{
	name:    "demo",
	summary: "run a server and two players over loopback, play the test signal, report sync",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		seconds := fs.Float64("seconds", 3, "how long to play the test signal")
		outDir := fs.String("out", "", "directory for the players' wav outputs (default: a temporary one, removed)")
		pair := fs.Bool("pair", false, "pair the players by their tokens instead of approving them")
		return noArgs("demo", func(ctx context.Context, e *env) error {
			if *seconds <= 0 || *seconds > 600 {
				return errors.New("demo: --seconds must be between 0 and 600")
			}
			return runDemo(ctx, e, time.Duration(*seconds*float64(time.Second)), *outDir, *pair)
		})
	},
}

// demoPlayer is one in-process player and what it reported.
type demoPlayer struct {
	name       string
	pl         *player.Player
	st         *store.Store
	wav        string
	connectAt  int64 // player clock, µs
	mu         sync.Mutex
	played     []playout.Played
	firstAudio float64
}

func runDemo(ctx context.Context, e *env, dur time.Duration, outDir string, pair bool) error {
	root, err := os.MkdirTemp("", "tonearm-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	keep := outDir != ""
	if !keep {
		outDir = filepath.Join(root, "out")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	// The server, on a loopback port of its own.
	sst, err := store.Open(filepath.Join(root, "server"))
	if err != nil {
		return err
	}
	defer sst.Close()
	srv, err := server.New(server.Config{Store: sst, Name: "Tonearm demo", Log: e.log})
	if err != nil {
		return err
	}
	// The server's sessions end, and write what they note about their
	// clients, before its store closes (defers run last-in first-out).
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: listening on loopback: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sendspin", srv)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	url := "ws://" + ln.Addr().String() + "/sendspin"
	fmt.Fprintf(e.stdout, "server %q listening on %s\n", "Tonearm demo", url)

	ctx, cancel := context.WithCancel(ctx)
	var players []*demoPlayer
	var wg sync.WaitGroup
	// On every return the players stop before their stores close and the
	// state directories are removed (defers run last-in first-out).
	defer func() { cancel(); wg.Wait() }()
	for i := 1; i <= 2; i++ {
		dp := &demoPlayer{name: fmt.Sprintf("player-%d", i), wav: filepath.Join(outDir, fmt.Sprintf("player-%d.wav", i)), firstAudio: -1}
		dp.st, err = store.Open(filepath.Join(root, dp.name))
		if err != nil {
			return err
		}
		defer dp.st.Close()
		var now func() int64
		out := &player.ClockedOutput{
			NewSink: func(f audio.Format) (audio.Sink, error) { return audio.CreateWAV(dp.wav, f) },
			Now:     func() int64 { return now() },
		}
		dp.pl, err = player.New(player.Config{Store: dp.st, Name: dp.name, UnpairedAccess: true, Output: out, Log: e.log,
			OnPlayed: func(p playout.Played) {
				dp.mu.Lock()
				if dp.firstAudio < 0 {
					dp.firstAudio = p.LocalUS
				}
				dp.played = append(dp.played, p)
				dp.mu.Unlock()
			}})
		if err != nil {
			return err
		}
		now = dp.pl.Now
		players = append(players, dp)
		dp.connectAt = dp.pl.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dp.pl.Connect(ctx, url); err != nil && !errors.Is(err, context.Canceled) {
				e.log.Warn("player stopped", "player", dp.name, "err", err)
			}
		}()
	}
	// The operator's step, in process: approve each player (unpaired
	// access), or with --pair enter its pairing token, as read off the
	// device, and wait for both sides to hold the pairing record.
	deadline := time.Now().Add(10 * time.Second)
	for _, dp := range players {
		for !listed(srv, dp.pl) {
			if time.Now().After(deadline) {
				return errors.New("demo: a player did not connect")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !pair {
			if err := srv.Approve(dp.pl.ID(), false); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s connected (%s), approved by the operator\n", dp.name, dp.pl.ID())
			continue
		}
		if _, err := srv.PairWithToken(dp.pl.Token()); err != nil {
			return err
		}
		for !dp.pl.Status().Paired {
			if time.Now().After(deadline) {
				return errors.New("demo: a player did not pair")
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprintf(e.stdout, "%s connected (%s), paired by token\n", dp.name, dp.pl.ID())
	}
	tone, err := audio.NewTone(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16})
	if err != nil {
		return err
	}
	// Wait for both players to report available before playing, as a
	// server would.
	for _, dp := range players {
		for !dp.pl.Status().Available {
			if time.Now().After(deadline) {
				return errors.New("demo: a player never synchronized its clock")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := srv.Play(tone); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "playing the test signal for %v\n", dur)
	select {
	case <-time.After(dur):
	case <-ctx.Done():
		return ctx.Err()
	}
	srv.Stop()
	time.Sleep(50 * time.Millisecond)
	// Offsets between the clocks, known exactly in one process.
	var errs []float64
	for _, dp := range players {
		offset := float64(srv.Now() - dp.pl.Now())
		dp.mu.Lock()
		for _, p := range dp.played {
			errs = append(errs, math.Abs(p.ServerUS-(p.LocalUS+offset)))
		}
		fa := dp.firstAudio
		dp.mu.Unlock()
		if fa < 0 {
			return fmt.Errorf("demo: %s played no audio", dp.name)
		}
		fmt.Fprintf(e.stdout, "%s: first audio %.0f ms after connecting\n", dp.name, (fa-float64(dp.connectAt))/1000)
	}
	cancel()
	wg.Wait()
	sort.Float64s(errs)
	pct := func(q float64) float64 { return errs[min(len(errs)-1, int(q*float64(len(errs))))] }
	fmt.Fprintf(e.stdout, "sync error at the outputs against the server clock (%d blocks): p50 %.0f us, p99 %.0f us, max %.0f us\n",
		len(errs), pct(0.5), pct(0.99), errs[len(errs)-1])
	if !keep {
		// The temporary directory goes away on return: name no file in it.
		return nil
	}
	for _, dp := range players {
		fmt.Fprintf(e.stdout, "%s wrote %s\n", dp.name, dp.wav)
	}
	return nil
}

func listed(srv *server.Server, pl *player.Player) bool {
	for _, c := range srv.Clients() {
		if c.ID == pl.ID() {
			return true
		}
	}
	return false
}
