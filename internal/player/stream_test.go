package player

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// captureOutput is a ClockedOutput into memory that also records each
// block's local start time.
type captureOutput struct {
	now       func() int64
	failAfter int // fail the sink after this many writes (0: never)
	mu        sync.Mutex
	blocks    []block
}

// failingSink fails like a full disk after n writes.
type failingSink struct{ n int }

func (s *failingSink) Write([]int32) error {
	if s.n--; s.n < 0 {
		return errors.New("no space left on device")
	}
	return nil
}
func (s *failingSink) Close() error { return nil }

type block struct {
	local   int64
	samples []int32
}

func (o *captureOutput) Open(f audio.Format, render func([]int32, int64)) (OutputStream, error) {
	if o.failAfter > 0 {
		co := &ClockedOutput{Now: o.now, NewSink: func(audio.Format) (audio.Sink, error) { return &failingSink{n: o.failAfter}, nil }}
		return co.Open(f, render)
	}
	co := &ClockedOutput{Now: o.now, NewSink: func(audio.Format) (audio.Sink, error) { return &audio.Null{}, nil }}
	return co.Open(f, func(out []int32, local int64) {
		render(out, local)
		o.mu.Lock()
		o.blocks = append(o.blocks, block{local, slices.Clone(out)})
		o.mu.Unlock()
	})
}

// streamingServer is a minimal server on the secure channel that activates
// the player and streams a ramp whose sample values name their frame.
type streamingServer struct {
	mu          sync.Mutex
	streaming   bool // stream/start was sent
	unavailable bool // the client reported available: false after that
	start       time.Time
	offset      int64 // added to the server clock so it differs from the player's
	t0          int64 // server time of frame 0
	frames      int
}

func (s *streamingServer) now() int64 { return time.Since(s.start).Microseconds() + s.offset }

func (s *streamingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr, err := securechan.Accept(w, r)
	if err != nil {
		return
	}
	id, _ := keys.GenerateIdentity(nil)
	c, err := securechan.ServerHandshake(context.Background(), tr, securechan.ServerConfig{Identity: id})
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.WriteMessage(&wire.ServerHello{Name: "Stream Server"})
	available := answerPlayer(c, s.now, func(m *wire.ClientState) {
		s.mu.Lock()
		if s.streaming && !m.Available {
			s.unavailable = true
		}
		s.mu.Unlock()
	})
	select {
	case <-available:
	case <-time.After(10 * time.Second):
		return
	}
	f := wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16}
	_ = c.WriteMessage(&wire.StreamStart{ServerTransmitted: s.now(), Player: &wire.PlayerStream{AudioFormat: f}})
	s.mu.Lock()
	s.streaming = true
	s.mu.Unlock()
	s.t0 = s.now() + 300_000
	const chunk = 960
	for k := 0; k*chunk < s.frames; k++ {
		samples := make([]int32, 0, 2*chunk)
		for i := range chunk {
			v := int32(k*chunk+i-32768) << 16 // the frame index, as a 16-bit sample
			samples = append(samples, v, v)
		}
		ts := s.t0 + int64(k*chunk)*1_000_000/48000
		_ = c.Send(func(dst []byte) ([]byte, error) {
			return wire.AppendAudioChunk(dst, ts, wire.SendAheadAt(ts, s.now()), audio.AppendPCM(nil, samples, 16)), nil
		})
	}
	time.Sleep(2 * time.Second)
}

