package player

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/playout"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Ours.
const (
	// helloTimeout bounds the waits for server/hello and the first
	// server/activate.
	helloTimeout = 30 * time.Second
	// goodbyeLinger bounds the wait for the server to close after a
	// client/goodbye.
	goodbyeLinger = 500 * time.Millisecond
	inboxSize     = 64
	// DefaultBufferCapacity is the buffer_capacity advertised by default:
	// about 5 s of 48 kHz 16-bit stereo PCM.
	DefaultBufferCapacity = 1 << 20
)

// Config configures a player.
type Config struct {
	Store *store.Store
	Name  string
	Log   *slog.Logger
	// UnpairedAccess is whether this player admits servers it has no
	// pairing record for (pairing.md "Unpaired Access").
	UnpairedAccess bool
	// Formats are the supported formats in priority order; the default is
	// 48 kHz stereo 16-bit PCM.
	Formats        []wire.AudioFormat
	BufferCapacity int64
	Rand           io.Reader
	// Suite is the Noise cipher suite the player asks for in client/init
	// (connection.md: servers support both); zero is
	// securechan.DefaultSuite (AES-GCM where the CPU accelerates it).
	Suite keys.Suite
	// HandshakeTimeout bounds each handshake step; 0 is the default.
	HandshakeTimeout time.Duration
	// Clock is the player's monotonic clock in µs: positive, never going
	// back. It is the time base of everything the player times on the
	// audio path: client/time stamps and reply arrivals (the time filter),
	// the playout schedule, and the default output's timeline; outputs
	// given here should read it through Player.Now. nil is the host's
	// monotonic clock. Injecting one lets a test give a player a clock
	// that runs fast or slow against the server's.
	Clock func() int64
	// Output receives the audio; nil discards it on the player's clock.
	Output Output
	// OutputDelayMS is the delay beyond the audio port (external
	// speakers), 0-5000 (roles/player/v1.md "client/state player object").
	OutputDelayMS int
	// OnPlayed, when set, is called from the output after each block that
	// carried audio in sync, with the local time its first frame is heard
	// and the server timestamp that frame was scheduled for.
	OnPlayed func(playout.Played)
	// RecordCapacity is how many servers' pairing records the player
	// keeps; the default and minimum is the spec's 5 (pairing.md "Pairing
	// Records").
	RecordCapacity int
	// MaxProvisional caps the server-initiated connections held
	// provisional at once (0: session.DefaultMaxProvisional);
	// ProvisionalTimeout is how long one may go without an admissible
	// server/activate (0: the spec's 30 s, which is also the most
	// allowed). Tests shorten it.
	MaxProvisional     int
	ProvisionalTimeout time.Duration

	// PairingCode is the pairing-code method the player offers besides
	// the Pairing PSK (pairing.md "Methods"): CodeOff (the default),
	// CodeDynamic (the code is shown through OnPairingCode), or
	// CodeStatic (the store's static code; attempts wait for
	// OpenPairingWindow).
	PairingCode CodeMethod
	// CodeFormats are the dynamic emission formats offered: digits (the
	// default) and/or qr_code, which needs a display that renders QR
	// codes (pairing.md "client/hello pair-method descriptor").
	CodeFormats []wire.CodeFormat
	// OnPairingCode shows the dynamic pairing code on the player's display
	// and withdraws it (CodeEvent.Stop). It is the only place the code
	// leaves the player: the caller prints it for the operator and must
	// not log it elsewhere. Called from the connection's goroutine: return
	// quickly, and never call the Player's pairing methods from inside it.
	OnPairingCode func(CodeEvent)
	// PairingAttemptTimeout is the attempt timeout (0: flow.AttemptTimeout,
	// the spec's recommended 2 minutes); PairingWindowLifetime the static
	// pairing window's lifetime (0: flow.WindowLifetime, 5 minutes);
	// RoundLimit the dynamic round limit (0: the spec's 20; lower is
	// allowed).
	PairingAttemptTimeout time.Duration
	PairingWindowLifetime time.Duration
	RoundLimit            int
}

// CodeMethod selects the pairing-code method a player offers.
type CodeMethod uint8

