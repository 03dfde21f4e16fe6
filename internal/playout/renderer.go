package playout

import (
	"math"

	"github.com/tonearm-audio/tonearm/internal/clocksync"
)

// Correction parameters (roles/player/v1.md "Suggested correction strategy").
const (
	// DeadBandUS: errors below this are left alone; beyond it soft
	// correction starts, and goes on until the error is back within
	// SettleUS. The spec suggests about 100 µs with no hysteresis; a
	// steadily drifting clock then sits at the edge of the band (the
	// error reaches 100 µs, one step takes it back to 80, drift takes it
	// to 100 again). Correcting back to the middle keeps the same number
	// of steps a second (the drift sets it) with half the error.
	DeadBandUS = 50
	// SettleUS: where a correction stops, about half a step at 44.1 kHz
	// and above; at lower rates, where one frame is a longer step, half a
	// frame (see settleUS), so a step never overshoots past it.
	SettleUS = 12
	// SnapUS: errors beyond the ±1 ms floor are corrected in one shot.
	SnapUS = 1000
	// stepUS sets the frames dropped or repeated per block so each step
	// lasts about 21 µs at any rate: N = max(1, round(21 µs × rate)).
	stepUS = 21
	// maxSpeedDeviation bounds corrections to ±0.5% of each block.
	maxSpeedDeviation = 0.005
)

// chunk is decoded audio that starts at a server time.
type chunk struct {
	start   int64   // server µs of the first frame
	samples []int32 // interleaved
}

// Stats counts what the renderer did.
type Stats struct {
	FramesOut     int64
	Snaps         int   // one-shot resynchronizations
	Dropped       int64 // frames deleted by soft correction
	Duplicated    int64 // frames repeated by soft correction
	LateChunks    int   // chunks dropped because they were already past
	OverlapFrames int64 // frames dropped from chunks that overlapped queued audio
	SilenceFrames int64 // frames of silence written (underrun, startup wait)
	LastErrorUS   float64
}

// Renderer schedules one stream's audio. Not safe for concurrent use.
type Renderer struct {
	rate, channels int
	queue          []chunk
	// cursor is the server time of the next frame to output, valid when
	// synced; pos indexes into queue[0].samples in frames.
	cursor  float64
	pos     int
	synced  bool
	delayUS int64
	// budget is the frames soft correction may still add or remove: it
	// grows by 0.5% of the frames rendered, so corrections never exceed the
	// spec's speed deviation however small the blocks are.
	budget float64
	// correcting: the error left the dead band and has not settled yet.
	correcting bool
	stats      Stats

	played    Played
	hasPlayed bool
}

// Played pairs the local time at which a frame is heard with the server
// timestamp it was scheduled for (output delay included): the two ends of
// the spec's sync error (roles/player/v1.md "Sync Accuracy").
type Played struct {
	LocalUS  float64
	ServerUS float64
}

// LastPlayed reports the first audio frame of the last rendered block that
// carried audio in sync.
func (r *Renderer) LastPlayed() (Played, bool) { return r.played, r.hasPlayed }

// New returns a renderer for a stream of rate Hz and channels.
func New(rate, channels int) *Renderer { return &Renderer{rate: rate, channels: channels} }

// SetOutputDelay sets output_delay_ms: audio is scheduled that much earlier
// so it leaves the external speakers at the timestamp.
func (r *Renderer) SetOutputDelay(ms int) { r.delayUS = int64(ms) * 1000 }

// MaxBufferedUS bounds the audio a renderer holds: more than a server can
// legitimately send ahead (2 s plus the largest output delay, 5 s, in ours;
// a player's buffer_capacity in any case) with room to spare.
const MaxBufferedUS = 15_000_000

