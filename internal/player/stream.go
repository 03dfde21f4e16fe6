package player

import (
	"errors"
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
type playback struct {
	onPlayed func(playout.Played)
	format   wire.StreamFormat
	decoder  codec.Decoder
	out      OutputStream

	mu      sync.Mutex
	r       *playout.Renderer
	mapping clocksync.Mapping
	gain    float64 // target gain
	applied float64 // gain at the end of the last block: changes ramp over a block
	scratch []int32
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
	applyGain(out, pb.format.Channels, from, to)
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
	if pb := c.pb; pb != nil && pb.format.SampleRate == f.SampleRate && pb.format.Channels == f.Channels {
		// In place: chunks already received stay decoded in the old
		// format; later chunks use the new decoder.
		pb.format, pb.decoder = f, dec
		return nil
	}
	c.stopStream()
	pb := &playback{format: f, decoder: dec, r: playout.New(f.SampleRate, f.Channels), mapping: c.filter.Mapping(),
		onPlayed: c.p.cfg.OnPlayed}
	st := c.p.Status()
	pb.gain = gainOf(st.Volume, st.Muted)
	pb.applied = pb.gain
	pb.r.SetOutputDelay(c.p.cfg.OutputDelayMS)
	depth := f.BitDepth
	if f.Codec == wire.CodecOpus || depth < 16 {
		depth = 16
	}
	out, err := c.p.output().Open(audio.Format{SampleRate: f.SampleRate, Channels: f.Channels, BitDepth: depth}, pb.render)
	if err != nil {
		return err
	}
	pb.out = out
	c.pb = pb
	return nil
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
	pb.mu.Lock()
	kept := pb.r.Push(ch.Timestamp, own)
	pb.mu.Unlock()
	if !kept {
		c.p.log.Debug("chunk dropped: empty, or beyond what a player buffers")
	}
	return nil
}

func (c *conn) onStreamClear(m *wire.StreamClear) {
	if c.pb != nil && (m.Roles == nil || contains(m.Roles, wire.StreamPlayer)) {
		c.pb.mu.Lock()
		c.pb.r.Clear()
		c.pb.mu.Unlock()
	}
}

func (c *conn) onStreamEnd(m *wire.StreamEnd) {
	if m.Roles == nil || contains(m.Roles, wire.StreamPlayer) {
		c.stopStream()
	}
}

func (c *conn) stopStream() {
	if c.pb != nil {
		if err := c.pb.out.Close(); err != nil {
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

// checkOutput stops playback if the output failed: it stops buffering for
// it, logs why, and reports the player unavailable rather than pretend to
// play.
func (c *conn) checkOutput() error {
	if c.pb == nil {
		return nil
	}
	err := c.pb.out.Err()
	if err == nil {
		return nil
	}
	c.p.log.Error("audio output failed; playback stopped", "err", err)
	c.stopStream()
	return c.sendUnavailable()
}
