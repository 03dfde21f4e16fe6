package wire

import "math"

// ClientTime is client/time (messaging.md "client/time").
type ClientTime struct {
	ClientTransmitted int64 // µs, client clock
}

// Type implements Message.
func (*ClientTime) Type() Type { return TypeClientTime }

func (m *ClientTime) encode(w *writer) { w.int("client_transmitted", m.ClientTransmitted) }

func (m *ClientTime) decode(r *reader) {
	m.ClientTransmitted, _ = r.int("client_transmitted", true, math.MinInt64, math.MaxInt64)
}

// ServerTime is server/time (messaging.md "server/time").
type ServerTime struct {
	ClientTransmitted int64 // echoed from client/time
	ServerReceived    int64 // µs, server clock
	ServerTransmitted int64 // µs, server clock, stamped just before encryption
}

// Type implements Message.
func (*ServerTime) Type() Type { return TypeServerTime }

func (m *ServerTime) encode(w *writer) {
	w.int("client_transmitted", m.ClientTransmitted)
	w.int("server_received", m.ServerReceived)
	w.int("server_transmitted", m.ServerTransmitted)
}

func (m *ServerTime) decode(r *reader) {
	m.ClientTransmitted, _ = r.int("client_transmitted", true, math.MinInt64, math.MaxInt64)
	m.ServerReceived, _ = r.int("server_received", true, math.MinInt64, math.MaxInt64)
	m.ServerTransmitted, _ = r.int("server_transmitted", true, math.MinInt64, math.MaxInt64)
}

// ClientState is client/state (messaging.md "client/state").
type ClientState struct {
	Available  bool
	Player     *PlayerState
	Source     *SourceState
	Artwork    *ArtworkState
	Visualizer *VisualizerState
	// Ext holds "_"-prefixed application objects, raw.
	Ext map[string][]byte
}

// Type implements Message.
func (*ClientState) Type() Type { return TypeClientState }

func (m *ClientState) encode(w *writer) {
	w.bool("available", m.Available)
	optObj(w, "player", m.Player)
	optObj(w, "source", m.Source)
	optObj(w, "artwork", m.Artwork)
	optObj(w, "visualizer", m.Visualizer)
	w.ext(m.Ext)
}

func (m *ClientState) decode(r *reader) {
	m.Available, _ = r.boolean("available", true)
	m.Player = optRead[PlayerState](r, "player")
	m.Source = optRead[SourceState](r, "source")
	m.Artwork = optRead[ArtworkState](r, "artwork")
	m.Visualizer = optRead[VisualizerState](r, "visualizer")
	m.Ext = r.ext()
}

// ClientCommand is client/command (messaging.md "client/command").
type ClientCommand struct {
	Controller *ControllerCommand
	Ext        map[string][]byte
}

// Type implements Message.
func (*ClientCommand) Type() Type { return TypeClientCommand }

func (m *ClientCommand) encode(w *writer) {
	optObj(w, "controller", m.Controller)
	w.ext(m.Ext)
}

func (m *ClientCommand) decode(r *reader) {
	m.Controller = optRead[ControllerCommand](r, "controller")
	m.Ext = r.ext()
}

// ClientLeave is client/leave: the client leaves its group. No payload.
type ClientLeave struct{}

// Type implements Message.
func (*ClientLeave) Type() Type       { return TypeClientLeave }
func (*ClientLeave) encode(w *writer) {}
func (*ClientLeave) decode(r *reader) {}

// ServerState is server/state (messaging.md "server/state").
type ServerState struct {
	Metadata   *MetadataState
	Controller *ControllerState
	Color      *ColorState
	Ext        map[string][]byte
}

// Type implements Message.
func (*ServerState) Type() Type { return TypeServerState }

func (m *ServerState) encode(w *writer) {
	optObj(w, "metadata", m.Metadata)
	optObj(w, "controller", m.Controller)
	optObj(w, "color", m.Color)
	w.ext(m.Ext)
}