// Push adds a decoded chunk that starts at server time start, and reports
// whether it was kept. Chunks arrive in timeline order (the server never
// overlaps them). A chunk without a whole frame, or one that would make
// the buffer exceed MaxBufferedUS, is dropped.
func (r *Renderer) Push(start int64, samples []int32) bool {
	frames := len(samples) / r.channels
	if n := len(r.queue); n > 0 && frames > 0 {
		// A chunk that starts before the queued audio ends overlaps it: a
		// switch mid-stream to a codec with algorithmic delay, whose
		// chunks are stamped that much earlier and whose first frames are
		// the decoder's warm-up. The audio already queued keeps its place;
		// the overlapping head is dropped.
		last := r.queue[n-1]
		end := float64(last.start) + float64(len(last.samples)/r.channels)*r.usPerFrame()
		if over := end - float64(start); over >= r.usPerFrame()/2 {
			k := int(math.Round(over / r.usPerFrame()))
			if k >= frames {
				return false
			}
			samples, frames = samples[k*r.channels:], frames-k
			start += int64(math.Round(float64(k) * r.usPerFrame()))
			r.stats.OverlapFrames += int64(k)
		}
	}
	if frames == 0 || r.Buffered()+int64(frames)*1_000_000/int64(r.rate) > MaxBufferedUS {
		return false
	}
	r.queue = append(r.queue, chunk{start: start, samples: samples[:frames*r.channels]})
	return true
}

// Clear drops all buffered audio (stream/clear): the next audio snaps.
func (r *Renderer) Clear() { r.queue, r.pos, r.synced, r.correcting = r.queue[:0], 0, false, false }

// Stats returns the counters.
func (r *Renderer) Stats() Stats { return r.stats }

// Buffered is the buffered audio after the cursor, in µs.
func (r *Renderer) Buffered() int64 {
	frames := 0
	for i, c := range r.queue {
		n := len(c.samples) / r.channels
		if i == 0 {
			n -= r.pos
		}
		frames += n
	}
	return int64(frames) * 1_000_000 / int64(r.rate)
}

func (r *Renderer) usPerFrame() float64 { return 1e6 / float64(r.rate) }

// stepFrames is the frames one soft correction drops or repeats.
func (r *Renderer) stepFrames() int { return max(1, int(math.Round(stepUS*float64(r.rate)/1e6))) }

// settleUS is where a correction stops: SettleUS, or more than half a
// step where a step is longer, so that the step that crosses it lands
// within it instead of overshooting to the other side.
func (r *Renderer) settleUS() float64 {
	return max(SettleUS, 0.55*float64(r.stepFrames())*r.usPerFrame())
}

// deadBandUS is where a correction starts: DeadBandUS, or at least a step
// beyond where corrections settle.
func (r *Renderer) deadBandUS() float64 {
	return max(DeadBandUS, r.settleUS()+float64(r.stepFrames())*r.usPerFrame())
}

// Render fills out (whole frames) with what should be heard starting at
// local time localStart, given the current time mapping.
func (r *Renderer) Render(out []int32, localStart int64, m clocksync.Mapping) {
	frames := len(out) / r.channels
	clear(out)
	if frames == 0 || !m.Valid {
		r.stats.SilenceFrames += int64(frames)
		r.stats.FramesOut += int64(frames)
		return
	}
	// The server time that should be heard at localStart: the chunk
	// timestamp minus output_delay maps to the local play time.
	ideal := float64(m.ServerTime(localStart) + r.delayUS)
	errUS := 0.0
	if r.synced {
		errUS = ideal - r.cursor // > 0: the audio going out was due earlier (late)
		r.stats.LastErrorUS = errUS
		if math.Abs(errUS) > SnapUS {
			r.synced = false // beyond the floor: resynchronize in one shot
		}
	}
	if !r.synced {
		// Only when (re)synchronizing are whole chunks judged late; in
		// sync, lateness within the floor is the soft correction's job.
		r.dropLate(ideal)
	}
	if len(r.queue) == 0 {
		r.synced = false
		r.stats.SilenceFrames += int64(frames)
		r.stats.FramesOut += int64(frames)
		return
	}
	written := 0
	switch {
	case !r.synced:
		written = r.snap(out, ideal, frames)
	case r.correcting || math.Abs(errUS) > r.deadBandUS():
		r.correcting = math.Abs(errUS) > r.settleUS()
		if r.correcting {
			written = r.softCorrect(out, frames, errUS)
		}
	}
	if r.synced && len(r.queue) > 0 {
		r.played = Played{LocalUS: float64(localStart) + float64(written)*r.usPerFrame(), ServerUS: r.cursor}
		r.hasPlayed = true
	}
	r.copyFrames(out[written*r.channels:], frames-written)
	r.stats.FramesOut += int64(frames)
	step := max(1, math.Round(stepUS*float64(r.rate)/1e6))
	r.budget = min(r.budget+maxSpeedDeviation*float64(frames), 2*step)
}

