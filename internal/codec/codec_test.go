package codec

import (
	"bytes"
	"errors"
	"io"
	"log"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

func toneSamples(f wire.AudioFormat, frames int) []int32 {
	t, _ := audio.NewTone(audio.Format{SampleRate: f.SampleRate, Channels: f.Channels, BitDepth: 16})
	s := make([]int32, frames*f.Channels)
	t.Read(s)
	// Make channels differ and use the full depth's low bits.
	for i := range s {
		if i%f.Channels == 1 {
			s[i] = -s[i]
		}
		s[i] |= int32(i%251) << (32 - f.BitDepth)
	}
	return s
}

func roundTrip(t *testing.T, f wire.AudioFormat, chunkFrames []int) {
	t.Helper()
	enc, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Format() != f {
		t.Fatalf("format %+v", enc.Format())
	}
	dec, err := NewDecoder(wire.StreamFormat{AudioFormat: f, CodecHeader: enc.CodecHeader()})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range chunkFrames {
		total += n
	}
	in := toneSamples(f, total)
	var out []int32
	off := 0
	for _, n := range chunkFrames {
		chunk, err := enc.Encode(nil, in[off*f.Channels:(off+n)*f.Channels])
		if err != nil {
			t.Fatal(err)
		}
		// Each chunk decodes on its own (whole codec units per chunk).
		out, err = dec.Decode(out, chunk)
		if err != nil {
			t.Fatalf("chunk at frame %d: %v", off, err)
		}
		off += n
	}
	if len(out) != len(in) {
		t.Fatalf("%d samples, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Fatalf("%+v: sample %d is %d, want %d", f, i, out[i], in[i])
		}
	}
}

func TestPCMRoundTrip(t *testing.T) {
	for _, d := range []int{16, 24, 32} {
		roundTrip(t, wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: d}, []int{960, 960, 441, 7200})
	}
}

// TestChunkLengthLimit: decoders refuse chunks longer than a chunk may be,
// before decoding them: a FLAC chunk of a few bytes must not unpack into
// minutes of audio.
func TestChunkLengthLimit(t *testing.T) {
	for _, codecName := range []wire.Codec{wire.CodecPCM, wire.CodecFLAC} {
		f := wire.AudioFormat{Codec: codecName, SampleRate: 48000, Channels: 2, BitDepth: 16}
		enc, _ := NewEncoder(f)
		dec, _ := NewDecoder(wire.StreamFormat{AudioFormat: f, CodecHeader: enc.CodecHeader()})
		ok, _ := enc.Encode(nil, make([]int32, 2*MaxChunkFrames(48000)))
		if _, err := dec.Decode(nil, ok); err != nil {
			t.Fatalf("%s: a chunk at the limit: %v", codecName, err)
		}
		// Silence compresses to almost nothing in FLAC: several frames of
		// the maximum block size in a tiny payload.
		var long []byte
		for range 4 {
			long, _ = enc.Encode(long, make([]int32, 2*65535))
		}
		if _, err := dec.Decode(nil, long); !errors.Is(err, ErrTooLong) {
			t.Fatalf("%s: %d bytes of chunk decoded anyway: %v", codecName, len(long), err)
		}
	}
}

func TestFLACRoundTrip(t *testing.T) {
	for _, f := range []wire.AudioFormat{
		{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 16},
		{Codec: wire.CodecFLAC, SampleRate: 44100, Channels: 1, BitDepth: 24},
		{Codec: wire.CodecFLAC, SampleRate: 96000, Channels: 6, BitDepth: 24},
	} {
		roundTrip(t, f, []int{960, 960, 17, 4800, 1})
	}
	enc, _ := NewEncoder(wire.AudioFormat{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 16})
	if h := enc.CodecHeader(); !bytes.HasPrefix(h, []byte("fLaC")) || len(h) != 4+4+34 {
		t.Fatalf("codec_header is not the marker plus STREAMINFO: %d bytes", len(h))
	}
	// Silence compresses: the encoder is not storing verbatim.
	c, _ := enc.Encode(nil, make([]int32, 2*960))
	if len(c) > 100 {
		t.Fatalf("960 frames of silence took %d bytes", len(c))
	}
}

