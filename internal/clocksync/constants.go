package clocksync

import "time"

// Parameters from the spec (messaging.md "Time filter parameters").
const (
	ProcessStdDev              = 0.0   // µs per √µs
	DriftProcessStdDev         = 1e-11 // 1 per √µs
	ForgetFactor               = 2.0
	AdaptiveCutoff             = 3.0
	MinSamples                 = 100
	DriftSignificanceThreshold = 2.0
	MaxErrorScale              = 0.5
)

// Burst schedule from the spec (messaging.md "Clock Synchronization"):
// bursts of 8, each message after the previous reply, about every 10 s.
const (
	BurstSize     = 8
	BurstInterval = 10 * time.Second
)

// Ours.
const (
	// ConvergedStdDev is the offset standard deviation, in µs, at or below
	// which one burst is enough to schedule playback: the spec's ±1 ms sync
	// floor. On a LAN the first burst gets far below it.
	ConvergedStdDev = 1000.0
	// ConvergedCount is the number of measurements after which the filter
	// counts as converged whatever its deviation: on a slow link waiting
	// longer does not make the estimate much better, and a player that
	// never reports available is worse than one that plays slightly late.
	ConvergedCount = 3
	// ConvergedMaxStdDev bounds the deviation accepted after
	// ConvergedCount measurements, in µs: beyond 20 ms the mapping is not
	// good enough to schedule audio at all.
	ConvergedMaxStdDev = 20_000.0
	// ReplyTimeout bounds the wait for a server/time; a lost reply ends
	// the burst early instead of stalling the schedule.
	ReplyTimeout = 2 * time.Second
)

// fastStart are the gaps before the first bursts after connecting: the
// filter converges within the first burst on a LAN, and a drift estimate
// needs measurements spread in time, so the first gaps are short and grow
// to the steady BurstInterval.
var fastStart = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
