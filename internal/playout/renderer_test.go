package playout

import (
	"math"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/clocksync"
)

const rate = 48000

// ramp is a mono source whose sample value is its frame index on the
// server timeline, so what was played identifies exactly when it was meant
// to play.
func ramp(startFrame, n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(startFrame + i)
	}
	return s
}

// stream pushes chunks of chunkFrames covering server time [t0, t0+dur).
func stream(r *Renderer, t0 int64, chunks, chunkFrames int) {
	for k := range chunks {
		f := k * chunkFrames
		r.Push(t0+int64(f)*1_000_000/rate, ramp(f, chunkFrames))
	}
}

// feeder pushes chunks just in time, as a server sending a little ahead.
type feeder struct {
	r           *Renderer
	t0          int64
	chunkFrames int
	next, total int
}

// upTo pushes every chunk starting before server time until.
func (f *feeder) upTo(until int64) {
	for f.next < f.total {
		start := f.t0 + int64(f.next*f.chunkFrames)*1_000_000/rate
		if start >= until {
			return
		}
		f.r.Push(start, ramp(f.next*f.chunkFrames, f.chunkFrames))
		f.next++
	}
}

// TestExactPlayout: with a fixed offset, every output frame is the source
// frame for its instant, from the first frame, after a silent wait.
func TestExactPlayout(t *testing.T) {
	r := New(rate, 1)
	m := clocksync.Mapping{Offset: 5_000_000, Valid: true} // server = local + 5 s
	t0 := int64(10_000_000)                                // server time of frame 0
	stream(r, t0, 100, 960)
	local := t0 - 5_000_000 - 30_000 // start rendering 30 ms before the stream
	out := make([]int32, 480)
	for k := range 150 {
		r.Render(out, local, m)
		for j, v := range out {
			// Blocks start on 10 ms boundaries of the stream: exact frames.
			want := (m.ServerTime(local)-t0)*rate/1_000_000 + int64(j)
			if want < 0 {
				if v != 0 {
					t.Fatalf("block %d frame %d: sound before the stream starts", k, j)
				}
				continue
			}
			if int64(v) != want {
				t.Fatalf("block %d frame %d: played source frame %d, want %d", k, j, v, want)
			}
		}
		local += 10_000
	}
	if p, ok := r.LastPlayed(); !ok || math.Abs(p.ServerUS-float64(m.ServerTime(int64(p.LocalUS)))) > 1 {
		t.Fatalf("last played %+v", p)
	}
	st := r.Stats()
	if st.Snaps != 1 || st.Dropped != 0 || st.Duplicated != 0 || st.SilenceFrames != 1440 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOutputDelay: output_delay_ms makes the same audio play that much
// earlier on the local clock.
func TestOutputDelay(t *testing.T) {
	r := New(rate, 1)
	r.SetOutputDelay(20)
	m := clocksync.Mapping{Valid: true}
	stream(r, 1_000_000, 50, 960)
	out := make([]int32, 480)
	r.Render(out, 980_000, m) // 20 ms before the timestamp
	if out[0] != 0 || out[1] != 1 || out[479] != 479 {
		t.Fatalf("delayed output starts with %d %d", out[0], out[1])
	}
}

// TestDriftCorrection: the local device clock runs 100 ppm fast against the
// server; soft corrections keep the error within the dead band plus a step
// and the speed within 0.5%, with no snap after startup.
func TestDriftCorrection(t *testing.T) {
	for _, ppm := range []float64{100, -100, 300} {
		r := New(rate, 1)
		drift := ppm * 1e-6
		m := clocksync.Mapping{Offset: 0, Drift: drift, LastUpdate: 0, Valid: true}
		t0 := int64(1_000_000)
		feed := &feeder{r: r, t0: t0, chunkFrames: 960, total: 3000} // 60 s
		local := int64(990_000)
		out := make([]int32, 480)
		worst := 0.0
		for k := range 5000 {
			feed.upTo(m.ServerTime(local) + 2_000_000)
			r.Render(out, local, m)
			if k > 10 {
				// The frame heard at local time L should be the source frame
				// for server time ServerTime(L).
				ideal := float64(m.ServerTime(local)-t0) * rate / 1e6
				if e := math.Abs(float64(out[0])-ideal) / rate * 1e6; e > worst {
					worst = e
				}
			}
			local += 10_000
		}
		st := r.Stats()
		if st.Snaps != 1 {
			t.Fatalf("%v ppm: %d snaps", ppm, st.Snaps)
		}
		if worst > DeadBandUS+2*1e6/rate {
			t.Fatalf("%v ppm: worst error %.1f µs", ppm, worst)
		}
		corrections := st.Dropped + st.Duplicated
		wantCorr := math.Abs(drift) * 50 * rate // frames over 50 s
		if float64(corrections) < wantCorr*0.8 || float64(corrections) > wantCorr*1.2+5 {
			t.Fatalf("%v ppm: %d corrected frames, expected about %.0f", ppm, corrections, wantCorr)
		}
		if (drift > 0) != (st.Dropped > st.Duplicated) {
			t.Fatalf("%v ppm: dropped %d duplicated %d", ppm, st.Dropped, st.Duplicated)
		}
	}
}

// TestLateChunksAndClear: chunks already past are dropped, a clear empties
// the buffer, and new audio snaps in.
func TestLateChunksAndClear(t *testing.T) {
	r := New(rate, 2)
	m := clocksync.Mapping{Valid: true}
	r.Push(0, make([]int32, 2*960))      // ends at 20 ms
	r.Push(20_000, make([]int32, 2*960)) // ends at 40 ms
	out := make([]int32, 2*480)
	r.Render(out, 50_000, m)
	if r.Stats().LateChunks != 2 || r.Buffered() != 0 {
		t.Fatalf("late chunks %+v", r.Stats())
	}
	r.Push(60_000, ramp(1, 2*960))
	r.Clear()
	if r.Buffered() != 0 {
		t.Fatal("clear")
	}
	r.Push(100_000, ramp(1, 2*960))
	r.Render(out, 90_000, m)
	if out[0] != 0 || r.Stats().SilenceFrames < 480 {
		t.Fatal("audio before its time")
	}
	r.Render(out, 100_000, m)
	if out[0] != 1 {
		t.Fatalf("first frame after clear: %d", out[0])
	}
	// Invalid mapping: silence, nothing consumed.
	before := r.Buffered()
	r.Render(out, 110_000, clocksync.Mapping{})
	if r.Buffered() != before || out[0] != 0 {
		t.Fatal("rendered without a time mapping")
	}
}

// TestUnderrunResyncs: after a gap in the audio, playback resumes in sync
// with a single snap, not by drifting back.
func TestUnderrunResyncs(t *testing.T) {
	r := New(rate, 1)
	m := clocksync.Mapping{Valid: true}
	stream(r, 0, 5, 960) // 0-100 ms
	out := make([]int32, 480)
	local := int64(0)
	for range 12 { // to 120 ms: underrun for 20 ms
		r.Render(out, local, m)
		local += 10_000
	}
	r.Push(130_000, ramp(6240, 960))
	r.Render(out, 120_000, m)
	r.Render(out, 130_000, m)
	if out[0] != 6240 || out[479] != 6240+479 {
		t.Fatalf("after underrun: %d..%d", out[0], out[479])
	}
	if st := r.Stats(); st.Snaps != 2 {
		t.Fatalf("snaps %d", st.Snaps)
	}
}

// TestSmallBlocksStillCorrect: with 64-frame device periods the speed cap
// is spread over blocks instead of forbidding correction; no extra snaps,
// and the correction rate stays within 0.5%.
func TestSmallBlocksStillCorrect(t *testing.T) {
	r := New(rate, 1)
	m := clocksync.Mapping{Drift: 200e-6, Valid: true}
	feed := &feeder{r: r, t0: 1_000_000, chunkFrames: 960, total: 1000} // 20 s
	out := make([]int32, 64)
	local := float64(990_000)
	var window []int64
	prev := int64(0)
	for range 12000 { // 16 s of 64-frame blocks
		feed.upTo(m.ServerTime(int64(local)) + 2_000_000)
		r.Render(out, int64(local), m)
		local += 64 * 1e6 / rate
		c := r.Stats().Dropped + r.Stats().Duplicated
		window = append(window, c-prev)
		prev = c
		if len(window) > 112 { // ~150 ms of blocks
			window = window[1:]
		}
		sum := int64(0)
		for _, v := range window {
			sum += v
		}
		if float64(sum) > 0.005*float64(len(window)*64)+2 {
			t.Fatalf("%d frames corrected within 150 ms", sum)
		}
	}
	if st := r.Stats(); st.Snaps != 1 || st.Dropped == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPushBounds(t *testing.T) {
	r := New(rate, 2)
	if r.Push(0, nil) || r.Push(0, []int32{1}) {
		t.Fatal("a chunk without a whole frame was kept")
	}
	n := 0
	for r.Push(int64(n)*20_000, make([]int32, 2*960)) {
		n++
		if n > 10_000 {
			t.Fatal("no bound")
		}
	}
	if got := r.Buffered(); got > MaxBufferedUS || got < MaxBufferedUS-20_000 {
		t.Fatalf("buffered %d µs", got)
	}
	// An empty chunk can never reach the corrections.
	r = New(rate, 1)
	r.Push(0, nil)
	r.Push(0, ramp(0, 960))
	out := make([]int32, 480)
	r.Render(out, 0, clocksync.Mapping{Valid: true})
	r.Render(out, 10_000-300, clocksync.Mapping{Valid: true}) // early: a duplicate is due
}

// TestCorrectionSettles: a correction that starts beyond the dead band
// goes on until the error is back within the settle band, and a step never
// overshoots into a correction the other way, at any rate (at 8 kHz one
// frame is a 125 µs step, longer than the dead band itself).
func TestCorrectionSettles(t *testing.T) {
	for _, hz := range []int{8000, 16000, 44100, 48000, 96000} {
		r := New(hz, 1)
		m := clocksync.Mapping{Valid: true}
		blockFrames := hz / 100 // 10 ms
		out := make([]int32, blockFrames)
		chunkFrames := hz / 50
		pushed := 0
		t0 := int64(100_000)
		local := int64(0)
		stepUS := float64(r.stepFrames()) * 1e6 / float64(hz)
		move := math.Round(r.deadBandUS() + 30)
		for k := range 500 { // 5 s
			for t0+int64(pushed)*1_000_000/int64(hz) < local+int64(m.Offset)+1_000_000 {
				r.Push(t0+int64(pushed)*1_000_000/int64(hz), make([]int32, chunkFrames))
				pushed += chunkFrames
			}
			if k == 100 {
				// The mapping moves past the dead band (a new clock-sync
				// estimate): the audio going out is now that much late.
				m.Offset += move
			}
			r.Render(out, local, m)
			local += 10_000
		}
		st := r.Stats()
		if st.Snaps != 1 {
			t.Fatalf("%d Hz: %d snaps", hz, st.Snaps)
		}
		if e := math.Abs(st.LastErrorUS); e > r.settleUS() {
			t.Errorf("%d Hz: error left at %.1f µs, settle band %.1f µs", hz, st.LastErrorUS, r.settleUS())
		}
		steps := (st.Dropped + st.Duplicated) / int64(r.stepFrames())
		want := math.Ceil((move - r.settleUS()) / stepUS)
		if st.Duplicated != 0 || float64(steps) != want {
			t.Errorf("%d Hz: %d steps (%d frames dropped, %d repeated) for a %.0f µs move, want %.0f and none repeated",
				hz, steps, st.Dropped, st.Duplicated, move, want)
		}
	}
}

// TestDriftErrorStaysMid: with a clock 100 ppm fast, corrections bring the
// error back to the settle band each time it reaches the dead band, so it
// spends its time well inside the band rather than at its edge.
func TestDriftErrorStaysMid(t *testing.T) {
	r := New(rate, 1)
	m := clocksync.Mapping{Drift: 100e-6, Valid: true}
	t0 := int64(1_000_000)
	feed := &feeder{r: r, t0: t0, chunkFrames: 960, total: 1500} // 30 s
	local := int64(990_000)
	out := make([]int32, 480)
	var sum, worst float64
	n := 0
	for k := range 2500 {
		feed.upTo(m.ServerTime(local) + 2_000_000)
		r.Render(out, local, m)
		if k > 100 {
			e := math.Abs(r.Stats().LastErrorUS)
			sum += e
			worst = max(worst, e)
			n++
		}
		local += 10_000
	}
	mean := sum / float64(n)
	step := 1e6 / rate
	if worst > DeadBandUS+step+1 {
		t.Errorf("worst error %.1f µs, want <= %.1f", worst, DeadBandUS+step+1)
	}
	if mean > DeadBandUS*3/4 {
		t.Errorf("mean error %.1f µs: the error sits at the band's edge instead of settling back", mean)
	}
	t.Logf("100 ppm: mean |error| %.1f µs, worst %.1f µs", mean, worst)
}

// TestOverlapTrimmed: a chunk stamped before the queued audio ends (a
// switch to a codec whose chunks are stamped earlier by its delay) loses
// its overlapping head; the queued audio and the timeline stay as they
// were, so the output is continuous. A chunk that follows exactly, or
// within half a frame of rounding, is kept whole.
func TestOverlapTrimmed(t *testing.T) {
	r := New(rate, 1)
	m := clocksync.Mapping{Valid: true}
	t0 := int64(100_000)
	r.Push(t0, ramp(0, 4800)) // 100 ms
	// Ends at t0+100 ms; the next starts 6.5 ms (312 frames) earlier, its
	// first 312 frames warm-up junk (-1), then frames 4800 on.
	next := make([]int32, 4800)
	for i := range next {
		next[i] = int32(4800 - 312 + i)
		if i < 312 {
			next[i] = -1
		}
	}
	if !r.Push(t0+100_000-6_500, next) {
		t.Fatal("overlapping chunk refused")
	}
	// Rounding: 1 µs early is no overlap.
	if !r.Push(t0+200_000-6_500-1, ramp(9600-312, 4800)) {
		t.Fatal("following chunk refused")
	}
	if st := r.Stats(); st.OverlapFrames != 312 {
		t.Fatalf("%d frames trimmed, want 312", st.OverlapFrames)
	}
	out := make([]int32, 480)
	local := t0
	for k := 0; k < 29; k++ { // 290 ms of the 293.5 queued
		r.Render(out, local, m)
		for i, v := range out {
			if want := int32(k*480 + i); v != want {
				t.Fatalf("block %d frame %d: %d, want %d", k, i, v, want)
			}
		}
		local += 10_000
	}
}
