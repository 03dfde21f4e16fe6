package device

import "math"

// The timing model: when is the first frame of a callback's buffer heard?
//
// The renderer needs, for every buffer the device asks for, the local time
// (the player's clock, µs) at which its first frame leaves the device
// (roles/player/v1.md "Playback Synchronization": the client compensates
// its own audio buffers; output_delay_ms covers only what is beyond the
// port). miniaudio does not report the device's playback position, so we
// derive it from two facts we do know:
//
//  1. The device plays frames at its rate, back to back: once it runs, the
//     frame handed over as number n is heard at anchor + n/rate. Only the
//     anchor is unknown (and it moves slowly with the drift between the
//     sound card's crystal and the player's clock, and jumps after an
//     underrun).
//
//  2. When a callback asks for frames, at most queueAhead frames are still
//     waiting in the device in front of them: the device buffer (periods x
//     period). So the first frame is heard no later than now + queueAhead:
//     a callback woken late only makes the buffer emptier, never fuller.
//     On write-style backends (ALSA, OSS, WASAPI...) miniaudio asks right
//     after the previous blocking write returned, when the buffer is full:
//     the bound is the whole buffer and it is met exactly whenever the
//     thread runs on time. On pull-style backends (PulseAudio, JACK, Core
//     Audio...) the device asks when it has room for the frames it asks
//     for, so the bound is the buffer minus those frames.
//
// Each callback therefore gives an upper bound on the anchor:
// now + queueAhead - n/rate. The timeline keeps the bounds of the last
// timelineWindow and uses the smallest: the callback that ran closest to
// on time. Scheduling jitter (late wake-ups, a busy machine) then costs
// nothing as long as one callback per window was punctual; drift is
// followed with at most drift x window of lag; an underrun (the anchor
// jumps later) is followed once the earlier bounds leave the window, and
// the renderer resynchronizes on the step. At start the buffer is empty
// and fills in a burst of callbacks: their bounds are loose (too late),
// and the first callback that finds the buffer full tightens it.
//
// The reported times never go backwards: when a new bound lowers the
// minimum, the next start is still at least the previous one plus the time
// that passed between the two callbacks (for equal asks; a pull backend
// whose asks grow could step back by the difference, so start is clamped).
//
// What the model cannot see is latency after the buffer: the DAC, a sound
// server's own buffering. Options.ExtraLatency adds it when known, and
// resampling inside miniaudio adds a few frames we ignore.

// timeline maps the frames handed to the device to the local time each
// is heard. It is pure and allocation-free after newTimeline; the device
// callback owns it.
type timeline struct {
	rate int64
	// bufferUS is the device buffer in µs plus the extra latency; pull
	// says the queue ahead of a callback excludes the frames it asks for.
	bufferUS int64
	pull     bool
	frames   int64   // frames handed to the device so far
	last     int64   // the last start returned
	bounds   []int64 // ring of anchor upper bounds, µs
	n, next  int
}

func newTimeline(rate int, bufferUS int64, pull bool, window int) *timeline {
	return &timeline{rate: int64(rate), bufferUS: bufferUS, pull: pull, bounds: make([]int64, max(window, 1)), last: math.MinInt64}
}

// usOf converts a frame count to µs; exact to the µs from the total, so
// rounding never accumulates.
func (t *timeline) usOf(frames int64) int64 { return frames * 1_000_000 / t.rate }

// start returns the local time at which the first of frames is heard when
// the device asks for them at now, and hands them over.
func (t *timeline) start(now int64, frames int) int64 {
	pos := t.usOf(t.frames)
	ahead := t.bufferUS
	if t.pull {
		ahead -= t.usOf(int64(frames))
	}
	bound := now + ahead - pos
	t.bounds[t.next] = bound
	t.next = (t.next + 1) % len(t.bounds)
	t.n = min(t.n+1, len(t.bounds))
	anchor := bound
	for _, b := range t.bounds[:t.n] {
		anchor = min(anchor, b)
	}
	t.frames += int64(frames)
	t.last = max(t.last, anchor+pos)
	return t.last
}
