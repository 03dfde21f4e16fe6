package clocksync

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMeasurementArithmetic(t *testing.T) {
	cases := []struct {
		m           Measurement
		off, maxErr int64
	}{
		{Measurement{T1: 100, T2: 1150, T3: 1160, T4: 200}, 1005, 45},
		// Integer division truncates toward zero, for negative values too.
		{Measurement{T1: 0, T2: -3, T3: -3, T4: 0}, -3, 0},
		{Measurement{T1: 10, T2: 4, T3: 5, T4: 13}, -7, 1},
		{Measurement{T1: 0, T2: 0, T3: 0, T4: 3}, -1, 1},
	}
	for _, c := range cases {
		if c.m.Offset() != c.off || c.m.MaxError() != c.maxErr {
			t.Errorf("%+v: offset %d max_error %d, want %d %d", c.m, c.m.Offset(), c.m.MaxError(), c.off, c.maxErr)
		}
	}
}

// TestFilterSteps follows the spec's update steps by hand for the first
// three measurements.
func TestFilterSteps(t *testing.T) {
	f := New()
	if !math.IsInf(f.pOO, 1) || f.Converged() || f.Mapping().Valid {
		t.Fatal("initial state")
	}
	// Step 1: a measurement at time 0 is not newer than last_update 0.
	if f.Update(Measurement{T1: -10, T2: 0, T3: 0, T4: 0}) {
		t.Fatal("measurement at last_update accepted")
	}
	// Step 3: offset = measurement, P_oo = R, count 1.
	m1 := Measurement{T1: 1000, T2: 6050, T3: 6060, T4: 1110} // offset 5000, max_error 50
	if !f.Update(m1) || f.offset != 5000 || f.pOO != 625 || f.count != 1 || f.lastUpdate != 1110 {
		t.Fatalf("after 1: %+v", f)
	}
	// Step 4: drift = (m - offset)/dt, P_dd = (P_oo + R)/dt².
	m2 := Measurement{T1: 1_000_000, T2: 1_005_070, T3: 1_005_080, T4: 1_000_110} // offset 5020, max_error 50
	if !f.Update(m2) {
		t.Fatal("second measurement discarded")
	}
	dt := float64(1_000_110 - 1110)
	if f.drift != 20/dt || f.pDD != 1250/(dt*dt) || f.offset != 5020 || f.pOO != 625 || f.count != 2 {
		t.Fatalf("after 2: %+v", f)
	}
	// Steps 5-8 by hand.
	m3 := Measurement{T1: 2_000_000, T2: 2_005_045, T3: 2_005_055, T4: 2_000_100} // offset 5000, max_error 45
	dt3 := float64(2_000_100 - 1_000_110)
	drift := 20 / dt
	offP := 5020 + drift*dt3
	pOOP := 625 + 0 + (1250/(dt*dt))*dt3*dt3 + 0
	pODP := 0 + (1250/(dt*dt))*dt3
	pDDP := 1250/(dt*dt) + 1e-22*dt3
	r := 22.5 * 22.5
	y := 5000 - offP
	s := pOOP + r
	kO, kD := pOOP/s, pODP/s
	wantOff, wantDrift := offP+kO*y, drift+kD*y
	wantPOO, wantPOD, wantPDD := pOOP-kO*pOOP, pODP-kD*pOOP, pDDP-kD*pODP
	f.Update(m3)
	for name, got := range map[string][2]float64{"offset": {f.offset, wantOff}, "drift": {f.drift, wantDrift},
		"P_oo": {f.pOO, wantPOO}, "P_od": {f.pOD, wantPOD}, "P_dd": {f.pDD, wantPDD}} {
		if math.Abs(got[0]-got[1]) > 1e-9*math.Max(1, math.Abs(got[1])) {
			t.Errorf("%s = %v, want %v", name, got[0], got[1])
		}
	}
	if f.count != 3 || f.useDrift != (wantDrift*wantDrift > 4*wantPDD) {
		t.Fatalf("count %d use_drift %v", f.count, f.useDrift)
	}
}

