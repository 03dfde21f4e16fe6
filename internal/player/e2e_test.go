package player

import (
	"context"
	"io"
	"math"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// rampSource is a 48 kHz stereo source whose samples name their frame (as
// 16-bit values) and which ends after n frames.
type rampSource struct{ i, n int }

func (r *rampSource) Format() audio.Format {
	return audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
}
func (r *rampSource) Close() error { return nil }
func (r *rampSource) Read(dst []int32) (int, error) {
	k := 0
	for k+1 < len(dst) && r.i < r.n {
		v := int32(r.i-32768) << 16
		dst[k], dst[k+1] = v, v
		k += 2
		r.i++
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

// TestTwoPlayersInSync: the real server plays one source to two real
// players over WebSocket; every block each player puts out is checked
// against the server timeline through the true clock offsets, and the two
// players against each other.
func TestTwoPlayersInSync(t *testing.T) {
	sst, _ := store.Open(t.TempDir())
	defer sst.Close()
	srv, err := server.New(server.Config{Store: sst, Name: "E2E"})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv)
	defer h.Close()
	url := "ws" + strings.TrimPrefix(h.URL, "http")

	type rigPlayer struct {
		pl  *Player
		out *captureOutput
	}
	var players []rigPlayer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		st, _ := store.Open(t.TempDir())
		defer st.Close()
		out := &captureOutput{}
		pl, err := New(Config{Store: st, UnpairedAccess: true, Output: out})
		if err != nil {
			t.Fatal(err)
		}
		out.now = pl.Now
		players = append(players, rigPlayer{pl, out})
		go func() { _ = pl.Connect(ctx, url) }()
		waitFor(t, "the server to list a player", func() bool { _, ok := serverView(srv, pl.ID()); return ok })
		if err := srv.Approve(pl.ID(), false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "available", func() bool { i, _ := serverView(srv, pl.ID()); return i.Available })
	}
	if err := srv.Play(&rampSource{n: 48000}); err != nil { // 1 s
		t.Fatal(err)
	}
	waitFor(t, "the source to end", func() bool { return !srv.Playing() })
	time.Sleep(100 * time.Millisecond)
	cancel()

	// Server time = local time + offset, sampled now for each player.
	var all []float64
	for pi, rp := range players {
		offset := srv.Now() - rp.pl.Now()
		rp.out.mu.Lock()
		n := 0
		for _, b := range rp.out.blocks {
			if b.samples[0] == 0 || b.samples[len(b.samples)-1] == 0 {
				continue // silence, or the edges of the stream
			}
			frame := float64(b.samples[0]>>16 + 32768)
			// frame - server time in frames is the same for every block of
			// every player when all are in sync.
			all = append(all, frame-float64(b.local+offset)*48000/1e6)
			n++
		}
		rp.out.mu.Unlock()
		if n < 60 {
			t.Fatalf("player %d played only %d blocks", pi, n)
		}
	}
	sort.Float64s(all)
	median := all[len(all)/2]
	worst := 0.0
	for _, v := range all {
		worst = math.Max(worst, math.Abs(v-median))
	}
	worstUS := worst / 48000 * 1e6
	t.Logf("%d blocks from 2 players: worst deviation from the common timeline %.0f µs", len(all), worstUS)
	if worstUS > 500 {
		t.Fatalf("players out of sync by %.0f µs (target 500)", worstUS)
	}
}
