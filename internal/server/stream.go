package server

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/codec"
	"github.com/tonearm-audio/tonearm/internal/stream"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Streaming (roles/player/v1.md "Server Audio Send Constraints"): the
// source is read once into chunks on one timeline; each player gets its own
// encoding of them (messaging.md "stream/start"), sent ahead as far as its
// buffer accounting allows, with send_ahead stamped just before encryption.

// Ours.
const (
	// chunkDuration: within the spec's 15-150 ms; longer chunks mean fewer
	// writes per player, which is where fan-out capacity comes from
	// (GUIDE.md section 7: system calls, not encryption, bound fan-out).
	// 100 ms is an Opus frame size (one packet per chunk) and 4800 frames
	// at 48 kHz, 4410 at 44.1 kHz: whole frames at the common rates.
	chunkDuration = 100 * time.Millisecond
	// maxAhead bounds how far ahead of its play time a chunk is sent.
	maxAhead = 2 * time.Second
	// refill is how far a player's send-ahead drains before its sender
	// wakes to top it up again to maxAhead: a sender wakes a few times a
	// second and sends several chunks each time, instead of waking for
	// every chunk.
	refill = 400 * time.Millisecond
	// sendBatch is the most chunks a sender sends before it yields to the
	// other senders, so that across players the chunks due first go out
	// first.
	sendBatch = 1
	// rampSlack is how far beyond its first chunk a player's send-ahead
	// reaches when its buffer starts empty (a new stream, a late join, a
	// stream/clear); from there it grows by half the time elapsed until
	// it reaches maxAhead. Sending 2 s to every player at once would put
	// the first chunks of the last players behind the last chunks of the
	// first: at 2000 players that burst is 40000 writes inside the 250 ms
	// start-up lead.
	rampSlack = 100 * time.Millisecond
	// minStartLead is the least startup lead, whatever players report.
	minStartLead = 250 * time.Millisecond
	// memberStartCost is what starting one more player costs the server
	// (its stream/start and first chunks: writes and encryption, about
	// 50 µs measured in the fan-out bench, doubled for safety). A start
	// or a seek gives the group that much more lead per member, so that
	// the last player's first chunk is not late because 2000 others went
	// first: 200 ms at 2000 players, 1 ms at 10.
	memberStartCost = 100 * time.Microsecond
	// idle is how long a sender sleeps when nothing but a wake-up (a
	// track jump, a new format, new chunks) can give it work.
	idle = time.Hour
	// tick is the producer's period.
	tick = 5 * time.Millisecond
	// produceBatch is the most chunks the producer reads in one tick: it
	// holds the streamer's lock while it reads, and the senders need that
	// lock to find their next chunk, so the read-ahead of a new stream
	// (7 s: the send-ahead plus the largest output delay) is spread over
	// ticks instead of read in one go. 4 chunks a tick is 80 times real
	// time.
	produceBatch = 4
)

type chunk struct {
	index   int64 // chunk number on the timeline
	ts      int64 // server µs of its first frame
	track   int   // the source's track at its first frame; -1 without tracks
	samples []int32
	pcm     *pcmCache
}

// pcmCache holds a chunk's PCM encodings, one per format. PCM is a pure
// function of the samples and the format, so the bytes every player of a
// format would get from its own encoder are the same: they are made once
// and shared (GUIDE.md section 7: encode once per format, fan out). The
// codecs with state (FLAC, Opus) stay one encoder per player, as
// messaging.md "stream/start" has it.
type pcmCache struct {
	mu       sync.Mutex
	byFormat map[wire.AudioFormat][]byte
}

// get returns the chunk's encoding in enc's format, encoding it on first
// use. The slice is never written again.
func (c *pcmCache) get(enc codec.Encoder, samples []int32) ([]byte, error) {
	f := enc.Format()
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.byFormat[f]; ok {
		return b, nil
	}
	b, err := enc.Encode(nil, samples)
	if err != nil {
		return nil, err
	}
	if c.byFormat == nil {
		c.byFormat = map[wire.AudioFormat][]byte{}
	}
	c.byFormat[f] = b
	return b, nil
}

// trackSource is a source of several tracks the server can jump between
// (audio.Playlist).
type trackSource interface {
	audio.Source
	Track() (index int, name string)
	Jump(index int) error
}

