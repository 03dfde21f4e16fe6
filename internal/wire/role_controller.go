package wire

import "math"

// ControllerCommandName is a controller command.
type ControllerCommandName string

// The controller commands (roles/controller/v1.md).
const (
	CtlPlay         ControllerCommandName = "play"
	CtlPause        ControllerCommandName = "pause"
	CtlStop         ControllerCommandName = "stop"
	CtlNext         ControllerCommandName = "next"
	CtlPrevious     ControllerCommandName = "previous"
	CtlVolume       ControllerCommandName = "volume"
	CtlMute         ControllerCommandName = "mute"
	CtlRepeatOff    ControllerCommandName = "repeat_off"
	CtlRepeatOne    ControllerCommandName = "repeat_one"
	CtlRepeatAll    ControllerCommandName = "repeat_all"
	CtlShuffle      ControllerCommandName = "shuffle"
	CtlUnshuffle    ControllerCommandName = "unshuffle"
	CtlSwitch       ControllerCommandName = "switch"
	CtlSeek         ControllerCommandName = "seek"
	CtlSeekRelative ControllerCommandName = "seek_relative"
)

var controllerCommands = []ControllerCommandName{
	CtlPlay, CtlPause, CtlStop, CtlNext, CtlPrevious, CtlVolume, CtlMute, CtlRepeatOff,
	CtlRepeatOne, CtlRepeatAll, CtlShuffle, CtlUnshuffle, CtlSwitch, CtlSeek, CtlSeekRelative,
}

// Known reports whether c is a command the spec defines.
func (c ControllerCommandName) Known() bool { return enumIn(c, controllerCommands...) }

// ControllerCommand is the controller object of client/command. A command
// this revision does not define is kept so the server can ignore it, as it
// ignores any command outside its supported_commands.
type ControllerCommand struct {
	Command    ControllerCommandName
	Volume     int   // with volume
	Mute       bool  // with mute
	PositionMS int64 // with seek
	OffsetMS   int64 // with seek_relative
}

func (c *ControllerCommand) encode(w *writer) {
	w.str("command", string(c.Command))
	switch c.Command {
	case CtlVolume:
		w.int("volume", int64(c.Volume))
	case CtlMute:
		w.bool("mute", c.Mute)
	case CtlSeek:
		w.int("position_ms", c.PositionMS)
	case CtlSeekRelative:
		w.int("offset_ms", c.OffsetMS)
	}
}

func (c *ControllerCommand) decode(r *reader) {
	s, ok := r.str("command", true)
	if !ok {
		return
	}
	c.Command = ControllerCommandName(s)
	switch c.Command {
	case CtlVolume:
		v, _ := r.int("volume", true, 0, MaxVolume)
		c.Volume = int(v)
	case CtlMute:
		c.Mute, _ = r.boolean("mute", true)
	case CtlSeek:
		// The upper bound is seek_max_ms, which the server checks.
		c.PositionMS, _ = r.int("position_ms", true, 0, math.MaxInt64)
	case CtlSeekRelative:
		c.OffsetMS, _ = r.int("offset_ms", true, math.MinInt64, math.MaxInt64)
	default:
		if r.st.strict && !c.Command.Known() {
			r.fail("command", RuleEnum)
		}
	}
}

// Repeat is a repeat mode.
type Repeat string

// The repeat modes.
const (
	RepeatOff Repeat = "off"
	RepeatOne Repeat = "one"
	RepeatAll Repeat = "all"
)

// ControllerState is the controller object of server/state.
type ControllerState struct {
	SupportedCommands []ControllerCommandName
	Volume            int // group volume 0-100
	Muted             bool
	Repeat            Repeat
	Shuffle           bool
	SeekMaxMS         *int64 // required when seek is supported
}

// Supports reports whether c is among the supported commands.
func (s *ControllerState) Supports(c ControllerCommandName) bool {
	return enumIn(c, s.SupportedCommands...)
}

func (s *ControllerState) encode(w *writer) {
	w.strs("supported_commands", stringsOf(s.SupportedCommands))
	w.int("volume", int64(s.Volume))
	w.bool("muted", s.Muted)
	w.str("repeat", string(s.Repeat))
	w.bool("shuffle", s.Shuffle)
	if s.SeekMaxMS != nil {
		w.int("seek_max_ms", *s.SeekMaxMS)
	}
}

func (s *ControllerState) decode(r *reader) {
	cmds, _ := r.strs("supported_commands", true)
	s.SupportedCommands = make([]ControllerCommandName, len(cmds))
	for i, c := range cmds {
		s.SupportedCommands[i] = ControllerCommandName(c)
		if r.st.strict && !s.SupportedCommands[i].Known() {
			r.fail("supported_commands["+itoa(i)+"]", RuleEnum)
		}
	}
	v, _ := r.int("volume", true, 0, MaxVolume)
	s.Volume = int(v)
	s.Muted, _ = r.boolean("muted", true)
	rep, ok := r.str("repeat", true)
	s.Repeat = Repeat(rep)
	if ok && !enumIn(s.Repeat, RepeatOff, RepeatOne, RepeatAll) {
		r.fail("repeat", RuleEnum)
	}
	s.Shuffle, _ = r.boolean("shuffle", true)
	if n, ok := r.int("seek_max_ms", false, 0, math.MaxInt64); ok {
		s.SeekMaxMS = &n
	}
	// seek_max_ms MUST be included when seek is offered.
	if !r.failed() && s.Supports(CtlSeek) && s.SeekMaxMS == nil {
		r.fail("seek_max_ms", RuleRequired)
	}
}
