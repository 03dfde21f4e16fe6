package player

import (
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/playout"
)

// TestDriftingClockPlayersHoldTimeline: one player's clock runs 100 ppm fast,
// from another origin, and its output's timeline with it (as a sound card
// on the same crystal would); a second runs 100 ppm slow; a third runs on
// the host's clock. All play the same stream for eight seconds. Each skewed
// player's time filter must pick up the drift and its playout repeat
// (fast) or delete (slow) frames to hold the server's timeline: mapped to
// the server's clock through true time, its output must not drift away
// (100 µs a second if nothing corrected it).
//
// The renderer corrects from its dead band (playout.DeadBandUS) back to
// its settle band, so a drifting clock's error stays below the band plus
// a step; the filter's estimate error comes on top, which under load can
// be larger than the band. The bound is the band, one correction step,
// and the filter's allowance.
func TestDriftingClockPlayersHoldTimeline(t *testing.T) {
	const (
		ppm     = 100
		seconds = 8
		// steadyAfter: the filter has its fourth burst (3.5 s after
		// connecting) and with it a significant drift estimate. On an idle
		// machine the third (1.5 s) is enough; with both cores busy (CI
		// runs test binaries side by side) its measurements can be too
		// noisy for the drift to count yet, and the error then walks at the
		// full 100 µs/s until the fourth.
		steadyAfter = 4 * time.Second
		// filterAllowanceUS: the time filter's own error on loopback:
		// under 30 µs on an idle machine; with both cores busy (the race
		// detector, other test binaries) one run in a dozen saw 190 µs
		// for a few seconds after a noisy early burst.
		filterAllowanceUS = 200.0
	)
	r := newSyncRig(t)
	normal := r.addPlayer("normal", nil)
	fast := r.addPlayer("fast", &skewClock{base: time.Now(), ppm: ppm, offsetUS: 3_600_000_000})
	slow := r.addPlayer("slow", &skewClock{base: time.Now(), ppm: -ppm, offsetUS: 42})
	if err := r.srv.Play(newFrameSource(1, seconds)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the source to end", func() bool { return !r.srv.Playing() })
	r.measure()
	t0 := r.schedule()
	steady := t0[0] + float64(steadyAfter.Microseconds())

	// The normal player: issue 5's target throughout.
	firsts, rep, del, _ := normal.output()
	checkSync(t, "normal", statsOf(syncErrors(t, firsts, t0, 0)), 400)
	t.Logf("normal: %d frames repeated, %d deleted", rep, del)

	for _, rp := range []*rigPlayer{fast, slow} {
		firsts, rep, del, jumps := rp.output()
		all := syncErrors(t, firsts, t0, 0)
		if len(all) == 0 {
			t.Fatalf("%s: no audio", rp.name)
		}
		var line string
		for i := 0; i < len(all); i += 50 {
			line += fmt.Sprintf(" %+.0f", all[i])
		}
		t.Logf("%s: error every 0.5 s (µs):%s", rp.name, line)
		// Every block, from the first: the spec's accuracy target
		// (±0.5 ms), with no one-shot resynchronization after the start.
		whole := statsOf(all)
		t.Logf("%s, whole stream: %v", rp.name, whole)
		if whole.n < 400 || whole.max > targetMaxUS {
			t.Errorf("%s: %.0f blocks, worst error %.1f µs, want <= %.0f µs", rp.name, whole.n, whole.max, targetMaxUS)
		}
		if jumps != 0 {
			t.Errorf("%s: %d discontinuities that are not single-frame corrections (a resynchronization)", rp.name, jumps)
		}
		// Steady state: within the dead band, a step and the filter's
		// error.
		steadyErrs := syncErrors(t, firsts, t0, steady)
		s := statsOf(steadyErrs)
		bound := playout.DeadBandUS + 1e6/rigRate + filterAllowanceUS
		t.Logf("%s, steady state: %v (bound %.0f µs)", rp.name, s, bound)
		if s.n < 300 || s.p99 > bound {
			t.Errorf("%s: %.0f steady blocks, p99 error %.1f µs, want <= %.0f µs", rp.name, s.n, s.p99, bound)
		}
		// The filter follows the drift: between its bursts (every few
		// seconds) the error holds still. Were the mapping's drift not
		// applied, the error would move by 100 µs every second between
		// bursts, then jump back at each: the typical change from one
		// half second to the next, the median, tells the two apart where
		// the overall trend does not.
		rate := medianRate(firsts, steadyErrs, steady)
		t.Logf("%s: the error moves by a median %.1f µs/s in the steady state", rp.name, rate)
		if rate > 0.6*ppm {
			t.Errorf("%s: the error moves by %.1f µs a second between bursts: the filter does not follow the drift", rp.name, rate)
		}
		// And it is the playout that holds it, frame by frame: a fast
		// output plays 100 µs of audio a second more than the timeline
		// has, about 4.8 frames at 48 kHz, and must repeat that many (a
		// slow one delete them), give or take the error's change between
		// its first and last block.
		frames := 0
		rp.out.mu.Lock()
		for _, b := range rp.out.blocks {
			for i := 0; i+1 < len(b.samples); i += 2 {
				if _, _, ok := decodeFrame(b.samples[i], b.samples[i+1]); ok {
					frames++
				}
			}
		}
		rp.out.mu.Unlock()
		want := float64(frames) * rp.clock.ppm * 1e-6
		change := (all[len(all)-1] - all[0]) * rigRate / 1e6 // frames
		net := float64(rep - del)
		t.Logf("%s: %d frames repeated, %d deleted over %d frames; drift alone asks for %+.1f, the error moved by %+.1f frames",
			rp.name, rep, del, frames, want, change)
		if math.Abs(net-(want+change)) > 2 {
			t.Errorf("%s: %+.0f net frames repeated, want %+.1f", rp.name, net, want+change)
		}
		if net/want < 0.5 {
			t.Errorf("%s: %+.0f net frames repeated for %+.1f frames of drift: the playout did not correct it", rp.name, net, want)
		}
	}
}

// medianRate groups errors (of frames from server time from on) into
// half seconds and returns the median change between consecutive halves'
// means, in µs per second.
func medianRate(firsts []heardFrame, errs []float64, from float64) float64 {
	var means []float64
	sum, n, bucket := 0.0, 0, -1
	i := 0
	for _, f := range firsts {
		if f.server < from {
			continue
		}
		b := int((f.server - from) / 500_000)
		if b != bucket && n > 0 {
			means = append(means, sum/float64(n))
			sum, n = 0, 0
		}
		bucket = b
		sum += errs[i]
		n++
		i++
	}
	var d []float64
	for k := 1; k < len(means); k++ {
		d = append(d, math.Abs(means[k]-means[k-1])*2)
	}
	if len(d) == 0 {
		return math.Inf(1)
	}
	sort.Float64s(d)
	return d[len(d)/2]
}
