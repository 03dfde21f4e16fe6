package clocksync

import "math"

// Measurement is one server/time exchange (messaging.md "Time filter"): T1
// client_transmitted, T2 server_received, T3 server_transmitted, and T4 the
// client's local time when the reply arrived, all in µs.
type Measurement struct {
	T1, T2, T3, T4 int64
}

// Offset is the offset this exchange observed: ((T2-T1) + (T3-T4)) / 2,
// with Go's integer division truncating toward zero as the spec requires.
func (m Measurement) Offset() int64 { return ((m.T2 - m.T1) + (m.T3 - m.T4)) / 2 }

// MaxError is half the round-trip delay: ((T4-T1) - (T3-T2)) / 2.
func (m Measurement) MaxError() int64 { return ((m.T4 - m.T1) - (m.T3 - m.T2)) / 2 }

// Filter is the time filter's state. The zero value is not ready; use New.
type Filter struct {
	offset, drift float64
	pOO, pOD, pDD float64
	lastUpdate    int64
	count         int
	useDrift      bool
}

// New returns a filter in the spec's initial state: P_oo infinite,
// use_drift false, everything else 0.
func New() *Filter { return &Filter{pOO: math.Inf(1)} }

// Update feeds one measurement, following the spec's steps 1-8. It reports
// whether the measurement was used (step 1 discards one not newer than the
// last).
func (f *Filter) Update(m Measurement) bool {
	measurement := float64(m.Offset())
	maxError := float64(m.MaxError())
	timeAdded := m.T4

	// 1. Discard what is not newer.
	if timeAdded <= f.lastUpdate {
		return false
	}
	dt := float64(timeAdded - f.lastUpdate)
	f.lastUpdate = timeAdded

	// 2. Measurement variance. A max_error of 0 (a round trip below the
	// clocks' resolution) would make R zero and the gains 0/0 once P_oo is
	// zero too; R is floored at 1 µs², the resolution of the timestamps.
	r := max((MaxErrorScale*maxError)*(MaxErrorScale*maxError), 1)

	// 3. First measurement.
	if f.count == 0 {
		f.offset, f.pOO, f.drift, f.count = measurement, r, 0, 1
		return true
	}
	// 4. Second measurement: a first drift estimate.
	if f.count == 1 {
		f.drift = (measurement - f.offset) / dt
		f.pDD = (f.pOO + r) / (dt * dt)
		f.offset, f.pOO, f.count = measurement, r, 2
		return true
	}
	// 5. Predict.
	offsetP := f.offset + f.drift*dt
	pOOP := f.pOO + 2*f.pOD*dt + f.pDD*dt*dt + ProcessStdDev*ProcessStdDev*dt
	pODP := f.pOD + f.pDD*dt
	pDDP := f.pDD + DriftProcessStdDev*DriftProcessStdDev*dt

	// 6. Residual and adaptive forgetting.
	y := measurement - offsetP
	if f.count < MinSamples {
		f.count++
	} else if math.Abs(y) > AdaptiveCutoff*maxError {
		ff := ForgetFactor * ForgetFactor
		pOOP *= ff
		pODP *= ff
		pDDP *= ff
	}

	// 7. Correct.
	s := pOOP + r
	kO := pOOP / s
	kD := pODP / s
	f.offset = offsetP + kO*y
	f.drift = f.drift + kD*y
	f.pOO = pOOP - kO*pOOP
	f.pOD = pODP - kD*pOOP
	f.pDD = pDDP - kD*pODP

	// 8. Drift significance.
	f.useDrift = f.drift*f.drift > DriftSignificanceThreshold*DriftSignificanceThreshold*f.pDD
	return true
}

// Count is the number of measurements the filter has taken (capped at
// MinSamples by the spec's step 6).
func (f *Filter) Count() int { return f.count }

// StdDev is sqrt(P_oo): the offset estimate's standard deviation in µs.
func (f *Filter) StdDev() float64 { return math.Sqrt(f.pOO) }

// Converged reports whether the filter is good enough to schedule playback
// (and so to report available: true): one measurement within the sync
// floor, or ConvergedCount measurements.
func (f *Filter) Converged() bool {
	sd := f.StdDev()
	if f.count < 1 || math.IsNaN(sd) || math.IsNaN(f.offset) || math.IsNaN(f.drift) {
		return false
	}
	return sd <= ConvergedStdDev || (f.count >= ConvergedCount && sd <= ConvergedMaxStdDev)
}

// Mapping returns the current conversion, a value safe to hand to other
// goroutines.
func (f *Filter) Mapping() Mapping {
	d := 0.0
	if f.useDrift {
		d = f.drift
	}
	return Mapping{Offset: f.offset, Drift: d, LastUpdate: f.lastUpdate, Valid: f.count > 0}
}

// Mapping converts between the client's and the server's clocks
// (messaging.md "Time conversion"). Drift is already 0 unless significant.
type Mapping struct {
	Offset     float64
	Drift      float64
	LastUpdate int64
	Valid      bool // at least one measurement
}

// ServerTime is compute_server_time(t_client).
func (m Mapping) ServerTime(tClient int64) int64 {
	return tClient + int64(math.Round(m.Offset+m.Drift*float64(tClient-m.LastUpdate)))
}

// ClientTime is compute_client_time(t_server) =
// round((t_server - offset + d*last_update) / (1 + d)). It is evaluated as
// t_server - x with x = (offset + d*(t_server - last_update)) / (1 + d), the
// same value, so that large timestamps keep full precision in float64; the
// rounding of halves away from zero is applied to the whole expression.
func (m Mapping) ClientTime(tServer int64) int64 {
	x := (m.Offset + m.Drift*float64(tServer-m.LastUpdate)) / (1 + m.Drift)
	if float64(tServer) >= x {
		return tServer - int64(math.Ceil(x-0.5))
	}
	return tServer - int64(math.Floor(x+0.5))
}