// TestAdaptiveForgetting: after min_samples, a residual above 3·max_error
// inflates the covariances by forget_factor², and only then.
func TestAdaptiveForgetting(t *testing.T) {
	feed := func(f *Filter, n int) int64 {
		var t4 int64 = 1000
		for i := range n {
			t4 = int64(1000 + i*100_000)
			f.Update(Measurement{T1: t4 - 100, T2: t4 + 4950, T3: t4 + 4950, T4: t4}) // offset 5000, max_error 50
		}
		return t4
	}
	f := New()
	t4 := feed(f, MinSamples+5)
	if f.count != MinSamples {
		t.Fatalf("count %d, want it capped at %d", f.count, MinSamples)
	}
	before := *f
	// A large residual: offset jumps by 10 ms with max_error 50.
	t4 += 100_000
	f.Update(Measurement{T1: t4 - 100, T2: t4 + 14950, T3: t4 + 14950, T4: t4})
	g := before
	dt := 100_000.0
	pOOP := g.pOO + 2*g.pOD*dt + g.pDD*dt*dt
	pOOP *= 4
	r := 25.0 * 25.0
	if want := pOOP - pOOP/(pOOP+r)*pOOP; math.Abs(f.pOO-want) > 1e-9*want {
		t.Fatalf("P_oo %v, want %v (forgetting applied)", f.pOO, want)
	}
	// The inflated gain moves the offset further than the plain gain would.
	offP := g.offset + g.drift*dt
	y := 15000 - offP
	withForget := offP + pOOP/(pOOP+r)*y
	plainP := pOOP / 4
	without := offP + plainP/(plainP+r)*y
	if math.Abs(f.offset-withForget) > 1e-6 || math.Abs(f.offset-without) < 1 {
		t.Fatalf("offset %v, want %v (without forgetting it would be %v)", f.offset, withForget, without)
	}
}

func TestConversionRounding(t *testing.T) {
	m := Mapping{Offset: 0.5, Valid: true}
	if m.ServerTime(10) != 11 || m.ServerTime(-10) != -9 {
		t.Fatalf("halves away from zero: %d %d", m.ServerTime(10), m.ServerTime(-10))
	}
	m = Mapping{Offset: -0.5}
	if m.ServerTime(10) != 9 {
		t.Fatalf("-0.5 rounds to -1: %d", m.ServerTime(10))
	}
	// compute_client_time rounds the whole expression: 10.5 -> 11, -10.5 -> -11.
	m = Mapping{Offset: -0.5}
	if m.ClientTime(10) != 11 || m.ClientTime(-11) != -11 {
		t.Fatalf("client time rounding: %d %d", m.ClientTime(10), m.ClientTime(-11))
	}
	// Inverse apart from rounding, including large timestamps and drift.
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		m := Mapping{Offset: r.Float64()*2e12 - 1e12, Drift: (r.Float64() - 0.5) * 2e-4, LastUpdate: r.Int64N(4e15), Valid: true}
		c := m.LastUpdate + r.Int64N(2e11) - 1e11
		s := m.ServerTime(c)
		if back := m.ClientTime(s); back < c-1 || back > c+1 {
			t.Fatalf("%+v: client %d -> server %d -> client %d", m, c, s, back)
		}
	}
}

// netSim is a deterministic simulated network between a client clock and
// a server clock with an offset and a drift.
type netSim struct {
	r        *rand.Rand
	offset   float64 // server - client at client time 0, µs
	drift    float64 // server clock rate - 1
	base     float64 // one-way delay, µs
	jitter   float64 // asymmetric: extra delay on each leg, µs, exponential
	outliers float64 // probability of a 20 ms stall on one leg
}

func (n *netSim) server(tc float64) float64 { return tc + n.offset + n.drift*tc }

func (n *netSim) leg() float64 {
	d := n.base + n.r.ExpFloat64()*n.jitter
	if n.r.Float64() < n.outliers {
		d += 20_000
	}
	return d
}

