package audio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestChunkConverterMatchesConvert: audio pushed in pieces of any size
// converts to what Convert makes of it whole, frame for frame, except at
// the two edges where one sees silence and the other the held edge frame;
// the frame count is Convert's.
func TestChunkConverterMatchesConvert(t *testing.T) {
	for _, tc := range []struct{ from, to Format }{
		{Format{44100, 2, 24}, Format{48000, 2, 32}},
		{Format{48000, 1, 24}, Format{44100, 2, 32}},
		{Format{48000, 2, 16}, Format{48000, 1, 32}},
		{Format{96000, 2, 24}, Format{48000, 2, 32}},
		{Format{44100, 2, 24}, Format{48000, 1, 32}},
	} {
		const n = 20000
		src := make([]int32, n*tc.from.Channels)
		for i := range n {
			for c := range tc.from.Channels {
				x := 0.4*math.Sin(2*math.Pi*440*float64(i)/float64(tc.from.SampleRate)+float64(c)) +
					0.2*math.Sin(2*math.Pi*3001*float64(i)/float64(tc.from.SampleRate))
				src[i*tc.from.Channels+c] = quantize(x, tc.from.BitDepth)
			}
		}
		whole, err := Convert(&sliceSource{f: tc.from, s: src}, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int32, (n*tc.to.SampleRate/tc.from.SampleRate+2)*tc.to.Channels)
		k, _ := ReadFull(whole, want)
		want = want[:k]

		cc, err := NewChunkConverter(tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var got []int32
		for i := 0; i < n; {
			m := min(n-i, 1+rng.IntN(3000))
			got = cc.Push(got, src[i*tc.from.Channels:(i+m)*tc.from.Channels])
			i += m
		}
		got = cc.Flush(got)
		if len(got) != len(want) {
			t.Fatalf("%v -> %v: %d samples, Convert makes %d", tc.from, tc.to, len(got), len(want))
		}
		edge := 200 * tc.to.Channels // beyond the filter's half length
		for i := edge; i < len(got)-edge; i++ {
			if got[i] != want[i] {
				t.Fatalf("%v -> %v: sample %d is %d, Convert makes %d", tc.from, tc.to, i, got[i], want[i])
			}
		}
		if got2 := cc.Push(nil, src[:100]); len(got2) != 0 {
			t.Fatal("Push after Flush made audio")
		}
	}
}

// TestChunkConverterHoldsEdges: a constant converts to that constant
// everywhere, its first and last frames included: no fade at the edges of
// a run that continues other audio.
func TestChunkConverterHoldsEdges(t *testing.T) {
	cc, err := NewChunkConverter(Format{44100, 1, 24}, Format{48000, 2, 32})
	if err != nil {
		t.Fatal(err)
	}
	src := make([]int32, 4410)
	for i := range src {
		src[i] = 1 << 29
	}
	out := cc.Flush(cc.Push(nil, src))
	if len(out) != 4800*2 {
		t.Fatalf("%d samples, want %d", len(out), 4800*2)
	}
	for i, v := range out {
		if math.Abs(float64(v)-(1<<29)) > 1<<29*1e-6 {
			t.Fatalf("sample %d is %d, want %d", i, v, 1<<29)
		}
	}
}

// BenchmarkChunkConverter: one 100 ms stereo chunk from 44.1 to 48 kHz, as
// a player converting a format change does per chunk.
func BenchmarkChunkConverter(b *testing.B) {
	cc, err := NewChunkConverter(Format{44100, 2, 24}, Format{48000, 2, 32})
	if err != nil {
		b.Fatal(err)
	}
	src := make([]int32, 4410*2)
	for i := range src {
		src[i] = quantize(0.5*math.Sin(float64(i)/20), 24)
	}
	var out []int32
	b.ReportAllocs()
	for b.Loop() {
		out = cc.Push(out[:0], src)
	}
}
