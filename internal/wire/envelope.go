package wire

import (
	"bytes"
)

// Type is a JSON message's `type` (messaging.md "Communication").
type Type string

// Every message type the spec defines.
const (
	TypeClientInit     Type = "client/init"
	TypeServerInit     Type = "server/init"
	TypeNoiseHandshake Type = "noise/handshake"
	TypeServerError    Type = "server/error"

	TypeServerHello    Type = "server/hello"
	TypeClientHello    Type = "client/hello"
	TypeServerActivate Type = "server/activate"
	TypeClientTime     Type = "client/time"
	TypeServerTime     Type = "server/time"
	TypeClientState    Type = "client/state"
	TypeClientCommand  Type = "client/command"
	TypeClientLeave    Type = "client/leave"
	TypeServerState    Type = "server/state"
	TypeServerCommand  Type = "server/command"
	TypeStreamStart    Type = "stream/start"
	TypeStreamClear    Type = "stream/clear"
	TypeStreamEnd      Type = "stream/end"
	TypeGroupUpdate    Type = "group/update"
	TypeServerUnpair   Type = "server/unpair"
	TypeClientGoodbye  Type = "client/goodbye"

	TypeClientStreamStart Type = "client-stream/start"
	TypeClientStreamEnd   Type = "client-stream/end"

	TypeClientPairPending  Type = "client/pair-pending"
	TypeClientPairInit     Type = "client/pair-init"
	TypeServerPairInit     Type = "server/pair-init"
	TypeServerPairAuth     Type = "server/pair-auth"
	TypeClientPairAuth     Type = "client/pair-auth"
	TypeServerPairConfirm  Type = "server/pair-confirm"
	TypeClientPairRetry    Type = "client/pair-retry"
	TypeClientPairConfirm  Type = "client/pair-confirm"
	TypeClientPairFinalize Type = "client/pair-finalize"
	TypeServerPairFinalize Type = "server/pair-finalize"
	TypePairAbort          Type = "pair/abort"
)

// Sender is the side that sends a message.
type Sender uint8

// The two sides. FromEither is for messages both sides send.
const (
	FromClient Sender = 1 << iota
	FromServer
	FromEither = FromClient | FromServer
)

func (s Sender) String() string {
	switch s {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	case FromEither:
		return "client or server"
	}
	return "nobody"
}

// Message is one JSON message of the spec. Only this package's types
// implement it.
type Message interface {
	// Type is the message's `type`.
	Type() Type
	encode(w *writer)
	decode(r *reader)
}

// kind describes a message type: who sends it and how to make an empty one.
type kind struct {
	from Sender
	new  func() Message
}

var registry = map[Type]kind{
	TypeClientInit:     {FromClient, func() Message { return new(ClientInit) }},
	TypeServerInit:     {FromServer, func() Message { return new(ServerInit) }},
	TypeNoiseHandshake: {FromEither, func() Message { return new(NoiseHandshake) }},
	TypeServerError:    {FromServer, func() Message { return new(ServerError) }},

	TypeServerHello:    {FromServer, func() Message { return new(ServerHello) }},
	TypeClientHello:    {FromClient, func() Message { return new(ClientHello) }},
	TypeServerActivate: {FromServer, func() Message { return new(ServerActivate) }},
	TypeClientTime:     {FromClient, func() Message { return new(ClientTime) }},
	TypeServerTime:     {FromServer, func() Message { return new(ServerTime) }},
	TypeClientState:    {FromClient, func() Message { return new(ClientState) }},
	TypeClientCommand:  {FromClient, func() Message { return new(ClientCommand) }},
	TypeClientLeave:    {FromClient, func() Message { return new(ClientLeave) }},
	TypeServerState:    {FromServer, func() Message { return new(ServerState) }},
	TypeServerCommand:  {FromServer, func() Message { return new(ServerCommand) }},
	TypeStreamStart:    {FromServer, func() Message { return new(StreamStart) }},
	TypeStreamClear:    {FromServer, func() Message { return new(StreamClear) }},
	TypeStreamEnd:      {FromServer, func() Message { return new(StreamEnd) }},
	TypeGroupUpdate:    {FromServer, func() Message { return new(GroupUpdate) }},
	TypeServerUnpair:   {FromServer, func() Message { return new(ServerUnpair) }},
	TypeClientGoodbye:  {FromClient, func() Message { return new(ClientGoodbye) }},

	TypeClientStreamStart: {FromClient, func() Message { return new(ClientStreamStart) }},
	TypeClientStreamEnd:   {FromClient, func() Message { return new(ClientStreamEnd) }},

	TypeClientPairPending:  {FromClient, func() Message { return new(ClientPairPending) }},
	TypeClientPairInit:     {FromClient, func() Message { return new(ClientPairInit) }},
	TypeServerPairInit:     {FromServer, func() Message { return new(ServerPairInit) }},
	TypeServerPairAuth:     {FromServer, func() Message { return new(ServerPairAuth) }},
	TypeClientPairAuth:     {FromClient, func() Message { return new(ClientPairAuth) }},
	TypeServerPairConfirm:  {FromServer, func() Message { return new(ServerPairConfirm) }},
	TypeClientPairRetry:    {FromClient, func() Message { return new(ClientPairRetry) }},
	TypeClientPairConfirm:  {FromClient, func() Message { return new(ClientPairConfirm) }},
	TypeClientPairFinalize: {FromClient, func() Message { return new(ClientPairFinalize) }},
	TypeServerPairFinalize: {FromServer, func() Message { return new(ServerPairFinalize) }},
	TypePairAbort:          {FromEither, func() Message { return new(PairAbort) }},
}

