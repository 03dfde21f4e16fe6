package stream

import (
	"errors"
	"sort"
)

// Accountant tracks one player's outstanding audio bytes exactly as
// roles/player/v1.md "Player Buffer Accounting" defines them:
//
//   - only each chunk's 13-byte header and encoded payload count;
//   - a chunk counts in full while its transmission is unfinished, or while
//     its completion time (timestamp + duration - output_delay) is in the
//     future on the server's clock;
//   - the count starts empty and stream/clear or stream/end resets it;
//   - an output_delay update recomputes every chunk since the last reset,
//     previously excluded ones included;
//   - an in-place stream/start changes nothing.
//
// Chunks are kept in timestamp order. A chunk whose end (timestamp +
// duration) has passed can never count again, because output_delay is
// never negative, so it is dropped; everything else is kept, since a
// smaller delay can bring it back. Count is O(log n).
type Accountant struct {
	capacity int64
	delayUS  int64
	q        []entry // q[head:] are live, ends non-decreasing
	head     int
	total    int64 // cumulative size of every chunk added since reset
	inflight int   // chunks whose transmission is unfinished
	nextID   uint64
}

type entry struct {
	id       uint64
	end      int64 // timestamp + duration, µs
	cum      int64 // total after this chunk was added
	size     int64
	inflight bool
}

// Chunk identifies a chunk added to the accountant, for Sent.
type Chunk uint64

// ErrOrder reports a chunk that ends before an earlier one: timestamps on a
// stream's timeline never go back.
var ErrOrder = errors.New("stream: chunk ends before the previous one")

// NewAccountant accounts for a player with the given buffer_capacity.
func NewAccountant(capacity int64) *Accountant { return &Accountant{capacity: capacity} }

// SetCapacity changes buffer_capacity (a new client/hello on reconnect).
func (a *Accountant) SetCapacity(c int64) { a.capacity = c }

// SetOutputDelay applies the latest output_delay_ms from client/state.
func (a *Accountant) SetOutputDelay(ms int) { a.delayUS = int64(ms) * 1000 }

// Reset empties the count: a player stream/clear or stream/end was sent.
func (a *Accountant) Reset() {
	a.q, a.head, a.total, a.inflight = a.q[:0], 0, 0, 0
}

// prune drops chunks that can never count again.
func (a *Accountant) prune(now int64) {
	for a.head < len(a.q) && !a.q[a.head].inflight && a.q[a.head].end <= now {
		a.head++
	}
	if a.head > 64 && a.head*2 > len(a.q) {
		n := copy(a.q, a.q[a.head:])
		a.q, a.head = a.q[:n], 0
	}
}

// Count returns the outstanding bytes at server time now.
func (a *Accountant) Count(now int64) int64 {
	a.prune(now)
	live := a.q[a.head:]
	// The first chunk still to complete: end - delay > now.
	i := sort.Search(len(live), func(i int) bool { return live[i].end-a.delayUS > now })
	var count int64
	if i < len(live) {
		// Everything added from live[i] on counts.
		count = a.total - (live[i].cum - live[i].size)
	}
	if a.inflight > 0 {
		// Chunks still being transmitted count whatever their completion.
		for _, e := range live[:i] {
			if e.inflight {
				count += e.size
			}
		}
	}
	return count
}

// Fits reports whether a chunk of size bytes (header included) may start
// transmission at now: its full size plus the current count must not
// exceed buffer_capacity.
func (a *Accountant) Fits(size int, now int64) bool {
	return int64(size)+a.Count(now) <= a.capacity
}

// Add records a chunk whose transmission starts now: timestamp and
// duration in µs, size in bytes with the header. It counts as in flight
// until Sent.
func (a *Accountant) Add(timestamp, durationUS int64, size int) (Chunk, error) {
	end := timestamp + durationUS
	if n := len(a.q); n > a.head && end < a.q[n-1].end {
		return 0, ErrOrder
	}
	a.nextID++
	a.total += int64(size)
	a.q = append(a.q, entry{id: a.nextID, end: end, cum: a.total, size: int64(size), inflight: true})
	a.inflight++
	return Chunk(a.nextID), nil
}

// Sent marks a chunk's transmission finished. Unknown or already-finished
// chunks (for example after a Reset) are ignored.
func (a *Accountant) Sent(c Chunk) {
	live := a.q[a.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].id >= uint64(c) })
	if i < len(live) && live[i].id == uint64(c) && live[i].inflight {
		live[i].inflight = false
		a.inflight--
	}
}

// FitsAt returns the earliest server time, not before now, at which a
// chunk of size bytes fits, assuming no other chunk is added and every
// in-flight chunk finishes; ok is false if it can never fit (larger than
// the capacity).
func (a *Accountant) FitsAt(size int, now int64) (at int64, ok bool) {
	if int64(size) > a.capacity {
		return 0, false
	}
	if a.Fits(size, now) {
		return now, true
	}
	live := a.q[a.head:]
	// Chunks leave the count in end order; find the first completion after
	// which the rest fits.
	for _, e := range live {
		t := e.end - a.delayUS
		if t < now {
			continue
		}
		if int64(size)+a.countAfter(t) <= a.capacity {
			return t, true
		}
	}
	return now, true
}

// countAfter is the count at time t ignoring in-flight status.
func (a *Accountant) countAfter(t int64) int64 {
	var c int64
	for _, e := range a.q[a.head:] {
		if e.end-a.delayUS > t {
			c += e.size
		}
	}
	return c
}
