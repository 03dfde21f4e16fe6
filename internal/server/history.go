package server

import (
	"context"
	"fmt"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// What the server remembers of clients that are gone, so the operator
// sees an offline client as what it is: its name, since when it is gone
// and why (GUIDE.md section 5: a state shown is the state). Names and
// last sightings of paired and approved clients are also kept in the
// store (store.ClientNote); the rest lives for this run of the server,
// bounded.

// Ours.
const (
	// maxHistory bounds the clients remembered in memory.
	maxHistory = 256
	// redialWait bounds the wait for a client the server dials again to
	// pair it.
	redialWait = 10 * time.Second
)

// ClientHistory is what the server remembers of a client's last
// connection in this run.
type ClientHistory struct {
	Name string
	// LastSeen is when its last connection ended; zero while the first is
	// up.
	LastSeen time.Time
	// Goodbye is the reason of its last client/goodbye, "" if the last
	// connection ended without one.
	Goodbye wire.GoodbyeReason
	// URL is the URL the server dialed it at, "" if it dialed in.
	URL string
	// UnpairedAt is when the operator unpaired it, zero if not.
	UnpairedAt time.Time
	// Refused is why its last connection was refused or failed, "" if it
	// was not (see Server.Refusals).
	Refused string
	// Mismatch: its last connection carried the credential-mismatch
	// signal while this server held its record (it needs re-pairing).
	Mismatch bool
}

// Lingers reports whether the client stays listed while offline although
// it is neither paired nor approved: it left in a way that leaves it out
// of any automatic reconnect, and the operator may want it back
// (messaging.md "client/goodbye": another_server "SHOULD show the client
// as available for future playback").
func (h ClientHistory) Lingers() bool {
	switch h.Goodbye {
	case wire.GoodbyeUnpaired, wire.GoodbyeUserRequest, wire.GoodbyeAnotherServer, wire.GoodbyeShutdown,
		wire.GoodbyePairingRequired:
		return true
	}
	return false
}

// Note says why the client is offline, in the operator's local time; ""
// when nothing more than "offline since" is known.
func (h ClientHistory) Note() string {
	if h.LastSeen.IsZero() {
		return ""
	}
	at := h.LastSeen.Local().Format("15:04")
	if h.Goodbye == wire.GoodbyeUnpaired {
		when := at
		if !h.UnpairedAt.IsZero() {
			when = h.UnpairedAt.Local().Format("15:04")
		}
		return fmt.Sprintf("unpaired by the operator at %s; not reconnecting (the device closed with 'unpaired')%s", when, h.again())
	}
	if h.Goodbye == "" {
		if h.Refused != "" {
			return "its last connection was refused at " + at + ": " + h.Refused
		}
		return ""
	}
	s := goodbyeWords(h.Goodbye) + " at " + at
	switch h.Goodbye {
	case wire.GoodbyeRestart, wire.GoodbyeConcurrentAttempt:
	default:
		s += "; not reconnecting" + h.again()
	}
	return s
}

func (h ClientHistory) again() string {
	if h.URL != "" {
		return "; pairing it from here dials it again"
	}
	return "; it dialed this server, so it comes back only when it reconnects itself"
}

type historyEntry struct {
	ClientHistory
	touched time.Time
}

// history returns the client's entry, creating it; s.mu is held.
func (s *Server) historyLocked(client keys.PublicKey) *historyEntry {
	if s.hist == nil {
		s.hist = map[keys.PublicKey]*historyEntry{}
	}
	h, ok := s.hist[client]
	if !ok {
		if len(s.hist) >= maxHistory {
			var oldest keys.PublicKey
			var at time.Time
			for k, e := range s.hist {
				if at.IsZero() || e.touched.Before(at) {
					oldest, at = k, e.touched
				}
			}
			delete(s.hist, oldest)
		}
		h = &historyEntry{}
		s.hist[client] = h
	}
	h.touched = time.Now()
	return h
}

// History returns what the server remembers of a client in this run.
func (s *Server) History(client keys.PublicKey) (ClientHistory, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hist[client]; ok {
		return h.ClientHistory, true
	}
	return ClientHistory{}, false
}

// Histories returns everything the server remembers of clients in this
// run, by client.
func (s *Server) Histories() map[keys.PublicKey]ClientHistory {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[keys.PublicKey]ClientHistory, len(s.hist))
	for k, h := range s.hist {
		out[k] = h.ClientHistory
	}
	return out
}

// noteHello remembers a client that said hello.
func (s *Server) noteHello(c *conn, name string) {
	client, name := c.sc.Peer(), cleanName(name)
	s.mu.Lock()
	h := s.historyLocked(client)
	h.Name = name
	if c.url != "" {
		h.URL = c.url
	}
	s.mu.Unlock()
	if _, err := s.cfg.Store.NoteClient(client, name, time.Now()); err != nil {
		s.log.Warn("noting a client's name", "client", client.String(), "err", err)
	}
}

