package player

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/playout"
)

// TestFastClockPlayerStaysInSync: one player's clock runs 100 ppm fast,
// from another origin, and its output's timeline with it (as a sound card
// on the same crystal would); another player runs on the host's clock.
// Both play the same stream for six seconds. The fast player's time filter
// must pick up the drift and its playout repeat frames to hold the
// server's timeline: mapped to the server's clock through true time, its
// output must not drift away (100 µs a second if nothing corrected it).
//
// What it may not do is meet issue 5's p99 of 100 µs: the renderer leaves
// errors inside its dead band (playout.DeadBandUS, the spec's suggested
// ~100 µs) alone, so a steadily drifting clock's error sits at the edge
// of the band, and the filter's estimate error comes on top. The bound
// for it is the band, one correction step, and the filter's allowance.
func TestFastClockPlayerStaysInSync(t *testing.T) {
	const (
		ppm     = 100
		seconds = 6
		// steadyAfter: the filter has its third burst (1.5 s after
		// connecting) and with it a significant drift estimate on loopback.
		steadyAfter = 2 * time.Second
		// filterAllowanceUS: the time filter's own error on loopback.
		filterAllowanceUS = 50.0
	)
	r := newSyncRig(t)
	normal := r.addPlayer("normal", nil)
	fast := r.addPlayer("fast", &skewClock{base: time.Now(), ppm: ppm, offsetUS: 3_600_000_000})
	if err := r.srv.Play(newFrameSource(1, seconds)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the source to end", func() bool { return !r.srv.Playing() })
	r.measure()
	t0 := r.schedule()
	steady := t0[0] + float64(steadyAfter.Microseconds())

	// The normal player: issue 5's target throughout.
	firsts, rep, del, jumps := normal.output()
	checkSync(t, "normal", statsOf(syncErrors(t, firsts, t0, 0)), 400)
	t.Logf("normal: %d frames repeated, %d deleted", rep, del)

	firsts, rep, del, jumps = fast.output()
	all := syncErrors(t, firsts, t0, 0)
	var line string
	for i := 0; i < len(all); i += 50 {
		line += fmt.Sprintf(" %+.0f", all[i])
	}
	t.Logf("fast: error every 0.5 s (µs):%s", line)
	// Every block, from the first: the spec's accuracy target (±0.5 ms),
	// with no one-shot resynchronization after the start.
	whole := statsOf(all)
	t.Logf("fast, whole stream: %v", whole)
	if whole.n < 400 || whole.max > targetMaxUS {
		t.Errorf("fast: %.0f blocks, worst error %.1f µs, want <= %.0f µs", whole.n, whole.max, targetMaxUS)
	}
	if jumps != 0 {
		t.Errorf("fast: %d discontinuities that are not single-frame corrections (a resynchronization)", jumps)
	}
	// Steady state: within the dead band, a step and the filter's error.
	steadyErrs := syncErrors(t, firsts, t0, steady)
	s := statsOf(steadyErrs)
	bound := playout.DeadBandUS + 1e6/rigRate + filterAllowanceUS
	t.Logf("fast, steady state: %v (bound %.0f µs)", s, bound)
	if s.n < 300 || s.p99 > bound {
		t.Errorf("fast: %.0f steady blocks, p99 error %.1f µs, want <= %.0f µs", s.n, s.p99, bound)
	}
	// Not drifting apart: the error's trend over the steady state is flat
	// (uncorrected, it would fall by 100 µs a second).
	var xs []float64
	for _, f := range firsts {
		if f.server >= steady {
			xs = append(xs, f.server/1e6)
		}
	}
	slope := slopeOf(xs, steadyErrs)
	t.Logf("fast: trend of the error in the steady state %+.1f µs/s", slope)
	if math.Abs(slope) > ppm/5 {
		t.Errorf("fast: the error drifts by %+.1f µs a second", slope)
	}
	// And it is the playout that holds it, by repeating frames: the fast
	// output plays every second 100 µs of audio more than the timeline
	// has, about 4.8 frames at 48 kHz, and must repeat that many, give or
	// take the error's change between its first and last block.
	frames := 0
	fast.out.mu.Lock()
	for _, b := range fast.out.blocks {
		for i := 0; i+1 < len(b.samples); i += 2 {
			if _, _, ok := decodeFrame(b.samples[i], b.samples[i+1]); ok {
				frames++
			}
		}
	}
	fast.out.mu.Unlock()
	want := float64(frames) * ppm * 1e-6
	change := (all[len(all)-1] - all[0]) * rigRate / 1e6 // frames
	t.Logf("fast: %d frames repeated, %d deleted over %d frames; drift alone asks for %.1f, the error moved by %+.1f frames",
		rep, del, frames, want, change)
	if net := float64(rep - del); math.Abs(net-(want+change)) > 2 {
		t.Errorf("fast: %d net frames repeated, want %.1f", rep-del, want+change)
	}
	if float64(rep-del) < want/2 {
		t.Errorf("fast: %d net frames repeated for %.1f frames of drift: the playout did not correct it", rep-del, want)
	}
}

// slopeOf is the least-squares slope of ys over xs.
func slopeOf(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