// errNoTracks: skipping needs a source with tracks.
var errNoTracks = errors.New("server: what is playing has no tracks to skip (play a folder)")

// streamer plays one source to the players registered with it.
type streamer struct {
	s           *Server
	src         audio.Source
	format      audio.Format
	chunkFrames int
	t0          int64 // server time of frame 0

	mu      sync.Mutex
	history []chunk // recent chunks, oldest first
	// nextIndex is the index of the next chunk to read from the source.
	nextIndex int64
	// epoch counts track jumps; each player's sender clears its stream
	// (stream/clear) when it sees a new one, and resumes at clearFrom.
	epoch     uint64
	clearFrom int64
	eof       bool
	// tracks marks where each track of a track source begins on the
	// timeline, from the one heard now on; lastTrack is the track of the
	// last frame read (-1: none since the start or a jump).
	tracks    []trackMark
	lastTrack int
	// durUS is the duration of a source without tracks, when known.
	durUS   int64
	haveDur bool
	players map[*conn]*playerStream
	// jumped is closed, and replaced, when the epoch changes: every sender,
	// however long it meant to sleep, wakes to clear its player's stream.
	jumped chan struct{}
	// more is closed, and replaced, when chunks were read: senders that
	// had sent everything read so far (a live source) wake to send them.
	more chan struct{}
	stop chan struct{}
	done chan struct{}
}

// playerStream is one player's encoding, accounting and sender. Each has
// its own goroutine, so a player whose connection stalls holds up nobody
// else (GUIDE.md section 7: slow the one slow player, never the others).
type playerStream struct {
	mu   sync.Mutex
	c    *conn
	enc  codec.Encoder
	acct *stream.Accountant
	// next is the next chunk index to send. The sender moves it; the
	// producer reads it to know what every player is past, without waiting
	// on a sender stuck in a write.
	next  atomic.Int64
	delay int64 // output_delay_ms in µs: chunks go out that much earlier
	// encDelay is the encoder's delay in µs: chunks are stamped that much
	// earlier than their input.
	encDelay int64
	closed   bool
	stop     chan struct{}
	done     chan struct{}
	// wake asks the sender to look again now (a new output delay, a new
	// format): what it computed to sleep for may no longer hold.
	wake chan struct{}
	// encoded holds chunk next, encoded once: an encoder's state moves on
	// with every call, so a chunk that does not fit yet is not encoded again.
	encoded       []byte
	encodedFor    int64
	encodedFrames int // the frames chunk encodedFor was encoded with (padded, for Opus)
	haveEnc       bool
	epoch         uint64 // the streamer's epoch this player's stream is in
	// rampFrom and rampBase (server µs) shape the send-ahead of a buffer
	// that started empty: rampBase ahead at rampFrom, growing by half the
	// time since (see rampSlack).
	rampFrom, rampBase int64

	fig streamFigures // for the operator's live view (stats.go)
}

// startCost is the extra startup lead for a group of n players.
func startCost(n int) time.Duration { return time.Duration(n) * memberStartCost }

// ahead is how far ahead of now the player may be sent audio.
func (ps *playerStream) ahead(now int64) int64 {
	return min(maxAhead.Microseconds(), ps.rampBase+(now-ps.rampFrom)/2)
}

// sendableAt is the server time at which a chunk due at due may be sent.
func (ps *playerStream) sendableAt(due int64) int64 {
	// The ramp: due <= t + rampBase + (t-rampFrom)/2.
	t := (2*(due-ps.rampBase) + ps.rampFrom + 2) / 3
	if due-t >= maxAhead.Microseconds() {
		// Past the ramp: wait until the send-ahead has drained by refill,
		// then top it up in one go.
		t = due - maxAhead.Microseconds() + refill.Microseconds()
	}
	return t
}

// startRamp starts the send-ahead ramp of a buffer that is empty now and
// whose first chunk is lead ahead.
func (ps *playerStream) startRamp(now int64, lead time.Duration) {
	ps.rampFrom, ps.rampBase = now, (max(lead, minStartLead) + rampSlack).Microseconds()
}

