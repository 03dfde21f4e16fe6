package audio

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
	"github.com/mewkiz/flac/meta"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalSamples(t *testing.T, what string, got, want []int32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: sample %d is %#x, want %#x", what, i, got[i], want[i])
		}
	}
}

// The FLAC fixtures decode to exactly the WAV they were made from.
func TestFLACFixtures(t *testing.T) {
	for _, fx := range flacFixtures {
		t.Run(fx.file, func(t *testing.T) {
			want := fx.samples()
			wavPath := filepath.Join(t.TempDir(), "src.wav")
			w, err := CreateWAV(wavPath, fx.format)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(want)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			wav, err := OpenFile(wavPath)
			if err != nil {
				t.Fatal(err)
			}
			fromWAV := readAll(t, wav)
			wav.Close()
			equalSamples(t, "wav", fromWAV, want)

			s, err := OpenFile(filepath.Join("testdata", fx.file))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Format() != fx.format {
				t.Fatalf("format %v, want %v", s.Format(), fx.format)
			}
			equalSamples(t, "flac", readAll(t, s), fromWAV)
		})
	}
}

// flacBytes encodes samples (right-justified, bits wide) with mewkiz/flac's
// encoder, which writes verbatim subframes at 8, 12, 16, 20 or 24 bits.
func flacBytes(t testing.TB, rate, channels, bits int, frames [][]int32) []byte {
	t.Helper()
	var buf bytes.Buffer
	info := &meta.StreamInfo{BlockSizeMin: 16, BlockSizeMax: 65535, SampleRate: uint32(rate),
		NChannels: uint8(channels), BitsPerSample: uint8(bits)}
	enc, err := flac.NewEncoder(&buf, info)
	if err != nil {
		t.Fatal(err)
	}
	chans := map[int]frame.Channels{1: frame.ChannelsMono, 2: frame.ChannelsLR}[channels]
	for _, f := range frames {
		n := len(f) / channels
		subs := make([]*frame.Subframe, channels)
		for c := range subs {
			s := make([]int32, n)
			for i := range s {
				s[i] = f[i*channels+c]
			}
			subs[c] = &frame.Subframe{SubHeader: frame.SubHeader{Pred: frame.PredVerbatim}, Samples: s, NSamples: n}
		}
		fr := &frame.Frame{Header: frame.Header{BlockSize: uint16(n), SampleRate: uint32(rate), Channels: chans,
			BitsPerSample: uint8(bits)}, Subframes: subs}
		if err := enc.WriteFrame(fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Every FLAC depth is carried at the smallest of 16, 24, 32 bits that
// holds it, scaled to full scale.
func TestFLACDepths(t *testing.T) {
	for _, c := range []struct{ bits, depth int }{{8, 16}, {12, 16}, {16, 16}, {20, 24}, {24, 24}} {
		lo, hi := int32(-1)<<(c.bits-1), int32(1)<<(c.bits-1)-1
		in := []int32{0, hi, lo, 1, -1, hi / 3, lo / 5, 42}
		b := flacBytes(t, 32000, 2, c.bits, [][]int32{in[:4], in[4:]})
		s, err := OpenReader(iotest.HalfReader(bytes.NewReader(b)), "x.flac")
		if err != nil {
			t.Fatalf("%d-bit: %v", c.bits, err)
		}
		if want := (Format{32000, 2, c.depth}); s.Format() != want {
			t.Fatalf("%d-bit: format %v, want %v", c.bits, s.Format(), want)
		}
		got := readAll(t, s)
		want := make([]int32, len(in))
		for i, v := range in {
			want[i] = v << (32 - c.bits)
		}
		equalSamples(t, "depth", got, want)
		if got[1] != math.MaxInt32-(1<<(32-c.bits)-1) || got[2] != math.MinInt32 {
			t.Fatalf("%d-bit: full scale is %#x..%#x", c.bits, got[2], got[1])
		}
	}
}

// mp3Source is the signal an MP3 fixture was encoded from.
func mp3Source(fx fixture) []int32 { return fx.samples() }

// correlate compares got, delayed by lag frames, with want on channel c:
// their normalized cross-correlation, the gain that fits got to want best
// and the SNR of got against want at that gain.
func correlate(got []int32, gch int, want []int32, wch int, lag, c int) (corr, gain, snr float64) {
	var gw, gg, ww float64
	at := func(i int) (g, w float64) {
		if j := i + lag; j >= 0 && j*gch < len(got) {
			g = float64(got[j*gch+c])
		}
		return g, float64(want[i*wch+c])
	}
	for i := 0; i*wch < len(want); i++ {
		g, w := at(i)
		gw += g * w
		gg += g * g
		ww += w * w
	}
	gain = gw / ww
	var noise float64
	for i := 0; i*wch < len(want); i++ {
		g, w := at(i)
		noise += (g - gain*w) * (g - gain*w)
	}
	return gw / math.Sqrt(gg*ww), gain, 10 * math.Log10(gain*gain*ww/noise)
}

// MP3: decoded at the encoder's rate and channel count; with a LAME tag
// exactly as long as the source and sample-aligned with it, without one
// late by LAME's 576-sample encoder delay (mp3.go).
func TestMP3Fixtures(t *testing.T) {
	cases := []struct {
		fx  fixture
		lag int
		snr float64 // dB; measured 77, 77, 74.5
	}{
		{mp3Fixtures[0], 0, 65},
		{mp3Fixtures[1], 576, 65},
		{mp3Fixtures[2], 0, 65},
	}
	for _, c := range cases {
		t.Run(c.fx.file, func(t *testing.T) {
			s, err := OpenReader(iotest.OneByteReader(bytes.NewReader(readFixture(t, c.fx.file))), c.fx.file)
			if err != nil {
				t.Fatal(err)
			}
			if want := c.fx.format; s.Format() != want {
				t.Fatalf("format %v, want %v", s.Format(), want)
			}
			got := readAll(t, s)
			ch := s.Format().Channels
			frames := len(got) / ch
			switch {
			case c.lag == 0 && frames != c.fx.frames:
				t.Fatalf("%d frames, want %d (gapless)", frames, c.fx.frames)
			case c.lag != 0 && (frames < c.fx.frames+c.lag || frames > c.fx.frames+c.lag+1152):
				t.Fatalf("%d frames, want %d + %d + padding", frames, c.fx.frames, c.lag)
			}
			want := mp3Source(c.fx)
			for channel := range ch {
				best, bestLag := -2.0, 0
				head := want[:4096*ch] // enough to place the sweep, and quick
				for lag := -800; lag <= 800; lag++ {
					if r, _, _ := correlate(got, ch, head, ch, lag, channel); r > best {
						best, bestLag = r, lag
					}
				}
				// LAME encodes at 0.95 of the input level (its own decoder
				// gives the same): compare at the fitted gain.
				r, gain, snr := correlate(got, ch, want, ch, c.lag, channel)
				t.Logf("channel %d: best lag %d, correlation %.5f, gain %.4f, SNR %.1f dB", channel, bestLag, r, gain, snr)
				if bestLag != c.lag || r < 0.99 || gain < 0.9 || gain > 1.05 || snr < c.snr {
					t.Fatalf("channel %d: lag %d (want %d), correlation %.4f, gain %.3f, SNR %.1f dB", channel, bestLag, c.lag, r, gain, snr)
				}
			}
		})
	}
}

func TestOpenSniffsContent(t *testing.T) {
	dir := t.TempDir()
	// A FLAC named .wav and an MP3 named .flac open by what they are.
	for name, fixture := range map[string]string{"really-flac.wav": "stereo16.flac", "really-mp3.flac": "chirp.mp3"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, readFixture(t, fixture), 0o600)
		s, err := OpenFile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(readAll(t, s)) == 0 {
			t.Fatalf("%s: no samples", name)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// ID3v2 tags (two, one with a footer) before FLAC, WAV and MP3 are skipped.
	id3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x05"), "TIT2a"...)
	id3 = append(id3, []byte("ID3\x04\x00\x10\x00\x00\x00\x01x3DI\x04\x00\x10\x00\x00\x00\x01")...)
	w := wavBytes(1, 1, 48000, 16, false, nil, []byte{1, 0, 2, 0}, 4)
	for name, b := range map[string][]byte{"flac": readFixture(t, "stereo16.flac"), "wav": w, "mp3": readFixture(t, "chirp.mp3")} {
		plain, err := OpenReader(bytes.NewReader(b), name)
		if err != nil {
			t.Fatal(err)
		}
		tagged, err := OpenReader(bytes.NewReader(append(bytes.Clone(id3), b...)), name)
		if err != nil {
			t.Fatalf("%s with ID3: %v", name, err)
		}
		equalSamples(t, name+" with ID3", readAll(t, tagged), readAll(t, plain))
	}
}

func TestOpenErrors(t *testing.T) {
	cases := map[string]struct {
		data []byte
		want string
	}{
		"song.ogg":      {[]byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), "audio: song.ogg: unsupported file type (want WAV, FLAC or MP3)"},
		"empty.mp3":     {nil, "audio: empty.mp3: empty file"},
		"short.wav":     {[]byte("RI"), "audio: short.wav: unsupported file type (want WAV, FLAC or MP3)"},
		"layer2.mp2":    {[]byte{0xff, 0xfd, 0x90, 0x00}, "audio: layer2.mp2: MPEG layer 2 is not supported (only layer III, MP3)"},
		"mpeg25.mp3":    {[]byte{0xff, 0xe3, 0x90, 0x00}, "audio: mpeg25.mp3: MPEG 2.5 is not supported"},
		"truncid3.mp3":  {[]byte("ID3\x03\x00\x00\x00\x00\x10\x00abc"), "audio: truncid3.mp3: truncated ID3 tag"},
		"manyid3.mp3":   {bytes.Repeat([]byte("ID3\x03\x00\x00\x00\x00\x00\x00"), 6), "audio: manyid3.mp3: too many ID3 tags"},
		"badflac.flac":  {[]byte("fLaC\x00\x00\x00\x22"), "audio: badflac.flac: corrupt FLAC header"},
		"badwav.wav":    {[]byte("RIFF\x00\x00\x00\x00WAVEfmt "), "audio: badwav.wav: WAV file has no data chunk"},
		"sync-only.mp3": {[]byte{0xff, 0xfb, 0x90, 0x00}, "audio: sync-only.mp3: corrupt MP3 data"},
		"32-bit.flac":   {readFixture(t, "stereo32.flac"), "audio: 32-bit.flac: 32-bit FLAC is not supported (4 to 24 bits)"},
	}
	dir := t.TempDir()
	for name, c := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, c.data, 0o600)
		_, err := OpenFile(p)
		if err == nil {
			t.Errorf("%s: opened", name)
			continue
		}
		if msg := strings.Replace(err.Error(), p, name, 1); !strings.HasPrefix(msg, c.want) {
			t.Errorf("%s: %q, want %q", name, msg, c.want)
		}
	}
	_, err := OpenFile(filepath.Join(dir, "missing.flac"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "audio: open ") {
		t.Fatalf("missing file: %v", err)
	}
	_, err = OpenReader(bytes.NewReader([]byte("OggS0000000000")), "x")
	if !errors.Is(err, ErrUnsupportedFile) {
		t.Fatalf("not ErrUnsupportedFile: %v", err)
	}
}

// A hostile size field costs neither memory nor a panic.
func TestHostileHeaders(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// ID3 claiming 256 MiB, then nothing.
	if _, err := OpenReader(bytes.NewReader([]byte("ID3\x04\x00\x00\x7f\x7f\x7f\x7f")), "x"); err == nil {
		t.Fatal("opened")
	}
	// A FLAC metadata block claiming 16 MiB.
	fl := readFixture(t, "stereo16.flac")
	fl = append(bytes.Clone(fl[:42]), fl[42:]...)
	fl[4] &^= 0x80 // STREAMINFO is not the last block
	bad := append(bytes.Clone(fl[:42]), 0x86, 0xff, 0xff, 0xff)
	if s, err := OpenReader(bytes.NewReader(bad), "x"); err == nil {
		if n, err := s.Read(make([]int32, 2)); n != 0 || err == nil {
			t.Fatalf("truncated FLAC: %d samples, %v", n, err)
		}
	}
	// A first block other than STREAMINFO (a 16 MiB seek table here),
	// which mewkiz/flac would parse in full.
	if _, err := OpenReader(bytes.NewReader([]byte("fLaC\x03\xff\xff\xf0")), "x"); err == nil {
		t.Fatal("opened")
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("allocated %d bytes", grew)
	}
	// A corrupt frame in the middle of a FLAC file ends it with an error.
	fl = readFixture(t, "stereo16.flac")
	fl[len(fl)/2] ^= 0xff
	s, err := OpenReader(bytes.NewReader(fl), "mid.flac")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int32, 4096)
	for {
		_, err = s.Read(buf)
		if err != nil {
			break
		}
	}
	if err == io.EOF || !strings.HasPrefix(err.Error(), "audio: mid.flac: ") {
		t.Fatalf("corrupt frame: %v", err)
	}
}
