package player

import (
	"context"
	"fmt"
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
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// codecRig is the real server on loopback WebSocket with real players, each
// capturing its output block by block.
type codecRig struct {
	t       *testing.T
	srv     *server.Server
	url     string
	ctx     context.Context
	cancel  context.CancelFunc
	players []*codecPlayer
}

type codecPlayer struct {
	pl   *Player
	out  *captureOutput
	done chan struct{}
	// offset is server time minus this player's local time, sampled while
	// both run (both clocks are this machine's).
	offset int64
}

func newCodecRig(t *testing.T) *codecRig {
	t.Helper()
	sst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sst.Close() })
	srv, err := server.New(server.Config{Store: sst, Name: "E2E"})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv)
	ctx, cancel := context.WithCancel(context.Background())
	rig := &codecRig{t: t, srv: srv, url: "ws" + strings.TrimPrefix(h.URL, "http"), ctx: ctx, cancel: cancel}
	t.Cleanup(func() {
		cancel()
		for _, p := range rig.players {
			<-p.done
		}
		h.Close()
	})
	return rig
}

// add connects an approved player that lists formats and waits until the
// server sees it available.
func (r *codecRig) add(formats ...wire.AudioFormat) *codecPlayer {
	t := r.t
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	out := &captureOutput{}
	pl, err := New(Config{Store: st, UnpairedAccess: true, Output: out, Formats: formats})
	if err != nil {
		t.Fatal(err)
	}
	out.now = pl.Now
	rp := &codecPlayer{pl: pl, out: out, done: make(chan struct{})}
	r.players = append(r.players, rp)
	go func() { defer close(rp.done); _ = pl.Connect(r.ctx, r.url) }()
	waitFor(t, "the server to list a player", func() bool { _, ok := serverView(r.srv, pl.ID()); return ok })
	if err := r.srv.Approve(pl.ID(), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "available", func() bool { i, _ := serverView(r.srv, pl.ID()); return i.Available })
	return rp
}

// play plays src to every player, waits for it to end, then stops the
// players.
func (r *codecRig) play(src audio.Source) {
	t := r.t
	t.Helper()
	if err := r.srv.Play(src); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.srv.Playing() {
		if time.Now().After(deadline) {
			t.Fatal("the source did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	for _, p := range r.players {
		p.offset = r.srv.Now() - p.pl.Now()
	}
	r.cancel()
	for _, p := range r.players {
		<-p.done
	}
}

// splitmix is a deterministic hash of a frame index: the noise of the
// test signals.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// indexNoise is a 48 kHz stereo 24-bit source: channel 0's top 16 bits
// name the frame (as rampSource's do) and its next 8 bits are noise;
// channel 1 is 24 bits of noise, never zero in its top 16. Every bit a
// 16- or 24-bit stream carries is checked, and every frame says which it
// is, whatever the renderer dropped or repeated.
type indexNoise struct{ i, n int }

func (s *indexNoise) Format() audio.Format {
	return audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 24}
}
func (s *indexNoise) Close() error { return nil }
func (s *indexNoise) Read(dst []int32) (int, error) {
	k := 0
	for k+1 < len(dst) && s.i < s.n {
		dst[k], dst[k+1] = indexNoiseFrame(s.i)
		k += 2
		s.i++
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

func indexNoiseFrame(i int) (int32, int32) {
	h := splitmix(uint64(i))
	l := int32(i-32768)<<16 | int32(h&0xff)<<8
	r := int32(h>>32)&^0xff | 1<<16
	return l, r
}

// TestLosslessRoundTrips: the real server plays one source to four real
// players over WebSocket, one per lossless format (PCM and FLAC at 16 and
// 24 bits, the server encoding each player's stream on its own); what each
// player puts out is the source bit for bit, truncated to its depth, from
// its first frame to its last, on one timeline shared by all four within
// the spec's 1 ms.
func TestLosslessRoundTrips(t *testing.T) {
	rig := newCodecRig(t)
	formats := []wire.AudioFormat{
		{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16},
		{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 24},
		{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 16},
		{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 24},
	}
	for _, f := range formats {
		rig.add(f)
	}
	const n = 60000 // 1.25 s; the frame index fits 16 bits
	rig.play(&indexNoise{n: n})

	var t0s []float64 // per frame: local time + offset - frame time, all players
	for pi, p := range rig.players {
		f := formats[pi]
		shift := 32 - f.BitDepth
		frames := checkIndexed(t, fmt.Sprintf("%s/%d", f.Codec, f.BitDepth), p, n, func(i int) (int32, int32) {
			l, r := indexNoiseFrame(i)
			return l >> shift << shift, r >> shift << shift
		})
		for _, fr := range frames {
			t0s = append(t0s, fr.server-float64(fr.i)*1e6/48000)
		}
	}
	sort.Float64s(t0s)
	median := t0s[len(t0s)/2]
	worst := math.Max(median-t0s[0], t0s[len(t0s)-1]-median)
	t.Logf("%d frames from %d players: worst deviation from the common timeline %.0f µs", len(t0s), len(formats), worst)
	if worst > 1000 {
		t.Fatalf("players off the common timeline by %.0f µs (floor 1 ms)", worst)
	}
}

type indexedFrame struct {
	i      int
	server float64 // server µs at which the frame was heard
}

// checkIndexed checks a player's output of an indexed source: every frame
// of audio equals want(its index) exactly, the indices run from the first
// frame to the last without a hole or silence, except for the renderer's
// own corrections (at most 0.5% of the frames). It returns the frames with
// the server time each was heard at.
func checkIndexed(t *testing.T, name string, p *codecPlayer, n int, want func(i int) (int32, int32)) []indexedFrame {
	t.Helper()
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	var frames []indexedFrame
	silent := 0 // silence after audio, not yet known to be inside the stream
	corrections, prev := 0, -1
	for _, b := range p.out.blocks {
		for k := 0; k < len(b.samples)/2; k++ {
			l, r := b.samples[2*k], b.samples[2*k+1]
			if l == 0 && r == 0 {
				if prev >= 0 {
					silent++
				}
				continue
			}
			if silent > 0 {
				t.Fatalf("%s: %d frames of silence after frame %d", name, silent, prev)
			}
			i := int(l>>16) + 32768
			if wl, wr := want(i); l != wl || r != wr {
				t.Fatalf("%s: frame %d is (%#x, %#x), the source's is (%#x, %#x)", name, i, l, r, wl, wr)
			}
			if prev >= 0 && i != prev+1 {
				if i < prev || i > prev+4 {
					t.Fatalf("%s: frame %d follows frame %d", name, i, prev)
				}
				corrections += max(i-prev-1, 1)
			}
			prev = i
			frames = append(frames, indexedFrame{i, float64(b.local+p.offset) + float64(k)*1e6/48000})
		}
	}
	if len(frames) == 0 {
		t.Fatalf("%s: no audio", name)
	}
	t.Logf("%s: frames %d to %d of %d, %d corrected", name, frames[0].i, prev, n, corrections)
	// The server starts a player that joins at the start of playback at
	// the first chunk its whole required lead ahead of the moment it
	// joins, which can be the second chunk; every chunk it sends plays,
	// from its first frame. Chunks are whole multiples of 20 ms.
	if frames[0].i%960 != 0 || frames[0].i > 9600 || prev < n-1 {
		t.Fatalf("%s: played frames %d to %d of 0 to %d", name, frames[0].i, prev, n-1)
	}
	if float64(corrections) > 0.005*float64(len(frames)) {
		t.Fatalf("%s: %d frames corrected, beyond the 0.5%% speed limit", name, corrections)
	}
	return frames
}