func newStreamer(s *Server, src audio.Source, lead time.Duration) *streamer {
	f := src.Format()
	st := &streamer{s: s, src: src, format: f, chunkFrames: f.SampleRate * int(chunkDuration) / int(time.Second),
		players: map[*conn]*playerStream{}, jumped: make(chan struct{}), more: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
		lastTrack: -1}
	st.t0 = s.Now() + max(lead, minStartLead).Microseconds()
	if _, ok := src.(trackSource); !ok {
		st.durUS, st.haveDur = audio.DurationUS(src)
	}
	go st.loop()
	return st
}

// firstChunkAt is the index of the first chunk starting at or after the
// server time earliest.
func (st *streamer) firstChunkAt(earliest int64) int64 {
	if earliest <= st.t0 {
		return 0
	}
	perChunk := int64(st.chunkFrames) * 1_000_000
	next := ((earliest-st.t0)*int64(st.format.SampleRate) + perChunk - 1) / perChunk
	for next > 0 && st.chunkTS(next-1) >= earliest {
		next-- // the chunk timestamps round down
	}
	for st.chunkTS(next) < earliest {
		next++
	}
	return next
}

func (st *streamer) chunkTS(index int64) int64 {
	return st.t0 + index*int64(st.chunkFrames)*1_000_000/int64(st.format.SampleRate)
}

// formatFor picks the player's first supported format this server can
// produce at the source's rate and channels (roles/player/v1.md: the
// highest-priority supported entry it can produce), preferring the
// player's current preference.
func (st *streamer) formatFor(c *conn) (wire.AudioFormat, bool) {
	c.mu.Lock()
	hello, state := c.hello, c.state
	c.mu.Unlock()
	if hello == nil || hello.PlayerSupport == nil {
		return wire.AudioFormat{}, false
	}
	cands := hello.PlayerSupport.SupportedFormats
	if state != nil && state.Player != nil && state.Player.Format != nil {
		// The preference counts only if it is one of the listed formats
		// (roles/player/v1.md "client/state player object").
		for _, f := range cands {
			if f == *state.Player.Format {
				cands = append([]wire.AudioFormat{f}, cands...)
				break
			}
		}
	}
	for _, f := range cands {
		if f.SampleRate != st.format.SampleRate || f.Channels != st.format.Channels {
			continue // no resampling yet
		}
		if codec.Supported(f) {
			return f, true
		}
	}
	return wire.AudioFormat{}, false
}

// join starts a player's stream: stream/start, then chunks from the first
// one far enough ahead for its lead (late joiners play in sync).
func (st *streamer) join(c *conn) error {
	f, ok := st.formatFor(c)
	if !ok {
		return errors.New("server: the player supports no format of this source")
	}
	enc, err := codec.NewEncoder(f)
	if err != nil {
		return err
	}
	ps := &playerStream{c: c, enc: enc, encDelay: encoderDelayUS(enc), acct: stream.NewAccountant(c.bufferCapacity()),
		stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	ps.acct.SetOutputDelay(c.outputDelay())
	ps.delay = int64(c.outputDelay()) * 1000
	ps.fig.setTiming(c)
	ps.fig.setFormat(f)
	start := &wire.StreamStart{Player: &wire.PlayerStream{AudioFormat: f, CodecHeader: enc.CodecHeader()}}
	err = c.sc.Send(func(dst []byte) ([]byte, error) {
		start.ServerTransmitted = st.s.Now()
		return wire.AppendBinaryJSON(dst, start)
	})
	if err != nil {
		return err
	}
	lead := c.lead()
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.s.Now()
	// The first chunk far enough ahead for this player's lead: a late
	// joiner starts there, in sync with the others. A player that joins
	// before the stream's first chunk is due (the group's members, whose
	// joins follow the start by a little, and any player that comes in
	// just then) starts with that first chunk, as long as it is at least
	// its minimum send-ahead away (roles/player/v1.md "Server Audio Send
	// Constraints": min_buffer_ms + output_delay_ms is the floor,
	// required_lead_time_ms a hint the start time already covered for the
	// members).
	earliest := now + lead.Microseconds()
	if now+c.minLead().Microseconds() <= st.t0 {
		earliest = min(earliest, st.t0)
	}
	ps.next.Store(max(st.firstChunkAt(earliest), st.clearFrom))
	ps.startRamp(now, lead)
	ps.epoch = st.epoch
	st.players[c] = ps
	go ps.run(st)
	return nil
}

// run is the player's sender. It sleeps until what it owes its player
// next can go out (sendTo says when), or until woken by a track jump or
// a change to the player's stream.
func (ps *playerStream) run(st *streamer) {
	defer close(ps.done)
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		st.mu.Lock()
		jumped, more := st.jumped, st.more
		st.mu.Unlock()
		wait, starved := st.sendTo(ps)
		if !starved {
			more = nil // a nil channel never fires
		}
		if wait <= 0 {
			// More is due than one batch: let the other senders have
			// their turn first, then go on.
			runtime.Gosched()
			select {
			case <-ps.stop:
				return
			default:
			}
			continue
		}
		t.Reset(wait)
		select {
		case <-ps.stop:
			return
		case <-jumped:
		case <-more:
		case <-ps.wake:
		case <-t.C:
		}
	}
}

