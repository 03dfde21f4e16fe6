package server

import (
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// TestStreamStats: the live figures the operator sees come from what the
// server did. A player that stalls past its send-ahead has the chunks it
// could no longer play counted as dropped; one that exchanged client/time
// in a burst has its clock figures, and one that did not has none.
func TestStreamStats(t *testing.T) {
	ts := startServer(t)
	f := wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 192000, Channels: 8, BitDepth: 32}
	mk := func() *testClient {
		tc := newClient(t, true)
		tc.formats = []wire.AudioFormat{f}
		tc.capacity = 256 << 20
		tc.connect(t, ts.url)
		_ = ts.s.Approve(tc.id.Public(), false)
		tc.activation(t)
		tc.state(t, true, 0)
		return tc
	}
	stalled, healthy := mk(), mk()
	// A burst as a client sends it: each client/time after the reply to
	// the one before, on a client clock 5 s behind the server's.
	for i := range 8 {
		t1 := ts.s.Now() - 5_000_000
		if err := healthy.c.WriteMessage(&wire.ClientTime{ClientTransmitted: t1}); err != nil {
			t.Fatal(err)
		}
		for {
			r, ok := healthy.next(t, 5*time.Second)
			if !ok {
				t.Fatalf("no reply %d", i)
			}
			if r.typ == wire.TypeServerTime {
				break
			}
		}
	}
	src, _ := audio.NewTone(audio.Format{SampleRate: 192000, Channels: 8, BitDepth: 32})
	if err := ts.s.Play(src); err != nil {
		t.Fatal(err)
	}
	healthy.until(t, wire.TypeStreamStart)
	// The stalled one reads nothing for longer than the send-ahead.
	for start := time.Now(); time.Since(start) < 3*time.Second; {
		if _, ok := healthy.next(t, 3*time.Second); !ok {
			t.Fatal("the healthy player got nothing for 3 s")
		}
	}
	stats := func() map[string]PlayerStats {
		m := map[string]PlayerStats{}
		for _, p := range ts.s.StreamStats() {
			m[p.Client.String()] = p
		}
		return m
	}
	h := stats()[healthy.id.Public().String()]
	if h.Format != f || h.BufferedUS <= 0 || h.BufferedUS > 3_000_000 {
		t.Fatalf("healthy: %+v", h)
	}
	if !h.HaveClock || h.Clock.RTT <= 0 || h.Clock.MaxError < 0 || h.Clock.RTT > 1_000_000 {
		t.Fatalf("healthy clock: %+v", h)
	}
	if d := h.Clock.Offset - 5_000_000; d > h.Clock.MaxError || -d > h.Clock.MaxError {
		t.Fatalf("offset %d ± %d does not hold the true 5 s", h.Clock.Offset, h.Clock.MaxError)
	}
	// Read again: the sender goes on past what could no longer play.
	for start := time.Now(); time.Since(start) < time.Second; {
		if _, ok := stalled.next(t, 3*time.Second); !ok {
			t.Fatal("the stalled player got nothing once it read again")
		}
	}
	waitFor(t, func() bool { return stats()[stalled.id.Public().String()].DroppedChunks > 0 })
	if s := stats()[stalled.id.Public().String()]; s.HaveClock || s.Format != f {
		t.Fatalf("stalled: %+v", s)
	}
}

// TestFiguresAllocateNothing: what a sender records per chunk costs no
// allocation (2000 players stream through it).
func TestFiguresAllocateNothing(t *testing.T) {
	c := &conn{}
	var f streamFigures
	f.minBuffer.Store(50_000)
	n := testing.AllocsPerRun(1000, func() {
		f.sent(c, 10_000, 1_000_000)
		f.sent(c, 90_000, 1_100_000)
		c.live.dropped.Add(1)
	})
	if n != 0 || c.live.late.Load() == 0 || f.sentEnd.Load() != 1_100_000 {
		t.Fatalf("%v allocations a chunk; late %d", n, c.live.late.Load())
	}
}
