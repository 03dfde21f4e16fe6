package device

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

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
