//go:build opus

package codec

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// opusLookahead is libopus's algorithmic delay for the audio application at
// 48 kHz: 2.5 ms of frame overlap plus 4 ms of encoder lookahead
// (OPUS_GET_LOOKAHEAD). Decoded audio lags the input by this much.
const opusLookahead = 312

func opusFmt(rate, ch int) wire.AudioFormat {
	return wire.AudioFormat{Codec: wire.CodecOpus, SampleRate: rate, Channels: ch, BitDepth: 16}
}

// opusTone is the test signal with the second channel inverted, so a codec
// that mixed the channels down would fail.
func opusTone(f wire.AudioFormat, frames int) []int32 {
	t, err := audio.NewTone(audio.Format{SampleRate: f.SampleRate, Channels: f.Channels, BitDepth: 16})
	if err != nil {
		panic(err)
	}
	s := make([]int32, frames*f.Channels)
	t.Read(s)
	for i := 1; i < len(s); i += f.Channels {
		s[i] = -s[i]
	}
	return s
}

// opusRun encodes in as chunks of chunk frames, decoding each on its own, and
// checks each chunk decodes to exactly its frames.
func opusRun(t testing.TB, f wire.AudioFormat, in []int32, chunk int) []int32 {
	t.Helper()
	enc, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(wire.StreamFormat{AudioFormat: f, CodecHeader: enc.CodecHeader()})
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	var pkt []byte
	n := chunk * f.Channels
	for off := 0; off+n <= len(in); off += n {
		pkt, err = enc.Encode(pkt[:0], in[off:off+n])
		if err != nil {
			t.Fatalf("chunk at sample %d: %v", off, err)
		}
		before := len(out)
		out, err = dec.Decode(out, pkt)
		if err != nil {
			t.Fatalf("chunk at sample %d: %v", off, err)
		}
		if len(out)-before != n {
			t.Fatalf("chunk of %d samples decoded to %d", n, len(out)-before)
		}
	}
	return out
}

// snrAt is the signal to noise ratio in dB of out, delayed by lag frames,
// against in, per channel, skipping the first skip frames (the encoder's
// start-up).
func snrAt(in, out []int32, ch, lag, skip int) []float64 {
	res := make([]float64, ch)
	for c := range ch {
		var sig, noise float64
		for i := skip; (i+lag)*ch+c < len(out) && i*ch+c < len(in); i++ {
			x := float64(in[i*ch+c])
			d := float64(out[(i+lag)*ch+c]) - x
			sig += x * x
			noise += d * d
		}
		res[c] = 10 * math.Log10(sig/math.Max(noise, 1))
	}
	return res
}

func TestOpusRoundTrip(t *testing.T) {
	for _, tc := range []struct{ ch, ms int }{{2, 20}, {1, 20}, {2, 60}, {1, 60}} {
		f := opusFmt(48000, tc.ch)
		chunk := 48000 * tc.ms / 1000
		in := opusTone(f, 48000*6/5/chunk*chunk) // 1.2 s, crossing a pip
		out := opusRun(t, f, in, chunk)
		// Align by searching the lag: it must be the encoder's lookahead.
		best, bestLag := math.Inf(-1), -1
		for lag := 0; lag < 2000; lag++ {
			if s := snrAt(in, out, tc.ch, lag, 4800)[0]; s > best {
				best, bestLag = s, lag
			}
		}
		snr := snrAt(in, out, tc.ch, opusLookahead, 4800)
		t.Logf("48 kHz, %d ch, %d ms: best lag %d, SNR %.1f dB per channel %.1f", tc.ch, tc.ms, bestLag, best, snr)
		if bestLag != opusLookahead {
			t.Errorf("%d ch %d ms: output lags by %d frames, want %d", tc.ch, tc.ms, bestLag, opusLookahead)
		}
		for c, s := range snr {
			if s < 20 {
				t.Errorf("%d ch %d ms: channel %d SNR %.1f dB, want > 20", tc.ch, tc.ms, c, s)
			}
		}
	}
}

