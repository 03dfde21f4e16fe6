package device

import (
	"math/rand/v2"
	"testing"
)

const (
	tlRate   = 48000
	tlPeriod = 480   // frames: 10 ms
	tlBuffer = 30000 // µs: 3 periods
	tlWindow = 50    // callbacks: 500 ms
)

// device simulates a sound card: frame n is heard at anchor + n/rate on
// the player's clock, stretched by drift (ppm, > 0: the card runs slow).
type device struct {
	anchor float64
	drift  float64
}

func (d device) heard(frames int64) float64 {
	return d.anchor + float64(frames)*1e6/tlRate*(1+d.drift*1e-6)
}

// TestTimelineSteady: a write-style device whose thread runs on time is
// asked for each period when its buffer is full: the first frame is heard
// a whole buffer later, exactly.
func TestTimelineSteady(t *testing.T) {
	tl := newTimeline(tlRate, tlBuffer, false, tlWindow)
	for k := range 1000 {
		now := int64(1_000_000 + k*10_000)
		if got := tl.start(now, tlPeriod); got != now+tlBuffer {
			t.Fatalf("callback %d at %d: start %d, want %d", k, now, got, now+tlBuffer)
		}
	}
}

// TestTimelineJitter: callbacks woken late by up to 3 ms (a busy machine)
// must not move the timeline: one punctual callback per window is enough
// to report every buffer's true start.
func TestTimelineJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	d := device{anchor: 5_000_000}
	tl := newTimeline(tlRate, tlBuffer, false, tlWindow)
	worst := 0.0
	for k := range 3000 {
		n := int64(k * tlPeriod)
		truth := d.heard(n)
		late := r.Float64() * 3000
		if k%20 == 0 {
			late = 0
		}
		now := int64(truth - tlBuffer + late)
		got := tl.start(now, tlPeriod)
		if e := float64(got) - truth; e > worst || -e > worst {
			worst = max(e, -e)
		}
	}
	// µs rounding of the frame position and of now only.
	if worst > 1 {
		t.Fatalf("worst error %.1f µs under jitter, want exact to 1 µs", worst)
	}
}

// TestTimelineStartupBurst: an empty buffer is filled by callbacks in a
// burst; their starts are too late (the buffer was not full) but never
// go backwards, and the first callback that finds the buffer full makes
// the timeline exact.
func TestTimelineStartupBurst(t *testing.T) {
	tl := newTimeline(tlRate, tlBuffer, false, tlWindow)
	t0 := int64(2_000_000)
	// Three writes fill the buffer at t0, t0+5, t0+10; the device starts
	// as the third returns, so frame 0 is heard at t0+15 (the buffer's
	// first frame goes out at once) and callback 3 finds the buffer full.
	d := device{anchor: float64(t0 + 15)}
	prev := int64(-1 << 62)
	for k := range 200 {
		now := t0 + int64(k)*5
		if k >= 3 {
			now = int64(d.heard(int64(k*tlPeriod))) - tlBuffer
		}
		got := tl.start(now, tlPeriod)
		truth := int64(d.heard(int64(k * tlPeriod)))
		if got < prev {
			t.Fatalf("callback %d: start %d went back from %d", k, got, prev)
		}
		prev = got
		switch {
		case k < 3 && got < truth:
			t.Fatalf("burst callback %d: start %d before the truth %d", k, got, truth)
		case k >= 3 && got != truth:
			t.Fatalf("callback %d: start %d, want %d", k, got, truth)
		}
	}
}

// TestTimelineDrift: a sound card whose crystal is 100 ppm off the
// player's clock. Fast, the newest bound is always the tightest: exact.
// Slow, the bounds rise and the oldest in the window wins: the lag is
// drift x window, 100 ppm x 500 ms = 50 µs, well inside the renderer's
// 100 µs dead band.
func TestTimelineDrift(t *testing.T) {
	for _, tc := range []struct {
		ppm, maxErr float64
	}{{-100, 1}, {100, 51}} {
		d := device{anchor: 1_000_000, drift: tc.ppm}
		tl := newTimeline(tlRate, tlBuffer, false, tlWindow)
		worst := 0.0
		for k := range 6000 { // a minute
			truth := d.heard(int64(k * tlPeriod))
			got := tl.start(int64(truth)-tlBuffer, tlPeriod)
			if e := truth - float64(got); k > tlWindow && (e > worst || -e > worst) {
				worst = max(e, -e)
			}
		}
		if worst > tc.maxErr {
			t.Errorf("drift %v ppm: worst error %.1f µs, want <= %v", tc.ppm, worst, tc.maxErr)
		}
	}
}

// TestTimelineUnderrun: the device starved for 20 ms, so every later frame
// is heard 20 ms later. Until the old bounds leave the window the timeline
// reports starts 20 ms early (the renderer resynchronizes on the step);
// then it is exact again.
func TestTimelineUnderrun(t *testing.T) {
	d := device{anchor: 1_000_000}
	tl := newTimeline(tlRate, tlBuffer, false, tlWindow)
	const at = 300
	for k := range 600 {
		if k == at {
			d.anchor += 20_000
		}
		truth := int64(d.heard(int64(k * tlPeriod)))
		got := tl.start(truth-tlBuffer, tlPeriod)
		switch {
		case k >= at && k < at+tlWindow-1 && got != truth-20_000:
			t.Fatalf("callback %d, just after the underrun: start %d, want %d (the old timeline)", k, got, truth-20_000)
		case (k < at || k >= at+tlWindow-1) && got != truth:
			t.Fatalf("callback %d: start %d, want %d", k, got, truth)
		}
	}
}

// TestTimelinePull: a pull-style device asks for frames when it has room
// for them: what is ahead is the buffer less the frames asked for.
func TestTimelinePull(t *testing.T) {
	d := device{anchor: 3_000_000}
	tl := newTimeline(tlRate, tlBuffer, true, tlWindow)
	var n int64
	for k := range 500 {
		frames := 240 + 240*(k%3) // 5, 10, 15 ms asks
		truth := int64(d.heard(n))
		now := truth - (tlBuffer - int64(frames)*1_000_000/tlRate)
		if got := tl.start(now, frames); got != truth {
			t.Fatalf("callback %d (%d frames): start %d, want %d", k, frames, got, truth)
		}
		n += int64(frames)
	}
}

// TestTimelineMonotone: whatever the callbacks' timing and sizes, starts
// never go backwards.
func TestTimelineMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, pull := range []bool{false, true} {
		tl := newTimeline(tlRate, tlBuffer, pull, tlWindow)
		now, prev := int64(0), int64(-1<<62)
		for k := range 20000 {
			now += r.Int64N(25_000)
			got := tl.start(now, 1+r.IntN(2000))
			if got < prev {
				t.Fatalf("pull=%v callback %d: start %d after %d", pull, k, got, prev)
			}
			prev = got
		}
	}
}
