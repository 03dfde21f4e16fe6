package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/tonearm-audio/tonearm/internal/group"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Volume and mute (roles/player/v1.md "server/command player object";
// roles/controller/v1.md "Setting group volume", "Setting group mute"):
// a player is sent a command only if the latest player state it reported
// lists it in supported_commands, and never before its first client/state.

// Errors of the volume and mute actions.
var (
	// ErrNoVolume: no player concerned accepts the command.
	ErrNoVolume = errors.New("server: no player here accepts that command")
	// ErrBadVolume: a volume outside 0-100.
	ErrBadVolume = errors.New("server: volume is 0-100")
)

// playerCommandable reports whether c may be sent cmd now, with its
// reported volume and mute.
func (c *conn) playerCommandable(cmd wire.PlayerCommandName) (vol int, muted, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !hasPlayer(c.act.ActiveRoles) || c.state == nil || c.state.Player == nil || !c.state.Player.Supports(cmd) {
		return 0, false, false
	}
	p := c.state.Player
	if p.Volume != nil {
		vol = *p.Volume
	}
	if p.Muted != nil {
		muted = *p.Muted
	}
	return vol, muted, true
}

// command sends c a player command from its owner goroutine, so it cannot
// pass an activation that removes the role; false if it no longer may.
func (c *conn) command(pc wire.PlayerCommand) error {
	return c.do(func(context.Context) (error, error) {
		if _, _, ok := c.playerCommandable(pc.Command); !ok {
			return ErrNoVolume, nil
		}
		return nil, c.sc.WriteMessage(&wire.ServerCommand{Player: &pc})
	})
}

// SetVolume sets a client's volume (0-100).
func (s *Server) SetVolume(client keys.PublicKey, volume int) error {
	if volume < 0 || volume > 100 {
		return fmt.Errorf("%w, not %d", ErrBadVolume, volume)
	}
	return s.commandClient(client, wire.PlayerCommand{Command: wire.PlayerCmdVolume, Volume: volume})
}

// SetMute mutes or unmutes a client; its volume is kept.
func (s *Server) SetMute(client keys.PublicKey, muted bool) error {
	return s.commandClient(client, wire.PlayerCommand{Command: wire.PlayerCmdMute, Mute: muted})
}

func (s *Server) commandClient(client keys.PublicKey, pc wire.PlayerCommand) error {
	sent := false
	for _, c := range s.connsFor(client) {
		if _, _, ok := c.playerCommandable(pc.Command); !ok {
			continue
		}
		if err := c.command(pc); err == nil {
			sent = true
		}
	}
	if !sent {
		if len(s.connsFor(client)) == 0 {
			return ErrNotConnected
		}
		return ErrNoVolume
	}
	return nil
}

// groupPlayers are the connections of a group's members, one per client
// (its newest), that accept cmd, with their reported volume and mute.
func (s *Server) groupPlayers(id string, cmd wire.PlayerCommandName) ([]*conn, []int, []bool, error) {
	s.mu.Lock()
	_, exists := s.groups.Get(id)
	newest := map[string]*conn{}
	for c := range s.conns {
		k := c.sc.Peer().String()
		if g, ok := s.groups.GroupID(k); ok && g == id && (newest[k] == nil || c.seq > newest[k].seq) {
			newest[k] = c
		}
	}
	s.mu.Unlock()
	if !exists {
		return nil, nil, nil, fmt.Errorf("%w %q", ErrNoGroup, id)
	}
	var (
		conns []*conn
		vols  []int
		mutes []bool
	)
	for _, c := range newest {
		if v, m, ok := c.playerCommandable(cmd); ok {
			conns, vols, mutes = append(conns, c), append(vols, v), append(mutes, m)
		}
	}
	return conns, vols, mutes, nil
}

// GroupVolume reads a group's volume and mute from what its players
// report (roles/controller/v1.md: the average of the volume-capable
// players; muted only when every mute-capable player is).
func (s *Server) GroupVolume(id string) (volume int, muted bool, err error) {
	_, vols, _, err := s.groupPlayers(id, wire.PlayerCmdVolume)
	if err != nil {
		return 0, false, err
	}
	_, _, mutes, _ := s.groupPlayers(id, wire.PlayerCmdMute)
	return group.Volume(vols), group.Muted(mutes), nil
}

// SetGroupVolume moves a group's volume to volume, keeping its players'
// relative levels (roles/controller/v1.md "Setting group volume"): each
// volume-capable player gets one command with its final volume.
func (s *Server) SetGroupVolume(id string, volume int) error {
	if volume < 0 || volume > 100 {
		return fmt.Errorf("%w, not %d", ErrBadVolume, volume)
	}
	conns, vols, _, err := s.groupPlayers(id, wire.PlayerCmdVolume)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		return ErrNoVolume
	}
	for i, v := range group.SetVolume(vols, volume) {
		if v == vols[i] {
			continue // unchanged: nothing to send
		}
		_ = conns[i].command(wire.PlayerCommand{Command: wire.PlayerCmdVolume, Volume: v})
	}
	return nil
}

// SetGroupMute mutes or unmutes every mute-capable player of a group;
// volumes are untouched (roles/controller/v1.md "Setting group mute").
func (s *Server) SetGroupMute(id string, muted bool) error {
	conns, _, _, err := s.groupPlayers(id, wire.PlayerCmdMute)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		return ErrNoVolume
	}
	for _, c := range conns {
		_ = c.command(wire.PlayerCommand{Command: wire.PlayerCmdMute, Mute: muted})
	}
	return nil
}
