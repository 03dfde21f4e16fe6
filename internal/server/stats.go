package server

import (
	"bytes"
	"sort"
	"sync/atomic"

	"github.com/tonearm-audio/tonearm/internal/clocksync"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Live figures for the operator, from the server's own view of each
// player: what it sends, what it drops, and the client/time exchanges it
// answers. They are kept in atomics by the goroutines that see them (a
// player's sender, a connection's time replier), so 2000 streaming
// players cost no lock and no allocation per chunk; StreamStats reads
// them.

// liveFigures are a connection's figures.
type liveFigures struct {
	haveClock             atomic.Bool
	offset, maxError, rtt atomic.Int64 // µs
	late, dropped         atomic.Uint64
}

func (f *liveFigures) setClock(e clocksync.Estimate) {
	f.offset.Store(e.Offset)
	f.maxError.Store(e.MaxError)
	f.rtt.Store(e.RTT)
	f.haveClock.Store(true)
}

// streamFigures are a player stream's figures.
type streamFigures struct {
	// sentEnd is the end (timestamp plus duration, server µs) of the last
	// chunk sent since the stream started or was cleared; 0 for none.
	sentEnd atomic.Int64
	// delay is output_delay_ms and minBuffer min_buffer_ms, in µs.
	delay, minBuffer atomic.Int64
	format           atomic.Pointer[wire.AudioFormat]
}

func (f *streamFigures) setFormat(af wire.AudioFormat) { f.format.Store(&af) }

func (f *streamFigures) setTiming(c *conn) {
	if ps := c.playerState(); ps != nil {
		f.delay.Store(int64(ps.OutputDelayMS) * 1000)
		f.minBuffer.Store(ps.MinBufferMS * 1000)
	}
}

// sent records a chunk that went out ahead µs before it was due (its
// timestamp less the output delay) and ends at end. A chunk sent with
// less than the player's min_buffer_ms ahead of it is late: the player's
// queue was below what it asked to keep (roles/player/v1.md "Server
// Audio Send Constraints").
func (f *streamFigures) sent(c *conn, ahead, end int64) {
	if ahead < f.minBuffer.Load() {
		c.live.late.Add(1)
	}
	f.sentEnd.Store(end)
}

// cleared records a stream/clear: the player dropped what it held.
func (f *streamFigures) cleared() { f.sentEnd.Store(0) }

// PlayerStats are the live figures of one streaming player.
type PlayerStats struct {
	Client keys.PublicKey
	// Format is the stream's audio format.
	Format wire.AudioFormat
	// Clock is the server's view of the client's clock (clocksync.ServerView);
	// HaveClock is false until a burst of client/time gave one.
	Clock     clocksync.Estimate
	HaveClock bool
	// BufferedUS is the audio sent and not yet played by the player: the
	// end of the last chunk sent, less the player's output delay, less
	// now (the completion time of roles/player/v1.md "Player Buffer
	// Accounting", reckoned for that one chunk).
	BufferedUS int64
	// LateChunks counts chunks sent with less than min_buffer_ms ahead,
	// DroppedChunks chunks never sent because their time had passed,
	// over the connection's life.
	LateChunks, DroppedChunks uint64
}

// StreamStats lists the live figures of every streaming player, by
// client ID.
func (s *Server) StreamStats() []PlayerStats {
	s.mu.Lock()
	sts := make([]*streamer, 0, len(s.streams))
	for _, st := range s.streams {
		sts = append(sts, st)
	}
	s.mu.Unlock()
	now := s.Now()
	var out []PlayerStats
	for _, st := range sts {
		st.mu.Lock()
		for c, ps := range st.players {
			p := PlayerStats{Client: c.sc.Peer(), LateChunks: c.live.late.Load(), DroppedChunks: c.live.dropped.Load()}
			if f := ps.fig.format.Load(); f != nil {
				p.Format = *f
			}
			if c.live.haveClock.Load() {
				p.HaveClock = true
				p.Clock = clocksync.Estimate{Offset: c.live.offset.Load(), MaxError: c.live.maxError.Load(), RTT: c.live.rtt.Load()}
			}
			if end := ps.fig.sentEnd.Load(); end > 0 {
				p.BufferedUS = max(0, end-ps.fig.delay.Load()-now)
			}
			out = append(out, p)
		}
		st.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Client[:], out[j].Client[:]) < 0 })
	return out
}
