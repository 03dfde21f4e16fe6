package server

import (
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// TestPlayersPresentAtStartGetTheFirstChunk: the stream's start time was
// chosen for the leads of the group's members when it started, so each of
// them starts with the stream's first chunk, however long its own join
// took after that (a player that joined microseconds after the start used
// to begin at the second chunk, 100 ms of audio missing).
func TestPlayersPresentAtStartGetTheFirstChunk(t *testing.T) {
	ts := startServer(t)
	var clients []*testClient
	for range 3 {
		tc := newClient(t, true)
		tc.connect(t, ts.url)
		_ = ts.s.Approve(tc.id.Public(), false)
		tc.activation(t)
		tc.state(t, true, 0)
		clients = append(clients, tc)
	}
	waitFor(t, func() bool {
		n := 0
		for _, c := range ts.s.Clients() {
			if c.Available {
				n++
			}
		}
		return n == len(clients)
	})
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	ts.s.mu.Lock()
	st := ts.s.streams[ts.s.groups.DefaultID()]
	ts.s.mu.Unlock()
	if st == nil {
		t.Fatal("no stream")
	}
	for i, tc := range clients {
		tc.until(t, wire.TypeStreamStart)
		seq := tc.until(t, "")
		ch, err := wire.ParseAudioChunk(seq[len(seq)-1].in.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Timestamp != st.t0 {
			t.Errorf("player %d: first chunk at %d, the stream starts at %d (%.0f ms later)",
				i, ch.Timestamp, st.t0, float64(ch.Timestamp-st.t0)/1000)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