// TestPlayoutInSync streams to a real player over WebSocket and checks,
// block by block, which source frame the player put out at each local
// time against the frame the server scheduled for that time.
func TestPlayoutInSync(t *testing.T) {
	srv := &streamingServer{start: time.Now(), offset: 7_000_000_000, frames: 48000}
	h := httptest.NewServer(srv)
	defer h.Close()
	st, _ := store.Open(t.TempDir())
	defer st.Close()
	out := &captureOutput{}
	pl, err := New(Config{Store: st, UnpairedAccess: true, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	out.now = pl.Now
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	_ = pl.Connect(ctx, "ws"+strings.TrimPrefix(h.URL, "http"))

	// The true offset between the two clocks (both run on this machine).
	trueOffset := srv.start.Sub(pl.start).Microseconds()*-1 + srv.offset - 1
	out.mu.Lock()
	defer out.mu.Unlock()
	checked, worst := 0, 0.0
	for _, b := range out.blocks {
		first := b.samples[0]>>16 + 32768 // the frame it put out first
		if b.samples[0] == 0 && b.samples[len(b.samples)-1] == 0 {
			continue // silence: before the stream or after it
		}
		serverTime := b.local + trueOffset
		want := float64(serverTime-srv.t0) * 48000 / 1e6
		errFrames := float64(first) - want
		if errFrames < 0 {
			errFrames = -errFrames
		}
		if want < 1 || want > float64(srv.frames-480) {
			continue // partial blocks at the edges
		}
		if errFrames > worst {
			worst = errFrames
		}
		checked++
	}
	if checked < 50 {
		t.Fatalf("only %d blocks of audio were played", checked)
	}
	worstUS := worst / 48000 * 1e6
	t.Logf("%d blocks checked, worst sync error %.0f µs", checked, worstUS)
	if worstUS > 1000 {
		t.Fatalf("sync error %.0f µs exceeds the spec's 1 ms floor", worstUS)
	}
}

// TestOutputFailureReported: when the output fails, the player stops
// buffering and reports itself unavailable instead of pretending to play.
func TestOutputFailureReported(t *testing.T) {
	srv := &streamingServer{start: time.Now(), offset: 1_000_000, frames: 96000}
	h := httptest.NewServer(srv)
	defer h.Close()
	st, _ := store.Open(t.TempDir())
	defer st.Close()
	out := &captureOutput{failAfter: 5}
	pl, err := New(Config{Store: st, UnpairedAccess: true, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	out.now = pl.Now
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go func() { _ = pl.Connect(ctx, "ws"+strings.TrimPrefix(h.URL, "http")) }()
	waitFor(t, "the player to report the failure", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.unavailable
	})
	if pl.Status().Available {
		t.Fatal("the player still reports itself available")
	}
}

// answerPlayer runs a minimal server's reader on c: it gives the client
// the player role on client/hello, answers client/time stamped by now,
// and hands every client/state to onState (if not nil). The channel it
// returns closes at the first client/state with available: true.
func answerPlayer(c *securechan.Conn, now func() int64, onState func(*wire.ClientState)) <-chan struct{} {
	available := make(chan struct{})
	var once sync.Once
	go func() {
		for {
			in, err := c.Read()
			received := now()
			if err != nil {
				return
			}
			switch m := in.JSON.(type) {
			case *wire.ClientHello:
				_ = c.WriteMessage(&wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPlayback},
					HasActiveRoles: true, ActiveRoles: []wire.Role{wire.RolePlayerV1}})
			case *wire.ClientTime:
				reply := &wire.ServerTime{ClientTransmitted: m.ClientTransmitted, ServerReceived: received}
				_ = c.Send(func(dst []byte) ([]byte, error) {
					reply.ServerTransmitted = now()
					return wire.AppendBinaryJSON(dst, reply)
				})
			case *wire.ClientState:
				if m.Available {
					once.Do(func() { close(available) })
				}
				if onState != nil {
					onState(m)
				}
			}
		}
	}()
	return available
}

// A clocked output closed while its loop was held back (a busy machine)
// still renders every block due before Close: a device would have played
// them, and a wav recording must not lose the end of a stream.
func TestClockedOutputRendersOwedBlocksOnClose(t *testing.T) {
	var clock atomic.Int64
	var mu sync.Mutex
	var locals []int64
	first := make(chan struct{})
	co := &ClockedOutput{Now: clock.Load, NewSink: func(audio.Format) (audio.Sink, error) { return &audio.Null{}, nil }}
	st, err := co.Open(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}, func(out []int32, local int64) {
		mu.Lock()
		locals = append(locals, local)
		if len(locals) == 1 {
			close(first)
		}
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first block is rendered and the loop waits for its next tick;
	// then 100 ms pass at once (the loop's goroutine did not run) and the
	// stream closes before the loop sees a tick.
	<-first
	clock.Store(100_000)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(locals) != 11 || locals[10] != 100_000 {
		t.Fatalf("rendered blocks at %v, want every 10 ms from 0 to 100 ms", locals)
	}
}
