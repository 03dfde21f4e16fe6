package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// WAV files: RIFF/WAVE with PCM (8, 16, 24, 32-bit) or IEEE float (32-bit)
// samples, plain or WAVE_FORMAT_EXTENSIBLE. Unknown chunks are skipped;
// a data chunk whose size is unknown or too large (streamed files) is read
// to the end of the file.

const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatExtensible = 0xfffe
)

// WAVReader reads a WAV stream as a Source.
type WAVReader struct {
	r       *bufio.Reader
	closer  io.Closer
	format  Format // what Format reports: the depth samples are carried at
	fileBit int    // the file's bits per sample
	float   bool
	left    int64 // data bytes left; -1 if unknown
	frames  int64 // frames in the data chunk; -1 if unknown
	buf     []byte
}

// OpenWAV opens a WAV file.
func OpenWAV(path string) (*WAVReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	w, err := NewWAVReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w.closer = f
	return w, nil
}

var errNotWAV = errors.New("not a WAV file")

// NewWAVReader parses the header of a WAV stream up to its data.
func NewWAVReader(r io.Reader) (*WAVReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil || string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, errNotWAV
	}
	w := &WAVReader{r: br}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			return nil, errors.New("WAV file has no data chunk")
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > maxWAVChunk {
				return nil, errors.New("WAV fmt chunk has a bad size")
			}
			body := make([]byte, size+size%2)
			if _, err := io.ReadFull(br, body); err != nil {
				return nil, errors.New("WAV fmt chunk is truncated")
			}
			if err := w.parseFmt(body[:size]); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("WAV data chunk before its fmt chunk")
			}
			w.left = int64(size)
			w.frames = w.left / int64(w.format.Channels*w.fileBit/8)
			if size == 0 || size == math.MaxUint32 {
				w.left, w.frames = -1, -1 // streamed: read to the end
			}
			return w, nil
		default:
			if _, err := io.CopyN(io.Discard, br, int64(size)+int64(size%2)); err != nil {
				return nil, errors.New("WAV chunk is truncated")
			}
		}
	}
}

func (w *WAVReader) parseFmt(b []byte) error {
	tag := binary.LittleEndian.Uint16(b[0:2])
	channels := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := int(binary.LittleEndian.Uint32(b[4:8]))
	align := int(binary.LittleEndian.Uint16(b[12:14]))
	bits := int(binary.LittleEndian.Uint16(b[14:16]))
	if tag == wavFormatExtensible {
		if len(b) < 40 {
			return errors.New("WAV extensible fmt chunk is too short")
		}
		tag = binary.LittleEndian.Uint16(b[24:26]) // the subformat GUID's first field
	}
	switch {
	case tag == wavFormatPCM && (bits == 8 || bits == 16 || bits == 24 || bits == 32):
	case tag == wavFormatFloat && bits == 32:
		w.float = true
	default:
		return fmt.Errorf("WAV sample format %d with %d bits is not supported (PCM 8/16/24/32-bit or 32-bit float)", tag, bits)
	}
	if channels < 1 || channels > MaxChannels || rate < 1 || rate > MaxSampleRate || align != channels*bits/8 {
		return errors.New("WAV fmt chunk is inconsistent")
	}
	w.fileBit = bits
	depth := bits
	switch {
	case bits == 8:
		depth = 16
	case w.float:
		depth = 24 // a float32 mantissa carries 24 bits
	}
	w.format = Format{SampleRate: rate, Channels: channels, BitDepth: depth}
	return nil
}

// Format implements Source.
func (w *WAVReader) Format() Format { return w.format }