// exchange runs one client/time exchange at client time t1.
func (n *netSim) exchange(t1 float64) Measurement {
	t2 := n.server(t1 + n.leg())
	t3 := t2 + 30 // server processing
	// Invert server() to find the client time the reply arrives at.
	arrivalServer := t3 + n.leg()
	t4 := (arrivalServer - n.offset) / (1 + n.drift)
	return Measurement{T1: int64(t1), T2: int64(t2), T3: int64(t3), T4: int64(t4)}
}

// TestSimulatedNetwork checks convergence time and the error bound under
// offset, drift (100 ppm), asymmetric jitter and outliers, with bursts of
// 8 whose lowest max_error feeds the filter.
func TestSimulatedNetwork(t *testing.T) {
	cases := []struct {
		name     string
		sim      netSim
		maxErrUs float64 // steady-state bound on |error| at the conversion
	}{
		{"lan", netSim{offset: 3.7e9, drift: 0, base: 150, jitter: 40}, 30},
		{"drifting clock 100 ppm", netSim{offset: -8.1e8, drift: 100e-6, base: 200, jitter: 60}, 40},
		{"wifi with outliers", netSim{offset: 1e6, drift: -40e-6, base: 1500, jitter: 800, outliers: 0.05}, 250},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sim := c.sim
			sim.r = rand.New(rand.NewPCG(7, 11))
			f := New()
			now := 1_000_000.0
			convergedAt := -1.0
			worst := 0.0
			for burst := 0; burst < 100; burst++ {
				best := Measurement{}
				bestErr := int64(math.MaxInt64)
				for range BurstSize {
					m := sim.exchange(now)
					if e := m.MaxError(); e < bestErr {
						best, bestErr = m, e
					}
					now = float64(m.T4) + 10
				}
				f.Update(best)
				if f.Converged() && convergedAt < 0 {
					convergedAt = now
				}
				// Measure the conversion error at a future playback time.
				if burst >= 10 {
					tc := now + 500_000
					got := f.Mapping().ServerTime(int64(tc))
					if e := math.Abs(float64(got) - sim.server(tc)); e > worst {
						worst = e
					}
				}
				gap := BurstInterval.Microseconds()
				if burst < len(fastStart) {
					gap = fastStart[burst].Microseconds()
				}
				now += float64(gap)
			}
			if convergedAt < 0 || convergedAt-1_000_000 > 3_000_000 {
				t.Fatalf("converged at %v µs after start", convergedAt-1_000_000)
			}
			if worst > c.maxErrUs {
				t.Fatalf("steady-state error %.0f µs exceeds %.0f", worst, c.maxErrUs)
			}
			t.Logf("converged after %.0f ms, worst steady error %.1f µs", (convergedAt-1_000_000)/1000, worst)
		})
	}
}

// TestDegenerateMeasurements: a max_error of 0 (a round trip below the
// clock resolution) must not turn the state into NaN and pass as converged.
func TestDegenerateMeasurements(t *testing.T) {
	f := New()
	for i := range 5 {
		t4 := int64(1000 + i*1000)
		f.Update(Measurement{T1: t4, T2: t4 + 500, T3: t4 + 500, T4: t4})
	}
	m := f.Mapping()
	if math.IsNaN(m.Offset) || math.IsNaN(m.Drift) || !f.Converged() || m.ServerTime(5000) != 5500 {
		t.Fatalf("offset %v drift %v converged %v", m.Offset, m.Drift, f.Converged())
	}
	g := New()
	g.offset, g.pOO, g.count = math.NaN(), 1, 5
	if g.Converged() {
		t.Fatal("NaN state reported converged")
	}
	// A terrible link converges only within the 20 ms bound.
	h := New()
	for i := range 5 {
		t4 := int64(1_000_000 + i*1_000_000)
		h.Update(Measurement{T1: t4 - 200_000, T2: t4, T3: t4, T4: t4})
	}
	if h.Converged() {
		t.Fatalf("a 100 ms max_error link reported converged (sd %v)", h.StdDev())
	}
}
