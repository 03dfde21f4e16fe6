// Package codec encodes and decodes the audio carried in player and source
// chunks (roles/player/v1.md "Codec framing"): PCM always, FLAC always,
// Opus when built with the opus tag. An encoder turns whole frames into one
// chunk's payload and gives the stream's codec_header; a decoder turns a
// chunk back into samples.
//
// Samples are interleaved, left-justified int32 (see package audio). Each
// player gets its own encoder (messaging.md "stream/start": the server
// maintains separate encoding for each client), so encoders keep per-stream
// state and are not safe for concurrent use.
package codec

import (
	"errors"
	"fmt"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Encoder encodes one stream.
type Encoder interface {
	// Format is the stream's format as announced in stream/start.
	Format() wire.AudioFormat
	// CodecHeader is the stream/start codec_header, nil if the codec has
	// none.
	CodecHeader() []byte
	// Encode appends one chunk's payload for whole frames of samples.
	Encode(dst []byte, samples []int32) ([]byte, error)
	// Delay is the encoder's algorithmic delay in frames: the decoded
	// output lags the input by this much (Opus's lookahead; 0 for PCM and
	// FLAC). A chunk's timestamp is when the first sample the decoder emits
	// for it should be heard (roles/player/v1.md "Audio Chunks"; the
	// source role says so of encoder delay outright), so the server stamps
	// each chunk this much earlier than its input.
	Delay() int
	// Coded is how many frames a chunk of n frames is coded as: n, or,
	// for a codec that codes only some durations (Opus), the next one it
	// codes; Pad brings a chunk to it.
	Coded(n int) int
}

// Pad returns samples (interleaved, channels per frame) padded with
// silence to the frames enc codes them as: a source's short last chunk is
// sent whole, not dropped, whatever the codec.
func Pad(enc Encoder, samples []int32, channels int) []int32 {
	want := enc.Coded(len(samples)/channels) * channels
	if want <= len(samples) {
		return samples
	}
	return append(append(make([]int32, 0, want), samples...), make([]int32, want-len(samples))...)
}

// Decoder decodes one stream's chunks.
type Decoder interface {
	// Decode appends the samples of one chunk's payload.
	Decode(dst []int32, payload []byte) ([]int32, error)
}

// ErrUnsupported reports a format this build cannot encode or decode.
var ErrUnsupported = errors.New("codec: format not supported")

// ErrCorrupt reports a chunk that does not decode.
var ErrCorrupt = errors.New("codec: chunk does not decode")

// ErrTooLong reports a chunk holding more audio than a chunk may: the spec
// caps chunks at 150 ms (roles/player/v1.md "Server Audio Send
// Constraints", roles/source/v1.md). Decoders check it before decoding, so
// a few bytes of FLAC cannot unpack into minutes of samples.
var ErrTooLong = errors.New("codec: chunk longer than 150 ms")

// MaxChunkFrames is the most frames a decoder accepts in one chunk at
// rate: 150 ms, plus 10% for encoders that round up to whole codec units.
func MaxChunkFrames(rate int) int { return rate*165/1000 + 1 }

func pcmFormat(f wire.AudioFormat) (audio.Format, error) {
	af := audio.Format{SampleRate: f.SampleRate, Channels: f.Channels, BitDepth: f.BitDepth}
	if err := af.Validate(); err != nil {
		return af, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return af, nil
}

// NewEncoder returns an encoder for f.
func NewEncoder(f wire.AudioFormat) (Encoder, error) {
	switch f.Codec {
	case wire.CodecPCM:
		if _, err := pcmFormat(f); err != nil {
			return nil, err
		}
		return &pcmEncoder{f: f}, nil
	case wire.CodecFLAC:
		return newFLACEncoder(f)
	case wire.CodecOpus:
		return newOpusEncoder(f)
	}
	return nil, ErrUnsupported
}

// NewDecoder returns a decoder for a stream/start (or client-stream/start)
// format.
func NewDecoder(f wire.StreamFormat) (Decoder, error) {
	switch f.Codec {
	case wire.CodecPCM:
		af, err := pcmFormat(f.AudioFormat)
		if err != nil {
			return nil, err
		}
		return &pcmDecoder{f: af}, nil
	case wire.CodecFLAC:
		return newFLACDecoder(f)
	case wire.CodecOpus:
		return newOpusDecoder(f.AudioFormat)
	}
	return nil, ErrUnsupported
}

// Supported reports whether this build can produce f.
func Supported(f wire.AudioFormat) bool {
	e, err := NewEncoder(f)
	return err == nil && e != nil
}

type pcmEncoder struct{ f wire.AudioFormat }

func (e *pcmEncoder) Format() wire.AudioFormat { return e.f }
func (e *pcmEncoder) CodecHeader() []byte      { return nil }
func (e *pcmEncoder) Delay() int               { return 0 }
func (e *pcmEncoder) Coded(n int) int          { return n }
func (e *pcmEncoder) Encode(dst []byte, s []int32) ([]byte, error) {
	if len(s)%e.f.Channels != 0 {
		return dst, audio.ErrFormat
	}
	return audio.AppendPCM(dst, s, e.f.BitDepth), nil
}

type pcmDecoder struct{ f audio.Format }

func (d *pcmDecoder) Decode(dst []int32, p []byte) ([]int32, error) {
	if len(p)%d.f.BytesPerFrame() != 0 {
		return dst, ErrCorrupt
	}
	if len(p)/d.f.BytesPerFrame() > MaxChunkFrames(d.f.SampleRate) {
		return dst, ErrTooLong
	}
	return audio.DecodePCM(dst, p, d.f.BitDepth)
}
