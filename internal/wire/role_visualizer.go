package wire

import "math"

// VisualizerType is a visualization data type.
type VisualizerType string

// The visualization data types (roles/visualizer/v1.md).
const (
	VisBeat     VisualizerType = "beat"
	VisLoudness VisualizerType = "loudness"
	VisFPeak    VisualizerType = "f_peak"
	VisPeak     VisualizerType = "peak"
	VisSpectrum VisualizerType = "spectrum"
)

// Known reports whether t is a type the spec defines.
func (t VisualizerType) Known() bool {
	return enumIn(t, VisBeat, VisLoudness, VisFPeak, VisPeak, VisSpectrum)
}

// SpectrumScale maps FFT frequencies to display bins.
type SpectrumScale string

// The spectrum scales.
const (
	ScaleMel SpectrumScale = "mel"
	ScaleLog SpectrumScale = "log"
	ScaleLin SpectrumScale = "lin"
)

// Spectrum is a spectrum configuration.
type Spectrum struct {
	NDispBins int
	Scale     SpectrumScale
	FMin      int // Hz
	FMax      int // Hz
}

func (s *Spectrum) encode(w *writer) {
	w.int("n_disp_bins", int64(s.NDispBins))
	w.str("scale", string(s.Scale))
	w.int("f_min", int64(s.FMin))
	w.int("f_max", int64(s.FMax))
}

func (s *Spectrum) decode(r *reader) {
	n, _ := r.int("n_disp_bins", true, 1, math.MaxInt32)
	s.NDispBins = int(n)
	sc, ok := r.str("scale", true)
	s.Scale = SpectrumScale(sc)
	if ok && !enumIn(s.Scale, ScaleMel, ScaleLog, ScaleLin) {
		r.fail("scale", RuleEnum)
	}
	lo, _ := r.int("f_min", true, 0, math.MaxInt32)
	hi, _ := r.int("f_max", true, 0, math.MaxInt32)
	s.FMin, s.FMax = int(lo), int(hi)
	if !r.failed() && s.FMax <= s.FMin {
		r.fail("f_max", RuleRange)
	}
}

// VisualizerSupport is client/hello visualizer@v1_support.
type VisualizerSupport struct {
	BufferCapacity int64 // bytes
}

func (s *VisualizerSupport) encode(w *writer) { w.int("buffer_capacity", s.BufferCapacity) }
func (s *VisualizerSupport) decode(r *reader) {
	s.BufferCapacity, _ = r.int("buffer_capacity", true, 1, math.MaxInt64)
}

func readVisTypes(r *reader) []VisualizerType {
	ts, _ := r.strs("types", true)
	out := make([]VisualizerType, len(ts))
	for i, t := range ts {
		out[i] = VisualizerType(t)
		if r.st.strict && !out[i].Known() {
			r.fail("types["+itoa(i)+"]", RuleEnum)
		}
	}
	if !unique(out) {
		r.fail("types", RuleUnique)
	}
	return out
}

func readSpectrum(r *reader, types []VisualizerType) *Spectrum {
	c, ok := r.object("spectrum", enumIn(VisSpectrum, types...))
	if !ok {
		return nil
	}
	s := new(Spectrum)
	s.decode(c)
	return s
}

// VisualizerState is the visualizer object of client/state. Types may hold
// values a newer client requests; a server streams only those it knows.
type VisualizerState struct {
	Types    []VisualizerType // may be empty
	RateMax  int              // periodic frames per second per type
	Spectrum *Spectrum        // required when Types includes spectrum
}

func (s *VisualizerState) encode(w *writer) {
	w.strs("types", stringsOf(s.Types))
	w.int("rate_max", int64(s.RateMax))
	if s.Spectrum != nil {
		w.obj("spectrum")
		s.Spectrum.encode(w)
		w.end()
	}
}

func (s *VisualizerState) decode(r *reader) {
	s.Types = readVisTypes(r)
	n, _ := r.int("rate_max", true, 1, math.MaxInt32)
	s.RateMax = int(n)
	s.Spectrum = readSpectrum(r, s.Types)
}

// VisualizerStream is the visualizer object of stream/start.
type VisualizerStream struct {
	Types   []VisualizerType
	RateMax int
	// TracksDownbeats is required when Types includes beat.
	TracksDownbeats *bool
	Spectrum        *Spectrum // only when Types includes spectrum
}

func (s *VisualizerStream) encode(w *writer) {
	w.strs("types", stringsOf(s.Types))
	w.int("rate_max", int64(s.RateMax))
	if s.TracksDownbeats != nil {
		w.bool("tracks_downbeats", *s.TracksDownbeats)
	}
	if s.Spectrum != nil {
		w.obj("spectrum")
		s.Spectrum.encode(w)
		w.end()
	}
}

func (s *VisualizerStream) decode(r *reader) {
	s.Types = readVisTypes(r)
	for i, t := range s.Types {
		// The server streams only types the spec defines.
		if !t.Known() {
			r.fail("types["+itoa(i)+"]", RuleEnum)
		}
	}
	n, _ := r.int("rate_max", true, 1, math.MaxInt32)
	s.RateMax = int(n)
	beat := enumIn(VisBeat, s.Types...)
	if v, ok := r.boolean("tracks_downbeats", beat); ok {
		if beat {
			s.TracksDownbeats = &v
		} else if r.st.strict {
			r.fail("tracks_downbeats", RuleForbidden)
		}
	}
	spec := enumIn(VisSpectrum, s.Types...)
	if spec || r.st.strict {
		s.Spectrum = readSpectrum(r, s.Types)
		if s.Spectrum != nil && !spec {
			r.fail("spectrum", RuleForbidden)
		}
	}
}
