package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// MP3 files: MPEG-1 and MPEG-2 layer III, decoded by go-mp3, which always
// yields 16-bit stereo; a mono file (by its first frame's header) is
// reported as one channel and we keep the left copy.
//
// Gapless trimming. A decoded MP3 starts late and ends long: the encoder
// delays its input and pads the last frame, and the synthesis filterbank
// adds mp3DecoderDelay (529) samples. An encoder's Xing/Info frame carries
// both figures in its LAME extension (LAME, ffmpeg); we skip that frame
// (it is silence, not audio), drop delay+529 samples at the start and
// padding-529 at the end, which gives back exactly the encoder's input.
// Without a LAME tag only the decoder's 529 samples are dropped: the
// encoder's own delay (576 samples for LAME) stays as leading silence.
//
// go-mp3 allocates whatever an ID3 tag's size field says, and on a
// seekable input scans the whole file first; so we skip ID3 tags
// ourselves (sniff) and hand it a reader that cannot seek.

type mpegVersion int

const (
	mpeg1 mpegVersion = iota
	mpeg2
	mpeg25
)

// mpegHeader is an MPEG audio frame header (ISO 11172-3 2.4.1.3):
//
//	sync:11 version:2 layer:2 no_crc:1 | bitrate:4 rate:2 padding:1 private:1 | mode:2 ext:2 copy:1 orig:1 emphasis:2
type mpegHeader struct {
	version mpegVersion
	layer   int // 1, 2 or 3
	crc     bool
	bitrate int // bit/s; 0 for layers I and II (not needed)
	rate    int
	padding int
	mono    bool
}

var (
	mp3Bitrates = [2][16]int{ // kbit/s, layer III: MPEG-1, then MPEG-2 and 2.5
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
	}
	mpegRates = [3][3]int{{44100, 48000, 32000}, {22050, 24000, 16000}, {11025, 12000, 8000}}
)

func parseMPEGHeader(b []byte) (mpegHeader, bool) {
	var h mpegHeader
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return h, false
	}
	switch (b[1] >> 3) & 3 {
	case 0:
		h.version = mpeg25
	case 2:
		h.version = mpeg2
	case 3:
		h.version = mpeg1
	default:
		return h, false
	}
	h.layer = 4 - int((b[1]>>1)&3)
	bi, ri := int(b[2]>>4), int((b[2]>>2)&3)
	if h.layer == 4 || bi == 0 || bi == 15 || ri == 3 || b[3]&3 == 2 {
		return h, false // reserved values, or free format (go-mp3 cannot)
	}
	h.crc = b[1]&1 == 0
	h.rate = mpegRates[h.version][ri]
	h.padding = int((b[2] >> 1) & 1)
	h.mono = b[3]>>6 == 3
	if h.layer == 3 {
		h.bitrate = mp3Bitrates[min(int(h.version), 1)][bi] * 1000
	}
	return h, true
}

// frameLen is the size of a layer III frame in bytes.
func (h mpegHeader) frameLen() int {
	if h.version == mpeg1 {
		return 144*h.bitrate/h.rate + h.padding
	}
	return 72*h.bitrate/h.rate + h.padding
}

// sideInfoLen is the size of a layer III frame's side information.
func (h mpegHeader) sideInfoLen() int {
	switch {
	case h.version == mpeg1 && h.mono:
		return 17
	case h.version == mpeg1:
		return 32
	case h.mono:
		return 9
	}
	return 17
}

// readOnly hides Seek from go-mp3 (see above).
type readOnly struct{ r io.Reader }

