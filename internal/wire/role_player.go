package wire

import (
	"math"
)

// Codec is an audio codec identifier (roles/player/v1.md).
type Codec string

// The codecs the spec defines.
const (
	CodecOpus Codec = "opus"
	CodecFLAC Codec = "flac"
	CodecPCM  Codec = "pcm"
)

// Known reports whether c is a codec the spec defines.
func (c Codec) Known() bool { return enumIn(c, CodecOpus, CodecFLAC, CodecPCM) }

// AudioFormat is an entry of supported_formats, or a player's preferred
// format.
type AudioFormat struct {
	Codec      Codec
	Channels   int
	SampleRate int
	BitDepth   int // meaningful for pcm and flac, ignored for opus
}

func (f *AudioFormat) encode(w *writer) {
	w.str("codec", string(f.Codec))
	w.int("channels", int64(f.Channels))
	w.int("sample_rate", int64(f.SampleRate))
	w.int("bit_depth", int64(f.BitDepth))
}

// decode reads a format. knownCodec requires a codec the spec defines: a
// stream's format must be one, while a list of supported formats may carry
// codecs a newer peer knows, which a receiver skips.
func (f *AudioFormat) decode(r *reader, knownCodec bool) {
	c, ok := r.str("codec", true)
	f.Codec = Codec(c)
	if ok && (knownCodec || r.st.strict) && !f.Codec.Known() {
		r.fail("codec", RuleEnum)
	}
	f.Channels = int(readPositive(r, "channels"))
	f.SampleRate = int(readPositive(r, "sample_rate"))
	// bit_depth is always carried; for opus its value is ignored.
	lo := int64(1)
	if f.Codec == CodecOpus {
		lo = 0
	}
	bd, _ := r.int("bit_depth", true, lo, math.MaxInt32)
	f.BitDepth = int(bd)
}

// readPositive reads a required integer in [1, 2^31-1]. The spec gives no
// upper bounds for counts and rates; int32 keeps later arithmetic safe.
func readPositive(r *reader, key string) int64 {
	n, _ := r.int(key, true, 1, math.MaxInt32)
	return n
}

// StreamFormat is the format of a stream: stream/start player, or
// client-stream/start source.
type StreamFormat struct {
	AudioFormat
	// CodecHeader is the decoded codec_header: required for flac (the fLaC
	// marker and STREAMINFO), absent for pcm and opus.
	CodecHeader []byte
}

func (f *StreamFormat) encode(w *writer) {
	f.AudioFormat.encode(w)
	if f.CodecHeader != nil {
		w.key("codec_header")
		w.b = append(w.b, '"')
		w.b = b64Std.AppendEncode(w.b, f.CodecHeader)
		w.b = append(w.b, '"')
	}
}

func (f *StreamFormat) decode(r *reader) {
	f.AudioFormat.decode(r, true)
	s, ok := r.str("codec_header", f.Codec == CodecFLAC && !r.failed())
	if !ok {
		return
	}
	if f.Codec != CodecFLAC {
		// codec_header is absent for pcm and opus: a receiver ignores it.
		if r.st.strict {
			r.fail("codec_header", RuleForbidden)
		}
		return
	}
	b, err := b64Std.Strict().DecodeString(s)
	if err != nil || len(b) == 0 {
		r.fail("codec_header", RuleEncoding)
		return
	}
	f.CodecHeader = b
}

// PlayerSupport is client/hello player@v1_support.
type PlayerSupport struct {
	// SupportedFormats in priority order; a received list may hold codecs
	// this revision does not define, which a server skips.
	SupportedFormats []AudioFormat
	BufferCapacity   int64 // bytes, see Player Buffer Accounting
}

func (s *PlayerSupport) encode(w *writer) {
	w.arr("supported_formats")
	for i := range s.SupportedFormats {
		w.elemObj()
		s.SupportedFormats[i].encode(w)
		w.end()
	}
	w.endArr()
	w.int("buffer_capacity", s.BufferCapacity)
}

func (s *PlayerSupport) decode(r *reader) {
	elems, ok := r.objects("supported_formats", true)
	if ok && len(elems) == 0 {
		r.fail("supported_formats", RuleEmpty)
	}
	pcmOrFLAC := false
	for _, e := range elems {
		var f AudioFormat
		f.decode(e, false)
		s.SupportedFormats = append(s.SupportedFormats, f)
		pcmOrFLAC = pcmOrFLAC || f.Codec == CodecPCM || f.Codec == CodecFLAC
	}
	// Players MUST list flac or pcm so every server can serve them.
	if r.st.strict && ok && !pcmOrFLAC {
		r.fail("supported_formats", RuleRequired)
	}
	s.BufferCapacity, _ = r.int("buffer_capacity", true, 1, math.MaxInt64)
}

