package bench

import (
	"context"

	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Format is the fan-out's stream: 48 kHz stereo 16-bit PCM.
var Format = wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16}

// Result is what the load generator saw over the measured window.
type Result struct {
	Players   int     `json:"players"`
	Connected int     `json:"connected"`
	Chunks    int64   `json:"chunks"`
	Late      int64   `json:"late"`    // arrived after their play time
	Missing   int64   `json:"missing"` // gaps in the timeline
	Failed    int     `json:"failed"`  // connections lost during the window
	MarginP50 float64 `json:"margin_p50_ms"`
	MarginP01 float64 `json:"margin_p01_ms"` // the 1% tightest: how close to late
	MarginMin float64 `json:"margin_min_ms"`
	ChunkMS   float64 `json:"chunk_ms"` // the server's chunk duration, as seen
	// BadFrom and BadTo bound when late or missing chunks arrived, in ms
	// since the stream's first chunk at that client: a start-up burst or
	// the steady state; -1 where not measured (the baseline).
	BadFrom float64 `json:"bad_from_ms"`
	BadTo   float64 `json:"bad_to_ms"`
}

// OK is the pass criterion: every player connected, no chunk late, none
// missing, no connection lost.
func (r Result) OK() bool {
	return r.Connected == r.Players && r.Late == 0 && r.Missing == 0 && r.Failed == 0 && r.Chunks > 0
}

func (r Result) String() string {
	s := fmt.Sprintf("%d players (%d connected): %d chunks, %d late, %d missing, %d lost; margin p50 %.1f ms, p1 %.1f ms, min %.1f ms; chunks of %.0f ms",
		r.Players, r.Connected, r.Chunks, r.Late, r.Missing, r.Failed, r.MarginP50, r.MarginP01, r.MarginMin, r.ChunkMS)
	if r.Late+r.Missing > 0 && r.BadTo >= 0 {
		s += fmt.Sprintf("; late or missing from %.0f to %.0f ms into the stream", r.BadFrom, r.BadTo)
	}
	return s
}

// LoadConfig configures RunLoad.
type LoadConfig struct {
	URL     string
	Players int
	// Window is how long each client measures from its first chunk.
	Window time.Duration
	// Ready is called once every client has its player role.
	Ready func()
}

// client is one light player.
type client struct {
	c      *securechan.Conn
	offset int64 // server clock minus local clock, µs
	first  time.Time

	chunks, late, missing int64
	margins               []float32 // ms before play time, sampled
	lastTS, lastDur       int64
	badFrom, badTo        time.Duration // since first, of late or missing chunks
}

// bad notes a late or missing chunk.
func (cl *client) bad() {
	d := time.Since(cl.first)
	if cl.late+cl.missing == 1 {
		cl.badFrom = d
	}
	cl.badTo = d
}

var start = time.Now()

func localNow() int64 { return time.Since(start).Microseconds() }

// RunLoad connects the clients, waits for their player role, then
// measures every chunk each receives over cfg.Window.
func RunLoad(ctx context.Context, cfg LoadConfig) (Result, error) {
	res := Result{Players: cfg.Players}
	clients := make([]*client, cfg.Players)
	var (
		wg       sync.WaitGroup
		ready    atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
	)
	readyCh := make(chan struct{})
	sem := make(chan struct{}, 32) // handshakes in flight
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			cl, err := dialClient(ctx, cfg.URL, i)
			<-sem
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				failures.Add(1)
				if ready.Load()+failures.Load() == int64(cfg.Players) {
					closeOnce(readyCh)
				}
				return
			}
			clients[i] = cl
			if ready.Add(1)+failures.Load() == int64(cfg.Players) {
				closeOnce(readyCh)
			}
			<-readyCh
			if err := cl.measure(ctx, cfg.Window); err != nil && ctx.Err() == nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	select {
	case <-readyCh:
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if failures.Load() == 0 && cfg.Ready != nil {
		cfg.Ready()
	}
	wg.Wait()
	var margins []float64
	res.BadFrom = math.Inf(1)
	for _, cl := range clients {
		if cl == nil {
			continue
		}
		res.Connected++
		res.Chunks += cl.chunks
		res.Late += cl.late
		res.Missing += cl.missing
		if cl.late+cl.missing > 0 {
			res.BadFrom = min(res.BadFrom, float64(cl.badFrom.Milliseconds()))
			res.BadTo = max(res.BadTo, float64(cl.badTo.Milliseconds()))
		}
		for _, m := range cl.margins {
			margins = append(margins, float64(m))
		}
		if cl.lastDur > 0 {
			res.ChunkMS = float64(cl.lastDur) / 1000
		}
		cl.c.Close()
	}
	if math.IsInf(res.BadFrom, 1) {
		res.BadFrom = 0
	}
	res.Failed = int(failures.Load())
	if len(margins) > 0 {
		sort.Float64s(margins)
		res.MarginMin = margins[0]
		res.MarginP01 = margins[len(margins)/100]
		res.MarginP50 = margins[len(margins)/2]
	}
	if res.Connected == 0 {
		if err, _ := firstErr.Load().(error); err != nil {
			return res, err
		}
	}
	return res, nil
}

