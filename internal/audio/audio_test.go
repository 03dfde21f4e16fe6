package audio

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func TestPCMRoundTrip(t *testing.T) {
	for _, depth := range []int{16, 24, 32} {
		shift := 32 - depth
		in := []int32{0, math.MaxInt32 >> shift << shift, math.MinInt32, -1 << shift, 12345 << shift}
		b := AppendPCM(nil, in, depth)
		if len(b) != len(in)*depth/8 {
			t.Fatalf("%d-bit: %d bytes", depth, len(b))
		}
		out, err := DecodePCM(nil, b, depth)
		if err != nil || len(out) != len(in) {
			t.Fatal(err)
		}
		for i := range in {
			if out[i] != in[i] {
				t.Fatalf("%d-bit sample %d: %d != %d", depth, i, out[i], in[i])
			}
		}
		if _, err := DecodePCM(nil, b[:len(b)-1], depth); err == nil {
			t.Fatalf("%d-bit: partial sample accepted", depth)
		}
	}
	// Little-endian, signed, 24-bit packed in 3 bytes.
	if b := AppendPCM(nil, []int32{-2 << 8}, 24); !bytes.Equal(b, []byte{0xfe, 0xff, 0xff}) {
		t.Fatalf("% x", b)
	}
	if b := AppendPCM(nil, []int32{0x1234 << 16}, 16); !bytes.Equal(b, []byte{0x34, 0x12}) {
		t.Fatalf("% x", b)
	}
	if _, err := DecodePCM(nil, []byte{1}, 8); err == nil {
		t.Fatal("8-bit wire PCM accepted")
	}
}

func TestWAVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []Format{{48000, 2, 16}, {44100, 1, 24}, {96000, 6, 32}} {
		path := filepath.Join(dir, f.String()+".wav")
		w, err := CreateWAV(path, f)
		if err != nil {
			t.Fatal(err)
		}
		tone, _ := NewTone(f)
		want := make([]int32, f.Channels*12345)
		tone.Read(want)
		if err := w.Write(want[:f.Channels*1000]); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(want[f.Channels*1000:]); err != nil {
			t.Fatal(err)
		}
		if w.Frames() != 12345 {
			t.Fatalf("frames %d", w.Frames())
		}
		if f.Channels > 1 {
			if err := w.Write([]int32{1}); err == nil {
				t.Fatal("partial frame written")
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := OpenWAV(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Format() != f {
			t.Fatalf("format %v, want %v", r.Format(), f)
		}
		got := readAll(t, r)
		r.Close()
		if len(got) != len(want) {
			t.Fatalf("%v: %d samples, want %d", f, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v: sample %d differs", f, i)
			}
		}
	}
}

func readAll(t testing.TB, s Source) []int32 {
	t.Helper()
	var out []int32
	buf := make([]int32, 999*s.Format().Channels)
	for {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// wavBytes builds a WAV file by hand.
func wavBytes(tag uint16, channels, rate, bits int, extensible bool, extra []byte, data []byte, dataSize uint32) []byte {
	var fmtChunk []byte
	align := channels * bits / 8
	put16 := func(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
	put32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
	outer := tag
	if extensible {
		outer = wavFormatExtensible
	}
	fmtChunk = put16(fmtChunk, outer)
	fmtChunk = put16(fmtChunk, uint16(channels))
	fmtChunk = put32(fmtChunk, uint32(rate))
	fmtChunk = put32(fmtChunk, uint32(rate*align))
	fmtChunk = put16(fmtChunk, uint16(align))
	fmtChunk = put16(fmtChunk, uint16(bits))
	if extensible {
		fmtChunk = put16(fmtChunk, 22)
		fmtChunk = put16(fmtChunk, uint16(bits))
		fmtChunk = put32(fmtChunk, 3)
		fmtChunk = put16(fmtChunk, tag)
		fmtChunk = append(fmtChunk, make([]byte, 14)...)
	}
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	b = append(b, extra...)
	b = append(b, "fmt "...)
	b = put32(b, uint32(len(fmtChunk)))
	b = append(b, fmtChunk...)
	b = append(b, "data"...)
	b = put32(b, dataSize)
	return append(b, data...)
}

func TestWAVVariants(t *testing.T) {
	f32 := func(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) }
	cases := []struct {
		name   string
		file   []byte
		format Format
		want   []int32
	}{
		{"8-bit unsigned", wavBytes(1, 1, 8000, 8, false, nil, []byte{128, 255, 0}, 3), Format{8000, 1, 16}, []int32{0, 127 << 24, -128 << 24}},
		{"float, clipped", wavBytes(3, 1, 48000, 32, false, nil, append(append(f32(0.5), f32(-2)...), f32(float32(math.NaN()))...), 12),
			Format{48000, 1, 24}, []int32{int32(math.Round(0.5*8388607)) << 8, -8388608 << 8, 0}},
		{"extensible PCM 24", wavBytes(1, 2, 48000, 24, true, nil, []byte{1, 0, 0, 2, 0, 0}, 6), Format{48000, 2, 24}, []int32{1 << 8, 2 << 8}},
		{"skipped odd chunk", wavBytes(1, 1, 48000, 16, false, []byte("LIST\x03\x00\x00\x00abc\x00"), []byte{1, 0}, 2), Format{48000, 1, 16}, []int32{1 << 16}},
		{"streamed size", wavBytes(1, 1, 48000, 16, false, nil, []byte{1, 0, 2, 0, 3}, 0xffffffff), Format{48000, 1, 16}, []int32{1 << 16, 2 << 16}},
		{"size beyond data", wavBytes(1, 1, 48000, 16, false, nil, []byte{1, 0}, 100), Format{48000, 1, 16}, []int32{1 << 16}},
		{"size within data", wavBytes(1, 1, 48000, 16, false, nil, []byte{1, 0, 2, 0, 'x', 'y'}, 4), Format{48000, 1, 16}, []int32{1 << 16, 2 << 16}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewWAVReader(iotest.OneByteReader(bytes.NewReader(c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Format() != c.format {
				t.Fatalf("format %v", r.Format())
			}
			got := readAll(t, r)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
	bad := map[string][]byte{
		"empty":           nil,
		"not riff":        []byte("RIFX\x00\x00\x00\x00WAVE"),
		"no data":         []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"),
		"data before fmt": []byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"),
		"mp3 in wav":      wavBytes(0x55, 2, 44100, 16, false, nil, nil, 0),
		"12-bit":          wavBytes(1, 2, 44100, 12, false, nil, nil, 0),
		"no channels":     wavBytes(1, 0, 44100, 16, false, nil, nil, 0),
		"huge rate":       wavBytes(1, 1, 10_000_000, 16, false, nil, nil, 0),
		"truncated chunk": []byte("RIFF\x00\x00\x00\x00WAVELIST\xff\xff\x00\x00ab"),
	}
	for name, b := range bad {
		if _, err := NewWAVReader(bytes.NewReader(b)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := OpenWAV(filepath.Join(t.TempDir(), "missing.wav")); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestRawReaderTrickle(t *testing.T) {
	f := Format{48000, 2, 24}
	tone, _ := NewTone(f)
	want := make([]int32, 2*500)
	tone.Read(want)
	data := AppendPCM(nil, want, 24)
	data = append(data, 1, 2) // a partial frame at the end is dropped
	r, err := NewRawReader(iotest.OneByteReader(bytes.NewReader(data)), f)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d", i)
		}
	}
	if _, err := NewRawReader(nil, Format{48000, 2, 20}); err == nil {
		t.Fatal("bad format accepted")
	}
}

func TestToneIsDeterministic(t *testing.T) {
	f := Format{48000, 2, 16}
	a, _ := NewTone(f)
	b, _ := NewTone(f)
	x := make([]int32, 2*4800)
	y := make([]int32, 2*4800)
	a.Read(x)
	b.Read(y[:2*1000])
	b.Read(y[2*1000:])
	for i := range x {
		if x[i] != y[i] || x[i] != ToneSample(48000, int64(i/2)) {
			t.Fatalf("sample %d", i)
		}
	}
	// Quantized to 16 bits: exact at every wire depth.
	for _, v := range x {
		if v&0xffff != 0 {
			t.Fatal("tone not 16-bit exact")
		}
	}
	if _, err := NewTone(Format{0, 2, 16}); err == nil {
		t.Fatal("bad format accepted")
	}
}

// FuzzWAV: any input either fails to parse or reads to the end without
// panicking, and what it reads survives a write and re-read exactly.
func FuzzWAV(f *testing.F) {
	f.Add(wavBytes(1, 2, 48000, 16, false, nil, []byte{1, 2, 3, 4}, 4))
	f.Add(wavBytes(3, 1, 48000, 32, true, nil, []byte{0, 0, 0, 0x3f}, 4))
	f.Add(wavBytes(1, 1, 8000, 8, false, []byte("LIST\x01\x00\x00\x00a\x00"), []byte{9}, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewWAVReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		got := readAll(t, r)
		if len(got)%r.Format().Channels != 0 {
			t.Fatal("partial frame returned")
		}
		var buf bytes.Buffer
		buf.Write(wavHeader(r.Format(), int64(len(got)*r.Format().BitDepth/8)))
		buf.Write(AppendPCM(nil, got, r.Format().BitDepth))
		r2, err := NewWAVReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		again := readAll(t, r2)
		if len(again) != len(got) {
			t.Fatalf("%d samples after re-encoding, want %d", len(again), len(got))
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatal("samples changed across re-encoding")
			}
		}
	})
}
