package flow

import "errors"

// ProtocolError is a condition during pairing that no conformant peer
// produces (pairing.md "Protocol Errors", "Sequence violations",
// "Pairing index"). The detecting side closes the WebSocket without
// sending any application-level message and persists nothing: a machine
// that detects one returns a Close action carrying it and is closed for
// good. Its text names the rule, never the input.
type ProtocolError uint8

// The protocol errors.
const (
	// ErrOutOfSequence: a pairing message out of sequence for the method
	// and state, not covered by a silent-discard rule.
	ErrOutOfSequence ProtocolError = iota + 1
	// ErrIndexAhead: a pairing_index higher than the server's count.
	ErrIndexAhead
	// ErrFieldMissing: a field the method requires is absent (commit_B,
	// nonce_A in the first round, wrapped_nonce_B, the PSK field of the
	// method).
	ErrFieldMissing
	// ErrFieldUnexpected: a field the method or round does not define is
	// present.
	ErrFieldUnexpected
	// ErrLowOrderShare: a CPace share encoding a low-order point.
	ErrLowOrderShare
	// ErrNonceUnwrap: wrapped_nonce_B failed to decrypt.
	ErrNonceUnwrap
	// ErrCommitOpening: the revealed nonce_B does not open commit_B.
	ErrCommitOpening
	// ErrCodeBinding: the entered code is not the code derived from
	// (h, nonce_A, nonce_B).
	ErrCodeBinding
	// ErrPSKUnwrap: wrapped_psk failed to decrypt.
	ErrPSKUnwrap
	// ErrWeakPSK: a delivered long-term PSK that no CSPRNG produces in
	// practice: all zero, or the published Sentinel PSK.
	ErrWeakPSK
	// ErrIndexOverflow: more pairing server/activate messages than a
	// pairing_index (uint32) can count.
	ErrIndexOverflow
)

var protocolErrorText = [...]string{
	ErrOutOfSequence:   "pairing message out of sequence",
	ErrIndexAhead:      "pairing_index ahead of the activations sent",
	ErrFieldMissing:    "pairing message lacks a required field",
	ErrFieldUnexpected: "pairing message carries a field the flow does not define",
	ErrLowOrderShare:   "CPace share is a low-order point",
	ErrNonceUnwrap:     "wrapped_nonce_B failed to decrypt",
	ErrCommitOpening:   "revealed nonce does not open its commitment",
	ErrCodeBinding:     "entered pairing code fails the binding check",
	ErrPSKUnwrap:       "wrapped_psk failed to decrypt",
	ErrWeakPSK:         "delivered long-term PSK is not a random key",
	ErrIndexOverflow:   "pairing_index overflow",
}

func (e ProtocolError) Error() string {
	if int(e) < len(protocolErrorText) && protocolErrorText[e] != "" {
		return "pairing protocol error: " + protocolErrorText[e]
	}
	return "pairing protocol error: unknown"
}

// Errors returned to the driver for calls it should not have made. They
// are never sent to a peer and never change a machine's state.
var (
	// ErrState: the call is not valid in the machine's current state
	// (for example EnterCode before the server may use a code, Persisted
	// without a pending record, an operator cancel with no attempt).
	ErrState = errors.New("flow: call not valid in the current pairing state")

	// ErrClosed: the machine closed the connection (protocol error,
	// concurrent_attempt, drop) and takes no more input.
	ErrClosed = errors.New("flow: pairing machine is closed")

	// ErrNotPairing: the message is not a pairing message this side
	// receives; the driver routes other messages elsewhere.
	ErrNotPairing = errors.New("flow: not a pairing message for this side")

	// ErrActivation: the server/activate pairing parameters are not
	// allowed on this connection: unknown method, a format missing or
	// present against the method, or a method the matched PSK forbids
	// (messaging.md "server/activate": pairing_psk if and only if the
	// pairing PSK matched; no pairing on a long-term PSK).
	ErrActivation = errors.New("flow: pairing activation not allowed on this connection")

	// ErrCodeKind: the entered code does not fit the method and format
	// (an 8-digit static code, a 6-digit dynamic code, a 24-byte qr code).
	ErrCodeKind = errors.New("flow: entered code does not fit the pairing method")

	// ErrConfig: a machine's configuration is incomplete or invalid.
	ErrConfig = errors.New("flow: invalid configuration")

	// ErrTooLate: an operator cancel after the server decided to persist;
	// the pairing completes or fails on its own from there.
	ErrTooLate = errors.New("flow: pairing already completing; too late to cancel")
)