// poke wakes the sender to look again.
func (ps *playerStream) poke() {
	select {
	case ps.wake <- struct{}{}:
	default:
	}
}

// leave stops a player's stream; after it returns no chunk is sent to it.
// It waits for a send in progress to that player only.
func (st *streamer) leave(c *conn) bool {
	st.mu.Lock()
	ps := st.players[c]
	delete(st.players, c)
	st.mu.Unlock()
	if ps == nil {
		return false
	}
	close(ps.stop)
	<-ps.done
	return true
}

func (st *streamer) close() {
	close(st.stop)
	<-st.done
	st.src.Close()
}

func (st *streamer) loop() {
	defer close(st.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		st.produce()
		select {
		case <-st.stop:
			return
		case <-t.C:
		}
	}
}

// produce reads the source up to maxAhead and forgets chunks every player
// is past.
func (st *streamer) produce() {
	now := st.s.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	read := 0
	for !st.eof && read < produceBatch {
		next := st.nextIndex
		// Read ahead far enough for the largest output delay too.
		if st.chunkTS(next) > now+maxAhead.Microseconds()+wire.MaxOutputDelayMS*1000 {
			break
		}
		track := -1
		if ts, ok := st.src.(trackSource); ok {
			track, _ = ts.Track()
		}
		buf := make([]int32, st.chunkFrames*st.format.Channels)
		n, err := st.readChunk(next, buf)
		if n > 0 {
			st.history = append(st.history, chunk{index: next, ts: st.chunkTS(next), track: track, samples: buf[:n], pcm: &pcmCache{}})
			st.nextIndex++
			read++
		}
		if err == io.EOF || n < len(buf) {
			st.eof = true
		} else if err != nil {
			st.s.log.Warn("source failed", "err", err)
			st.eof = true
		}
	}
	if read > 0 {
		close(st.more)
		st.more = make(chan struct{})
	}
	low := int64(1 << 62)
	for _, ps := range st.players {
		low = min(low, ps.next.Load())
	}
	drop := 0
	for drop < len(st.history) && st.history[drop].index < low &&
		st.history[drop].ts+int64(chunkDuration/time.Microsecond) < now {
		drop++
	}
	st.history = st.history[drop:]
	for len(st.tracks) > 1 && st.tracks[1].ts <= now {
		st.tracks = st.tracks[1:]
	}
}