// PlayerCommandName is a player command.
type PlayerCommandName string

// The player commands (roles/player/v1.md "server/command player object").
const (
	PlayerCmdVolume         PlayerCommandName = "volume"
	PlayerCmdMute           PlayerCommandName = "mute"
	PlayerCmdSetOutputDelay PlayerCommandName = "set_output_delay"
)

// Known reports whether c is a command the spec defines.
func (c PlayerCommandName) Known() bool {
	return enumIn(c, PlayerCmdVolume, PlayerCmdMute, PlayerCmdSetOutputDelay)
}

// PlayerState is the player object of client/state.
type PlayerState struct {
	Volume             *int  // 0-100; required if volume is a supported command
	Muted              *bool // required if mute is a supported command
	OutputDelayMS      int   // 0-5000
	RequiredLeadTimeMS int64
	MinBufferMS        int64
	// SupportedCommands may hold commands a newer player offers; a server
	// ignores those.
	SupportedCommands []PlayerCommandName
	Format            *AudioFormat // the preferred format, nil if none
}

// Supports reports whether c is among the supported commands.
func (s *PlayerState) Supports(c PlayerCommandName) bool { return enumIn(c, s.SupportedCommands...) }

func (s *PlayerState) encode(w *writer) {
	if s.Volume != nil {
		w.int("volume", int64(*s.Volume))
	}
	if s.Muted != nil {
		w.bool("muted", *s.Muted)
	}
	w.int("output_delay_ms", int64(s.OutputDelayMS))
	w.int("required_lead_time_ms", s.RequiredLeadTimeMS)
	w.int("min_buffer_ms", s.MinBufferMS)
	w.strs("supported_commands", stringsOf(s.SupportedCommands))
	if s.Format != nil {
		w.obj("format")
		s.Format.encode(w)
		w.end()
	}
}

func (s *PlayerState) decode(r *reader) {
	if v, ok := r.int("volume", false, 0, MaxVolume); ok {
		n := int(v)
		s.Volume = &n
	}
	if v, ok := r.boolean("muted", false); ok {
		s.Muted = &v
	}
	d, _ := r.int("output_delay_ms", true, 0, MaxOutputDelayMS)
	s.OutputDelayMS = int(d)
	s.RequiredLeadTimeMS, _ = r.int("required_lead_time_ms", true, 0, math.MaxInt32)
	s.MinBufferMS, _ = r.int("min_buffer_ms", true, 0, math.MaxInt32)
	cmds, _ := r.strs("supported_commands", true)
	s.SupportedCommands = make([]PlayerCommandName, len(cmds))
	for i, c := range cmds {
		s.SupportedCommands[i] = PlayerCommandName(c)
		if r.st.strict && !s.SupportedCommands[i].Known() {
			r.fail("supported_commands["+itoa(i)+"]", RuleEnum)
		}
	}
	if c, ok := r.object("format", false); ok {
		s.Format = new(AudioFormat)
		s.Format.decode(c, false)
	}
	if r.failed() {
		return
	}
	// volume and muted MUST be included when their commands are offered.
	if s.Supports(PlayerCmdVolume) && s.Volume == nil {
		r.fail("volume", RuleRequired)
	}
	if s.Supports(PlayerCmdMute) && s.Muted == nil {
		r.fail("muted", RuleRequired)
	}
}

// PlayerCommand is the player object of server/command.
type PlayerCommand struct {
	// Command may be one this revision does not define; the client ignores
	// it, as it does any command absent from its supported_commands.
	Command       PlayerCommandName
	Volume        int  // with volume
	Mute          bool // with mute
	OutputDelayMS int  // with set_output_delay
}

func (c *PlayerCommand) encode(w *writer) {
	w.str("command", string(c.Command))
	switch c.Command {
	case PlayerCmdVolume:
		w.int("volume", int64(c.Volume))
	case PlayerCmdMute:
		w.bool("mute", c.Mute)
	case PlayerCmdSetOutputDelay:
		w.int("output_delay_ms", int64(c.OutputDelayMS))
	}
}

func (c *PlayerCommand) decode(r *reader) {
	s, ok := r.str("command", true)
	if !ok {
		return
	}
	c.Command = PlayerCommandName(s)
	switch c.Command {
	case PlayerCmdVolume:
		v, _ := r.int("volume", true, 0, MaxVolume)
		c.Volume = int(v)
	case PlayerCmdMute:
		c.Mute, _ = r.boolean("mute", true)
	case PlayerCmdSetOutputDelay:
		v, _ := r.int("output_delay_ms", true, 0, MaxOutputDelayMS)
		c.OutputDelayMS = int(v)
	default:
		if r.st.strict {
			r.fail("command", RuleEnum)
		}
	}
}

// PlayerStream is the player object of stream/start.
type PlayerStream = StreamFormat
