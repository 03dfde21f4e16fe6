package audio

import "math"

// Tone is the built-in test signal: a 440 Hz sine at -12 dBFS on every
// channel, with a 1 kHz pip for the first 50 ms of every second so that
// alignment between outputs can be checked by ear or by program. It never
// ends. Sample i is a pure function of i, so any stretch can be recomputed.
type Tone struct {
	format Format
	frame  int64 // next frame index
}

// NewTone returns the test signal in format f.
func NewTone(f Format) (*Tone, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &Tone{format: f}, nil
}

// Format implements Source.
func (t *Tone) Format() Format { return t.format }

// Read implements Source.
func (t *Tone) Read(dst []int32) (int, error) {
	ch := t.format.Channels
	frames := len(dst) / ch
	for i := range frames {
		v := ToneSample(t.format.SampleRate, t.frame)
		for c := range ch {
			dst[i*ch+c] = v
		}
		t.frame++
	}
	return frames * ch, nil
}

// Close implements Source.
func (t *Tone) Close() error { return nil }

// ToneSample is the test signal's value at frame index i, quantized to 16
// bits so it survives any wire depth exactly.
func ToneSample(rate int, i int64) int32 {
	const amp = 0.25 // -12 dBFS
	sec := float64(i) / float64(rate)
	v := math.Sin(2 * math.Pi * 440 * sec)
	if i%int64(rate) < int64(rate)/20 {
		v = 0.5*v + 0.5*math.Sin(2*math.Pi*1000*sec)
	}
	return int32(math.Round(v*amp*32767)) << 16
}