func TestUnsupportedFormats(t *testing.T) {
	for _, f := range []wire.AudioFormat{
		{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 20},
		{Codec: wire.CodecPCM, SampleRate: 0, Channels: 2, BitDepth: 16},
		{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 9, BitDepth: 16},
		{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 32},
		{Codec: "mp3", SampleRate: 48000, Channels: 2, BitDepth: 16},
	} {
		if _, err := NewEncoder(f); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: %v", f, err)
		}
		if Supported(f) {
			t.Errorf("%+v reported supported", f)
		}
	}
}

func TestCorruptInput(t *testing.T) {
	f := wire.AudioFormat{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 16}
	if _, err := NewDecoder(wire.StreamFormat{AudioFormat: f}); err == nil {
		t.Fatal("FLAC without codec_header")
	}
	if _, err := NewDecoder(wire.StreamFormat{AudioFormat: f, CodecHeader: []byte("fLaC....")}); err == nil {
		t.Fatal("garbage codec_header")
	}
	enc, _ := NewEncoder(f)
	other := f
	other.SampleRate = 44100
	if _, err := NewDecoder(wire.StreamFormat{AudioFormat: other, CodecHeader: enc.CodecHeader()}); err == nil {
		t.Fatal("STREAMINFO disagreeing with stream/start accepted")
	}
	dec, _ := NewDecoder(wire.StreamFormat{AudioFormat: f, CodecHeader: enc.CodecHeader()})
	chunk, _ := enc.Encode(nil, toneSamples(f, 960))
	for _, bad := range [][]byte{nil, {1, 2, 3}, chunk[:len(chunk)/2], append(bytes.Clone(chunk[:10]), make([]byte, 50)...)} {
		if _, err := dec.Decode(nil, bad); err == nil {
			t.Errorf("corrupt chunk of %d bytes decoded", len(bad))
		}
	}
	pd, _ := NewDecoder(wire.StreamFormat{AudioFormat: wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 24}})
	if _, err := pd.Decode(nil, make([]byte, 7)); err == nil {
		t.Fatal("partial PCM frame decoded")
	}
}

// FuzzFLACDecode feeds arbitrary chunks to a FLAC decoder: errors are fine,
// panics and unbounded output are not.
func FuzzFLACDecode(f *testing.F) {
	af := wire.AudioFormat{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 16}
	enc, _ := NewEncoder(af)
	c1, _ := enc.Encode(nil, toneSamples(af, 960))
	c2, _ := enc.Encode(nil, make([]int32, 2*100))
	f.Add(c1)
	f.Add(c2)
	header := enc.CodecHeader()
	// mewkiz/flac reports unusual headers through the standard logger; at
	// fuzzing rates that output alone stalls the fuzz worker.
	log.SetOutput(io.Discard)
	f.Fuzz(func(t *testing.T, chunk []byte) {
		dec, err := NewDecoder(wire.StreamFormat{AudioFormat: af, CodecHeader: header})
		if err != nil {
			t.Fatal(err)
		}
		out, err := dec.Decode(nil, chunk)
		if err == nil && (len(out)%2 != 0 || len(out) > 2*maxFLACBlock*(len(chunk)+1)) {
			t.Fatalf("%d samples from %d bytes", len(out), len(chunk))
		}
	})
}

// TestPad: PCM and FLAC code any length; a chunk is padded only for a
// codec that codes some durations (see TestOpusPad with -tags opus).
func TestPad(t *testing.T) {
	for _, f := range []wire.AudioFormat{
		{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16},
		{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 16},
	} {
		enc, err := NewEncoder(f)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]int32, 2*1000)
		if out := Pad(enc, in, 2); len(out) != len(in) {
			t.Errorf("%s: %d samples padded to %d", f.Codec, len(in), len(out))
		}
	}
}
