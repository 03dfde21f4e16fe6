package device

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/gen2brain/malgo"
	"github.com/tonearm-audio/tonearm/internal/audio"
)

// TestEncode: the device gets what a wav: output records (audio.AppendPCM,
// little-endian, low bits truncated) for any sample, at every depth. On a
// big-endian host s16 and s32 are byte-swapped by design; the comparison
// is for little-endian hosts.
func TestEncode(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("big-endian host: miniaudio's s16/s32 are native-endian, unlike WAV")
	}
	r := rand.New(rand.NewPCG(5, 6))
	samples := make([]int32, 1001)
	for i := range samples {
		samples[i] = int32(r.Uint32())
	}
	samples[0], samples[1], samples[2] = -1<<31, 1<<31-1, 0
	for _, depth := range []int{16, 24, 32} {
		want := audio.AppendPCM(nil, samples, depth)
		got := make([]byte, len(want)+8)
		encode(got, samples, depth)
		if !bytes.Equal(got[:len(want)], want) {
			t.Fatalf("%d-bit: encode differs from audio.AppendPCM", depth)
		}
		if !bytes.Equal(got[len(want):], make([]byte, 8)) {
			t.Fatalf("%d-bit: encode wrote past its samples", depth)
		}
		encode(got, nil, depth) // an empty block is not an error
	}
}

// TestConverted: a stream format is native when a listed native format
// matches it (zero channels or rate meaning any); with none listed we
// cannot tell and do not claim a conversion.
func TestConverted(t *testing.T) {
	f := audio.Format{SampleRate: 44100, Channels: 2, BitDepth: 24}
	for _, tc := range []struct {
		native []malgo.DataFormat
		want   bool
	}{
		{nil, false},
		{[]malgo.DataFormat{{Format: malgo.FormatS24, Channels: 2, SampleRate: 44100}}, false},
		{[]malgo.DataFormat{{Format: malgo.FormatS24, Channels: 0, SampleRate: 0}}, false},
		{[]malgo.DataFormat{{Format: malgo.FormatS16, Channels: 2, SampleRate: 44100}}, true},
		{[]malgo.DataFormat{{Format: malgo.FormatS24, Channels: 2, SampleRate: 48000}}, true},
		{[]malgo.DataFormat{{Format: malgo.FormatS24, Channels: 1, SampleRate: 44100}, {Format: malgo.FormatS32, Channels: 2, SampleRate: 44100}}, true},
	} {
		if got := converted(tc.native, f); got != tc.want {
			t.Errorf("native %v: converted = %v, want %v", tc.native, got, tc.want)
		}
	}
}