// sendTo sends a player the chunks that are due and fit its buffer, at
// most sendBatch of them, and returns how long its sender may sleep before
// there is more to send: 0 when more is due now. starved is true when the
// player has been sent everything read so far.
func (st *streamer) sendTo(ps *playerStream) (wait time.Duration, starved bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	sent := 0
	for !ps.closed {
		next := ps.next.Load()
		ch, ok, epoch, clearFrom := st.chunkAt(next)
		if epoch != ps.epoch {
			// A track jump (messaging.md "stream/end": track jumps are
			// treated as seeks): clear the player's buffer, then go on
			// from the jump's first chunk. Nothing read under the new
			// epoch goes out before the clear.
			if !st.clearPlayer(ps, epoch, clearFrom) {
				return idle, false
			}
			continue
		}
		if !ok {
			return idle, true // not read yet
		}
		if sent == sendBatch {
			return 0, false
		}
		now := st.s.Now()
		// A player with an output delay plays each chunk that much earlier
		// (roles/player/v1.md "Server Audio Send Constraints").
		// A codec with algorithmic delay (Opus) gives back each chunk's
		// audio that much later: its timestamp is when the first sample
		// the decoder emits for it is heard (codec.Encoder.Delay).
		ts := ch.ts - ps.encDelay
		due := ts - ps.delay
		if due > now+ps.ahead(now) {
			return max(time.Duration(ps.sendableAt(due)-now)*time.Microsecond, time.Millisecond), false
		}
		if due < now {
			ps.next.Store(next + 1) // too late to be useful: never send what cannot play
			ps.c.live.dropped.Add(1)
			continue
		}
		var payload []byte
		// frames is what the player decodes from the chunk, the duration its
		// buffer accounting counts (roles/player/v1.md "Player Buffer
		// Accounting").
		frames := len(ch.samples) / st.format.Channels
		if ps.enc.Format().Codec == wire.CodecPCM && ch.pcm != nil {
			p, err := ch.pcm.get(ps.enc, ch.samples)
			if err != nil {
				st.s.log.Warn("encoding failed", "err", err)
				return idle, false
			}
			payload = p
		} else {
			if !ps.haveEnc || ps.encodedFor != next {
				// A source's short last chunk, padded where the codec codes
				// only some durations (Opus).
				samples := codec.Pad(ps.enc, ch.samples, st.format.Channels)
				p, err := ps.enc.Encode(ps.encoded[:0], samples)
				if err != nil {
					st.s.log.Warn("encoding failed", "err", err)
					return idle, false
				}
				ps.encoded, ps.encodedFor, ps.haveEnc = p, next, true
				ps.encodedFrames = len(samples) / st.format.Channels
			}
			payload = ps.encoded
			frames = ps.encodedFrames
		}
		size := wire.AudioHeaderSize + len(payload)
		if !ps.acct.Fits(size, now) {
			// The player's buffer is full: sleep until enough of it has
			// played out (roles/player/v1.md "Player Buffer Accounting").
			at, ok := ps.acct.FitsAt(size, now)
			if !ok {
				st.s.log.Warn("a chunk is larger than the player's buffer_capacity", "size", size)
				return idle, false
			}
			return max(time.Duration(at-now)*time.Microsecond, time.Millisecond), false
		}
		dur := int64(frames) * 1_000_000 / int64(st.format.SampleRate)
		id, err := ps.acct.Add(ts, dur, size)
		if err != nil {
			return idle, false
		}
		err = ps.c.sc.Send(func(dst []byte) ([]byte, error) {
			return wire.AppendAudioChunk(dst, ts, wire.SendAheadAt(ts, st.s.Now()), payload), nil
		})
		ps.acct.Sent(id)
		if err != nil {
			ps.closed = true
			return idle, false
		}
		ps.next.Store(next + 1)
		ps.fig.sent(ps.c, due-now, ts+dur)
		sent++
	}
	return idle, false
}

// chunkAt returns chunk index if it is in the history, with the epoch it
// belongs to and where that epoch's stream starts.
func (st *streamer) chunkAt(index int64) (ch chunk, ok bool, epoch uint64, clearFrom int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	epoch, clearFrom = st.epoch, st.clearFrom
	if len(st.history) == 0 {
		return chunk{}, false, epoch, clearFrom
	}
	i := index - st.history[0].index
	if i < 0 || i >= int64(len(st.history)) {
		return chunk{}, false, epoch, clearFrom
	}
	return st.history[i], true, epoch, clearFrom
}

// clearPlayer sends a player stream/clear for a track jump and starts its
// buffer accounting afresh (the player dropped what it held); false if
// the connection failed. Called by the player's sender, holding ps.mu.
func (st *streamer) clearPlayer(ps *playerStream, epoch uint64, from int64) bool {
	clear := &wire.StreamClear{Roles: []string{wire.StreamPlayer}}
	err := ps.c.sc.Send(func(dst []byte) ([]byte, error) {
		clear.ServerTransmitted = st.s.Now()
		return wire.AppendBinaryJSON(dst, clear)
	})
	if err != nil {
		ps.closed = true
		return false
	}
	acct := stream.NewAccountant(ps.c.bufferCapacity())
	acct.SetOutputDelay(int(ps.delay / 1000))
	ps.acct, ps.epoch, ps.haveEnc = acct, epoch, false
	ps.fig.cleared()
	ps.next.Store(from)
	now := st.s.Now()
	ps.startRamp(now, time.Duration(st.chunkTS(from)-ps.delay-now)*time.Microsecond)
	return true
}

