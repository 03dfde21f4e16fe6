package wire

import (
	"bytes"
	"errors"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// ClientInit is client/init (messaging.md "client/init"), the first
// cleartext message. Raw keeps the exact bytes received or sent: the Noise
// prologue hashes them (connection.md "Prologue").
type ClientInit struct {
	ClientID keys.PublicKey
	Version  int64 // always CoreVersion when parsed without error
	Suite    keys.Suite
	Raw      []byte
}

// Type implements Message.
func (*ClientInit) Type() Type { return TypeClientInit }

func (m *ClientInit) encode(w *writer) {
	w.str("client_id", m.ClientID.String())
	w.int("version", m.Version)
	w.str("suite", string(m.Suite))
}

// decode reads version first, then suite, then the rest: the order of checks
// connection.md "Failure Handling" gives, so the first error found is the
// one that picks the server/error reason.
func (m *ClientInit) decode(r *reader) {
	m.Version, _ = r.int("version", true, CoreVersion, CoreVersion)
	if s, ok := r.str("suite", true); ok {
		m.Suite = keys.Suite(s)
		if !m.Suite.Known() {
			r.fail("suite", RuleEnum)
		}
	}
	id, _ := r.b64url32("client_id", true)
	m.ClientID = keys.PublicKey(id)
}

// ServerInit is server/init, the server's cleartext answer to client/init.
type ServerInit struct {
	ServerID keys.PublicKey
	Version  int64
	Raw      []byte
}

// Type implements Message.
func (*ServerInit) Type() Type { return TypeServerInit }

func (m *ServerInit) encode(w *writer) {
	w.str("server_id", m.ServerID.String())
	w.int("version", m.Version)
}

func (m *ServerInit) decode(r *reader) {
	m.Version, _ = r.int("version", true, CoreVersion, CoreVersion)
	id, _ := r.b64url32("server_id", true)
	m.ServerID = keys.PublicKey(id)
}

// NoiseHandshake is noise/handshake: one Noise handshake message, cleartext in
// the initial handshake and inside the channel in a re-handshake.
type NoiseHandshake struct {
	Data []byte // the raw Noise message, 1 to 65535 bytes
}

// Type implements Message.
func (*NoiseHandshake) Type() Type { return TypeNoiseHandshake }

func (m *NoiseHandshake) encode(w *writer) { w.b64url("data", m.Data) }

func (m *NoiseHandshake) decode(r *reader) {
	s, ok := r.str("data", true)
	if !ok {
		return
	}
	if len(s) == 0 || len(s) > rawURLLen(MaxNoiseMessage) {
		r.fail("data", RuleLength)
		return
	}
	b, err := b64Raw.Strict().DecodeString(s)
	if err != nil {
		r.fail("data", RuleEncoding)
		return
	}
	m.Data = b
}

// ErrorReason is the reason of server/error.
type ErrorReason string

// The reasons of server/error (messaging.md "server/error").
const (
	ReasonUnsupportedVersion ErrorReason = "unsupported_version"
	ReasonUnsupportedSuite   ErrorReason = "unsupported_suite"
	ReasonMalformed          ErrorReason = "malformed"
)

// ServerError is server/error, sent in place of server/init on an init
// failure.
type ServerError struct {
	Reason ErrorReason
}

// Type implements Message.
func (*ServerError) Type() Type { return TypeServerError }

func (m *ServerError) encode(w *writer) { w.str("reason", string(m.Reason)) }

func (m *ServerError) decode(r *reader) {
	s, ok := r.str("reason", true)
	m.Reason = ErrorReason(s)
	if ok && !enumIn(m.Reason, ReasonUnsupportedVersion, ReasonUnsupportedSuite, ReasonMalformed) {
		r.fail("reason", RuleEnum)
	}
}

// InitError is a client/init the server cannot accept, with the reason to
// send in server/error.
type InitError struct {
	Reason ErrorReason
	Err    error // the rule that failed
}

func (e *InitError) Error() string {
	return "client/init rejected (" + string(e.Reason) + "): " + e.Err.Error()
}

func (e *InitError) Unwrap() error { return e.Err }

// ParseClientInit parses the first message of a connection as the server
// receives it. On failure it returns an *InitError whose Reason is the
// server/error reason that connection.md "Failure Handling" picks: a version
// that is an integer other than 1 is unsupported_version whatever else is
// wrong, then an unknown suite is unsupported_suite, and every other shape
// failure is malformed.
func ParseClientInit(b []byte) (*ClientInit, error) {
	m := new(ClientInit)
	t, payload, e := envelope(b)
	if e == nil && t != TypeClientInit {
		e = &Error{Type: t, Rule: RuleEnum}
	}
	if e != nil {
		return nil, &InitError{Reason: ReasonMalformed, Err: e}
	}
	if err := decodePayload(m, payload, FromClient, false); err != nil {
		reason := ReasonMalformed
		var we *Error
		if errors.As(err, &we) {
			switch {
			case we.Field == "version" && we.Rule == RuleRange:
				reason = ReasonUnsupportedVersion
			case we.Field == "suite" && we.Rule == RuleEnum:
				reason = ReasonUnsupportedSuite
			}
		}
		return nil, &InitError{Reason: reason, Err: err}
	}
	m.Raw = bytes.Clone(b)
	return m, nil
}

// ParseServerInit parses the server's first message as the client receives
// it: server/init, or server/error in its place. Exactly one of the results
// is non-nil when err is nil. Any error is a silent failure for the client
// (connection.md "Failure Handling").
func ParseServerInit(b []byte) (*ServerInit, *ServerError, error) {
	m, err := Decode(b, FromServer)
	if err != nil {
		return nil, nil, err
	}
	switch m := m.(type) {
	case *ServerInit:
		m.Raw = bytes.Clone(b)
		return m, nil, nil
	case *ServerError:
		return nil, m, nil
	}
	return nil, nil, &Error{Type: m.Type(), Rule: RuleEnum}
}

// MarshalInit encodes a client/init or server/init and records the exact
// bytes in its Raw field, for the prologue.
func MarshalInit(m Message) ([]byte, error) {
	b, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *ClientInit:
		m.Raw = b
	case *ServerInit:
		m.Raw = b
	default:
		return nil, &Error{Type: m.Type(), Rule: RuleEnum}
	}
	return b, nil
}

