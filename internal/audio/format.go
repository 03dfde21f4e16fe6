package audio

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Format is a PCM format.
type Format struct {
	SampleRate int
	Channels   int
	BitDepth   int // bits per sample on the wire or in the file: 16, 24 or 32
}

// Validate checks a format we can carry as PCM.
func (f Format) Validate() error {
	switch {
	case f.SampleRate < 1 || f.SampleRate > MaxSampleRate:
		return fmt.Errorf("audio: sample rate %d Hz is outside 1-%d", f.SampleRate, MaxSampleRate)
	case f.Channels < 1 || f.Channels > MaxChannels:
		return fmt.Errorf("audio: %d channels is outside 1-%d", f.Channels, MaxChannels)
	case f.BitDepth != 16 && f.BitDepth != 24 && f.BitDepth != 32:
		return fmt.Errorf("audio: bit depth %d is not 16, 24 or 32", f.BitDepth)
	}
	return nil
}

// BytesPerFrame is the size of one frame (a sample per channel) as PCM.
func (f Format) BytesPerFrame() int { return f.Channels * f.BitDepth / 8 }

// FramesToMicros converts a frame count to a duration in µs, rounding down.
func (f Format) FramesToMicros(frames int64) int64 { return frames * 1_000_000 / int64(f.SampleRate) }

func (f Format) String() string {
	return fmt.Sprintf("%d Hz, %d ch, %d-bit", f.SampleRate, f.Channels, f.BitDepth)
}

// Source produces interleaved samples.
type Source interface {
	Format() Format
	// Read fills dst with whole frames and returns the number of samples
	// (a multiple of the channel count); io.EOF after the last.
	Read(dst []int32) (int, error)
	Close() error
}

// Sink consumes interleaved samples.
type Sink interface {
	Write(samples []int32) error
	Close() error
}

// ErrFormat reports audio data that is not what its format says.
var ErrFormat = errors.New("audio: malformed PCM data")

// AppendPCM appends samples as little-endian signed PCM of depth bits
// (roles/player/v1.md "PCM Encoding Convention"; 24-bit packed in 3 bytes).
func AppendPCM(dst []byte, samples []int32, depth int) []byte {
	switch depth {
	case 16:
		for _, s := range samples {
			v := s >> 16
			dst = append(dst, byte(v), byte(v>>8))
		}
	case 24:
		for _, s := range samples {
			v := s >> 8
			dst = append(dst, byte(v), byte(v>>8), byte(v>>16))
		}
	case 32:
		for _, s := range samples {
			dst = append(dst, byte(s), byte(s>>8), byte(s>>16), byte(s>>24))
		}
	}
	return dst
}

// DecodePCM appends the samples of little-endian signed PCM of depth bits
// to dst. The input must hold whole samples.
func DecodePCM(dst []int32, src []byte, depth int) ([]int32, error) {
	bps := depth / 8
	if (depth != 16 && depth != 24 && depth != 32) || len(src)%bps != 0 {
		return dst, ErrFormat
	}
	switch depth {
	case 16:
		for i := 0; i < len(src); i += 2 {
			dst = append(dst, int32(int16(uint16(src[i])|uint16(src[i+1])<<8))<<16)
		}
	case 24:
		for i := 0; i < len(src); i += 3 {
			v := int32(uint32(src[i])<<8 | uint32(src[i+1])<<16 | uint32(src[i+2])<<24)
			dst = append(dst, v)
		}
	case 32:
		for i := 0; i < len(src); i += 4 {
			dst = append(dst, int32(uint32(src[i])|uint32(src[i+1])<<8|uint32(src[i+2])<<16|uint32(src[i+3])<<24))
		}
	}
	return dst, nil
}

// ReadFull reads from src until dst is full of whole frames or the source
// ends; it returns the samples read and io.EOF only when none were.
func ReadFull(src Source, dst []int32) (int, error) {
	n := 0
	for n < len(dst) {
		m, err := src.Read(dst[n:])
		n += m
		if err == io.EOF {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// quantize rounds x (full scale 1) to depth bits, clipped, left-justified.
func quantize(x float64, depth int) int32 {
	scale := float64(int64(1) << (depth - 1))
	q := math.Round(x * scale)
	q = max(-scale, min(scale-1, q))
	return int32(q) << (32 - depth)
}
