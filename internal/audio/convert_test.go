package audio

import (
	"io"
	"math"
	"math/rand/v2"
	"testing"
)

// sliceSource is an in-memory Source; chunk > 0 makes every Read return
// at most that many frames, a varying number when rnd is set.
type sliceSource struct {
	f      Format
	s      []int32
	chunk  int
	rnd    *rand.Rand
	closed bool
}

func (s *sliceSource) Format() Format { return s.f }
func (s *sliceSource) Close() error   { s.closed = true; return nil }
func (s *sliceSource) Read(dst []int32) (int, error) {
	if len(s.s) == 0 {
		return 0, io.EOF
	}
	n := min(len(dst), len(s.s)) / s.f.Channels * s.f.Channels
	if s.chunk > 0 {
		c := s.chunk
		if s.rnd != nil {
			c = 1 + s.rnd.IntN(s.chunk)
		}
		n = min(n, c*s.f.Channels)
	}
	copy(dst, s.s[:n])
	s.s = s.s[n:]
	return n, nil
}

// sine is frames of a sine of frequency hz and amplitude amp (full
// scale 1) on every channel of f.
func sine(f Format, frames int, hz, amp float64) []int32 {
	out := make([]int32, 0, frames*f.Channels)
	for i := range frames {
		v := quantize(amp*math.Sin(2*math.Pi*hz*float64(i)/float64(f.SampleRate)), f.BitDepth)
		for range f.Channels {
			out = append(out, v)
		}
	}
	return out
}

func convertAll(t testing.TB, s Source, to Format) []int32 {
	t.Helper()
	c, err := Convert(s, to)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, c)
}

// snr compares channel 0 of got with the ideal sine, skipping edge frames
// at both ends (where the filter sees the silence around the signal).
func snr(got []int32, f Format, hz, amp float64, edge int) float64 {
	var sig, noise float64
	frames := len(got) / f.Channels
	for i := edge; i < frames-edge; i++ {
		want := amp * math.Sin(2*math.Pi*hz*float64(i)/float64(f.SampleRate))
		g := float64(got[i*f.Channels]) / (1 << 31)
		sig += want * want
		noise += (g - want) * (g - want)
	}
	return 10 * math.Log10(sig/noise)
}

// A sine anywhere in the passband (0-0.45 of the lower rate) comes out
// as the same sine at the new rate, with images and aliases below the
// noise: the SNR measures the whole resampler.
func TestResampleSNR(t *testing.T) {
	for _, c := range []struct {
		from, to, depth int
		min             float64 // dB
	}{
		{44100, 48000, 32, 90},
		{48000, 44100, 32, 90},
		{44100, 47999, 32, 90}, // 47999/44100 has 47999 phases: interpolated
		{96000, 44100, 32, 90},
		{22050, 48000, 32, 90},
		{44100, 48000, 16, 80}, // limited by 16-bit quantization (about 92 dB at -6 dBFS)
		{48000, 44100, 16, 80},
	} {
		from := Format{c.from, 1, c.depth}
		to := Format{c.to, 1, c.depth}
		edge := resamplePassband * float64(min(c.from, c.to))
		for _, hz := range []float64{100, 1000, edge / 2, edge} {
			const amp = 0.5
			got := convertAll(t, &sliceSource{f: from, s: sine(from, c.from/2, hz, amp)}, to)
			s := snr(got, to, hz, amp, 400)
			t.Logf("%d -> %d Hz, %d-bit, %.0f Hz: SNR %.1f dB", c.from, c.to, c.depth, hz, s)
			if s < c.min {
				t.Errorf("%d -> %d Hz, %d-bit, %.0f Hz: SNR %.1f dB, want >= %.0f", c.from, c.to, c.depth, hz, s, c.min)
			}
		}
	}
}