// PSKCategory is the psk_category of Noise message 1 (connection.md
// "Pre-Shared Key").
type PSKCategory string

// The three categories; the codes share one length so the payload length does
// not reveal the category.
const (
	PSKLongTerm PSKCategory = "lt"
	PSKPairing  PSKCategory = "pr"
	PSKSentinel PSKCategory = "sn"
)

// Known reports whether c is one of the defined categories.
func (c PSKCategory) Known() bool { return enumIn(c, PSKLongTerm, PSKPairing, PSKSentinel) }

// HandshakePayload1 is the payload inside Noise message 1 (messaging.md
// "noise/handshake"). It is not a message: it has no envelope.
type HandshakePayload1 struct {
	PSKID    keys.PSKID
	Category PSKCategory
}

// Marshal encodes the payload as {"psk_id":...,"psk_category":...}.
func (p HandshakePayload1) Marshal() ([]byte, error) {
	if !p.Category.Known() {
		return nil, &Error{Field: "psk_category", Rule: RuleEnum}
	}
	w := writer{b: make([]byte, 0, 80)}
	w.b = append(w.b, '{')
	w.str("psk_id", p.PSKID.String())
	w.str("psk_category", string(p.Category))
	w.b = append(w.b, '}')
	return w.b, nil
}

// ParseHandshakePayload1 parses the decrypted payload of Noise message 1. Any
// error is a silent failure for the client. Members other than the two
// defined are ignored, as in every payload.
func ParseHandshakePayload1(b []byte) (HandshakePayload1, error) {
	var p HandshakePayload1
	if !validJSON(b) {
		return p, &Error{Rule: RuleSyntax}
	}
	fields, rule := parseObject(b)
	if rule != 0 {
		return p, &Error{Rule: rule}
	}
	r := (&decodeState{}).newReader("", fields)
	id, _ := r.b64url32("psk_id", true)
	p.PSKID = keys.PSKID(id)
	if s, ok := r.str("psk_category", true); ok {
		p.Category = PSKCategory(s)
		if !p.Category.Known() {
			r.fail("psk_category", RuleEnum)
		}
	}
	if r.st.err != nil {
		return HandshakePayload1{}, r.st.err
	}
	return p, nil
}

// HandshakePayload2 is the payload of Noise message 2: the literal two bytes
// "{}" (messaging.md "noise/handshake").
var HandshakePayload2 = []byte("{}")

// CheckHandshakePayload2 accepts exactly the two bytes "{}". The spec calls
// them a literal, so anything else, even an equivalent JSON object, is a
// malformed payload.
func CheckHandshakePayload2(b []byte) error {
	if !bytes.Equal(b, HandshakePayload2) {
		return &Error{Rule: RuleSyntax}
	}
	return nil
}
