package device

import "time"

// Ours: none of these comes from the spec.
const (
	// defaultPeriod is the device period asked for: the unit in which the
	// device takes audio. With defaultPeriods periods the device buffer is
	// 30 ms, the latency the timeline accounts for.
	defaultPeriod  = 10 * time.Millisecond
	defaultPeriods = 3
	// minPeriod and maxPeriod bound Options.Period; maxPeriods Options.Periods.
	minPeriod  = time.Millisecond
	maxPeriod  = 100 * time.Millisecond
	maxPeriods = 16
	// timelineWindow is how far back the timeline looks for the callback
	// that came closest to on time. Longer rejects more scheduling jitter;
	// shorter follows clock drift with less lag (drift x window: 50 us at a
	// 100 ppm crystal) and recovers sooner after an underrun.
	timelineWindow = 500 * time.Millisecond
	// minWindowCallbacks keeps a useful window when periods are long.
	minWindowCallbacks = 8
	// stallTimeout: a started device that has not asked for audio for this
	// long has stopped without telling us (a hung driver); Err reports it
	// so the player stops pretending to play. Far above any period and any
	// scheduling hiccup we expect.
	stallTimeout = 3 * time.Second
	// scratchPeriods sizes the render buffer: a callback may ask for more
	// than a period (a pull backend catching up); bigger asks are rendered
	// in pieces, never by allocating in the callback.
	scratchPeriods = 2
	// streamName is what sound servers (PulseAudio) show for our stream.
	streamName = "Tonearm"
)
