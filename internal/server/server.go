package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tonearm-audio/tonearm/internal/group"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Ours.
const (
	// helloTimeout bounds the wait for client/hello after server/hello.
	helloTimeout = 30 * time.Second
	// inboxSize buffers a connection's received messages for its owner.
	inboxSize = 64
	// timeQueue buffers client/time requests awaiting their reply.
	timeQueue = 32
)

// Config configures a server.
type Config struct {
	// Store holds the identity, pairing records and approvals.
	Store *store.Store
	// Name is the friendly name sent in server/hello.
	Name string
	Log  *slog.Logger
	// Rand is the source of ephemeral keys; nil is crypto/rand.
	Rand io.Reader
	// HandshakeTimeout bounds each handshake step; 0 is the default.
	HandshakeTimeout time.Duration
	// PairingInitTimeout bounds the wait for a client to start a pairing
	// attempt (client/pair-pending included), PairingAttemptTimeout an
	// attempt; 0 means flow.ServerInitTimeout and flow.ServerAttemptTimeout.
	PairingInitTimeout    time.Duration
	PairingAttemptTimeout time.Duration
	// OnPairing, when set, is called with a client's pairing state each
	// time it changes, from the connection's goroutine: return quickly,
	// and call the Server's pairing methods (EnterCode...) from another
	// goroutine, never from inside it. A console prompts for the code on
	// PairingAwaitingCode.
	OnPairing func(client keys.PublicKey, st PairingState)
}

// Server is a Sendspin server.
type Server struct {
	cfg   Config
	id    *keys.Identity
	log   *slog.Logger
	start time.Time

	mu     sync.Mutex
	conns  map[*conn]struct{}
	tokens map[keys.PublicKey]pendingToken // operator-entered tokens
	// attempts holds the connection running a client's pairing attempt:
	// one at a time per client, whichever of its connections.
	attempts map[keys.PublicKey]*conn
	// pairStates is each client's pairing state for the operator.
	pairStates map[keys.PublicKey]PairingState
	// attemptSeq numbers the operator's pairing requests
	// (PairingState.Attempt).
	attemptSeq uint64
	connSeq    uint64
	// groups is who is in which group; streams is what each group plays
	// (absent when it is stopped).
	groups  *group.Registry
	streams map[string]*streamer
	playMu  sync.Mutex // serializes starting and stopping playback
	closing bool
	wg      sync.WaitGroup

	// refused keeps the last refused or failed connections (refusals.go).
	refused refusalLog
	// hist is what the server remembers of clients (history.go); redial
	// dials a client again (SetRedial). Both under mu.
	hist   map[keys.PublicKey]*historyEntry
	redial func(url string)
}

// New returns a server; it reads its identity from the store.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	id, err := cfg.Store.Identity(nil)
	if err != nil {
		return nil, fmt.Errorf("server: identity: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = "Tonearm"
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{cfg: cfg, id: id, log: log, start: time.Now(), conns: map[*conn]struct{}{},
		tokens: map[keys.PublicKey]pendingToken{}, attempts: map[keys.PublicKey]*conn{},
		pairStates: map[keys.PublicKey]PairingState{},
		groups:     group.NewRegistry(DefaultGroup, cfg.Name, newGroupID), streams: map[string]*streamer{}}, nil
}

// ID is the server's server_id.
func (s *Server) ID() keys.PublicKey { return s.id.Public() }

// Now is the server clock: monotonic microseconds, the time base of every
// timestamp the server sends.
func (s *Server) Now() int64 { return time.Since(s.start).Microseconds() + 1 }

// ServeHTTP accepts client-initiated connections on the Sendspin endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	t, err := securechan.Accept(w, r)
	if err != nil {
		return
	}
	s.serve(context.Background(), t, r.RemoteAddr, "")
}

// Dial opens a server-initiated connection to a client's endpoint and
// serves it until it ends or ctx is cancelled. Once the session ran, the
// error is an *Ended, whose Reconnect says whether to dial again.
func (s *Server) Dial(ctx context.Context, url string) error {
	if !s.track() {
		return errors.New("server: shutting down")
	}
	defer s.wg.Done()
	t, err := securechan.Dial(ctx, url)
	if err != nil {
		return err
	}
	return s.serve(ctx, t, hostOfURL(url), url)
}

func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// choosePSK picks the PSK for a client's initial handshake: its pairing
// record, else a pairing PSK the operator entered as a token, else the
// Sentinel.
func (s *Server) choosePSK(client keys.PublicKey) securechan.PSKChoice {
	if psk, ok, err := s.cfg.Store.ClientRecord(client); err == nil && ok {
		return securechan.PSKChoice{PSK: psk, Category: wire.PSKLongTerm}
	}
	s.mu.Lock()
	tok, ok := s.tokens[client]
	s.mu.Unlock()
	if ok {
		return securechan.PSKChoice{PSK: tok.psk, Category: wire.PSKPairing}
	}
	return securechan.SentinelChoice
}

// errShuttingDown ends what the server's own shutdown ended.
var errShuttingDown = errors.New("server: shutting down")

