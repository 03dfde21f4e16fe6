package wire

// SourceSupport is client/hello source@v1_support (roles/source/v1.md).
// An absent features object or line_sense means false.
type SourceSupport struct {
	LineSense bool // features.line_sense: the source reports signal
}

func (s *SourceSupport) encode(w *writer) {
	if s.LineSense {
		w.obj("features")
		w.bool("line_sense", true)
		w.end()
	}
}

func (s *SourceSupport) decode(r *reader) {
	if c, ok := r.object("features", false); ok {
		s.LineSense, _ = c.boolean("line_sense", false)
	}
}

// ServerSourceSupport is server/hello source@v1_support.
type ServerSourceSupport struct {
	// SupportedCodecs the server accepts in client-stream/start; a source
	// ignores identifiers it does not recognize.
	SupportedCodecs []Codec
}

func (s *ServerSourceSupport) encode(w *writer) {
	w.strs("supported_codecs", stringsOf(s.SupportedCodecs))
}

func (s *ServerSourceSupport) decode(r *reader) {
	codecs, ok := r.strs("supported_codecs", true)
	if !ok {
		return
	}
	if len(codecs) == 0 {
		r.fail("supported_codecs", RuleEmpty)
		return
	}
	s.SupportedCodecs = make([]Codec, len(codecs))
	for i, c := range codecs {
		s.SupportedCodecs[i] = Codec(c)
		if r.st.strict && !s.SupportedCodecs[i].Known() {
			r.fail("supported_codecs["+itoa(i)+"]", RuleEnum)
		}
	}
	// A server MUST list flac and pcm.
	if r.st.strict && !(enumIn(CodecFLAC, s.SupportedCodecs...) && enumIn(CodecPCM, s.SupportedCodecs...)) {
		r.fail("supported_codecs", RuleRequired)
	}
}

// Signal is a source's line-sense report.
type Signal string

// The signal values.
const (
	SignalPresent Signal = "present"
	SignalAbsent  Signal = "absent"
)

// SourceState is the source object of client/state.
type SourceState struct {
	Signal Signal // "" when absent
}

func (s *SourceState) encode(w *writer) {
	if s.Signal != "" {
		w.str("signal", string(s.Signal))
	}
}

func (s *SourceState) decode(r *reader) {
	v, ok := r.str("signal", false)
	if !ok {
		return
	}
	s.Signal = Signal(v)
	if !enumIn(s.Signal, SignalPresent, SignalAbsent) {
		r.fail("signal", RuleEnum)
	}
}

// SourceCommandName is a source command.
type SourceCommandName string

// The source commands.
const (
	SourceCmdStart SourceCommandName = "start"
	SourceCmdStop  SourceCommandName = "stop"
)

// SourceCommand is the source object of server/command.
type SourceCommand struct {
	Command SourceCommandName
}

func (c *SourceCommand) encode(w *writer) { w.str("command", string(c.Command)) }

func (c *SourceCommand) decode(r *reader) {
	s, ok := r.str("command", true)
	c.Command = SourceCommandName(s)
	if ok && !enumIn(c.Command, SourceCmdStart, SourceCmdStop) {
		r.fail("command", RuleEnum)
	}
}