// Code methods.
const (
	CodeOff CodeMethod = iota
	CodeDynamic
	CodeStatic
)

func (m CodeMethod) String() string {
	switch m {
	case CodeDynamic:
		return "dynamic"
	case CodeStatic:
		return "static"
	}
	return "off"
}

// Player is a Sendspin player.
type Player struct {
	cfg     Config
	id      *keys.Identity
	pairing keys.PSK
	log     *slog.Logger
	start   time.Time

	mu     sync.Mutex
	state  Status
	holder session.ConnID // the server-initiated connection the status describes
	// unpaired is the live unpaired_access setting (SetUnpairedAccess);
	// eviction and serverEvent the last of each since the start, kept
	// across connections.
	unpaired    bool
	eviction    *Eviction
	serverEvent *ServerEvent

	// Server-initiated connections are admitted by the arbiter
	// (connection.md "Multiple servers (server-initiated)").
	arbMu  sync.Mutex
	arb    *session.Arbiter
	nextID session.ConnID
	conns  map[session.ConnID]*conn

	// Pairing state shared by every connection (pairing.md "Rounds",
	// "Pairing Window"); static is nil unless the static method is
	// offered.
	window *flow.Window
	rounds *flow.Rounds
	static *pairing.StaticCode
	// live are the connections whose owner takes pairing signals.
	liveMu sync.Mutex
	live   map[*conn]struct{}
}

// Status is what the player knows about its current connection.
type Status struct {
	Connected  bool
	Server     keys.PublicKey
	ServerName string
	Paired     bool
	Activities session.ActivitySet
	Roles      []wire.Role
	Synced     bool    // the time filter has converged
	OffsetUS   float64 // server minus local clock
	Available  bool    // reported available: true
	Group      wire.GroupUpdate
	Volume     int
	Muted      bool
	// Pairing is the pairing attempt on the current connection.
	Pairing PairingStatus
	// PairingWindow is whether the static pairing window is open, and
	// PairingWindowCloses when its lifetime ends.
	PairingWindow       bool
	PairingWindowCloses time.Time
	// LastEviction is the last pairing record evicted for a new one, and
	// LastServerEvent the last thing a server did to this player that the
	// owner should know (server/unpair), since the player started; nil if
	// none.
	LastEviction    *Eviction
	LastServerEvent *ServerEvent
}

// PairingStatus is what the player's local interface shows of pairing.
type PairingStatus struct {
	// Active: an attempt runs or is held back.
	Active bool
	Method wire.PairMethod
	// HeldBack says why the player holds the attempt back
	// (client/pair-pending); 0 when it does not.
	HeldBack flow.HoldReason
	// Emitting: a dynamic code is shown (OnPairingCode), for Round.
	Emitting bool
	Round    uint32
	// Last is how the previous attempt ended, with the pair/abort reason
	// when one was sent or received.
	Last       flow.Outcome
	LastReason wire.AbortReason
}

