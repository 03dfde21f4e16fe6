package audio

import (
	"fmt"
	"io"
	"math"
)

// Convert returns src converted to format to: sample rate, channel count
// and bit depth. When src is already in that format it returns src itself.
// Closing the result closes src.
//
// Sample rate: a polyphase windowed-sinc filter (see resampler) that keeps
// 0-0.45 of the lower rate and attenuates everything above half of it by
// at least 90 dB. Output frame n is the input's value at time n*from/to,
// so N input frames give exactly ceil(N*to/from) output frames, and the
// output of a concatenation is the concatenation of outputs' lengths: the
// playlist's tracks stay gapless.
//
// Channels (in the WAV/FLAC default order): mono to N puts the signal in
// the first two channels; N to stereo is the ITU-R BS.775 downmix (centre
// and surrounds at -3 dB, LFE dropped), scaled so that it cannot clip;
// to mono is the mean of that stereo pair; other changes of count go
// through that stereo pair into the first two channels.
//
// Bit depth: samples are rounded to the nearest step of the target depth
// and clipped, without dither (to 16 bits the rounding error is below the
// 16-bit noise floor of the material we play; dither is the output's job).
func Convert(src Source, to Format) (Source, error) {
	from := src.Format()
	if err := from.Validate(); err != nil {
		return nil, err
	}
	if err := to.Validate(); err != nil {
		return nil, err
	}
	if from == to {
		return src, nil
	}
	c, err := newConverter(from, to)
	if err != nil {
		return nil, err
	}
	c.src = src
	c.in = make([]int32, convertBlock*from.Channels)
	return c, nil
}

// newConverter sets up the mix and the resampler from one valid format to
// another, for Convert and NewChunkConverter alike.
func newConverter(from, to Format) (*converter, error) {
	c := &converter{from: from, to: to}
	if from.Channels != to.Channels {
		c.mix = mixMatrix(from.Channels, to.Channels)
		c.mixFirst = to.Channels < from.Channels
	}
	if from.SampleRate != to.SampleRate {
		if from.SampleRate > maxRateRatio*to.SampleRate || to.SampleRate > maxRateRatio*from.SampleRate {
			return nil, fmt.Errorf("audio: cannot convert %d Hz to %d Hz (more than %dx apart)", from.SampleRate, to.SampleRate, maxRateRatio)
		}
		c.rs = newResampler(from.SampleRate, to.SampleRate, c.resampledChannels())
	}
	c.frame = make([]float64, max(from.Channels, to.Channels))
	c.mixed = make([]float64, to.Channels)
	return c, nil
}

// resampledChannels is how many channels the resampler carries: the fewer
// of the two counts, since mixing down comes first and mixing up after.
func (c *converter) resampledChannels() int {
	if c.mixFirst {
		return c.to.Channels
	}
	return c.from.Channels
}

type converter struct {
	src      Source
	from, to Format
	mix      [][]float64 // to.Channels rows of from.Channels gains; nil: same count
	mixFirst bool        // mix before resampling (fewer channels to filter)
	rs       *resampler  // nil: same rate
	in       []int32
	frame    []float64
	mixed    []float64
	eof      bool
	err      error
}

func (c *converter) Format() Format { return c.to }
func (c *converter) Close() error   { return c.src.Close() }

func (c *converter) Read(dst []int32) (int, error) {
	want := len(dst) / c.to.Channels
	if want == 0 {
		return 0, nil
	}
	if c.rs == nil {
		return c.readSameRate(dst, want)
	}
	n := 0
	for n < want {
		if !c.rs.ready() {
			if c.err != nil {
				break
			}
			if c.eof {
				if c.rs.done() {
					break
				}
				c.rs.padZeros()
				continue
			}
			c.fill()
			continue
		}
		v := c.rs.next(c.frame)
		c.put(dst[n*c.to.Channels:], v, !c.mixFirst)
		n++
	}
	if n == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	return n * c.to.Channels, nil
}

// fill reads a block of input into the resampler.
func (c *converter) fill() {
	k, err := ReadFull(c.src, c.in)
	if err == io.EOF {
		c.eof = true
		c.rs.end()
		return
	}
	if err != nil {
		c.err = err
	}
	ch := c.from.Channels
	for f := 0; f < k/ch; f++ {
		v := c.toFloat(c.in[f*ch : f*ch+ch])
		if c.mixFirst {
			v = c.applyMix(v)
		}
		c.rs.push(v)
	}
}

