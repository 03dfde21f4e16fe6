package player

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/clocksync"
	"github.com/tonearm-audio/tonearm/internal/codec"
	"github.com/tonearm-audio/tonearm/internal/playout"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// playback is the player's active audio stream: the decoder of the format
// in effect, the renderer that schedules decoded audio on the time filter,
// and the open output that pulls from it. The owner goroutine pushes; the
// output's goroutine renders; mu is their meeting point.
//
// The output keeps the rate and channels of the stream/start that began
// the stream. A later stream/start on the active stream is a format update
// in place (messaging.md "stream/start", roles/player/v1.md "stream/start
// player object"): audio already buffered plays out as it was decoded, and
// chunks of a format with another rate or channel count are converted to
// the output's on arrival, so the switch makes no gap (SPEC-NOTES note 67).
type playback struct {
	onPlayed func(playout.Played)
	format   wire.StreamFormat // the format in effect: chunks arriving now are in it
	out      audio.Format      // the output's format
	decoder  codec.Decoder
	conv     *segment // nil while the format in effect has the output's rate and channels
	stream   OutputStream

	mu      sync.Mutex
	r       *playout.Renderer
	mapping clocksync.Mapping
	gain    float64 // target gain
	applied float64 // gain at the end of the last block: changes ramp over a block
	scratch []int32
	// lastChunk is when the last chunk arrived (local µs).
	lastChunk int64
}

// segment converts a run of chunks in a format other than the output's.
// Output frame n of the run is heard at start + n/out rate: the converted
// audio stays on the chunks' timeline.
type segment struct {
	from, to audio.Format
	cc       *audio.ChunkConverter
	open     bool  // a run has begun
	start    int64 // server µs of the run's first frame
	in, out  int64 // frames taken and given
}

func newSegment(from, to audio.Format) (*segment, error) {
	cc, err := audio.NewChunkConverter(from, to)
	if err != nil {
		return nil, err
	}
	return &segment{from: from, to: to, cc: cc}, nil
}

// convert converts one chunk that starts at server time ts and returns
// the converted pieces with their start times. A chunk that does not
// follow the previous one (a gap in the timeline) ends the run: what the
// converter still holds goes out first.
func (sg *segment) convert(ts int64, samples []int32) []piece {
	var pieces []piece
	if sg.open {
		next := sg.start + sg.in*1_000_000/int64(sg.from.SampleRate)
		if d := ts - next; d < -1 || d > 1+1_000_000/int64(sg.from.SampleRate) {
			pieces = sg.flush()
		}
	}
	if !sg.open {
		sg.open, sg.start, sg.in, sg.out = true, ts, 0, 0
	}
	sg.in += int64(len(samples) / sg.from.Channels)
	return append(pieces, sg.emit(sg.cc.Push(nil, samples)))
}

// flush ends the run, returning what the converter still held; the next
// chunk starts a new one.
func (sg *segment) flush() []piece {
	if !sg.open {
		return nil
	}
	p := sg.emit(sg.cc.Flush(nil))
	sg.reset()
	return []piece{p}
}

// reset forgets the run (stream/clear).
func (sg *segment) reset() {
	sg.cc, _ = audio.NewChunkConverter(sg.from, sg.to) // the formats were valid when sg was made
	sg.open = false
}

func (sg *segment) emit(samples []int32) piece {
	p := piece{ts: sg.start + sg.out*1_000_000/int64(sg.to.SampleRate), samples: samples}
	sg.out += int64(len(samples) / sg.to.Channels)
	return p
}

// piece is decoded audio in the output's format and its server start time.
type piece struct {
	ts      int64
	samples []int32
}

// render is called by the output for each block.
func (pb *playback) render(out []int32, localStart int64) {
	pb.mu.Lock()
	pb.r.Render(out, localStart, pb.mapping)
	from, to := pb.applied, pb.gain
	pb.applied = to
	played, ok := pb.r.LastPlayed()
	pb.mu.Unlock()
	if ok && pb.onPlayed != nil && played.LocalUS >= float64(localStart) {
		pb.onPlayed(played)
	}
	applyGain(out, pb.out.Channels, from, to)
}

// applyGain scales a block, ramping linearly from one gain to the other
// across it so a volume change makes no click (roles/player/v1.md "Player
// messages": apply volume changes over a short ramp).
func applyGain(out []int32, channels int, from, to float64) {
	if from == 1 && to == 1 {
		return
	}
	frames := len(out) / channels
	for f := range frames {
		g := to
		if from != to {
			g = from + (to-from)*float64(f+1)/float64(frames)
		}
		for c := range channels {
			i := f*channels + c
			out[i] = int32(float64(out[i]) * g)
		}
	}
}

func (pb *playback) setMapping(m clocksync.Mapping) {
	pb.mu.Lock()
	pb.mapping = m
	pb.mu.Unlock()
}

func (pb *playback) setGain(g float64) {
	pb.mu.Lock()
	pb.gain = g
	pb.mu.Unlock()
}

// gainOf converts volume and mute to a linear gain: amplitude =
// (volume/100)^1.5 (roles/player/v1.md "Player messages").
func gainOf(volume int, muted bool) float64 {
	if muted {
		return 0
	}
	return math.Pow(float64(volume)/100, 1.5)
}