// New returns a player; it reads its identity and pairing PSK from the
// store (creating them on first use).
func New(cfg Config) (*Player, error) {
	if cfg.Store == nil {
		return nil, errors.New("player: no store")
	}
	id, err := cfg.Store.Identity(nil)
	if err != nil {
		return nil, fmt.Errorf("player: identity: %w", err)
	}
	psk, err := cfg.Store.PairingPSK(nil)
	if err != nil {
		return nil, fmt.Errorf("player: pairing PSK: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = "Tonearm player"
	}
	if len(cfg.Formats) == 0 {
		cfg.Formats = []wire.AudioFormat{{Codec: wire.CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}}
	}
	if cfg.OutputDelayMS < 0 || cfg.OutputDelayMS > wire.MaxOutputDelayMS {
		return nil, fmt.Errorf("player: output delay %d ms is outside 0-%d", cfg.OutputDelayMS, wire.MaxOutputDelayMS)
	}
	if cfg.RecordCapacity == 0 {
		cfg.RecordCapacity = store.MinRecordCapacity
	}
	if cfg.RecordCapacity < store.MinRecordCapacity {
		return nil, fmt.Errorf("player: record capacity %d is below the spec's minimum of %d", cfg.RecordCapacity, store.MinRecordCapacity)
	}
	if cfg.BufferCapacity == 0 {
		cfg.BufferCapacity = DefaultBufferCapacity
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	last, _, err := cfg.Store.LastPlaybackServer()
	if err != nil {
		return nil, fmt.Errorf("player: last-playback server: %w", err)
	}
	// The arbiter keeps the paired connections below the store's record
	// capacity, so a pairing always finds a record to evict.
	arb, err := session.NewArbiter(session.ArbiterConfig{RecordCapacity: cfg.RecordCapacity,
		MaxProvisional: cfg.MaxProvisional, ProvisionalTimeout: cfg.ProvisionalTimeout}, last)
	if err != nil {
		return nil, err
	}
	p := &Player{cfg: cfg, id: id, pairing: psk, log: log, start: time.Now(), state: Status{Volume: 100}, unpaired: cfg.UnpairedAccess,
		arb: arb, conns: map[session.ConnID]*conn{}, live: map[*conn]struct{}{},
		window: flow.NewWindow(cfg.PairingWindowLifetime), rounds: flow.NewRounds(cfg.RoundLimit)}
	switch cfg.PairingCode {
	case CodeOff:
	case CodeDynamic:
		if len(cfg.CodeFormats) == 0 {
			p.cfg.CodeFormats = []wire.CodeFormat{wire.FormatDigits}
		}
		for _, f := range p.cfg.CodeFormats {
			if f != wire.FormatDigits && f != wire.FormatQRCode {
				return nil, fmt.Errorf("player: unknown pairing code format %q", f)
			}
		}
	case CodeStatic:
		code, err := cfg.Store.StaticCode(cfg.Rand)
		if err != nil {
			return nil, fmt.Errorf("player: static pairing code: %w", err)
		}
		p.static = &code
	default:
		return nil, fmt.Errorf("player: unknown pairing code method %d", cfg.PairingCode)
	}
	return p, nil
}

// output returns the configured output, or a null output on the
// player's clock.
func (p *Player) output() Output {
	if p.cfg.Output != nil {
		return p.cfg.Output
	}
	return &ClockedOutput{NewSink: func(audio.Format) (audio.Sink, error) { return &audio.Null{}, nil }, Now: p.Now}
}

// suite is the configured cipher suite, or the default.
func (p *Player) suite() keys.Suite {
	if p.cfg.Suite != "" {
		return p.cfg.Suite
	}
	return securechan.DefaultSuite()
}

// ID is the player's client_id.
func (p *Player) ID() keys.PublicKey { return p.id.Public() }

// Token returns the player's SP:0 pairing token (pairing.md "Pairing PSK
// Flow"): whoever holds it can pair with the player, so show it only to
// its owner (a QR code on the device, a local console).
func (p *Player) Token() string {
	return pairing.PSKToken{ClientKey: p.id.Public(), PSK: p.pairing}.Encode()
}

// Now is the local clock in µs (Config.Clock): monotonic, the time base
// of client/time and of playout.
func (p *Player) Now() int64 {
	if p.cfg.Clock != nil {
		return p.cfg.Clock()
	}
	return time.Since(p.start).Microseconds() + 1
}

// Status returns a snapshot of the connection state.
func (p *Player) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	s.Roles = append([]wire.Role(nil), s.Roles...)
	if p.eviction != nil {
		ev := *p.eviction
		s.LastEviction = &ev
	}
	if p.serverEvent != nil {
		ev := *p.serverEvent
		s.LastServerEvent = &ev
	}
	if p.static != nil {
		s.PairingWindow = p.window.IsOpen(time.Now())
		s.PairingWindowCloses, _ = p.window.Expires()
	}
	return s
}

func (p *Player) update(f func(*Status)) {
	p.mu.Lock()
	f(&p.state)
	p.mu.Unlock()
}

// longTerm is the client's long-term PSK lookup for the handshake.
func (p *Player) longTerm(id keys.PSKID) (keys.PSK, keys.PublicKey, bool) {
	r, ok, err := p.cfg.Store.ServerRecordByPSKID(id)
	if err != nil || !ok {
		return keys.PSK{}, keys.PublicKey{}, false
	}
	return r.PSK, r.Server, true
}

// Connect dials a server (client-initiated connection) and runs the
// session until it ends, ctx is cancelled (the player then says goodbye
// with reason shutdown) or the server closes it.
func (p *Player) Connect(ctx context.Context, url string) error {
	t, err := securechan.Dial(ctx, url)
	if err != nil {
		return fmt.Errorf("player: connecting to %s: %w", url, err)
	}
	c, err := securechan.ClientHandshake(ctx, t, securechan.ClientConfig{Identity: p.id, Suite: p.suite(),
		PairingPSK: p.pairing, LongTerm: p.longTerm, Rand: p.cfg.Rand, Timeout: p.cfg.HandshakeTimeout})
	if err != nil {
		return fmt.Errorf("player: handshake with %s: %w", url, err)
	}
	defer p.update(func(s *Status) {
		*s = Status{Volume: s.Volume, Muted: s.Muted, Pairing: PairingStatus{Last: s.Pairing.Last, LastReason: s.Pairing.LastReason}}
	})
	return newSession(p, c).run(ctx)
}

// ServeHTTP accepts a server-initiated connection on the player's endpoint
// (a player that advertises _sendspin._tcp) and runs it until it ends. The
// arbiter decides which of several servers holds the player. A player uses
// either this or Connect, not both (connection.md "Establishing a
// Connection").
func (p *Player) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, err := securechan.AcceptFromServer(w, r)
	if err != nil {
		return
	}
	c, err := securechan.ClientHandshake(r.Context(), t, securechan.ClientConfig{Identity: p.id, Suite: p.suite(),
		PairingPSK: p.pairing, LongTerm: p.longTerm, Rand: p.cfg.Rand, Timeout: p.cfg.HandshakeTimeout})
	if err != nil {
		p.log.Debug("handshake failed", "err", err)
		return
	}
	s := newSession(p, c)
	s.kick = make(chan session.Close, 1)
	p.arbMu.Lock()
	p.nextID++
	s.arbID = p.nextID
	p.conns[s.arbID] = s
	out, err := p.arb.Open(s.arbID, c.Peer(), session.Paired(c.Matched().Category), time.Now())
	p.arbMu.Unlock()
	// The arbiter lets go of the connection before the status says it is
	// gone, so that "not connected" means a new connection is judged
	// without this one.
	released := false
	release := func() {
		if !released {
			released = true
			p.arbClosed(s)
		}
	}
	defer release()
	if err != nil {
		c.Close()
		return
	}
	if p.apply(s, out) {
		return // refused at once (a cap)
	}
	err = s.run(r.Context())
	release()
	p.update(func(st *Status) {
		if p.holder == s.arbID { // not if another connection took over
			*st = Status{Volume: st.Volume, Muted: st.Muted, Pairing: PairingStatus{Last: st.Pairing.Last, LastReason: st.Pairing.LastReason}}
			p.holder = 0
		}
	})
	if err != nil {
		p.log.Debug("server connection ended", "err", err)
	}
}

// apply carries out an arbiter outcome: it persists the last-playback
// server and closes the connections it names, with their goodbye or abort.
// It reports whether self is among them (the caller then returns).
func (p *Player) apply(self *conn, out session.Outcome) bool {
	if out.PersistLastPlayback {
		if err := p.cfg.Store.SetLastPlaybackServer(out.LastPlayback); err != nil {
			p.log.Warn("saving the last-playback server", "err", err)
		}
	}
	mine := false
	for _, cl := range out.Closes {
		if cl.Conn == self.arbID {
			mine = true
			self.farewell(cl)
			continue
		}
		p.arbMu.Lock()
		other := p.conns[cl.Conn]
		p.arbMu.Unlock()
		if other != nil {
			select {
			case other.kick <- cl:
			default:
			}
		}
	}
	return mine
}

func (p *Player) arbClosed(s *conn) {
	p.arbMu.Lock()
	delete(p.conns, s.arbID)
	p.arb.Closed(s.arbID)
	p.arbMu.Unlock()
}
