package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/group"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Groups (messaging.md "group/update", "External Source Handling",
// "client/leave"): the membership rules are internal/group's; the server
// keeps a streamer per playing group, tells each connection of its group
// and carries out what a membership change asks.

// DefaultGroup is the identifier of the group every player starts in,
// named after the server.
const DefaultGroup = "main"

// ErrNoGroup is returned for a group that does not exist.
var ErrNoGroup = errors.New("server: no such group")

func newGroupID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

// GroupInfo is what the operator sees of a group.
type GroupInfo struct {
	ID      string
	Name    string
	Playing bool
	// Solo: the group was made for one client, on becoming unavailable or
	// leaving its group; it goes once that client joins another group.
	Solo bool
	// Members are the group's clients, connected or not.
	Members []keys.PublicKey
}

// Groups lists the groups, the default group first.
func (s *Server) Groups() []GroupInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []GroupInfo
	for _, g := range s.groups.Groups() {
		out = append(out, s.groupInfoLocked(g))
	}
	return out
}

func (s *Server) groupInfoLocked(g group.Group) GroupInfo {
	info := GroupInfo{ID: g.ID, Name: g.Name, Solo: g.Solo, Playing: s.streams[g.ID] != nil}
	for _, m := range g.Members {
		if k, err := keys.ParsePublicKey(m); err == nil {
			info.Members = append(info.Members, k)
		}
	}
	return info
}

// GroupOf is the group of a client the server has seen.
func (s *Server) GroupOf(client keys.PublicKey) (GroupInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups.Of(client.String())
	if !ok {
		return GroupInfo{}, false
	}
	return s.groupInfoLocked(g), true
}

// GroupsByClient maps every client in a group to its group, built in one
// pass over the groups: a listing of N clients in one large group costs
// O(N) this way, where a GroupOf per client would cost O(N²). The
// entries of one group share its Members slice; treat it as read-only.
func (s *Server) GroupsByClient() map[keys.PublicKey]GroupInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[keys.PublicKey]GroupInfo{}
	for _, g := range s.groups.Groups() {
		info := s.groupInfoLocked(g)
		for _, k := range info.Members {
			out[k] = info
		}
	}
	return out
}

// JoinGroup moves a client into a group: the operator's switch, the only
// way a client that left its group comes back to one (messaging.md
// "External Source Handling"). A client joining a playing group starts in
// sync with the others.
func (s *Server) JoinGroup(client keys.PublicKey, id string) error {
	s.mu.Lock()
	e, err := s.groups.Join(client.String(), id)
	s.mu.Unlock()
	switch {
	case errors.Is(err, group.ErrNoGroup):
		return fmt.Errorf("%w %q", ErrNoGroup, id)
	case errors.Is(err, group.ErrNoClient):
		return errors.New("server: no known client " + client.String())
	case err != nil:
		return err
	}
	s.apply(e)
	return nil
}

// LeaveGroup moves a client out of its group into a solo group of its own,
// as its client/leave would.
func (s *Server) LeaveGroup(client keys.PublicKey) error {
	s.mu.Lock()
	_, known := s.groups.GroupID(client.String())
	var e group.Effects
	if known {
		e = s.groups.Leave(client.String())
	}
	s.mu.Unlock()
	if !known {
		return errors.New("server: no known client " + client.String())
	}
	s.apply(e)
	return nil
}

// change runs a membership rule under the server's lock and carries out
// what it asks.
func (s *Server) change(rule func(r *group.Registry, client string) group.Effects, c *conn) {
	s.mu.Lock()
	e := rule(s.groups, c.sc.Peer().String())
	s.mu.Unlock()
	s.apply(e)
}

// leaveGroup applies messaging.md "Server behavior when a client becomes
// unavailable" for c's client (also on client/leave).
func (s *Server) leaveGroup(c *conn) { s.change((*group.Registry).Leave, c) }

// groupConnect places a connection's client in its group once its
// client/hello has arrived; groupDisconnect undoes it.
func (s *Server) groupConnect(c *conn, name string) {
	s.change(func(r *group.Registry, client string) group.Effects { return r.Connect(client, name, false) }, c)
}

func (s *Server) groupDisconnect(c *conn) { s.change((*group.Registry).Disconnect, c) }

// groupRoles tells the membership rules the client has the player role,
// so a newcomer waiting in a solo group of its own joins the default group.
func (s *Server) groupRoles(c *conn) {
	s.change(func(r *group.Registry, client string) group.Effects { return r.Roles(client, true) }, c)
}

// apply carries out a membership change: playback stops where the rules
// say, and every connection in a changed group re-plans (group/update,
// streams, activations).
func (s *Server) apply(e group.Effects) {
	for _, id := range append(append([]string(nil), e.Stop...), e.Removed...) {
		s.stopGroup(id)
	}
	if len(e.Changed) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		gid, ok := s.groups.GroupID(c.sc.Peer().String())
		if !ok {
			continue
		}
		for _, id := range e.Changed {
			if gid == id {
				c.signal(evReactivate)
				break
			}
		}
	}
}

// groupUpdateOf is the group/update c's client should have seen last;
// false before its client is placed.
func (s *Server) groupUpdateOf(c *conn) (wire.GroupUpdate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, name, ok := s.groups.Label(c.sc.Peer().String())
	if !ok {
		return wire.GroupUpdate{}, false
	}
	state := wire.PlaybackStopped
	if s.streams[id] != nil {
		state = wire.PlaybackPlaying
	}
	return wire.GroupUpdate{PlaybackState: state, GroupID: id, GroupName: name}, true
}

// streamerOf is what c's group plays, nil when it is stopped.
func (s *Server) streamerOf(c *conn) *streamer {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.groups.GroupID(c.sc.Peer().String())
	if !ok {
		return nil
	}
	return s.streams[id]
}