// onStreamStart starts or reconfigures the player stream
// (messaging.md "stream/start", roles/player/v1.md).
func (c *conn) onStreamStart(m *wire.StreamStart) error {
	if m.Player == nil || !c.playerActive() {
		return nil
	}
	f := *m.Player
	dec, err := codec.NewDecoder(f)
	if err != nil {
		// A format we did not list cannot be played; the server broke
		// the rule that it picks from supported_formats.
		return errors.New("player: stream/start with a format this player cannot decode")
	}
	if pb := c.pb; pb != nil {
		return c.reformat(pb, f, dec)
	}
	depth := f.BitDepth
	if f.Codec == wire.CodecOpus || depth < 16 {
		depth = 16
	}
	of := audio.Format{SampleRate: f.SampleRate, Channels: f.Channels, BitDepth: depth}
	pb := &playback{format: f, out: of, decoder: dec, r: playout.New(f.SampleRate, f.Channels),
		mapping: c.filter.Mapping(), onPlayed: c.p.cfg.OnPlayed}
	st := c.p.Status()
	pb.gain = gainOf(st.Volume, st.Muted)
	pb.applied = pb.gain
	pb.r.SetOutputDelay(c.p.cfg.OutputDelayMS)
	out, err := c.p.output().Open(of, pb.render)
	if err != nil {
		return err
	}
	pb.stream = out
	c.pb = pb
	return nil
}

// reformat is a stream/start on the active stream: a format update in
// place. Chunks received before it stay buffered as they were decoded
// (roles/player/v1.md "stream/start player object": clients MUST keep
// buffered chunks and decode each in the format in effect when it was
// received); later chunks use the new decoder and, when the new format's
// rate or channels differ from the output's, a converter. The tail the
// previous format's converter held goes out first: the new format's first
// chunk follows the previous format's last on the timeline.
func (c *conn) reformat(pb *playback, f wire.StreamFormat, dec codec.Decoder) error {
	var conv *segment
	if f.SampleRate != pb.out.SampleRate || f.Channels != pb.out.Channels {
		var err error
		// Converted samples are full int32: the output rounds them to its
		// depth.
		conv, err = newSegment(audio.Format{SampleRate: f.SampleRate, Channels: f.Channels, BitDepth: 32},
			audio.Format{SampleRate: pb.out.SampleRate, Channels: pb.out.Channels, BitDepth: 32})
		if err != nil {
			return fmt.Errorf("player: cannot convert the new stream format to the output's: %w", err)
		}
	}
	if pb.conv != nil {
		c.push(pb, pb.conv.flush())
	}
	pb.format, pb.decoder, pb.conv = f, dec, conv
	return nil
}

// push hands pieces in the output's format to the renderer.
func (c *conn) push(pb *playback, pieces []piece) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	for _, p := range pieces {
		if len(p.samples) == 0 {
			continue
		}
		if !pb.r.Push(p.ts, p.samples) {
			c.p.log.Debug("chunk dropped: beyond what a player buffers")
		}
	}
}

// onAudio takes a player audio chunk.
func (c *conn) onAudio(data []byte) error {
	pb := c.pb
	if pb == nil {
		return nil // outside a stream: the server's fault; dropped
	}
	if err := c.checkOutput(); err != nil || c.pb == nil {
		return err
	}
	ch, err := wire.ParseAudioChunk(data)
	if err != nil {
		return err
	}
	samples, err := pb.decoder.Decode(pb.scratch[:0], ch.Audio)
	if err != nil {
		c.p.log.Debug("undecodable chunk dropped", "err", err)
		return nil
	}
	own := append([]int32(nil), samples...)
	pb.scratch = samples[:0]
	pb.lastChunk = c.p.Now()
	if len(own) == 0 {
		c.p.log.Debug("empty chunk dropped")
		return nil
	}
	if pb.conv != nil {
		c.push(pb, pb.conv.convert(ch.Timestamp, own))
		return nil
	}
	c.push(pb, []piece{{ts: ch.Timestamp, samples: own}})
	return nil
}

func (c *conn) onStreamClear(m *wire.StreamClear) {
	if c.pb != nil && (m.Roles == nil || contains(m.Roles, wire.StreamPlayer)) {
		c.pb.mu.Lock()
		c.pb.r.Clear()
		c.pb.mu.Unlock()
		if c.pb.conv != nil {
			c.pb.conv.reset()
		}
	}
}

func (c *conn) onStreamEnd(m *wire.StreamEnd) {
	if m.Roles == nil || contains(m.Roles, wire.StreamPlayer) {
		c.stopStream()
	}
}

func (c *conn) stopStream() {
	if c.pb != nil {
		if err := c.pb.stream.Close(); err != nil {
			c.p.log.Warn("closing the output", "err", err)
		}
		c.pb = nil
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// outputCheck is how often a playing player looks at its output's health.
const outputCheck = 250 * time.Millisecond

// convertIdle: when no chunk has come for this long, the converter gives up
// the frames it holds for the next chunk (the stream may have ended with
// them); a chunk after that starts a new run.
const convertIdle = 200 * time.Millisecond

// checkOutput stops playback if the output failed: it stops buffering for
// it, logs why, and reports the player unavailable rather than pretend to
// play.
//
// It also flushes a converter that waited for a chunk too long.
func (c *conn) checkOutput() error {
	if c.pb == nil {
		return nil
	}
	err := c.pb.stream.Err()
	if err == nil {
		if pb := c.pb; pb.conv != nil && pb.conv.open && c.p.Now()-pb.lastChunk > convertIdle.Microseconds() {
			c.push(pb, pb.conv.flush())
		}
		return nil
	}
	c.p.log.Error("audio output failed; playback stopped", "err", err)
	c.stopStream()
	return c.sendUnavailable()
}