// Types returns every message type the spec defines, for tests and tools.
func Types() []Type {
	out := make([]Type, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	return out
}

// SenderOf returns who sends messages of type t, or 0 for a type the spec
// does not define.
func SenderOf(t Type) Sender { return registry[t].from }

// Known reports whether the spec defines t.
func (t Type) Known() bool { _, ok := registry[t]; return ok }

// Cleartext reports whether t is sent as a WebSocket text message before
// the switch to Noise transport mode (messaging.md "Communication").
// noise/handshake is cleartext in the initial handshake and encrypted in a
// re-handshake.
func (t Type) Cleartext() bool {
	return t == TypeClientInit || t == TypeServerInit || t == TypeNoiseHandshake || t == TypeServerError
}

// Unknown is a valid envelope whose type the spec does not define. Receivers
// ignore it after activation (messaging.md "Communication").
type Unknown struct {
	Name    Type
	Payload []byte // the raw payload object
}

// Type implements Message.
func (u *Unknown) Type() Type { return u.Name }

// encode is never called: AppendMarshal writes an Unknown's payload as is.
func (u *Unknown) encode(w *writer) {}

func (u *Unknown) decode(r *reader) {}

// envelope splits a message into its type and raw payload object.
func envelope(b []byte) (Type, []byte, *Error) {
	if !validJSON(b) {
		return "", nil, &Error{Rule: RuleSyntax}
	}
	fields, rule := parseObject(b)
	if rule != 0 {
		return "", nil, &Error{Rule: rule}
	}
	r := reader{st: &decodeState{}, fields: fields}
	name, ok := r.str("type", true)
	if !ok {
		return "", nil, r.st.err
	}
	payload, ok := r.lookup("payload", true)
	if !ok {
		return Type(name), nil, &Error{Type: Type(name), Field: "payload", Rule: RuleRequired}
	}
	if payload[0] != '{' {
		return Type(name), nil, &Error{Type: Type(name), Field: "payload", Rule: RuleNotObject}
	}
	return Type(name), payload, nil
}

// Decode parses one JSON message (without the binary ID byte) sent by
// from. A valid envelope with an undefined type yields *Unknown and no
// error; a defined type sent by the wrong side is a RuleDirection error.
func Decode(b []byte, from Sender) (Message, error) {
	t, payload, e := envelope(b)
	if e != nil {
		return nil, e
	}
	k, ok := registry[t]
	if !ok {
		return &Unknown{Name: t, Payload: bytes.Clone(payload)}, nil
	}
	if from&k.from == 0 {
		return nil, &Error{Type: t, Rule: RuleDirection}
	}
	m := k.new()
	if err := decodePayload(m, payload, from, false); err != nil {
		return nil, err
	}
	return m, nil
}

// parsePayload checks that payload is one JSON object and splits it.
func parsePayload(t Type, payload []byte) ([]field, error) {
	if !validJSON(payload) {
		return nil, &Error{Type: t, Field: "payload", Rule: RuleSyntax}
	}
	fields, rule := parseObject(payload)
	if rule != 0 {
		return nil, &Error{Type: t, Field: "payload", Rule: rule}
	}
	return fields, nil
}

// decodePayload fills m from its payload object. With strict set it also
// applies the sender's rules and rejects members the spec does not define
// for the message (messaging.md "Forward compatibility": MUST NOT send).
func decodePayload(m Message, payload []byte, from Sender, strict bool) error {
	fields, err := parsePayload(m.Type(), payload)
	if err != nil {
		return err
	}
	st := &decodeState{typ: m.Type(), strict: strict, from: from}
	r := st.newReader("", fields)
	m.decode(r)
	if st.err == nil && strict {
		st.checkUndefined()
	}
	if st.err != nil {
		return st.err
	}
	return nil
}

// Marshal encodes m as a JSON message (without the binary ID byte).
func Marshal(m Message) ([]byte, error) { return AppendMarshal(nil, m) }

// AppendMarshal appends the JSON encoding of m to dst. It checks the result
// against every rule of the spec, the sender's included, and returns an
// error instead of emitting a message a conformant peer would reject.
func AppendMarshal(dst []byte, m Message) ([]byte, error) {
	w := writer{b: dst}
	w.b = append(w.b, `{"type":`...)
	w.b = appendQuoted(w.b, string(m.Type()))
	w.b = append(w.b, `,"payload":`...)
	pstart := len(w.b)
	if u, ok := m.(*Unknown); ok {
		w.b = append(w.b, u.Payload...)
		w.b = append(w.b, '}')
		if _, err := parsePayload(u.Name, w.b[pstart:len(w.b)-1]); err != nil {
			return dst, err
		}
		return w.b, nil
	}
	w.b = append(w.b, '{')
	m.encode(&w)
	w.b = append(w.b, "}}"...)
	k, ok := registry[m.Type()]
	if !ok {
		return dst, &Error{Type: m.Type(), Rule: RuleEnum}
	}
	if err := decodePayload(k.new(), w.b[pstart:len(w.b)-1], k.from, true); err != nil {
		return dst, err
	}
	return w.b, nil
}

// AppendBinaryJSON appends the binary form of a JSON message sent in
// transport mode: message ID 0 followed by the JSON (messaging.md "Binary
// Message ID Structure").
func AppendBinaryJSON(dst []byte, m Message) ([]byte, error) {
	n := len(dst)
	dst = append(dst, IDJSON)
	out, err := AppendMarshal(dst, m)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}