var closeMu sync.Mutex

func closeOnce(ch chan struct{}) {
	closeMu.Lock()
	defer closeMu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// dialClient connects one client with unpaired access and waits until
// the server gives it the player role (the operator's approval).
func dialClient(ctx context.Context, url string, i int) (*client, error) {
	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		return nil, err
	}
	t, err := securechan.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	c, err := securechan.ClientHandshake(ctx, t, securechan.ClientConfig{Identity: id, PairingPSK: keys.PSK{1},
		Suite: securechan.DefaultSuite(), Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	cl := &client{c: c}
	if err := cl.setup(i); err != nil {
		c.Close()
		return nil, err
	}
	return cl, nil
}

// setup runs the hellos, waits for the player role (the operator's
// approval), takes the clock offset and reports available.
func (cl *client) setup(i int) error {
	if _, err := cl.read(); err != nil { // server/hello
		return err
	}
	err := cl.c.WriteMessage(&wire.ClientHello{Name: fmt.Sprintf("load-%d", i), SupportedRoles: []wire.Role{wire.RolePlayerV1},
		PlayerSupport: &wire.PlayerSupport{SupportedFormats: []wire.AudioFormat{Format}, BufferCapacity: 4 << 20},
		PairMethods:   wire.PairMethods{PairingPSK: &wire.StaticMethod{}}, UnpairedAccess: true})
	if err != nil {
		return err
	}
	if _, err := cl.until(func(m wire.Message) bool {
		a, ok := m.(*wire.ServerActivate)
		return ok && len(a.ActiveRoles) > 0
	}); err != nil {
		return err
	}
	// One time exchange gives the offset: on loopback the round trip is
	// tens of µs, far below the margins measured.
	ct := localNow()
	if err := cl.c.WriteMessage(&wire.ClientTime{ClientTransmitted: ct}); err != nil {
		return err
	}
	m, err := cl.until(func(m wire.Message) bool { _, ok := m.(*wire.ServerTime); return ok })
	if err != nil {
		return err
	}
	st := m.(*wire.ServerTime)
	cl.offset = ((st.ServerReceived - ct) + (st.ServerTransmitted - localNow())) / 2
	return cl.c.WriteMessage(&wire.ClientState{Available: true, Player: &wire.PlayerState{
		RequiredLeadTimeMS: 50, MinBufferMS: 50, SupportedCommands: []wire.PlayerCommandName{}}})
}

// until reads JSON messages until want accepts one.
func (cl *client) until(want func(wire.Message) bool) (wire.Message, error) {
	for {
		m, err := cl.read()
		if err != nil || want(m) {
			return m, err
		}
	}
}

func (cl *client) read() (wire.Message, error) {
	for {
		in, err := cl.c.Read()
		if err != nil {
			return nil, err
		}
		if in.JSON != nil {
			return in.JSON, nil
		}
	}
}

// measure reads until window has passed since the first chunk.
func (cl *client) measure(ctx context.Context, window time.Duration) error {
	stop := context.AfterFunc(ctx, func() { cl.c.Close() })
	defer stop()
	frameBytes := int64(Format.Channels * Format.BitDepth / 8)
	for {
		in, err := cl.c.Read()
		if err != nil {
			return err
		}
		if in.ID != wire.IDAudioChunk {
			continue
		}
		now := localNow() + cl.offset
		ch, err := wire.ParseAudioChunk(in.Data)
		if err != nil {
			return err
		}
		if cl.first.IsZero() {
			cl.first = time.Now()
		} else if time.Since(cl.first) > window {
			return nil
		}
		cl.chunks++
		margin := ch.Timestamp - now
		if margin < 0 {
			cl.late++
			cl.bad()
		}
		if cl.chunks%8 == 1 || margin < 20_000 {
			cl.margins = append(cl.margins, float32(margin)/1000)
		}
		dur := int64(len(ch.Audio)) / frameBytes * 1_000_000 / int64(Format.SampleRate)
		if cl.lastDur > 0 && math.Abs(float64(ch.Timestamp-(cl.lastTS+cl.lastDur))) > 1 {
			cl.missing++
			cl.bad()
		}
		cl.lastTS, cl.lastDur = ch.Timestamp, dur
	}
}
