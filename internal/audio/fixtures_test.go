package audio

import (
	"flag"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The file fixtures in testdata/ are made from the signals below by the
// flac and lame tools; see testdata/README.md. Tests never run the tools:
// go test -run TestGenerateFixtures -gen-fixtures ./internal/audio/ remakes
// the files (needs flac 1.4 and lame 3.100).
var genFixtures = flag.Bool("gen-fixtures", false, "regenerate testdata/ with the flac and lame tools")

// fixture is one file in testdata and the signal it was made from.
type fixture struct {
	file   string
	format Format // of the source signal
	frames int
	signal func(i int64, c int, f Format) int32
	tool   []string // command; "SRC" and "OUT" are replaced
}

var flacFixtures = []fixture{
	{"stereo16.flac", Format{44100, 2, 16}, 8820, losslessSample, []string{"flac", "--silent", "--force", "-8", "--no-padding", "-o", "OUT", "SRC"}},
	{"mono24.flac", Format{48000, 1, 24}, 4800, losslessSample, []string{"flac", "--silent", "--force", "-5", "--no-padding", "-o", "OUT", "SRC"}},
}

// flac32Fixture is refused (flac.go): it checks the error is a clear one.
var flac32Fixture = fixture{"stereo32.flac", Format{48000, 2, 32}, 2400, losslessSample, []string{"flac", "--silent", "--force", "-5", "--no-padding", "-o", "OUT", "SRC"}}

var mp3Fixtures = []fixture{
	// LAME tag (encoder delay and padding recorded): decodes sample-aligned.
	{"chirp.mp3", Format{44100, 2, 16}, 22050, chirpSample, []string{"lame", "--quiet", "-b", "128", "SRC", "OUT"}},
	// No Xing/LAME frame (-t): the encoder's delay stays in.
	{"chirp-notag.mp3", Format{44100, 2, 16}, 22050, chirpSample, []string{"lame", "--quiet", "-t", "-b", "128", "SRC", "OUT"}},
	// MPEG-2, mono.
	{"chirp-mono22k.mp3", Format{22050, 1, 16}, 11025, chirpSample, []string{"lame", "--quiet", "-m", "m", "-b", "64", "--resample", "22.05", "SRC", "OUT"}},
}

// losslessSample is the signal of the FLAC fixtures: two triangle waves of
// co-prime periods per channel and a little noise, in integer arithmetic
// so that it is the same on every machine, at f's depth.
func losslessSample(i int64, c int, f Format) int32 {
	amp := int64(1) << (f.BitDepth - 3)
	tri := func(period int64) int64 {
		ph := (i + int64(c)*period/3) % period
		v := ph * 4 * amp / period
		if v > 2*amp {
			v = 4*amp - v
		}
		return v - amp
	}
	x := uint64(i)*0x9e3779b97f4a7c15 + uint64(c)*0xbf58476d1ce4e5b9
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	x ^= x >> 29
	noise := int64(x>>40) % (amp/64 + 1)
	return int32(tri(101)+tri(1237)/2+noise) << (32 - f.BitDepth)
}

// chirpSample is the signal of the MP3 fixtures: a sweep from 200 Hz to
// 4 kHz at -6 dBFS with 5 ms fades, inverted on odd channels so that a
// swap shows. It does not repeat, so a cross-correlation finds its delay.
func chirpSample(i int64, c int, f Format) int32 {
	rate := float64(f.SampleRate)
	dur := float64(chirpFrames(f)) / rate
	t := float64(i) / rate
	const f0, f1 = 200.0, 4000.0
	phase := 2 * math.Pi * (f0*t + (f1-f0)*t*t/(2*dur))
	v := 0.5 * math.Sin(phase) * min(1, t/0.005, (dur-t)/0.005)
	if c%2 == 1 {
		v = -v
	}
	return quantize(v, 16)
}

func chirpFrames(f Format) int64 { return int64(f.SampleRate / 2) }

func (fx fixture) samples() []int32 {
	out := make([]int32, 0, fx.frames*fx.format.Channels)
	for i := range int64(fx.frames) {
		for c := range fx.format.Channels {
			out = append(out, fx.signal(i, c, fx.format))
		}
	}
	return out
}

func TestGenerateFixtures(t *testing.T) {
	if !*genFixtures {
		t.Skip("-gen-fixtures not set")
	}
	for _, fx := range append(append(flacFixtures, flac32Fixture), mp3Fixtures...) {
		src := filepath.Join(t.TempDir(), "src.wav")
		w, err := CreateWAV(src, fx.format)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(fx.samples()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		args := make([]string, len(fx.tool))
		for i, a := range fx.tool {
			switch a {
			case "SRC":
				a = src
			case "OUT":
				a = filepath.Join("testdata", fx.file)
			}
			args[i] = a
		}
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		fi, _ := os.Stat(filepath.Join("testdata", fx.file))
		t.Logf("%s: %d bytes", fx.file, fi.Size())
	}
}
