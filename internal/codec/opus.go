//go:build opus

package codec

import (
	"fmt"
	"math"
	"slices"

	"gopkg.in/hraban/opus.v2"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Opus (roles/player/v1.md and roles/source/v1.md "Codec framing"): each
// chunk is exactly one Opus packet (RFC 6716) with no container, and there is
// no codec_header; the decoder is configured from the stream's sample_rate
// and channels alone. bit_depth means nothing to Opus: the format keeps
// whatever value it was given.
//
// One packet per chunk means a chunk must hold exactly one Opus frame
// duration: 2.5, 5, 10, 20, 40 or 60 ms, or 80, 100 or 120 ms (which
// libopus 1.2 and later put in one multi-frame packet). Servers send 20 ms
// chunks; the other durations within the 15-150 ms chunk window also work.
//
// This file needs libopus through cgo (gopkg.in/hraban/opus.v2), so it is
// built only with the opus tag; see docs/OPUS.md.

const (
	// opusBitratePerChannel gives 128 kb/s stereo and 64 kb/s mono: music
	// at these rates is transparent for most listeners.
	opusBitratePerChannel = 64000
	// opusMaxPacket bounds one encoded packet. RFC 6716 section 3.2.1
	// (1275 bytes per frame) times 3 covers 120 ms at the highest rate
	// libopus produces (510 kb/s is 7650 bytes per 120 ms).
	opusMaxPacket = 8000
	// opusMaxDuration is the longest packet, in 2.5 ms units (120 ms).
	opusMaxDuration = 48
)

// opusDurations are the packet durations one Opus packet can carry, in 2.5
// ms units.
var opusDurations = []int{1, 2, 4, 8, 16, 24, 32, 40, 48}

// opusFormat checks a format libopus can encode or decode: its five rates and
// one or two channels.
func opusFormat(f wire.AudioFormat) error {
	switch f.SampleRate {
	case 8000, 12000, 16000, 24000, 48000:
	default:
		return fmt.Errorf("%w: Opus needs a sample rate of 8000, 12000, 16000, 24000 or 48000 Hz, not %d",
			ErrUnsupported, f.SampleRate)
	}
	if f.Channels != 1 && f.Channels != 2 {
		return fmt.Errorf("%w: Opus here takes 1 or 2 channels, not %d", ErrUnsupported, f.Channels)
	}
	return nil
}

type opusEncoder struct {
	f   wire.AudioFormat
	enc *opus.Encoder
	pcm []float32
}

func newOpusEncoder(f wire.AudioFormat) (Encoder, error) {
	if err := opusFormat(f); err != nil {
		return nil, err
	}
	enc, err := opus.NewEncoder(f.SampleRate, f.Channels, opus.AppAudio)
	if err != nil {
		return nil, fmt.Errorf("codec: Opus encoder: %w", err)
	}
	if err := enc.SetBitrate(opusBitratePerChannel * f.Channels); err != nil {
		return nil, fmt.Errorf("codec: Opus bitrate: %w", err)
	}
	return &opusEncoder{f: f, enc: enc}, nil
}

func (e *opusEncoder) Format() wire.AudioFormat { return e.f }
func (e *opusEncoder) CodecHeader() []byte      { return nil }

// Delay is libopus's lookahead for the audio application: 2.5 ms of MDCT
// overlap plus 4 ms of delay compensation (what OPUS_GET_LOOKAHEAD
// reports, which the Go binding does not expose); 312 frames at 48 kHz.
// TestOpusEncoderDelay measures it.
func (e *opusEncoder) Delay() int { return e.f.SampleRate/400 + e.f.SampleRate/250 }

// Coded is the shortest packet duration Opus codes that holds n frames
// (2.5 ms up to 120 ms); n itself when none does, which Encode refuses.
func (e *opusEncoder) Coded(n int) int {
	unit := e.f.SampleRate / 400
	for _, d := range opusDurations {
		if d*unit >= n {
			return d * unit
		}
	}
	return n
}

// Encode appends one Opus packet holding exactly the given frames, which must
// make a duration Opus can code as one packet.
func (e *opusEncoder) Encode(dst []byte, s []int32) ([]byte, error) {
	ch := e.f.Channels
	unit := e.f.SampleRate / 400 // frames in 2.5 ms
	if len(s) == 0 || len(s)%ch != 0 || (len(s)/ch)%unit != 0 || !slices.Contains(opusDurations, len(s)/ch/unit) {
		return dst, fmt.Errorf("codec: an Opus chunk must be one Opus frame of 2.5, 5, 10, 20, 40 or 60 ms "+
			"(or 80, 100, 120 ms), %d frames at %d Hz, not %d samples for %d channels",
			e.f.SampleRate/50, e.f.SampleRate, len(s), ch)
	}
	// Float input keeps more than 16 bits of a 24-bit source; libopus codes
	// in float anyway.
	pcm := slices.Grow(e.pcm[:0], len(s))[:len(s)]
	for i, v := range s {
		pcm[i] = float32(v) * (1.0 / (1 << 31))
	}
	e.pcm = pcm
	l := len(dst)
	dst = slices.Grow(dst, opusMaxPacket)
	n, err := e.enc.EncodeFloat32(pcm, dst[l:l+opusMaxPacket:l+opusMaxPacket])
	if err != nil {
		return dst[:l], fmt.Errorf("codec: Opus encode: %w", err)
	}
	return dst[:l+n], nil
}

type opusDecoder struct {
	ch  int
	dec *opus.Decoder
	pcm []float32
}

func newOpusDecoder(f wire.AudioFormat) (Decoder, error) {
	if err := opusFormat(f); err != nil {
		return nil, err
	}
	dec, err := opus.NewDecoder(f.SampleRate, f.Channels)
	if err != nil {
		return nil, fmt.Errorf("codec: Opus decoder: %w", err)
	}
	// Room for the longest packet, 120 ms.
	pcm := make([]float32, f.SampleRate/400*opusMaxDuration*f.Channels)
	return &opusDecoder{ch: f.Channels, dec: dec, pcm: pcm}, nil
}

// Decode appends the samples of one Opus packet. Anything libopus rejects,
// and an empty chunk (an Opus packet has at least one byte), is ErrCorrupt.
func (d *opusDecoder) Decode(dst []int32, p []byte) ([]int32, error) {
	if len(p) == 0 {
		return dst, fmt.Errorf("%w: empty Opus packet", ErrCorrupt)
	}
	n, err := d.dec.DecodeFloat32(p, d.pcm)
	if err != nil {
		// libopus errors (OPUS_INVALID_PACKET, OPUS_BAD_ARG, ...) all
		// mean this packet does not decode.
		return dst, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	for _, v := range d.pcm[:n*d.ch] {
		dst = append(dst, floatToInt32(v))
	}
	return dst, nil
}

// floatToInt32 scales a decoded sample to the left-justified int32 range,
// clipping: Opus's float output may overshoot full scale slightly.
func floatToInt32(v float32) int32 {
	x := float64(v) * (1 << 31)
	switch {
	case x >= math.MaxInt32:
		return math.MaxInt32
	case x <= math.MinInt32:
		return math.MinInt32
	case x != x: // NaN; libopus does not produce it, but never trust a cast
		return 0
	}
	return int32(math.Round(x))
}