// noteEnded remembers how a client's connection ended; refused is why it
// was refused, "" if it was not.
func (s *Server) noteEnded(c *conn, goodbye wire.GoodbyeReason, refused string) {
	client := c.sc.Peer()
	info, helloSeen := c.info()
	name := ""
	if helloSeen {
		name = cleanName(info.Name)
	}
	if !helloSeen && goodbye == "" {
		return
	}
	now := time.Now()
	s.mu.Lock()
	h := s.historyLocked(client)
	h.LastSeen, h.Goodbye, h.Refused, h.Mismatch = now, goodbye, refused, info.Mismatch
	if name != "" {
		h.Name = name
	}
	if c.url != "" {
		h.URL = c.url
	}
	if goodbye != wire.GoodbyeUnpaired {
		h.UnpairedAt = time.Time{}
	}
	s.mu.Unlock()
	if _, err := s.cfg.Store.NoteClient(client, name, now); err != nil {
		s.log.Warn("noting when a client was last seen", "client", client.String(), "err", err)
	}
}

// noteUnpaired remembers that the operator unpaired the client.
func (s *Server) noteUnpaired(client keys.PublicKey) {
	s.mu.Lock()
	s.historyLocked(client).UnpairedAt = time.Now()
	s.mu.Unlock()
}

// knownName is the client's name as the server last heard it, "" when
// it never did.
func (s *Server) knownName(client keys.PublicKey) string {
	if h, ok := s.History(client); ok && h.Name != "" {
		return h.Name
	}
	if n, ok, err := s.cfg.Store.ClientNoteOf(client); err == nil && ok && n.Name != "" {
		return n.Name
	}
	if a, ok, err := s.cfg.Store.ApprovalOf(client); err == nil && ok {
		return a.Name
	}
	return ""
}

// SetRedial gives the server a way to dial a client again at a URL it
// dialed before (the daemon's dialer): used when the operator pairs a
// client that closed and is not redialed automatically.
func (s *Server) SetRedial(f func(url string)) {
	s.mu.Lock()
	s.redial = f
	s.mu.Unlock()
}

// bringBack dials an absent client again when the server can: it returns
// nil once the dial is under way, or an error that says plainly why the
// server cannot reach the client.
func (s *Server) bringBack(client keys.PublicKey) error {
	h, ok := s.History(client)
	if !ok || h.LastSeen.IsZero() {
		return ErrNotConnected
	}
	s.mu.Lock()
	redial := s.redial
	s.mu.Unlock()
	name := h.Name
	if name == "" {
		name = "the client"
	}
	if h.URL == "" || redial == nil {
		why := "it dialed this server itself, so the server cannot dial it"
		if h.URL != "" {
			why = "this server cannot dial clients"
		}
		left := "went offline"
		if h.Goodbye != "" {
			left = fmt.Sprintf("closed with '%s'", h.Goodbye)
		}
		return fmt.Errorf("%w: %s %s at %s and %s; restart it or have it reconnect, then pair it",
			ErrNotConnected, name, left, h.LastSeen.Local().Format("15:04"), why)
	}
	s.log.Info("dialing a client again to pair it", "client", client.String(), "url", h.URL)
	redial(h.URL)
	return nil
}

// bringBackIfGone dials a client again if it left in a way that keeps it
// from coming back by itself (ClientHistory.Lingers); nil when it did not
// leave that way (it reconnects on its own) or the dial is under way.
func (s *Server) bringBackIfGone(client keys.PublicKey) error {
	if h, ok := s.History(client); !ok || h.LastSeen.IsZero() || !h.Lingers() {
		return nil
	}
	return s.bringBack(client)
}

// absentConn brings back a client that left and will not come back by
// itself, for the operator who pairs it: ErrNotConnected, saying why,
// when the server cannot dial it or it does not answer.
func (s *Server) absentConn(client keys.PublicKey) (*conn, error) {
	h, ok := s.History(client)
	if !ok || h.LastSeen.IsZero() || !h.Lingers() {
		return nil, ErrNotConnected
	}
	if err := s.bringBack(client); err != nil {
		return nil, err
	}
	c := s.awaitConn(context.Background(), client)
	if c == nil {
		return nil, fmt.Errorf("%w: dialed %s again, but it did not connect within %s", ErrNotConnected, h.URL, redialWait)
	}
	return c, nil
}

// awaitConn waits for a connection of the client past client/hello.
func (s *Server) awaitConn(ctx context.Context, client keys.PublicKey) *conn {
	ctx, cancel := context.WithTimeout(ctx, redialWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c := s.newestConn(client); c != nil {
			return c
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
