package server

import (
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// sentChunk is an audio chunk as a client received it: when the server
// started transmitting it (its timestamp minus send_ahead, stamped just
// before encryption: messaging.md "Transmit timestamps"), its size as the
// accounting counts it, and the server time it was read at.
type sentChunk struct {
	ts, sentAt, end, readAt int64
	size                    int64
}

// collectChunks reads a client's audio until the deadline. A slow reader
// (slow > 0) pauses after each chunk for slow times its duration. It runs
// on its own goroutine, so it returns errors instead of failing the test.
func collectChunks(tc *testClient, s *Server, until time.Time, slow float64) ([]sentChunk, error) {
	var got []sentChunk
	for {
		left := time.Until(until)
		if left <= 0 {
			return got, nil
		}
		r, ok := tc.recvOne(left)
		if !ok {
			return got, nil
		}
		if r.err != nil {
			return got, r.err
		}
		if r.in.JSON != nil || r.in.ID != wire.IDAudioChunk {
			continue
		}
		at := s.Now()
		ch, err := wire.ParseAudioChunk(r.in.Data)
		if err != nil {
			return got, err
		}
		if !wire.MeasuredLead(ch.SendAhead) {
			return got, errLate(ch.Timestamp)
		}
		// 48 kHz stereo 16-bit PCM: 4 bytes a frame.
		dur := int64(len(ch.Audio)/4) * 1_000_000 / 48000
		got = append(got, sentChunk{ts: ch.Timestamp, sentAt: ch.Timestamp - int64(ch.SendAhead), end: ch.Timestamp + dur,
			readAt: at, size: int64(len(r.in.Data))})
		if slow > 0 {
			time.Sleep(time.Duration(float64(dur)*slow) * time.Microsecond)
		}
	}
}

type errLate int64

func (e errLate) Error() string { return "a chunk was sent at or after its timestamp" }

// TestSmallCapacityBoundedAndOthersOnTime: a player with a small
// buffer_capacity, a few chunks, that also reads slower than real time
// (each chunk takes 1.4 times its duration), next to a healthy player with
// the default capacity. The slow player's
// outstanding bytes, counted as roles/player/v1.md "Player Buffer
// Accounting" defines them (header and payload, from the start of
// transmission until timestamp + duration - output_delay), never exceed
// its capacity when the server starts a chunk, nor what it holds when it
// reads one; the healthy player gets every chunk, well ahead of time,
// with the deep send-ahead its own capacity allows.
func TestSmallCapacityBoundedAndOthersOnTime(t *testing.T) {
	const (
		// About 365 ms of 48 kHz stereo 16-bit PCM: room for two chunks
		// of the spec's longest, 150 ms, and little more.
		capacity = 70_000
		delayMS  = 120
		listen   = 2500 * time.Millisecond
		slowness = 1.4
	)
	ts := startServer(t)
	slow := newClient(t, true)
	slow.capacity = capacity
	slow.connect(t, ts.url)
	if err := ts.s.Approve(slow.id.Public(), false); err != nil {
		t.Fatal(err)
	}
	slow.activation(t)
	slow.state(t, true, delayMS) // the output delay moves completion times earlier
	healthy := approvedPlayer(t, ts)
	time.Sleep(50 * time.Millisecond)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(listen)
	type result struct {
		got []sentChunk
		err error
	}
	slowDone := make(chan result, 1)
	go func() {
		got, err := collectChunks(slow, ts.s, until, slowness)
		slowDone <- result{got, err}
	}()
	hgot, err := collectChunks(healthy, ts.s, until, 0)
	if err != nil {
		t.Fatalf("healthy player: %v", err)
	}
	sres := <-slowDone
	stopped := ts.s.Now()
	if sres.err != nil {
		t.Fatalf("slow player: %v", sres.err)
	}
	sgot := sres.got

	// The slow player: the bound, chunk by chunk.
	if len(sgot) < 10 {
		t.Fatalf("the slow player got only %d chunks in %v", len(sgot), listen)
	}
	const delay = delayMS * 1000
	worstSent, worstHeld, maxBehind, biggest := int64(0), int64(0), int64(0), int64(0)
	for k, c := range sgot {
		if c.end-c.ts > 150_000 {
			t.Fatalf("chunk %d lasts %d µs, over the spec's 150 ms", k, c.end-c.ts)
		}
		biggest = max(biggest, c.size)
		// When the server started chunk k, every earlier chunk still to
		// complete counted, and k itself.
		var count, held int64
		for _, e := range sgot[:k+1] {
			if e.end-delay > c.sentAt {
				count += e.size
			}
			if e.end-delay > c.readAt {
				held += e.size
			}
		}
		worstSent, worstHeld = max(worstSent, count), max(worstHeld, held)
		if count > capacity {
			t.Errorf("chunk %d (ts %d) started with %d bytes outstanding, over the capacity of %d", k, c.ts, count, capacity)
		}
		maxBehind = max(maxBehind, c.readAt-(c.ts-delay))
		if k > 0 && c.ts <= sgot[k-1].ts {
			t.Fatalf("chunk %d goes back on the timeline", k)
		}
	}
	t.Logf("slow player: %d chunks; outstanding at the start of a chunk at most %d bytes, held when read at most %d, capacity %d; read up to %.0f ms after the chunk was due",
		len(sgot), worstSent, worstHeld, capacity, float64(maxBehind)/1000)
	if worstSent <= capacity-biggest {
		t.Errorf("outstanding bytes never came near the capacity (%d of %d): the bound was not exercised", worstSent, capacity)
	}
	if maxBehind < 100_000 {
		t.Errorf("the slow player was never more than 100 ms behind (%d µs): it was not slow", maxBehind)
	}

	// The healthy player: every chunk, in order, none missing, each read
	// before it plays, still ahead of playback when listening
	// stopped, and sent further ahead than the slow player's capacity
	// would ever allow (its own capacity governs it, not the slow one's).
	if len(hgot) == 0 {
		t.Fatal("the healthy player got no audio")
	}
	if last := hgot[len(hgot)-1]; last.end < stopped+100_000 {
		t.Errorf("healthy player: its audio ran out %d µs after listening stopped", last.end-stopped)
	}
	var hLead, sLead int64
	for k, c := range hgot {
		if k > 0 && c.ts != hgot[k-1].end {
			t.Fatalf("healthy player: chunk %d at %d follows %d: a gap", k, c.ts, hgot[k-1].ts)
		}
		// In time, and past the stream's first 1.5 s (the start-up lead
		// and the send-ahead's ramp) with half a second to spare. The
		// ramp sends a chunk 1 s into the stream only about 650 ms ahead
		// (rampSlack), so from 1 s a reader held back 150 ms by a busy
		// machine already missed half a second; from 1.5 s the chunks
		// go out about 900 ms ahead.
		want := int64(0)
		if c.ts-hgot[0].ts > 1_500_000 {
			want = 500_000
		}
		if spare := c.ts - c.readAt; spare <= want {
			t.Errorf("healthy player: chunk %d read only %d µs before it plays, want over %d µs", k, spare, want)
		}
		hLead = max(hLead, c.ts-c.sentAt)
	}
	for _, c := range sgot {
		sLead = max(sLead, c.ts-c.sentAt)
	}
	t.Logf("healthy player: %d chunks, none missing; send-ahead up to %d ms (the slow player's up to %d ms)",
		len(hgot), hLead/1000, sLead/1000)
	if hLead < 1_000_000 {
		t.Errorf("healthy player: sent at most %d ms ahead, want its own deep send-ahead (over 1 s)", hLead/1000)
	}
}