// A tone above the target's Nyquist frequency (which would alias) or at
// it is gone: >= 90 dB down.
func TestResampleAliasRejection(t *testing.T) {
	for _, c := range []struct {
		from, to int
		hz       float64
	}{
		{48000, 44100, 22050}, {48000, 44100, 23000}, {48000, 44100, 23990},
		{96000, 44100, 30000}, {96000, 48000, 47000}, {44100, 22050, 11500},
	} {
		from, to := Format{c.from, 1, 32}, Format{c.to, 1, 32}
		const amp = 0.9
		got := convertAll(t, &sliceSource{f: from, s: sine(from, c.from/2, c.hz, amp)}, to)
		var peak float64
		for _, v := range got[400 : len(got)-400] {
			peak = max(peak, math.Abs(float64(v)/(1<<31)))
		}
		db := 20 * math.Log10(peak/amp)
		t.Logf("%d -> %d Hz, %.0f Hz: %.1f dB", c.from, c.to, c.hz, db)
		if db > -90 {
			t.Errorf("%d -> %d Hz, %.0f Hz: only %.1f dB down", c.from, c.to, c.hz, db)
		}
	}
}

// N input frames give ceil(N*to/from) output frames, so the output of a
// concatenation is as long as the concatenated outputs.
func TestResampleLength(t *testing.T) {
	for _, r := range [][2]int{{44100, 48000}, {48000, 44100}, {8000, 48000}, {48000, 8000}, {44100, 47999}, {96000, 44100}} {
		for _, n := range []int{0, 1, 2, 146, 147, 148, 1000, 44099, 44100, 44101} {
			from, to := Format{r[0], 2, 16}, Format{r[1], 2, 16}
			got := convertAll(t, &sliceSource{f: from, s: make([]int32, 2*n)}, to)
			want := (int64(n)*int64(r[1]) + int64(r[0]) - 1) / int64(r[0])
			if int64(len(got)/2) != want {
				t.Errorf("%d -> %d Hz, %d frames: %d out, want %d", r[0], r[1], n, len(got)/2, want)
			}
		}
	}
}