// Read implements Source.
func (w *WAVReader) Read(dst []int32) (int, error) {
	ch := w.format.Channels
	bps := w.fileBit / 8
	frames := len(dst) / ch
	want := frames * ch * bps
	if w.left >= 0 && int64(want) > w.left {
		want = int(w.left) / (ch * bps) * (ch * bps)
	}
	if want == 0 {
		return 0, io.EOF
	}
	if cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	n, err := io.ReadFull(w.r, w.buf[:want])
	n -= n % (ch * bps) // a trailing partial frame is dropped
	if n == 0 {
		if err == nil || err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	if w.left >= 0 {
		w.left -= int64(n)
	}
	src := w.buf[:n]
	out := dst[:0]
	switch {
	case w.float:
		for i := 0; i < len(src); i += 4 {
			f := math.Float32frombits(binary.LittleEndian.Uint32(src[i:]))
			out = append(out, floatToSample(f))
		}
	case w.fileBit == 8:
		for _, b := range src {
			out = append(out, int32(int8(b-128))<<24)
		}
	default:
		out, _ = DecodePCM(out, src, w.fileBit)
	}
	return len(out), nil
}

// floatToSample converts a float sample in [-1, 1] (clipped) to 24-bit
// precision, left-justified.
func floatToSample(f float32) int32 {
	if f != f { // NaN
		return 0
	}
	v := math.Round(float64(f) * 8388607)
	v = max(-8388608, min(8388607, v))
	return int32(v) << 8
}

// Close implements Source.
func (w *WAVReader) Close() error {
	if w.closer != nil {
		return w.closer.Close()
	}
	return nil
}

// WAVWriter writes PCM samples to a WAV file, sample-exact; Close fixes
// the header's sizes.
type WAVWriter struct {
	f      *os.File
	bw     *bufio.Writer
	format Format
	data   int64
	buf    []byte
}

// CreateWAV creates (or truncates) a WAV file for samples in format f.
func CreateWAV(path string, f Format) (*WAVWriter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	file, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &WAVWriter{f: file, bw: bufio.NewWriterSize(file, 64<<10), format: f}
	if _, err := w.bw.Write(wavHeader(f, 0)); err != nil {
		file.Close()
		return nil, err
	}
	return w, nil
}

func wavHeader(f Format, data int64) []byte {
	h := make([]byte, 0, 44)
	size := uint32(min(data+36, math.MaxUint32))
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, size)
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, wavFormatPCM)
	h = binary.LittleEndian.AppendUint16(h, uint16(f.Channels))
	h = binary.LittleEndian.AppendUint32(h, uint32(f.SampleRate))
	h = binary.LittleEndian.AppendUint32(h, uint32(f.SampleRate*f.BytesPerFrame()))
	h = binary.LittleEndian.AppendUint16(h, uint16(f.BytesPerFrame()))
	h = binary.LittleEndian.AppendUint16(h, uint16(f.BitDepth))
	h = append(h, "data"...)
	return binary.LittleEndian.AppendUint32(h, uint32(min(data, math.MaxUint32)))
}

// Format is the file's format.
func (w *WAVWriter) Format() Format { return w.format }

// Frames is the number of frames written so far.
func (w *WAVWriter) Frames() int64 { return w.data / int64(w.format.BytesPerFrame()) }

// Write implements Sink.
func (w *WAVWriter) Write(samples []int32) error {
	if len(samples)%w.format.Channels != 0 {
		return ErrFormat
	}
	w.buf = AppendPCM(w.buf[:0], samples, w.format.BitDepth)
	n, err := w.bw.Write(w.buf)
	w.data += int64(n)
	return err
}

// Close flushes the samples and writes the final header.
func (w *WAVWriter) Close() error {
	err := w.bw.Flush()
	if err == nil {
		_, err = w.f.WriteAt(wavHeader(w.format, w.data), 0)
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Null is an output that discards samples but counts them.
type Null struct{ Samples int64 }

// Write implements Sink.
func (n *Null) Write(s []int32) error { n.Samples += int64(len(s)); return nil }

// Close implements Sink.
func (n *Null) Close() error { return nil }

// RawReader reads raw little-endian PCM (stdin) in a known format.
type RawReader struct {
	r      io.Reader
	format Format
	buf    []byte
	carry  []byte
}

// NewRawReader reads PCM in format f from r.
func NewRawReader(r io.Reader, f Format) (*RawReader, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &RawReader{r: r, format: f}, nil
}

// Format implements Source.
func (r *RawReader) Format() Format { return r.format }

// Read implements Source. A pipe may deliver any number of bytes; a partial
// frame is kept for the next read and dropped at the end.
func (r *RawReader) Read(dst []int32) (int, error) {
	fb := r.format.BytesPerFrame()
	frames := len(dst) / r.format.Channels
	if frames == 0 {
		return 0, nil
	}
	want := frames * fb
	if cap(r.buf) < want {
		r.buf = make([]byte, 0, want)
	}
	buf := append(r.buf[:0], r.carry...)
	for len(buf) < fb {
		n, err := r.r.Read(buf[len(buf):want])
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF && len(buf) >= fb {
				break
			}
			r.carry = nil
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, err
		}
	}
	whole := len(buf) / fb * fb
	r.carry = append(r.carry[:0], buf[whole:]...)
	out, _ := DecodePCM(dst[:0], buf[:whole], r.format.BitDepth)
	r.buf = buf[:0]
	return len(out), nil
}

// Close implements Source.
func (r *RawReader) Close() error { return nil }
