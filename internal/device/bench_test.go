package device

import (
	"fmt"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/audio"
)

// benchFrames is a 10 ms block at 48 kHz.
const benchFrames = 480

// BenchmarkCallback is the device callback's work for one 10 ms stereo
// block at 48 kHz: the timeline, render (a copy of decoded samples, as
// the renderer does in steady state) and the conversion into the device
// buffer. The cgo crossing into the callback is not included.
func BenchmarkCallback(b *testing.B) {
	for _, depth := range []int{16, 24, 32} {
		b.Run(fmt.Sprintf("s%d", depth), func(b *testing.B) {
			f := audio.Format{SampleRate: 48000, Channels: 2, BitDepth: depth}
			src := make([]int32, benchFrames*f.Channels)
			for i := range src {
				src[i] = int32(i * 0x01010101)
			}
			s := newStream(&Output{Now: clock()}, f, false, func(out []int32, _ int64) { copy(out, src) })
			out := make([]byte, benchFrames*s.bpf)
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			for b.Loop() {
				s.onData(out, nil, benchFrames)
			}
		})
	}
}

// BenchmarkReference is the same-run reference: copying the block's
// rendered samples (what render does), and copying the device buffer's
// bytes at each depth (the least a callback could do).
func BenchmarkReference(b *testing.B) {
	b.Run("render-copy", func(b *testing.B) {
		src := make([]int32, benchFrames*2)
		dst := make([]int32, benchFrames*2)
		b.SetBytes(int64(4 * len(src)))
		for b.Loop() {
			copy(dst, src)
		}
	})
	for _, depth := range []int{16, 24, 32} {
		b.Run(fmt.Sprintf("bytes-s%d", depth), func(b *testing.B) {
			src := make([]byte, benchFrames*2*depth/8)
			dst := make([]byte, len(src))
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}