// The output does not depend on how the source delivers its frames or on
// the sizes Read is called with: no click at any block boundary.
func TestResampleBlockIndependence(t *testing.T) {
	from, to := Format{44100, 2, 24}, Format{48000, 2, 24}
	in := sine(from, 20000, 997, 0.7)
	for i := range in { // make the channels differ
		if i%2 == 1 {
			in[i] = -in[i]
		}
	}
	ref := convertAll(t, &sliceSource{f: from, s: in}, to)
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, chunk := range []int{1, 7, 1023, 1025, 5000} {
		c, err := Convert(&sliceSource{f: from, s: in, chunk: chunk, rnd: rnd}, to)
		if err != nil {
			t.Fatal(err)
		}
		var got []int32
		for {
			dst := make([]int32, 2*(1+rnd.IntN(2*chunk)))
			n, err := c.Read(dst)
			got = append(got, dst[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		equalSamples(t, "block sizes", got, ref)
	}
	// And the output is continuous: no step between neighbours larger
	// than the sine's own slope allows.
	maxStep := 0.7 * 2 * math.Pi * 997 / 48000 * 1.01
	for i := 2; i < len(ref); i += 2 {
		if d := math.Abs(float64(ref[i]-ref[i-2]) / (1 << 31)); d > maxStep && i > 400 && i < len(ref)-400 {
			t.Fatalf("frame %d: step %.4f", i/2, d)
		}
	}
}

func TestConvertChannels(t *testing.T) {
	const h = 1 << 28 // a value exact through every mix below
	cases := []struct {
		from, to int
		in, want []int32
	}{
		{1, 2, []int32{h, -h}, []int32{h, h, -h, -h}},
		{2, 1, []int32{h, 3 * h, -h, h}, []int32{2 * h, 0}},
		{2, 4, []int32{h, -h}, []int32{h, -h, 0, 0}},
		{1, 6, []int32{h}, []int32{h, h, 0, 0, 0, 0}},
		// 5.1: L R C LFE Ls Rs; L' = (L + C/sqrt2 + Ls/sqrt2) / (1 + sqrt2)
		{6, 2, []int32{h, 0, 0, 7 * h, 0, 0}, []int32{quantize(0.125/(1+math.Sqrt2), 16), 0}},
		{6, 2, []int32{0, 0, 0, 7 * h, 0, 0}, []int32{0, 0}}, // LFE dropped
		{6, 2, []int32{0, 0, h, 0, 0, 0}, []int32{quantize(0.125*math.Sqrt2/2/(1+math.Sqrt2), 16), quantize(0.125*math.Sqrt2/2/(1+math.Sqrt2), 16)}},
		{6, 2, []int32{0, 0, 0, 0, 0, h}, []int32{0, quantize(0.125*math.Sqrt2/2/(1+math.Sqrt2), 16)}},
		// No clipping at full scale on every channel.
		{6, 2, []int32{math.MaxInt32, math.MaxInt32, math.MaxInt32, math.MaxInt32, math.MaxInt32, math.MaxInt32}, []int32{math.MaxInt32 >> 16 << 16, math.MaxInt32 >> 16 << 16}},
		{10, 2, []int32{h, h, h, h, h, 0, 0, 0, 0, 0}, []int32{quantize(0.125*3/5, 16), quantize(0.125*2/5, 16)}},
	}
	for _, c := range cases {
		from, to := Format{48000, c.from, 16}, Format{48000, c.to, 16}
		got := convertAll(t, &sliceSource{f: from, s: c.in}, to)
		equalSamples(t, from.String()+" to "+to.String(), got, c.want)
	}
}

func TestConvertDepth(t *testing.T) {
	// To 16 bits: rounded to the nearest step, clipped at the top.
	in := []int32{0x12347fff, 0x12348000, -0x12348001, math.MaxInt32, math.MinInt32, 0x7fff8000}
	want := []int32{0x12340000, 0x12350000, -0x12350000, 0x7fff0000, math.MinInt32, 0x7fff0000}
	got := convertAll(t, &sliceSource{f: Format{48000, 1, 24}, s: in}, Format{48000, 1, 16})
	equalSamples(t, "24 to 16", got, want)
	// To more bits: unchanged.
	in = []int32{0x12340000, -0x7fff0000, math.MinInt32}
	got = convertAll(t, &sliceSource{f: Format{48000, 1, 16}, s: in}, Format{48000, 1, 32})
	equalSamples(t, "16 to 32", got, in)
	got = convertAll(t, &sliceSource{f: Format{48000, 1, 32}, s: []int32{0x123456ff}}, Format{48000, 1, 24})
	equalSamples(t, "32 to 24", got, []int32{0x12345700})
}

func TestConvertIdentityAndLimits(t *testing.T) {
	src := &sliceSource{f: Format{48000, 2, 16}}
	if c, err := Convert(src, src.f); err != nil || c != Source(src) {
		t.Fatalf("identity: %v %v", c, err)
	}
	c, _ := Convert(src, Format{44100, 2, 16})
	c.Close()
	if !src.closed {
		t.Fatal("Close did not close the source")
	}
	if _, err := Convert(src, Format{48000, 2, 20}); err == nil {
		t.Fatal("bad target format accepted")
	}
	if _, err := Convert(&sliceSource{f: Format{768000, 1, 16}}, Format{1000, 1, 16}); err == nil {
		t.Fatal("768x downsampling accepted")
	}
}

// BenchmarkResample44to48: one second of 44.1 kHz stereo to 48 kHz.
func BenchmarkResample44to48(b *testing.B) {
	from, to := Format{44100, 2, 16}, Format{48000, 2, 16}
	in := sine(from, 44100, 1000, 0.5)
	out := make([]int32, 2*4096)
	b.ReportAllocs()
	for b.Loop() {
		c, _ := Convert(&sliceSource{f: from, s: in}, to)
		for {
			if _, err := c.Read(out); err != nil {
				break
			}
		}
	}
}

// BenchmarkCopy1s is the reference: reading the same second of samples
// through a Source with the same buffer, no conversion.
func BenchmarkCopy1s(b *testing.B) {
	from := Format{44100, 2, 16}
	in := sine(from, 44100, 1000, 0.5)
	out := make([]int32, 2*4096)
	b.ReportAllocs()
	for b.Loop() {
		s := &sliceSource{f: from, s: in}
		for {
			if _, err := s.Read(out); err != nil {
				break
			}
		}
	}
}