// dropLate discards queued chunks that end before the ideal time: late
// audio is dropped, never played (Sync Accuracy).
func (r *Renderer) dropLate(ideal float64) {
	for len(r.queue) > 0 {
		c := r.queue[0]
		end := float64(c.start) + float64(len(c.samples)/r.channels)*r.usPerFrame()
		if end > ideal {
			return
		}
		r.stats.LateChunks++
		r.queue, r.pos = r.queue[1:], 0
	}
}

// snap aligns the cursor with ideal in one shot: it skips the late prefix
// of the first chunk or writes silence until it starts. It returns the
// frames of out already written (silence).
func (r *Renderer) snap(out []int32, ideal float64, frames int) int {
	c := r.queue[0]
	offset := (ideal - float64(c.start)) / r.usPerFrame() // frames into the chunk
	if offset >= 0 {
		r.pos = int(math.Round(offset))
		r.cursor = float64(c.start) + float64(r.pos)*r.usPerFrame()
		r.synced, r.correcting = true, false
		r.stats.Snaps++
		return 0
	}
	wait := int(math.Round(-offset))
	if wait >= frames {
		r.stats.SilenceFrames += int64(frames)
		r.pos = 0
		r.cursor = ideal + float64(frames)*r.usPerFrame()
		// Still waiting: not synced, snap again next block.
		return frames
	}
	r.stats.SilenceFrames += int64(wait)
	r.pos = 0
	r.cursor = float64(c.start)
	r.synced, r.correcting = true, false
	r.stats.Snaps++
	return wait
}

// softCorrect deletes or repeats a few frames at the start of the block.
// It returns the frames of out already written.
func (r *Renderer) softCorrect(out []int32, frames int, errUS float64) int {
	n := r.stepFrames()
	if float64(n) > r.budget || n >= frames {
		return 0
	}
	r.budget -= float64(n)
	if errUS > 0 {
		// Late: delete n frames.
		r.advance(n)
		r.stats.Dropped += int64(n)
		return 0
	}
	// Early: repeat the next frame n times.
	if !r.peek(out[:r.channels]) {
		return 0
	}
	for i := 1; i < n; i++ {
		copy(out[i*r.channels:(i+1)*r.channels], out[:r.channels])
	}
	// The repeats take output time without consuming audio: the rest of the
	// block falls n frames later on the server timeline.
	r.stats.Duplicated += int64(n)
	return n
}

// peek copies the next frame without consuming it.
func (r *Renderer) peek(dst []int32) bool {
	if len(r.queue) == 0 {
		return false
	}
	c := r.queue[0]
	copy(dst, c.samples[r.pos*r.channels:(r.pos+1)*r.channels])
	return true
}

// advance skips n frames.
func (r *Renderer) advance(n int) {
	for n > 0 && len(r.queue) > 0 {
		avail := len(r.queue[0].samples)/r.channels - r.pos
		k := min(n, avail)
		r.pos += k
		n -= k
		r.cursor += float64(k) * r.usPerFrame()
		if r.pos == len(r.queue[0].samples)/r.channels {
			r.nextChunk()
		}
	}
}

func (r *Renderer) nextChunk() {
	r.queue, r.pos = r.queue[1:], 0
	if len(r.queue) > 0 {
		// A gap or overlap between chunks shows up as cursor error and is
		// corrected like drift.
		r.cursor = float64(r.queue[0].start)
	}
}

// copyFrames copies n frames from the queue into out, silence on underrun.
func (r *Renderer) copyFrames(out []int32, n int) {
	for n > 0 {
		if len(r.queue) == 0 {
			r.stats.SilenceFrames += int64(n)
			r.synced = false // underrun: resynchronize on the next audio
			return
		}
		c := r.queue[0]
		avail := len(c.samples)/r.channels - r.pos
		k := min(n, avail)
		copy(out[:k*r.channels], c.samples[r.pos*r.channels:(r.pos+k)*r.channels])
		out = out[k*r.channels:]
		r.pos += k
		n -= k
		r.cursor += float64(k) * r.usPerFrame()
		if r.pos == len(c.samples)/r.channels {
			r.nextChunk()
		}
	}
}