func (r readOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

type mp3Reader struct {
	dec     *mp3.Decoder
	format  Format
	skip    int     // decoded frames still to drop at the start
	trimEnd int     // decoded frames to drop at the end
	q       []int32 // decoded samples not yet returned
	raw     []byte
	eof     bool
	err     error
}

func newMP3Reader(br *bufio.Reader) (m *mp3Reader, err error) {
	head, _ := br.Peek(4)
	h, ok := parseMPEGHeader(head)
	if !ok {
		return nil, ErrUnsupportedFile
	}
	m = &mp3Reader{skip: mp3DecoderDelay}
	if first, err := br.Peek(h.frameLen()); err == nil {
		if delay, padding, info := parseXing(first, h); info {
			if _, err := br.Discard(len(first)); err != nil {
				return nil, err
			}
			m.skip += delay
			m.trimEnd = max(0, padding-mp3DecoderDelay)
		}
	}
	defer func() {
		if recover() != nil {
			m, err = nil, errors.New("corrupt MP3 data")
		}
	}()
	dec, err := mp3.NewDecoder(readOnly{br})
	if err != nil {
		return nil, fmt.Errorf("corrupt MP3 data: %v", err)
	}
	ch := 2
	if h.mono {
		ch = 1
	}
	m.dec = dec
	m.format = Format{SampleRate: dec.SampleRate(), Channels: ch, BitDepth: 16}
	if err := m.format.Validate(); err != nil {
		return nil, err
	}
	m.raw = make([]byte, mp3ReadFrames*4)
	return m, nil
}

// parseXing reads an encoder's Xing/Info frame (or skips a VBRI frame):
// info reports that the frame holds no audio; delay and padding come from
// the LAME extension when there is one.
func parseXing(fr []byte, h mpegHeader) (delay, padding int, info bool) {
	if len(fr) >= 40 && string(fr[36:40]) == "VBRI" { // Fraunhofer: fixed offset
		return 0, 0, true
	}
	off := 4 + h.sideInfoLen()
	if h.crc {
		off += 2
	}
	if len(fr) < off+8 || (string(fr[off:off+4]) != "Xing" && string(fr[off:off+4]) != "Info") {
		return 0, 0, false
	}
	flags := binary.BigEndian.Uint32(fr[off+4:])
	p := off + 8
	for _, f := range []struct {
		bit  uint32
		size int
	}{{1, 4}, {2, 4}, {4, 100}, {8, 4}} { // frames, bytes, TOC, quality
		if flags&f.bit != 0 {
			p += f.size
		}
	}
	// LAME extension: 9-byte encoder name, then at +21 the 12-bit delay
	// and 12-bit padding.
	if len(fr) < p+24 {
		return 0, 0, true
	}
	for _, c := range fr[p : p+4] {
		if c < 0x20 || c > 0x7e {
			return 0, 0, true
		}
	}
	d := fr[p+21 : p+24]
	return int(d[0])<<4 | int(d[1])>>4, int(d[1]&0x0f)<<8 | int(d[2]), true
}

func (m *mp3Reader) Format() Format { return m.format }

func (m *mp3Reader) Read(dst []int32) (int, error) {
	ch := m.format.Channels
	want := min(len(dst)/ch, mp3ReadFrames)
	if want == 0 {
		return 0, nil
	}
	for !m.eof && m.err == nil && len(m.q)/ch < want+m.trimEnd {
		if err := m.decode(); err == io.EOF {
			m.eof = true
		} else if err != nil {
			m.err = err
		}
	}
	avail := min(len(m.q)/ch-m.trimEnd, want)
	if avail <= 0 {
		if m.err != nil {
			return 0, m.err
		}
		return 0, io.EOF
	}
	n := copy(dst, m.q[:avail*ch])
	m.q = m.q[:copy(m.q, m.q[n:])]
	return n, nil
}

// decode appends the next decoded samples to q. go-mp3 is fed untrusted
// bytes, so a panic inside it becomes an error.
func (m *mp3Reader) decode() (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("corrupt MP3 data")
		}
	}()
	n, err := m.dec.Read(m.raw)
	if err != nil && err != io.EOF {
		return fmt.Errorf("corrupt MP3 data: %v", err)
	}
	for i := 0; i+4 <= n; i += 4 {
		if m.skip > 0 {
			m.skip--
			continue
		}
		l := int32(int16(binary.LittleEndian.Uint16(m.raw[i:])))
		m.q = append(m.q, l<<16)
		if m.format.Channels == 2 {
			r := int32(int16(binary.LittleEndian.Uint16(m.raw[i+2:])))
			m.q = append(m.q, r<<16)
		}
	}
	if n == 0 && err == nil {
		return io.ErrNoProgress
	}
	return err
}

func (m *mp3Reader) Close() error { return nil }