// serve runs one connection from handshake to close. addr is the peer's
// address; url is the URL the server dialed, "" for a client-initiated
// connection.
func (s *Server) serve(ctx context.Context, t securechan.Transport, addr, url string) error {
	w := &watchedTransport{Transport: t}
	var (
		peer   keys.PublicKey
		chosen wire.PSKCategory
	)
	choose := func(client keys.PublicKey) securechan.PSKChoice {
		ch := s.choosePSK(client)
		peer, chosen = client, ch.Category
		return ch
	}
	timeout := s.cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = securechan.DefaultHandshakeTimeout
	}
	c, err := securechan.ServerHandshake(ctx, w, securechan.ServerConfig{Identity: s.id, ChoosePSK: choose,
		Rand: s.cfg.Rand, Timeout: timeout})
	if err != nil {
		s.log.Debug("handshake failed", "err", err)
		if ctx.Err() == nil && !s.isClosing() {
			s.refuse(Refusal{Client: peer, Addr: addr, Reason: handshakeReason(err, w, chosen, timeout)})
		}
		return err
	}
	w.done = true
	cn := newConn(s, c)
	cn.addr, cn.url = addr, url
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return errShuttingDown
	}
	s.connSeq++
	cn.seq = s.connSeq
	s.conns[cn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, cn)
		s.mu.Unlock()
	}()
	runErr := cn.run(ctx)
	e := cn.ended(runErr)
	if ctx.Err() != nil || s.isClosing() {
		s.noteEnded(cn, e.Goodbye, "")
		return e // the server's own close, not a refusal
	}
	reason, refused := cn.sessionRefusal(runErr, e)
	s.noteEnded(cn, e.Goodbye, reason)
	if refused {
		// Its name, if it said one, comes from the history noteEnded
		// just wrote (refuse fills it in).
		s.refuse(Refusal{Client: c.Peer(), Addr: addr, Reason: reason})
	}
	return e
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// hostOfURL is the host:port of a ws:// URL, for the operator.
func hostOfURL(u string) string {
	if p, err := neturl.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// ClientInfo is what the operator sees of a connected client.
type ClientInfo struct {
	ID   keys.PublicKey
	Name string // from client/hello: a hint, never proof of identity
	// Status tells paired, approved and unapproved clients apart, so a
	// newcomer with a familiar name cannot pass for a known device
	// (pairing.md "Unpaired Access").
	Status     Status
	Mismatch   bool // the credential-mismatch signal: needs re-pairing
	Activities session.ActivitySet
	Roles      []wire.Role
	Available  bool
	// PairMethods the client offers.
	PairMethods []wire.PairMethod
	// UnpairedAccess is the client's unpaired_access.enabled: whether it
	// admits an approved, unpaired server at all (pairing.md "Unpaired
	// Access").
	UnpairedAccess bool
	// Suite is the connection's Noise cipher suite.
	Suite keys.Suite
	// Pairing is the client's pairing state: whether an attempt runs, when
	// to ask for a code, how the last attempt ended.
	Pairing PairingState
	// Group is the client's group.
	Group GroupInfo
}

// Playing reports whether the client has what it needs to play its
// group's stream: the playback activity and the player role
// (messaging.md "server/activate").
func (ci ClientInfo) Playing() bool {
	return ci.Activities.Has(session.Playback) && hasPlayer(ci.Roles)
}

// Status is a client's standing with this server.
type Status uint8

// Client standings.
const (
	StatusUnapproved Status = iota
	StatusApproved
	StatusPaired
)

func (s Status) String() string {
	switch s {
	case StatusPaired:
		return "paired"
	case StatusApproved:
		return "approved"
	}
	return "unapproved"
}

// Clients lists the connected clients, paired first, then by name.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	groups := s.GroupsByClient()
	var out []ClientInfo
	for _, c := range conns {
		if info, ok := c.info(); ok {
			info.Pairing = s.PairingState(info.ID)
			info.Group = groups[info.ID]
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Status != out[j].Status {
			return out[i].Status > out[j].Status
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Approve grants a client unpaired access (source too when source is set),
// persists it, and re-activates the client if it is connected.
func (s *Server) Approve(client keys.PublicKey, source bool) error {
	name := ""
	for _, c := range s.connsFor(client) {
		if info, ok := c.info(); ok {
			name = info.Name
		}
	}
	if err := s.cfg.Store.Approve(store.Approval{Client: client, Name: name, Source: source, Approved: time.Now()}); err != nil {
		return err
	}
	s.reactivate(client)
	return nil
}

// Revoke withdraws a client's approval and re-activates it if connected:
// an unpaired connection drops to no activities.
//
// ErrNotApproved when the client has no approval: saying "revoked" of it
// would report an action that changed nothing; wrapped with a word on
// pairing when the client is paired instead.
func (s *Server) Revoke(client keys.PublicKey) error {
	approvals, err := s.cfg.Store.Approvals()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(approvals, func(a store.Approval) bool { return a.Client == client }) {
		if _, paired, err := s.cfg.Store.ClientRecord(client); err == nil && paired {
			return fmt.Errorf("%w: it is paired; unpair it to take its access", ErrNotApproved)
		}
		return ErrNotApproved
	}
	if err := s.cfg.Store.Revoke(client); err != nil {
		return err
	}
	s.reactivate(client)
	return nil
}

func (s *Server) connsFor(client keys.PublicKey) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for c := range s.conns {
		if c.sc.Peer() == client {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) reactivate(client keys.PublicKey) {
	for _, c := range s.connsFor(client) {
		c.signal(evReactivate)
	}
}

// Shutdown stops accepting connections, closes every session and waits for
// them to end or ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.Stop()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.sc.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) signalAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.signal(evReactivate)
	}
}
