package audio

import (
	"io"
	"log"
	"testing"
)

// FuzzOpenReader: any bytes either fail to open or decode to whole frames
// of a valid format until io.EOF or an error, without panicking, and the
// converter takes whatever channels and depth they claim.
func FuzzOpenReader(f *testing.F) {
	for _, name := range []string{"stereo16.flac", "mono24.flac", "stereo32.flac", "chirp.mp3", "chirp-notag.mp3", "chirp-mono22k.mp3"} {
		b := readFixture(f, name)
		f.Add(b[:min(len(b), 1500)]) // the fuzzer minimizes what it finds: short seeds keep that quick
	}
	f.Add(wavBytes(1, 2, 44100, 16, false, nil, []byte{1, 2, 3, 4}, 4))
	f.Add(append([]byte("ID3\x04\x00\x00\x00\x00\x00\x01x"), readFixture(f, "chirp.mp3")[:2000]...))
	f.Add(flacBytes(f, 8000, 1, 12, [][]int32{{1, -2, 3, 100}}))
	// mewkiz/flac reports unusual headers through the standard logger; at
	// fuzzing rates that output alone stalls the fuzz worker.
	log.SetOutput(io.Discard)
	const budget = 1 << 14 // samples read per input: a time bound, not a limit of the decoders
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := OpenReader(&byteReader{b: b}, "fuzz")
		if err != nil {
			return
		}
		format := s.Format()
		if err := format.Validate(); err != nil {
			t.Fatalf("opened with format %v: %v", format, err)
		}
		// Resample only from common rates: designing the filter for an
		// odd ratio takes about 20 ms, which stalls the fuzzer's input
		// minimization; the resampler has its own tests.
		to := Format{format.SampleRate, 2, 16}
		switch format.SampleRate {
		case 8000, 16000, 22050, 24000, 32000, 44100, 96000:
			to.SampleRate = 48000
		}
		c, err := Convert(s, to)
		if err != nil {
			t.Fatalf("convert %v: %v", format, err)
		}
		buf := make([]int32, 1000*c.Format().Channels)
		total := 0
		for total < budget {
			n, err := c.Read(buf)
			if n%c.Format().Channels != 0 {
				t.Fatalf("partial frame: %d samples", n)
			}
			total += n
			if err != nil {
				break
			}
			if n == 0 {
				t.Fatal("no progress")
			}
		}
		c.Close()
	})
}

// byteReader is a plain io.Reader: no Seek, no ReadAt, like a pipe.
type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
