package audio

import (
	"slices"
)

// ChunkConverter is Convert for audio that arrives in pieces (a player's
// decoded chunks): Push takes whatever frames came in and returns the
// output frames they complete. It uses the same channel mix, resampler and
// rounding as Convert, so N input frames give ceil(N*to/from) output
// frames in all, and output frame n is the input's value at time
// n*from/to.
//
// The resampler looks half its filter ahead, so the last few output frames
// of a Push wait for the next one (or for Flush). Where Convert sees
// silence before the first input and after the last, a ChunkConverter
// holds the first and last frames instead: it converts a run of audio that
// continues another one (a format change mid-stream), and a step to
// silence at its edges would be a click that the audio does not have.
type ChunkConverter struct {
	c       *converter
	primed  bool
	last    []float64 // the last input frame the resampler took
	flushed bool
}

// NewChunkConverter returns a converter from one format to another.
func NewChunkConverter(from, to Format) (*ChunkConverter, error) {
	if err := from.Validate(); err != nil {
		return nil, err
	}
	if err := to.Validate(); err != nil {
		return nil, err
	}
	c, err := newConverter(from, to)
	if err != nil {
		return nil, err
	}
	return &ChunkConverter{c: c, last: make([]float64, c.resampledChannels())}, nil
}

// Push converts samples (whole frames of the input format; a partial frame
// at the end is ignored) and appends the output frames now complete to
// dst. After Flush it appends nothing.
func (k *ChunkConverter) Push(dst, samples []int32) []int32 {
	c := k.c
	if k.flushed {
		return dst
	}
	ch, och := c.from.Channels, c.to.Channels
	frames := int64(len(samples) / ch)
	dst = slices.Grow(dst, int((frames*int64(c.to.SampleRate)/int64(c.from.SampleRate)+2)*int64(och)))
	for f := 0; f+ch <= len(samples); f += ch {
		v := c.toFloat(samples[f : f+ch])
		if c.rs == nil {
			n := len(dst)
			dst = append(dst, make([]int32, och)...)
			c.put(dst[n:], v, true)
			continue
		}
		if c.mixFirst {
			v = c.applyMix(v)
		}
		if !k.primed {
			// The filter's history before the first input: this frame,
			// held (see the type's comment).
			for i := range c.rs.buf {
				for j := range c.rs.buf[i] {
					c.rs.buf[i][j] = v[i]
				}
			}
			k.primed = true
		}
		copy(k.last, v)
		c.rs.push(v)
		dst = k.drain(dst)
	}
	return dst
}

// Flush ends the input and appends the output frames still owed, the
// filter seeing the last input frame held after the end.
func (k *ChunkConverter) Flush(dst []int32) []int32 {
	c := k.c
	if k.flushed || c.rs == nil || !k.primed {
		k.flushed = true
		return dst
	}
	k.flushed = true
	c.rs.end()
	for !c.rs.done() {
		for !c.rs.ready() && !c.rs.done() {
			c.rs.push(k.last)
		}
		dst = k.drain(dst)
	}
	return dst
}

// drain appends every output frame whose inputs are all in.
func (k *ChunkConverter) drain(dst []int32) []int32 {
	c := k.c
	for c.rs.ready() {
		v := c.rs.next(c.frame)
		n := len(dst)
		dst = append(dst, make([]int32, c.to.Channels)...)
		c.put(dst[n:], v, !c.mixFirst)
	}
	return dst
}