// skip jumps to the start of the track after the one being heard: chunks
// from the first one lead ahead of now on are read anew from there, and
// every player's sender clears its stream before sending them. At the end
// of a playlist that does not loop, playback ends after what is left
// before that point.
func (st *streamer) skip(lead time.Duration) (ended bool, err error) {
	ts, ok := st.src.(trackSource)
	if !ok {
		return false, errNoTracks
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.s.Now()
	heard := -1
	for _, ch := range st.history {
		if ch.ts > now && heard >= 0 {
			break
		}
		heard = ch.track
	}
	if heard < 0 {
		heard, _ = ts.Track()
	}
	from := max(st.firstChunkAt(now+max(lead, minStartLead).Microseconds()), st.clearFrom)
	if err := ts.Jump(heard + 1); err != nil {
		return false, err
	}
	if idx, _ := ts.Track(); idx < 0 {
		ended = true // past the last track
	}
	keep := 0
	for keep < len(st.history) && st.history[keep].index < from {
		keep++
	}
	st.history = st.history[:keep]
	for len(st.tracks) > 1 && st.tracks[len(st.tracks)-1].ts >= st.chunkTS(from) {
		st.tracks = st.tracks[:len(st.tracks)-1]
	}
	st.lastTrack = -1
	st.nextIndex = from // chunks not read yet before it stay silent
	st.eof = false
	st.epoch++
	st.clearFrom = from
	close(st.jumped)
	st.jumped = make(chan struct{})
	return ended, nil
}

// finished reports a source that ended and whose last chunk has played.
func (st *streamer) finished() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.eof {
		return false
	}
	if len(st.history) == 0 {
		return true
	}
	last := st.history[len(st.history)-1]
	return last.ts+int64(chunkDuration/time.Microsecond) < st.s.Now()
}

func (st *streamer) setOutputDelay(c *conn, ms int) {
	st.mu.Lock()
	ps := st.players[c]
	st.mu.Unlock()
	if ps != nil {
		ps.fig.setTiming(c)
		ps.mu.Lock()
		ps.acct.SetOutputDelay(ms)
		ps.delay = int64(ms) * 1000
		ps.mu.Unlock()
		ps.poke()
	}
}

// reformat re-derives a player's stream format after its client/state
// changed; if it changed, the stream is reconfigured in place: a
// stream/start with the new format, chunks after it encoded anew, the
// timeline continuing (messaging.md "stream/start", roles/player/v1.md
// "Format preference").
func (st *streamer) reformat(c *conn) error {
	st.mu.Lock()
	ps := st.players[c]
	st.mu.Unlock()
	if ps == nil {
		return nil
	}
	f, ok := st.formatFor(c)
	if !ok || f == ps.format() {
		return nil
	}
	enc, err := codec.NewEncoder(f)
	if err != nil {
		return err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	start := &wire.StreamStart{Player: &wire.PlayerStream{AudioFormat: f, CodecHeader: enc.CodecHeader()}}
	err = c.sc.Send(func(dst []byte) ([]byte, error) {
		start.ServerTransmitted = st.s.Now()
		return wire.AppendBinaryJSON(dst, start)
	})
	if err != nil {
		return err
	}
	ps.enc, ps.haveEnc = enc, false // a chunk encoded in the old format is encoded again
	ps.fig.setFormat(f)
	ps.encDelay = encoderDelayUS(enc)
	ps.poke()
	return nil
}

// encoderDelayUS is an encoder's delay in µs.
func encoderDelayUS(enc codec.Encoder) int64 {
	return int64(enc.Delay()) * 1_000_000 / int64(enc.Format().SampleRate)
}

func (ps *playerStream) format() wire.AudioFormat {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.enc.Format()
}
