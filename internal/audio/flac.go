package audio

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac"
)

// FLAC files of 4 to 24 bits; each depth is carried at the smaller of 16
// or 24 bits that holds it, so no precision is lost: a 12-bit sample s
// becomes s<<20 in our left-justified int32, that is 16-bit s<<4. Files
// of more than 24 bits (flac 1.4 writes 32) are refused with a clear
// error: our decoder, mewkiz/flac v1.0.14, cannot read them.
// Metadata blocks other than STREAMINFO are skipped unread (and
// STREAMINFO must come first, as the format says). A frame's
// block size is at most 65535 (a 16-bit field), so one decoded frame is
// at most 65535 x 8 samples: decoding allocates nothing a file can grow.

type flacReader struct {
	st       *flac.Stream
	format   Format
	bits     int     // the file's bits per sample
	rate     int     // the file's sample rate
	buf      []int32 // storage for pending
	pending  []int32
	err      error // sticky
	channels int
}

func newFLACReader(r *bufio.Reader) (s *flacReader, err error) {
	// mewkiz/flac parses the first metadata block's body whatever its
	// type, allocating what its fields claim (up to 4 GiB for a picture);
	// only a 34-byte STREAMINFO block is allowed there.
	if head, _ := r.Peek(8); len(head) < 8 || head[4]&0x7f != 0 || [3]byte(head[5:8]) != [3]byte{0, 0, 34} {
		return nil, errors.New("corrupt FLAC header")
	}
	defer func() {
		if recover() != nil {
			s, err = nil, errors.New("corrupt FLAC header")
		}
	}()
	st, err := flac.New(r)
	if err != nil || st.Info == nil {
		return nil, errors.New("corrupt FLAC header")
	}
	info := st.Info
	ch, bits, rate := int(info.NChannels), int(info.BitsPerSample), int(info.SampleRate)
	if ch < 1 || ch > 8 || bits < 4 || rate < 1 || rate > MaxSampleRate {
		return nil, fmt.Errorf("FLAC stream of %d channels, %d bits, %d Hz is not supported", ch, bits, rate)
	}
	if bits > 24 {
		// mewkiz/flac v1.0.14 rejects the 32-bit sample size code that
		// flac 1.4 writes, and its side channels overflow beyond 31 bits.
		return nil, fmt.Errorf("%d-bit FLAC is not supported (4 to 24 bits)", bits)
	}
	depth := 24
	if bits <= 16 {
		depth = 16
	}
	return &flacReader{st: st, format: Format{SampleRate: rate, Channels: ch, BitDepth: depth},
		bits: bits, rate: rate, channels: ch}, nil
}

func (f *flacReader) Format() Format { return f.format }

func (f *flacReader) Read(dst []int32) (int, error) {
	frames := len(dst) / f.channels
	if frames == 0 {
		return 0, nil
	}
	for len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.err = f.decodeFrame()
	}
	n := copy(dst[:frames*f.channels], f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// decodeFrame decodes the next FLAC frame into pending. The FLAC library
// is fed untrusted bytes, so a panic inside it becomes an error.
func (f *flacReader) decodeFrame() (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("corrupt FLAC frame")
		}
	}()
	fr, err := f.st.Next()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return errors.New("corrupt FLAC frame")
	}
	// Header fields of 0 mean "as in STREAMINFO"; anything else must
	// agree with it, or the samples would be misread.
	if fr.BitsPerSample == 0 {
		fr.BitsPerSample = uint8(f.bits)
	}
	if fr.Channels.Count() != f.channels || int(fr.BitsPerSample) != f.bits ||
		(fr.SampleRate != 0 && int(fr.SampleRate) != f.rate) {
		return errors.New("FLAC frame disagrees with STREAMINFO")
	}
	if err := fr.Parse(); err != nil {
		return errors.New("corrupt FLAC frame")
	}
	n := int(fr.BlockSize)
	if len(fr.Subframes) != f.channels {
		return errors.New("corrupt FLAC frame")
	}
	for _, sf := range fr.Subframes {
		if len(sf.Samples) < n {
			return errors.New("corrupt FLAC frame")
		}
	}
	shift := 32 - f.bits
	out := f.buf[:0]
	for i := range n {
		for c := range f.channels {
			out = append(out, fr.Subframes[c].Samples[i]<<shift)
		}
	}
	f.buf, f.pending = out, out
	return nil
}

func (f *flacReader) Close() error { return nil }
