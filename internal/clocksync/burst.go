package clocksync

// Burster schedules client/time messages in bursts (messaging.md "Clock
// Synchronization"): BurstSize messages per burst, each sent after the
// reply to the previous one arrives, the burst's lowest-max_error
// measurement fed to the filter, a burst about every BurstInterval after a
// faster start. All times are the client's clock in µs.
//
// The driver calls Poll whenever it wakes (timer or reply): Poll says
// whether to send a client/time now (stamped with now as
// client_transmitted) and when to wake next.
type Burster struct {
	f *Filter

	inBurst   bool
	awaiting  bool  // a client/time is outstanding
	sentT1    int64 // its client_transmitted
	sent      int   // messages sent in this burst
	best      Measurement
	haveBest  bool
	nextBurst int64 // when the next burst starts
	bursts    int   // completed bursts
	started   bool
}

// NewBurster schedules bursts for f; the first starts at the first Poll.
func NewBurster(f *Filter) *Burster { return &Burster{f: f} }

// Poll returns whether to send a client/time stamped now, and the time at
// which Poll wants to be called again.
func (b *Burster) Poll(now int64) (send bool, wake int64) {
	if !b.started {
		b.started, b.nextBurst = true, now
	}
	if b.awaiting {
		if now < b.sentT1+ReplyTimeout.Microseconds() {
			return false, b.sentT1 + ReplyTimeout.Microseconds()
		}
		b.awaiting = false // the reply is lost: go on with the burst
	}
	if !b.inBurst {
		if now < b.nextBurst {
			return false, b.nextBurst
		}
		b.inBurst, b.sent, b.haveBest = true, 0, false
	}
	if b.sent == BurstSize {
		b.finish(now)
		return false, b.nextBurst
	}
	b.sent++
	b.awaiting, b.sentT1 = true, now
	return true, now + ReplyTimeout.Microseconds()
}

// Reply takes a server/time: t1 is its client_transmitted, t2 and t3 the
// server's stamps, t4 the local arrival time. A reply to anything but the
// outstanding message (a late one after a timeout) is ignored. It reports
// whether the filter was updated (at the end of a burst).
func (b *Burster) Reply(t1, t2, t3, t4 int64) bool {
	if !b.awaiting || t1 != b.sentT1 {
		return false
	}
	b.awaiting = false
	m := Measurement{T1: t1, T2: t2, T3: t3, T4: t4}
	if !b.haveBest || m.MaxError() < b.best.MaxError() {
		b.best, b.haveBest = m, true
	}
	if b.sent == BurstSize {
		return b.finish(t4)
	}
	return false
}

// finish feeds the burst's best measurement and schedules the next burst.
func (b *Burster) finish(now int64) bool {
	fed := false
	if b.haveBest {
		fed = b.f.Update(b.best)
	}
	b.inBurst, b.haveBest = false, false
	gap := BurstInterval
	if b.bursts < len(fastStart) {
		gap = fastStart[b.bursts]
	}
	b.bursts++
	b.nextBurst = now + gap.Microseconds()
	return fed
}

// Bursts is the number of completed bursts.
func (b *Burster) Bursts() int { return b.bursts }