func (c *converter) readSameRate(dst []int32, want int) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	ch := c.from.Channels
	k, err := c.src.Read(c.in[:min(want, convertBlock)*ch])
	for f := 0; f < k/ch; f++ {
		c.put(dst[f*c.to.Channels:], c.toFloat(c.in[f*ch:f*ch+ch]), true)
	}
	if err != nil && err != io.EOF {
		c.err = err
		if k > 0 {
			err = nil
		}
	}
	return k / ch * c.to.Channels, err
}

// toFloat converts one frame to floats in [-1, 1).
func (c *converter) toFloat(s []int32) []float64 {
	v := c.frame[:len(s)]
	for i, x := range s {
		v[i] = float64(x) * (1.0 / (1 << 31))
	}
	return v
}

func (c *converter) applyMix(v []float64) []float64 {
	if c.mix == nil {
		return v
	}
	out := c.mixed
	for o, row := range c.mix {
		var s float64
		for i, g := range row {
			s += g * v[i]
		}
		out[o] = s
	}
	return out
}

// put writes one output frame, mixing it first if that is still to do.
func (c *converter) put(dst []int32, v []float64, mix bool) {
	if mix {
		v = c.applyMix(v)
	}
	for i, x := range v[:c.to.Channels] {
		dst[i] = quantize(x, c.to.BitDepth)
	}
}

// mixMatrix returns the gains of each output channel over the inputs.
func mixMatrix(from, to int) [][]float64 {
	m := make([][]float64, to)
	for o := range m {
		m[o] = make([]float64, from)
	}
	stereo := stereoDownmix(from) // from 1 or 2 it is the identity or duplicate
	switch to {
	case 1:
		for i := range from {
			m[0][i] = (stereo[0][i] + stereo[1][i]) / 2
		}
	default:
		copy(m[0], stereo[0])
		copy(m[1], stereo[1])
	}
	return m
}

// stereoDownmix is the ITU-R BS.775 downmix of the WAV/FLAC default
// channel layouts, normalized so that no input can clip the output.
func stereoDownmix(n int) [2][]float64 {
	const c = math.Sqrt2 / 2 // -3 dB
	var l, r []float64
	switch n {
	case 1:
		l, r = []float64{1}, []float64{1}
	case 2:
		l, r = []float64{1, 0}, []float64{0, 1}
	case 3: // L R C
		l, r = []float64{1, 0, c}, []float64{0, 1, c}
	case 4: // L R Ls Rs
		l, r = []float64{1, 0, c, 0}, []float64{0, 1, 0, c}
	case 5: // L R C Ls Rs
		l, r = []float64{1, 0, c, c, 0}, []float64{0, 1, c, 0, c}
	case 6: // L R C LFE Ls Rs
		l, r = []float64{1, 0, c, 0, c, 0}, []float64{0, 1, c, 0, 0, c}
	case 7: // L R C LFE Cs Sl Sr
		l, r = []float64{1, 0, c, 0, 0.5, c, 0}, []float64{0, 1, c, 0, 0.5, 0, c}
	case 8: // L R C LFE Ls Rs Sl Sr
		l, r = []float64{1, 0, c, 0, c, 0, c, 0}, []float64{0, 1, c, 0, 0, c, 0, c}
	default: // no standard layout: alternate channels left and right
		l, r = make([]float64, n), make([]float64, n)
		for i := range n {
			if i%2 == 0 {
				l[i] = 1
			} else {
				r[i] = 1
			}
		}
	}
	if n > 2 {
		for _, row := range [][]float64{l, r} {
			var sum float64
			for _, g := range row {
				sum += g
			}
			for i := range row {
				row[i] /= sum
			}
		}
	}
	return [2][]float64{l, r}
}

// resampler is a polyphase windowed-sinc sample-rate converter with a
// rational step: output n is the input at time n*m/l (l/m = to/from in
// lowest terms), the sum of the 2*half inputs around that time weighted by
// a Kaiser-windowed sinc. The phase of output n is (n*m mod l)/l; with at
// most maxFilterTable coefficients each phase has its own row, otherwise
// rows are kept for a finer fixed grid and interpolated linearly (an error
// far below the stopband: the filter is smooth at that grid).
//
// The filter is zero-phase: output n is centred on input time n*m/l, so
// the output is not delayed. Before the first input and after the last it
// sees silence.
type resampler struct {
	l, m   int64
	half   int
	phases int64 // rows in the table, not counting the extra last row
	interp bool
	table  []float64 // (phases+1) rows of 2*half taps
	ch     int
	buf    [][]float64 // per channel, inputs from absolute index base
	base   int64
	have   int64 // one past the last input index in buf
	nin    int64 // input length once the source ended, else -1
	i, ph  int64 // next output: input index floor(n*m/l) and n*m mod l
	coef   []float64
	zero   []float64
}

