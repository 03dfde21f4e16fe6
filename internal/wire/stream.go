package wire

import (
	"math"
	"strings"
)

// StreamStart is stream/start (messaging.md "stream/start"): starts role
// streams or reconfigures active ones in place.
type StreamStart struct {
	ServerTransmitted int64 // µs, stamped just before encryption
	Player            *PlayerStream
	Artwork           *ArtworkStream
	Visualizer        *VisualizerStream
	Ext               map[string][]byte
}

// Type implements Message.
func (*StreamStart) Type() Type { return TypeStreamStart }

func (m *StreamStart) encode(w *writer) {
	w.int("server_transmitted", m.ServerTransmitted)
	optObj(w, "player", m.Player)
	optObj(w, "artwork", m.Artwork)
	optObj(w, "visualizer", m.Visualizer)
	w.ext(m.Ext)
}

func (m *StreamStart) decode(r *reader) {
	m.ServerTransmitted, _ = r.int("server_transmitted", true, math.MinInt64, math.MaxInt64)
	m.Player = optRead[PlayerStream](r, "player")
	m.Artwork = optRead[ArtworkStream](r, "artwork")
	m.Visualizer = optRead[VisualizerStream](r, "visualizer")
	m.Ext = r.ext()
}

// Unversioned role names used in stream/clear and stream/end.
const (
	StreamPlayer     = "player"
	StreamArtwork    = "artwork"
	StreamVisualizer = "visualizer"
)

// StreamClear is stream/clear (messaging.md "stream/clear").
type StreamClear struct {
	ServerTransmitted int64
	// Roles to clear; nil means every active player and visualizer stream.
	// Names are "player", "visualizer" or application roles ("_...").
	Roles []string
}

// Type implements Message.
func (*StreamClear) Type() Type { return TypeStreamClear }

func (m *StreamClear) encode(w *writer) {
	w.int("server_transmitted", m.ServerTransmitted)
	if m.Roles != nil {
		w.strs("roles", m.Roles)
	}
}

func (m *StreamClear) decode(r *reader) {
	m.ServerTransmitted, _ = r.int("server_transmitted", true, math.MinInt64, math.MaxInt64)
	m.Roles = streamRoles(r, StreamPlayer, StreamVisualizer)
}

// StreamEnd is stream/end (messaging.md "stream/end").
type StreamEnd struct {
	// Roles to end; nil means every active stream. Names are "player",
	// "artwork", "visualizer" or application roles ("_...").
	Roles []string
}

// Type implements Message.
func (*StreamEnd) Type() Type { return TypeStreamEnd }

func (m *StreamEnd) encode(w *writer) {
	if m.Roles != nil {
		w.strs("roles", m.Roles)
	}
}

func (m *StreamEnd) decode(r *reader) {
	m.Roles = streamRoles(r, StreamPlayer, StreamArtwork, StreamVisualizer)
}

// streamRoles reads the optional, non-empty roles list of stream/clear and
// stream/end: each a role the message names or an application role.
func streamRoles(r *reader, defined ...string) []string {
	roles, ok := r.strs("roles", false)
	if !ok {
		return nil
	}
	if len(roles) == 0 {
		r.fail("roles", RuleEmpty)
		return nil
	}
	for i, role := range roles {
		if !enumIn(role, defined...) && !(len(role) > 1 && strings.HasPrefix(role, "_")) {
			r.fail("roles["+itoa(i)+"]", RuleEnum)
			return nil
		}
	}
	if !unique(roles) {
		r.fail("roles", RuleUnique)
	}
	return roles
}

// ClientStreamStart is client-stream/start (roles/source/v1.md): the source
// announces its input format.
type ClientStreamStart struct {
	Source StreamFormat
}

// Type implements Message.
func (*ClientStreamStart) Type() Type { return TypeClientStreamStart }

func (m *ClientStreamStart) encode(w *writer) {
	w.obj("source")
	m.Source.encode(w)
	w.end()
}

func (m *ClientStreamStart) decode(r *reader) {
	if c, ok := r.object("source", true); ok {
		m.Source.decode(c)
	}
}

// ClientStreamEnd is client-stream/end: the source ends its input stream.
type ClientStreamEnd struct{}

// Type implements Message.
func (*ClientStreamEnd) Type() Type       { return TypeClientStreamEnd }
func (*ClientStreamEnd) encode(w *writer) {}
func (*ClientStreamEnd) decode(r *reader) {}