func (m *ServerState) decode(r *reader) {
	m.Metadata = optRead[MetadataState](r, "metadata")
	m.Controller = optRead[ControllerState](r, "controller")
	m.Color = optRead[ColorState](r, "color")
	m.Ext = r.ext()
}

// ServerCommand is server/command (messaging.md "server/command").
type ServerCommand struct {
	Player *PlayerCommand
	Source *SourceCommand
	Ext    map[string][]byte
}

// Type implements Message.
func (*ServerCommand) Type() Type { return TypeServerCommand }

func (m *ServerCommand) encode(w *writer) {
	optObj(w, "player", m.Player)
	optObj(w, "source", m.Source)
	w.ext(m.Ext)
}

func (m *ServerCommand) decode(r *reader) {
	m.Player = optRead[PlayerCommand](r, "player")
	m.Source = optRead[SourceCommand](r, "source")
	m.Ext = r.ext()
}

// PlaybackState is a group's playback state.
type PlaybackState string

// The playback states of group/update.
const (
	PlaybackPlaying PlaybackState = "playing"
	PlaybackStopped PlaybackState = "stopped"
)

// GroupUpdate is group/update (messaging.md "group/update"); every field is
// always carried.
type GroupUpdate struct {
	PlaybackState PlaybackState
	GroupID       string
	GroupName     string
}

// Type implements Message.
func (*GroupUpdate) Type() Type { return TypeGroupUpdate }

func (m *GroupUpdate) encode(w *writer) {
	w.str("playback_state", string(m.PlaybackState))
	w.str("group_id", m.GroupID)
	w.str("group_name", m.GroupName)
}

func (m *GroupUpdate) decode(r *reader) {
	s, ok := r.str("playback_state", true)
	m.PlaybackState = PlaybackState(s)
	if ok && !enumIn(m.PlaybackState, PlaybackPlaying, PlaybackStopped) {
		r.fail("playback_state", RuleEnum)
	}
	m.GroupID, _ = r.str("group_id", true)
	m.GroupName, _ = r.str("group_name", true)
}

// ServerUnpair is server/unpair: the server drops its pairing record. No
// payload.
type ServerUnpair struct{}

// Type implements Message.
func (*ServerUnpair) Type() Type       { return TypeServerUnpair }
func (*ServerUnpair) encode(w *writer) {}
func (*ServerUnpair) decode(r *reader) {}

// GoodbyeReason is the reason of client/goodbye.
type GoodbyeReason string

// The reasons of client/goodbye (messaging.md "client/goodbye").
const (
	GoodbyeAnotherServer     GoodbyeReason = "another_server"
	GoodbyeShutdown          GoodbyeReason = "shutdown"
	GoodbyeRestart           GoodbyeReason = "restart"
	GoodbyeUserRequest       GoodbyeReason = "user_request"
	GoodbyeUnauthorized      GoodbyeReason = "unauthorized"
	GoodbyePairingRequired   GoodbyeReason = "pairing_required"
	GoodbyeConcurrentAttempt GoodbyeReason = "concurrent_attempt"
	GoodbyeUnpaired          GoodbyeReason = "unpaired"
)

// ClientGoodbye is client/goodbye.
type ClientGoodbye struct {
	Reason GoodbyeReason
}

// Type implements Message.
func (*ClientGoodbye) Type() Type { return TypeClientGoodbye }

func (m *ClientGoodbye) encode(w *writer) { w.str("reason", string(m.Reason)) }

func (m *ClientGoodbye) decode(r *reader) {
	s, ok := r.str("reason", true)
	m.Reason = GoodbyeReason(s)
	if ok && !enumIn(m.Reason, GoodbyeAnotherServer, GoodbyeShutdown, GoodbyeRestart, GoodbyeUserRequest,
		GoodbyeUnauthorized, GoodbyePairingRequired, GoodbyeConcurrentAttempt, GoodbyeUnpaired) {
		r.fail("reason", RuleEnum)
	}
}