func TestOpusFormat(t *testing.T) {
	for _, depth := range []int{16, 24} {
		f := opusFmt(48000, 2)
		f.BitDepth = depth
		enc, err := NewEncoder(f)
		if err != nil {
			t.Fatal(err)
		}
		if enc.Format() != f {
			t.Errorf("format %+v, want %+v", enc.Format(), f)
		}
		if enc.CodecHeader() != nil {
			t.Error("Opus has a codec_header")
		}
		if !Supported(f) {
			t.Errorf("%+v not supported", f)
		}
	}
	// Every rate and channel count libopus supports encodes and decodes.
	for _, rate := range []int{8000, 12000, 16000, 24000, 48000} {
		for _, ch := range []int{1, 2} {
			f := opusFmt(rate, ch)
			out := opusRun(t, f, opusTone(f, rate/10), rate/50)
			if len(out) != rate/10*ch {
				t.Errorf("%d Hz %d ch: %d samples", rate, ch, len(out))
			}
		}
	}
}

func TestOpusUnsupported(t *testing.T) {
	for _, f := range []wire.AudioFormat{
		opusFmt(44100, 2), opusFmt(96000, 2), opusFmt(0, 2), opusFmt(-48000, 2),
		opusFmt(48000, 0), opusFmt(48000, 3), opusFmt(48000, 6),
	} {
		_, err := NewEncoder(f)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Opus") {
			t.Errorf("encoder %+v: %v", f, err)
		}
		if _, err := NewDecoder(wire.StreamFormat{AudioFormat: f}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("decoder %+v: %v", f, err)
		}
		if Supported(f) {
			t.Errorf("%+v reported supported", f)
		}
	}
}

func TestOpusFrameSizes(t *testing.T) {
	for _, rate := range []int{8000, 48000} {
		unit := rate / 400 // 2.5 ms
		for _, ch := range []int{1, 2} {
			f := opusFmt(rate, ch)
			// Every packet duration, 2.5 to 120 ms.
			for _, d := range opusDurations {
				out := opusRun(t, f, opusTone(f, 2*d*unit), d*unit)
				if len(out) != 2*d*unit*ch {
					t.Errorf("%d Hz %d ch, %.1f ms: %d samples", rate, ch, float64(d)*2.5, len(out))
				}
			}
			enc, _ := NewEncoder(f)
			for _, frames := range []int{0, 1, unit - 1, unit + 1, 3 * unit, 6 * unit, 12 * unit, 8*unit - 1,
				8*unit + 1, 56 * unit, 60 * unit} {
				dst := []byte("kept")
				got, err := enc.Encode(dst, opusTone(f, frames))
				if err == nil || !strings.Contains(err.Error(), "one Opus frame") {
					t.Errorf("%d Hz %d ch: %d frames: %v", rate, ch, frames, err)
				}
				if string(got) != "kept" {
					t.Errorf("failed Encode changed dst to %q", got)
				}
			}
			if ch == 2 {
				// A partial frame.
				if _, err := enc.Encode(nil, make([]int32, 8*unit*2+1)); err == nil {
					t.Errorf("%d Hz: odd sample count encoded", rate)
				}
			}
		}
	}
}

// opusBadPackets are chunks that are not Opus packets (RFC 6716 section
// 3.4 rules R1-R7).
var opusBadPackets = [][]byte{
	nil,
	{},
	{0x01, 0x00},             // code 1: two equal frames need an even length
	{0x02, 0xff},             // code 2: first frame longer than the packet
	{0x03},                   // code 3 without its frame count byte
	{0x03, 0x00},             // code 3 with no frames
	{0x03 | 0x18<<3, 49},     // code 3: 49 x 2.5 ms is over 120 ms
	{0x03, 0x83, 0xff, 0xff}, // code 3 VBR: frame lengths past the end
}