// startLeadLocked is the lead of a start or a seek in group id: the
// largest lead of its connected members, plus what starting each of them
// costs the server (startCost). s.mu is held.
func (s *Server) startLeadLocked(id string) time.Duration {
	lead, n := minStartLead, 0
	for c := range s.conns {
		if g, ok := s.groups.GroupID(c.sc.Peer().String()); ok && g == id {
			lead = max(lead, c.lead())
			n++
		}
	}
	return lead + startCost(n)
}

// Play plays src to the default group.
func (s *Server) Play(src audio.Source) error { return s.PlayGroup(DefaultGroup, src) }

// PlayGroup starts playing src to a group's players, replacing what the
// group was playing. It returns once playback has started; it stops by
// itself when the source ends. On success the server owns src and closes it
// when playback ends; on failure src is the caller's.
func (s *Server) PlayGroup(id string, src audio.Source) error {
	if err := src.Format().Validate(); err != nil {
		return err
	}
	s.playMu.Lock()
	defer s.playMu.Unlock()
	s.mu.Lock()
	closing := s.closing
	_, exists := s.groups.Get(id)
	s.mu.Unlock()
	if closing {
		return errors.New("server: shutting down")
	}
	if !exists {
		return fmt.Errorf("%w %q", ErrNoGroup, id)
	}
	s.stopGroupLocked(id)
	// The startup lead covers the slowest member connected now; a later
	// joiner starts at the first chunk its own lead allows.
	s.mu.Lock()
	lead := s.startLeadLocked(id)
	s.mu.Unlock()
	st := newStreamer(s, src, lead)
	s.mu.Lock()
	s.streams[id] = st
	s.mu.Unlock()
	s.signalGroup(id)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-st.done:
				return
			case <-t.C:
				if st.finished() {
					s.stopStreamer(id, st)
					return
				}
			}
		}
	}()
	return nil
}

// Skip jumps a group's playback to the start of the track after the one
// being heard (messaging.md "stream/end": a track jump is a seek, so each
// player gets stream/clear, not stream/end). Only a source with tracks (a
// folder) can skip. On the last track of a playlist that does not loop
// there is no next track: the group stops (stream/end) and the error,
// ErrNoNextTrack, says so.
func (s *Server) Skip(id string) error {
	s.playMu.Lock()
	defer s.playMu.Unlock()
	s.mu.Lock()
	_, exists := s.groups.Get(id)
	st := s.streams[id]
	lead := s.startLeadLocked(id)
	s.mu.Unlock()
	switch {
	case !exists:
		return fmt.Errorf("%w %q", ErrNoGroup, id)
	case st == nil:
		return ErrNotPlaying
	}
	ended, err := st.skip(lead)
	if err != nil {
		return err
	}
	if ended {
		// Past the last track: the group stops now rather than after what
		// is left of the lead, so the answer is already true.
		s.stopGroupLocked(id)
		return fmt.Errorf("%w: group %s stopped at the end of the folder", ErrNoNextTrack, id)
	}
	return nil
}

// ErrNotPlaying is returned for an action on a group that is stopped.
var ErrNotPlaying = errors.New("server: the group is not playing")

// Stop stops every group's playback.
func (s *Server) Stop() {
	s.playMu.Lock()
	defer s.playMu.Unlock()
	s.mu.Lock()
	ids := make([]string, 0, len(s.streams))
	for id := range s.streams {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.stopGroupLocked(id)
	}
}

// StopGroup stops a group's playback.
func (s *Server) StopGroup(id string) error {
	s.mu.Lock()
	_, exists := s.groups.Get(id)
	s.mu.Unlock()
	if !exists {
		return fmt.Errorf("%w %q", ErrNoGroup, id)
	}
	s.stopGroup(id)
	return nil
}

func (s *Server) stopGroup(id string) {
	s.playMu.Lock()
	defer s.playMu.Unlock()
	s.stopGroupLocked(id)
}

func (s *Server) stopGroupLocked(id string) {
	s.mu.Lock()
	st := s.streams[id]
	s.mu.Unlock()
	if st != nil {
		s.stopStreamer(id, st)
	}
}

func (s *Server) stopStreamer(id string, st *streamer) {
	s.mu.Lock()
	if s.streams[id] != st {
		s.mu.Unlock()
		return
	}
	delete(s.streams, id)
	s.mu.Unlock()
	s.signalGroup(id)
	st.close()
}

// Playing reports whether any group is playing.
func (s *Server) Playing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams) > 0
}

// signalGroup has every connection in group id re-plan.
func (s *Server) signalGroup(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if g, ok := s.groups.GroupID(c.sc.Peer().String()); ok && g == id {
			c.signal(evReactivate)
		}
	}
}

// CreateGroup makes an empty, stopped group named name (group.CheckName:
// trimmed, 1-64 characters, no control characters, not another group's
// name); the operator moves players into it with JoinGroup.
func (s *Server) CreateGroup(name string) (GroupInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.groups.Create(name)
	if err != nil {
		return GroupInfo{}, err
	}
	return s.groupInfoLocked(g), nil
}

// RenameGroup names group id anew; its connected players are told by
// group/update (messaging.md "group/update": group_name).
func (s *Server) RenameGroup(id, name string) (GroupInfo, error) {
	s.mu.Lock()
	g, e, err := s.groups.Rename(id, name)
	var info GroupInfo
	if err == nil {
		info = s.groupInfoLocked(g)
	}
	s.mu.Unlock()
	if errors.Is(err, group.ErrNoGroup) {
		return GroupInfo{}, fmt.Errorf("%w %q", ErrNoGroup, id)
	}
	if err != nil {
		return GroupInfo{}, err
	}
	s.apply(e)
	return info, nil
}