func newResampler(from, to, ch int) *resampler {
	g := gcd(from, to)
	r := &resampler{l: int64(to / g), m: int64(from / g), ch: ch, nin: -1}
	low := float64(min(from, to))
	cutoff := (resamplePassband + resampleStopband) / 2 * low / float64(from) // cycles per input sample
	width := (resampleStopband - resamplePassband) * low / float64(from)
	const a = resampleStopbandDB
	beta := 0.1102 * (a - 8.7)
	taps := (a-7.95)/(2.285*2*math.Pi*width) + 1
	r.half = int(math.Ceil(taps / 2))
	n := 2 * r.half
	r.phases = r.l
	if r.l*int64(n) > maxFilterTable {
		r.phases = maxFilterTable/int64(n) - 1
		r.interp = true
	}
	r.table = make([]float64, (r.phases+1)*int64(n))
	i0b := bessel0(beta)
	for p := int64(0); p <= r.phases; p++ {
		row := r.table[p*int64(n) : (p+1)*int64(n)]
		frac := float64(p) / float64(r.phases)
		var sum float64
		for k := range row {
			t := frac + float64(r.half-1-k) // input time offset of tap k
			u := t / float64(r.half)
			if u <= -1 || u >= 1 {
				continue
			}
			x := 2 * cutoff * t
			sinc := 1.0
			if x != 0 {
				sinc = math.Sin(math.Pi*x) / (math.Pi * x)
			}
			row[k] = 2 * cutoff * sinc * bessel0(beta*math.Sqrt(1-u*u)) / i0b
			sum += row[k]
		}
		for k := range row { // unity gain at DC for every phase
			row[k] /= sum
		}
	}
	r.coef = make([]float64, n)
	r.zero = make([]float64, ch)
	r.buf = make([][]float64, ch)
	r.base = -int64(r.half - 1) // silence before the first input
	for c := range r.buf {
		r.buf[c] = make([]float64, r.half-1, r.half-1+convertBlock+n)
	}
	return r
}

// ready reports whether the next output's inputs are all in the buffer.
func (r *resampler) ready() bool {
	if r.nin >= 0 && r.i >= r.nin {
		return false
	}
	return r.i+int64(r.half) < r.have
}

// done reports that every output has been produced.
func (r *resampler) done() bool { return r.nin >= 0 && r.i >= r.nin }

// push appends one input frame, first dropping inputs no output needs.
func (r *resampler) push(v []float64) {
	if drop := r.i - int64(r.half) + 1 - r.base; drop > 0 && len(r.buf[0]) >= cap(r.buf[0]) {
		for c := range r.buf {
			r.buf[c] = r.buf[c][:copy(r.buf[c], r.buf[c][drop:])]
		}
		r.base += drop
	}
	for c := range r.buf {
		r.buf[c] = append(r.buf[c], v[c])
	}
	r.have++
}

// end marks the end of the input.
func (r *resampler) end() { r.nin = r.have }

// padZeros appends the silence after the input that the next output needs.
func (r *resampler) padZeros() {
	for !r.ready() && !r.done() {
		r.push(r.zero)
	}
}

// next computes the next output frame into out (r.ch values).
func (r *resampler) next(out []float64) []float64 {
	n := 2 * r.half
	var coef []float64
	if !r.interp {
		coef = r.table[r.ph*int64(n) : (r.ph+1)*int64(n)]
	} else {
		pos := r.ph * r.phases
		p := pos / r.l
		a := float64(pos-p*r.l) / float64(r.l)
		lo, hi := r.table[p*int64(n):(p+1)*int64(n)], r.table[(p+1)*int64(n):(p+2)*int64(n)]
		coef = r.coef
		for k := range coef {
			coef[k] = lo[k] + a*(hi[k]-lo[k])
		}
	}
	start := r.i - int64(r.half) + 1 - r.base
	for c := range r.ch {
		out[c] = dot(coef, r.buf[c][start:start+int64(n)])
	}
	r.ph += r.m
	r.i += r.ph / r.l
	r.ph %= r.l
	return out[:r.ch]
}

func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	k := 0
	for ; k+4 <= len(a); k += 4 {
		s0 += a[k] * b[k]
		s1 += a[k+1] * b[k+1]
		s2 += a[k+2] * b[k+2]
		s3 += a[k+3] * b[k+3]
	}
	for ; k < len(a); k++ {
		s0 += a[k] * b[k]
	}
	return (s0 + s1) + (s2 + s3)
}

// bessel0 is the modified Bessel function of the first kind, order 0.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 500; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