func TestOpusCorrupt(t *testing.T) {
	f := opusFmt(48000, 2)
	enc, _ := NewEncoder(f)
	dec, _ := NewDecoder(wire.StreamFormat{AudioFormat: f})
	good, err := enc.Encode(nil, opusTone(f, 960))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range opusBadPackets {
		out, err := dec.Decode([]int32{7}, bad)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("% x: %v", bad, err)
		}
		if len(out) != 1 || out[0] != 7 {
			t.Errorf("% x: failed Decode changed dst", bad)
		}
		// The decoder goes on decoding good packets.
		if out, err := dec.Decode(nil, good); err != nil || len(out) != 2*960 {
			t.Fatalf("after % x: %d samples, %v", bad, len(out), err)
		}
	}
}

func TestFloatToInt32(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want int32
	}{
		{0, 0}, {0.5, 1 << 30}, {-0.5, -1 << 30}, {1, math.MaxInt32}, {1.5, math.MaxInt32},
		{-1, math.MinInt32}, {-2, math.MinInt32}, {float32(math.NaN()), 0},
		{float32(math.Inf(1)), math.MaxInt32}, {float32(math.Inf(-1)), math.MinInt32},
	} {
		if got := floatToInt32(c.in); got != c.want {
			t.Errorf("floatToInt32(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

// FuzzOpusDecode feeds arbitrary chunks to Opus decoders: errors are fine,
// panics, partial frames and more than 120 ms of output are not.
func FuzzOpusDecode(f *testing.F) {
	for _, af := range []wire.AudioFormat{opusFmt(48000, 2), opusFmt(48000, 1), opusFmt(16000, 2)} {
		enc, _ := NewEncoder(af)
		for _, frames := range []int{af.SampleRate / 400, af.SampleRate / 50, af.SampleRate * 3 / 50} {
			c, err := enc.Encode(nil, opusTone(af, frames))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(c)
		}
		c, _ := enc.Encode(nil, make([]int32, af.SampleRate/50*af.Channels))
		f.Add(c)
	}
	for _, b := range opusBadPackets {
		f.Add(bytes.Clone(b))
	}
	formats := []wire.AudioFormat{opusFmt(48000, 2), opusFmt(8000, 1)}
	f.Fuzz(func(t *testing.T, chunk []byte) {
		for _, af := range formats {
			dec, err := NewDecoder(wire.StreamFormat{AudioFormat: af})
			if err != nil {
				t.Fatal(err)
			}
			out, err := dec.Decode(nil, chunk)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) || len(out) != 0 {
					t.Fatalf("%d bytes: %d samples with error %v", len(chunk), len(out), err)
				}
				continue
			}
			if len(out)%af.Channels != 0 || len(out) > af.SampleRate*120/1000*af.Channels {
				t.Fatalf("%d bytes: %d samples", len(chunk), len(out))
			}
		}
	})
}

func BenchmarkOpusEncode(b *testing.B) {
	f := opusFmt(48000, 2)
	enc, _ := NewEncoder(f)
	in := opusTone(f, 48000)
	var pkt []byte
	var err error
	i := 0
	for b.Loop() {
		off := i % 50 * 960 * 2
		if pkt, err = enc.Encode(pkt[:0], in[off:off+960*2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(len(pkt)), "bytes/chunk")
}

func BenchmarkOpusDecode(b *testing.B) {
	f := opusFmt(48000, 2)
	enc, _ := NewEncoder(f)
	dec, _ := NewDecoder(wire.StreamFormat{AudioFormat: f})
	in := opusTone(f, 48000)
	var pkts [][]byte
	for off := 0; off < len(in); off += 960 * 2 {
		p, err := enc.Encode(nil, in[off:off+960*2])
		if err != nil {
			b.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	out := make([]int32, 0, 960*2)
	var err error
	i := 0
	for b.Loop() {
		if out, err = dec.Decode(out[:0], pkts[i%len(pkts)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestOpusJoinMidStream checks a decoder started at any packet converges,
// so one encoder may serve every player of a group in the same format
// (GUIDE section 7) and a player may join mid-stream. Measured: the first
// packets come out quiet (-10 dB, rising as libopus's energy prediction
// settles), never loud, and full quality returns within about 140 ms.
func TestOpusJoinMidStream(t *testing.T) {
	f := opusFmt(48000, 2)
	enc, _ := NewEncoder(f)
	in := opusTone(f, 48000)
	var pkts [][]byte
	for off := 0; off < len(in); off += 960 * 2 {
		p, err := enc.Encode(nil, in[off:off+960*2])
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	const join = 17 // a packet in the middle of the 440 Hz stretch
	dec, _ := NewDecoder(wire.StreamFormat{AudioFormat: f})
	var out []int32
	for _, p := range pkts[join:] {
		var err error
		if out, err = dec.Decode(out, p); err != nil {
			t.Fatal(err)
		}
	}
	// in[join*960+i] comes out at out[i+opusLookahead]; check each 20 ms.
	for w := 0; (w+1)*960+opusLookahead <= len(out)/2; w++ {
		a := in[(join+w)*960*2 : (join+w+1)*960*2]
		b := out[(w*960+opusLookahead)*2 : ((w+1)*960+opusLookahead)*2]
		var ea, eb float64
		for i := range a {
			ea += float64(a[i]) * float64(a[i])
			eb += float64(b[i]) * float64(b[i])
		}
		level := 10 * math.Log10(eb/ea)
		snr := snrAt(a, b, 2, 0, 0)
		if w < 10 {
			t.Logf("20 ms window %d after joining: level %+.1f dB, SNR %.1f dB", w, level, snr[0])
		}
		if level > 1 {
			t.Errorf("window %d after joining is %.1f dB louder than the input", w, level)
		}
		if w >= 7 && (snr[0] < 20 || snr[1] < 20) {
			t.Errorf("window %d after joining: SNR %.1f dB", w, snr)
		}
	}
}

// TestOpusEncoderDelay: the delay the encoder reports, which the server
// stamps its chunks earlier by, is the lag measured between what goes in
// and what the decoder gives back, at every rate Opus takes.
func TestOpusEncoderDelay(t *testing.T) {
	for _, rate := range []int{48000, 24000, 16000, 12000, 8000} {
		f := opusFmt(rate, 1)
		enc, err := NewEncoder(f)
		if err != nil {
			t.Fatal(err)
		}
		chunk := rate / 50
		in := opusTone(f, rate*6/5/chunk*chunk)
		out := opusRun(t, f, in, chunk)
		best, bestLag := math.Inf(-1), -1
		for lag := 0; lag < rate/20; lag++ {
			if s := snrAt(in, out, 1, lag, rate/10)[0]; s > best {
				best, bestLag = s, lag
			}
		}
		if bestLag != enc.Delay() {
			t.Errorf("%d Hz: output lags by %d frames (%.1f dB there), the encoder reports %d", rate, bestLag, best, enc.Delay())
		}
	}
}

// TestOpusPad: a chunk of a length Opus cannot code is padded with silence
// to the next duration it can, and then encodes; one that is already a
// packet duration is left alone.
func TestOpusPad(t *testing.T) {
	f := opusFmt(48000, 2)
	enc, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want int }{{1000, 1920}, {4800, 4800}, {100, 120}, {5000, 5760}} {
		in := opusTone(f, c.in)
		out := Pad(enc, in, 2)
		if len(out) != 2*c.want {
			t.Errorf("%d frames padded to %d, want %d", c.in, len(out)/2, c.want)
			continue
		}
		if !slices.Equal(out[:len(in)], in) || slices.ContainsFunc(out[len(in):], func(v int32) bool { return v != 0 }) {
			t.Errorf("%d frames: the padding is not the input followed by silence", c.in)
		}
		if _, err := enc.Encode(nil, out); err != nil {
			t.Errorf("%d frames padded to %d: %v", c.in, c.want, err)
		}
	}
}
