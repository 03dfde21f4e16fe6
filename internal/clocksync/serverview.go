package clocksync

// ServerView is the server's own estimate of a client's clock, from the
// client/time exchanges alone (for the operator: the server does not
// steer anything by it).
//
// The server sees three of the four timestamps of an exchange: T1
// (client_transmitted), T2 (when it read the message) and T3 (when its
// reply left). T4, the reply's arrival at the client, is the client's
// alone. But a client sends each client/time of a burst after the reply
// to the previous one arrives (messaging.md "Clock Synchronization"), so
// the next message's T1 is a time at or after the previous reply's T4.
// Using it for T4 gives, for the previous exchange:
//
//	offset    = ((T2 - T1) + (T3 - T1next)) / 2
//	max_error = ((T1next - T1) - (T3 - T2)) / 2
//
// which is the spec's measurement with the client's turnaround added to
// the round trip: max_error still bounds the true offset's distance from
// offset (it only grows by half the turnaround), and the round trip seen
// on the server's clock, T2next - T3, is the network's both ways plus that
// turnaround. Like a client, the view keeps the burst's lowest-max_error
// exchange. It holds for clients that follow the spec's SHOULD (a client
// that sends the next message before the reply arrives gets no estimate
// here: the bound could be wrong, so an exchange whose figures are
// inconsistent is dropped). All times in µs.
type ServerView struct {
	prev     timeExchange
	havePrev bool

	best       Estimate
	haveBest   bool
	burstStart int64 // T2 of the burst's first exchange
}

type timeExchange struct{ t1, t2, t3 int64 }

// Estimate is the server's view of a client's clock.
type Estimate struct {
	// Offset is the server clock minus the client's (the filter's
	// offset), MaxError its worst-case error, RTT the round trip on the
	// server's clock, client turnaround included.
	Offset, MaxError, RTT int64
}

// Ours.
const (
	// viewMaxRTT: an exchange whose next message came later than this is
	// the gap between two bursts, not a round trip.
	viewMaxRTT = 1_000_000
	// viewBurstGap: an exchange this long after the burst's first starts
	// a new burst.
	viewBurstGap = 3_000_000
)

// Exchange records an answered client/time: t1 its client_transmitted,
// t2 when the server read it, t3 when the reply left. It returns the
// best estimate of the latest burst, and whether it changed.
func (v *ServerView) Exchange(t1, t2, t3 int64) (Estimate, bool) {
	prev, had := v.prev, v.havePrev
	v.prev, v.havePrev = timeExchange{t1, t2, t3}, true
	if !had {
		return v.best, false
	}
	rtt := t2 - prev.t3
	// The next message's client_transmitted stands in for the reply's
	// arrival (T4): the spec's own measurement, one exchange late.
	m := Measurement{T1: prev.t1, T2: prev.t2, T3: prev.t3, T4: t1}
	maxErr := m.MaxError()
	if rtt < 0 || rtt > viewMaxRTT || maxErr < 0 || t1 <= prev.t1 || prev.t3 < prev.t2 {
		return v.best, false
	}
	e := Estimate{Offset: m.Offset(), MaxError: maxErr, RTT: rtt}
	if !v.haveBest || prev.t2-v.burstStart > viewBurstGap {
		v.best, v.haveBest, v.burstStart = e, true, prev.t2
		return e, true
	}
	if e.MaxError < v.best.MaxError {
		v.best = e
		return e, true
	}
	return v.best, false
}
