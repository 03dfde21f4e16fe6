package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
	"github.com/mewkiz/flac/meta"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// FLAC: codec_header is the "fLaC" marker and the STREAMINFO block; each
// chunk carries one FLAC frame holding the chunk's frames (roles/player/v1.md
// "Codec framing"). Frames use a variable block size, numbered by their
// first sample, since chunk lengths may vary.

const maxFLACBlock = 65535 // samples per channel in one FLAC frame

// flacChannels maps a channel count to FLAC's independent assignments.
var flacChannels = map[int]frame.Channels{1: frame.ChannelsMono, 2: frame.ChannelsLR, 3: frame.ChannelsLRC,
	4: frame.ChannelsLRLsRs, 5: frame.ChannelsLRCLsRs, 6: frame.ChannelsLRCLfeLsRs, 7: frame.ChannelsLRCLfeCsSlSr,
	8: frame.ChannelsLRCLfeLsRsSlSr}

type flacEncoder struct {
	f      wire.AudioFormat
	buf    bytes.Buffer
	enc    *flac.Encoder
	header []byte
	next   uint64 // first sample number of the next frame
	chans  frame.Channels
	sub    [][]int32
}

func newFLACEncoder(f wire.AudioFormat) (*flacEncoder, error) {
	ch, ok := flacChannels[f.Channels]
	if !ok || (f.BitDepth != 16 && f.BitDepth != 24) || f.SampleRate < 1 || f.SampleRate > 655350 {
		return nil, fmt.Errorf("%w: FLAC needs 1-8 channels, 16 or 24 bits and a rate up to 655350 Hz", ErrUnsupported)
	}
	e := &flacEncoder{f: f, chans: ch}
	info := &meta.StreamInfo{BlockSizeMin: 16, BlockSizeMax: maxFLACBlock, SampleRate: uint32(f.SampleRate),
		NChannels: uint8(f.Channels), BitsPerSample: uint8(f.BitDepth)}
	enc, err := flac.NewEncoder(&e.buf, info)
	if err != nil {
		return nil, fmt.Errorf("codec: FLAC header: %w", err)
	}
	e.enc = enc
	e.header = bytes.Clone(e.buf.Bytes())
	e.buf.Reset()
	e.sub = make([][]int32, f.Channels)
	return e, nil
}

func (e *flacEncoder) Format() wire.AudioFormat { return e.f }
func (e *flacEncoder) CodecHeader() []byte      { return e.header }
func (e *flacEncoder) Delay() int               { return 0 }
func (e *flacEncoder) Coded(n int) int          { return n }

func (e *flacEncoder) Encode(dst []byte, s []int32) ([]byte, error) {
	ch := e.f.Channels
	if len(s) == 0 || len(s)%ch != 0 || len(s)/ch > maxFLACBlock {
		return dst, errors.New("codec: a FLAC chunk needs 1 to 65535 whole frames")
	}
	n := len(s) / ch
	shift := 32 - e.f.BitDepth
	subs := make([]*frame.Subframe, ch)
	for c := range ch {
		samples := e.sub[c][:0]
		for i := range n {
			samples = append(samples, s[i*ch+c]>>shift)
		}
		e.sub[c] = samples
		subs[c] = &frame.Subframe{SubHeader: frame.SubHeader{Pred: frame.PredVerbatim}, Samples: samples, NSamples: n}
	}
	fr := &frame.Frame{
		Header: frame.Header{BlockSize: uint16(n), SampleRate: uint32(e.f.SampleRate), Channels: e.chans,
			BitsPerSample: uint8(e.f.BitDepth), Num: e.next},
		Subframes: subs,
	}
	if err := e.enc.WriteFrame(fr); err != nil {
		return dst, fmt.Errorf("codec: FLAC frame: %w", err)
	}
	e.next += uint64(n)
	dst = append(dst, e.buf.Bytes()...)
	e.buf.Reset()
	return dst, nil
}

type flacDecoder struct {
	channels, depth, maxFrames int
}

func newFLACDecoder(f wire.StreamFormat) (*flacDecoder, error) {
	if len(f.CodecHeader) == 0 {
		return nil, fmt.Errorf("%w: FLAC stream without codec_header", ErrCorrupt)
	}
	st, err := flac.New(bytes.NewReader(f.CodecHeader))
	if err != nil {
		return nil, fmt.Errorf("%w: FLAC codec_header", ErrCorrupt)
	}
	info := st.Info
	if int(info.NChannels) != f.Channels || int(info.SampleRate) != f.SampleRate || int(info.BitsPerSample) != f.BitDepth {
		return nil, fmt.Errorf("%w: FLAC STREAMINFO disagrees with stream/start", ErrCorrupt)
	}
	if f.BitDepth < 4 || f.BitDepth > 32 {
		return nil, ErrUnsupported
	}
	return &flacDecoder{channels: f.Channels, depth: f.BitDepth, maxFrames: MaxChunkFrames(f.SampleRate)}, nil
}

// Decode parses the chunk's FLAC frames. The FLAC library is fed bytes from
// a peer, so a panic inside it is turned into ErrCorrupt rather than
// taking the player down.
func (d *flacDecoder) Decode(dst []int32, p []byte) (out []int32, err error) {
	defer func() {
		if recover() != nil {
			out, err = dst, ErrCorrupt
		}
	}()
	r := bytes.NewReader(p)
	shift := 32 - d.depth
	frames := 0
	total := 0
	for r.Len() > 0 {
		// The header first: its block size is checked against the chunk
		// limit before any subframe is decoded.
		fr, err := frame.New(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, ErrCorrupt
		}
		if total += int(fr.BlockSize); total > d.maxFrames {
			return dst, ErrTooLong
		}
		if err := fr.Parse(); err != nil || len(fr.Subframes) != d.channels ||
			(fr.BitsPerSample != 0 && int(fr.BitsPerSample) != d.depth) {
			return dst, ErrCorrupt
		}
		n := int(fr.BlockSize)
		for _, sf := range fr.Subframes {
			if len(sf.Samples) < n {
				return dst, ErrCorrupt
			}
		}
		for i := range n {
			for c := range d.channels {
				dst = append(dst, fr.Subframes[c].Samples[i]<<shift)
			}
		}
		frames++
	}
	if frames == 0 {
		return dst, ErrCorrupt
	}
	return dst, nil
}
