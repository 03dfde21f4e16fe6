package wire

import (
	"math"
	"unicode/utf8"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// Sizes of the pairing values (pairing.md "PAKE", "Wrapping").
const (
	ShareSize   = 32 // pake_msg_1, pake_msg_2
	TagSize     = 64 // server_kc, client_kc
	NonceSize   = 32 // nonce_A, nonce_B
	CommitSize  = 32 // commit_B
	WrappedSize = 48 // wrapped_psk, wrapped_nonce_B
)

// readIndex reads pairing_index: a count encoded as a big-endian uint32 in
// the CPace sid, so it must fit one.
func readIndex(r *reader) uint32 {
	n, _ := r.int("pairing_index", true, 0, math.MaxUint32)
	return uint32(n)
}

// ClientPairPending is client/pair-pending: the client holds the attempt back.
type ClientPairPending struct {
	PairingIndex uint32
	// Message is shown to the operator as plain text attributed to the
	// device; see DisplayMessage.
	Message string
}

// Type implements Message.
func (*ClientPairPending) Type() Type { return TypeClientPairPending }

func (m *ClientPairPending) encode(w *writer) {
	w.int("pairing_index", int64(m.PairingIndex))
	if m.Message != "" {
		w.str("message", m.Message)
	}
}

func (m *ClientPairPending) decode(r *reader) {
	m.PairingIndex = readIndex(r)
	m.Message, _ = r.str("message", false)
	// A sender keeps within 200 characters; a receiver truncates instead
	// of refusing (pairing.md "client/pair-pending").
	if r.st.strict && utf8.RuneCountInString(m.Message) > MaxPairPendingMessage {
		r.fail("message", RuleLength)
	}
}

// DisplayMessage returns Message truncated to 200 characters, as the server
// shows it.
func (m *ClientPairPending) DisplayMessage() string {
	n := 0
	for i := range m.Message {
		if n == MaxPairPendingMessage {
			return m.Message[:i]
		}
		n++
	}
	return m.Message
}

// ClientPairInit is client/pair-init: starts the attempt.
type ClientPairInit struct {
	PairingIndex uint32
	// CommitB is commit_B, present in the dynamic pairing code flow only.
	CommitB *[CommitSize]byte
}

// Type implements Message.
func (*ClientPairInit) Type() Type { return TypeClientPairInit }

func (m *ClientPairInit) encode(w *writer) {
	w.int("pairing_index", int64(m.PairingIndex))
	if m.CommitB != nil {
		w.b64url("commit_B", m.CommitB[:])
	}
}

func (m *ClientPairInit) decode(r *reader) {
	m.PairingIndex = readIndex(r)
	if c, ok := r.b64url32("commit_B", false); ok {
		m.CommitB = &c
	}
}

// ServerPairInit is server/pair-init: begins a dynamic-code round.
type ServerPairInit struct {
	// NonceA is nonce_A, present in the first round only.
	NonceA *[NonceSize]byte
}

// Type implements Message.
func (*ServerPairInit) Type() Type { return TypeServerPairInit }

func (m *ServerPairInit) encode(w *writer) {
	if m.NonceA != nil {
		w.b64url("nonce_A", m.NonceA[:])
	}
}

func (m *ServerPairInit) decode(r *reader) {
	if n, ok := r.b64url32("nonce_A", false); ok {
		m.NonceA = &n
	}
}

// ServerPairAuth is server/pair-auth: the server's CPace share Ya.
type ServerPairAuth struct {
	PakeMsg1 [ShareSize]byte
}

// Type implements Message.
func (*ServerPairAuth) Type() Type { return TypeServerPairAuth }

func (m *ServerPairAuth) encode(w *writer) { w.b64url("pake_msg_1", m.PakeMsg1[:]) }

func (m *ServerPairAuth) decode(r *reader) { m.PakeMsg1, _ = r.b64url32("pake_msg_1", true) }

// ClientPairAuth is client/pair-auth: the client's CPace share Yb.
type ClientPairAuth struct {
	PakeMsg2 [ShareSize]byte
}

// Type implements Message.
func (*ClientPairAuth) Type() Type { return TypeClientPairAuth }

func (m *ClientPairAuth) encode(w *writer) { w.b64url("pake_msg_2", m.PakeMsg2[:]) }

func (m *ClientPairAuth) decode(r *reader) { m.PakeMsg2, _ = r.b64url32("pake_msg_2", true) }

// ServerPairConfirm is server/pair-confirm: the server's MCF tag Ta.
type ServerPairConfirm struct {
	ServerKC [TagSize]byte
}

// Type implements Message.
func (*ServerPairConfirm) Type() Type { return TypeServerPairConfirm }

func (m *ServerPairConfirm) encode(w *writer) { w.b64url("server_kc", m.ServerKC[:]) }

func (m *ServerPairConfirm) decode(r *reader) {
	b, _ := r.b64url("server_kc", true, TagSize)
	copy(m.ServerKC[:], b)
}

// ClientPairRetry is client/pair-retry: asks for another round. Payload {}.
type ClientPairRetry struct{}

// Type implements Message.
func (*ClientPairRetry) Type() Type       { return TypeClientPairRetry }
func (*ClientPairRetry) encode(w *writer) {}
func (*ClientPairRetry) decode(r *reader) {}

// ClientPairConfirm is client/pair-confirm: the client's MCF tag Tb and, in
// the dynamic flow, the wrapped commitment opening.
type ClientPairConfirm struct {
	ClientKC      [TagSize]byte
	WrappedNonceB *[WrappedSize]byte
}

// Type implements Message.
func (*ClientPairConfirm) Type() Type { return TypeClientPairConfirm }

func (m *ClientPairConfirm) encode(w *writer) {
	w.b64url("client_kc", m.ClientKC[:])
	if m.WrappedNonceB != nil {
		w.b64url("wrapped_nonce_B", m.WrappedNonceB[:])
	}
}

func (m *ClientPairConfirm) decode(r *reader) {
	b, _ := r.b64url("client_kc", true, TagSize)
	copy(m.ClientKC[:], b)
	if b, ok := r.b64url("wrapped_nonce_B", false, WrappedSize); ok {
		m.WrappedNonceB = new([WrappedSize]byte)
		copy(m.WrappedNonceB[:], b)
	}
}

// ClientPairFinalize is client/pair-finalize: delivers the new long-term PSK,
// in the clear inside the channel (pairing PSK flow) or wrapped (code flows).
// Exactly one of the two is set.
type ClientPairFinalize struct {
	LongTermPSK *keys.PSK
	WrappedPSK  *[WrappedSize]byte
}

// Type implements Message.
func (*ClientPairFinalize) Type() Type { return TypeClientPairFinalize }

func (m *ClientPairFinalize) encode(w *writer) {
	if m.LongTermPSK != nil {
		w.str("long_term_psk", m.LongTermPSK.Encode())
	}
	if m.WrappedPSK != nil {
		w.b64url("wrapped_psk", m.WrappedPSK[:])
	}
}

func (m *ClientPairFinalize) decode(r *reader) {
	if k, ok := r.b64url32("long_term_psk", false); ok {
		psk := keys.PSK(k)
		m.LongTermPSK = &psk
	}
	if b, ok := r.b64url("wrapped_psk", false, WrappedSize); ok {
		m.WrappedPSK = new([WrappedSize]byte)
		copy(m.WrappedPSK[:], b)
	}
	if r.failed() {
		return
	}
	switch {
	case m.LongTermPSK == nil && m.WrappedPSK == nil:
		r.fail("long_term_psk", RuleRequired)
	case m.LongTermPSK != nil && m.WrappedPSK != nil:
		r.fail("wrapped_psk", RuleConflict)
	}
}

// ServerPairFinalize is server/pair-finalize: the server has persisted its
// record. Payload {}.
type ServerPairFinalize struct{}

// Type implements Message.
func (*ServerPairFinalize) Type() Type       { return TypeServerPairFinalize }
func (*ServerPairFinalize) encode(w *writer) {}
func (*ServerPairFinalize) decode(r *reader) {}

// AbortReason is the reason of pair/abort.
type AbortReason string

// The reasons of pair/abort (pairing.md "pair/abort").
const (
	AbortAttemptTimeout      AbortReason = "attempt_timeout"      // client only
	AbortConcurrentAttempt   AbortReason = "concurrent_attempt"   // client only
	AbortMethodNotSupported  AbortReason = "method_not_supported" // client only
	AbortPairingCodeMismatch AbortReason = "pairing_code_mismatch"
	AbortUserCancelled       AbortReason = "user_cancelled"
)

// SentBy returns who may send the reason, or 0 for an undefined one.
func (a AbortReason) SentBy() Sender {
	switch a {
	case AbortAttemptTimeout, AbortConcurrentAttempt, AbortMethodNotSupported:
		return FromClient
	case AbortPairingCodeMismatch, AbortUserCancelled:
		return FromEither
	}
	return 0
}

// PairAbort is pair/abort, sent by either side.
type PairAbort struct {
	Reason AbortReason
}

// Type implements Message.
func (*PairAbort) Type() Type { return TypePairAbort }

func (m *PairAbort) encode(w *writer) { w.str("reason", string(m.Reason)) }

func (m *PairAbort) decode(r *reader) {
	s, ok := r.str("reason", true)
	if !ok {
		return
	}
	m.Reason = AbortReason(s)
	by := m.Reason.SentBy()
	switch {
	case by == 0:
		r.fail("reason", RuleEnum)
	case r.st.from&by == 0:
		r.fail("reason", RuleDirection)
	}
}
