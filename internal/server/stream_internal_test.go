package server

import (
	"testing"

	"github.com/tonearm-audio/tonearm/internal/audio"
)

// TestJoinIndex: a late joiner starts at the first chunk at or after its
// earliest time, computed directly rather than by walking the timeline.
func TestJoinIndex(t *testing.T) {
	st := &streamer{format: audio.Format{SampleRate: 44100, Channels: 2, BitDepth: 16}, chunkFrames: 1764, t0: 1_000_000}
	for _, earliest := range []int64{0, 1_000_000, 1_000_001, 1_039_999, 1_040_000, 1_040_001, 98_765_432} {
		next := st.firstChunkAt(earliest)
		walk := int64(0)
		for st.chunkTS(walk) < earliest {
			walk++
		}
		if next != walk {
			t.Fatalf("earliest %d: index %d, walking gives %d", earliest, next, walk)
		}
	}
}
