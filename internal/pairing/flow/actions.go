package flow

import (
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// An Action is one step a machine asks its driver to take. A handler
// returns them in order; the driver carries them out in that order and
// stops at a Close. The set is closed: the types in this file.
type Action interface{ action() }

// Send asks the driver to send Msg on the connection.
type Send struct{ Msg wire.Message }

// Close asks the driver to close the WebSocket without sending anything
// further. Err is a ProtocolError (pairing.md "Protocol Errors": persist
// nothing), nil when the close follows a pair/abort concurrent_attempt
// the client just sent (pairing.md "pair/abort"), or the local failure
// (reading randomness) that left the machine unable to go on.
type Close struct{ Err error }

// ServerPersistRecord asks the server's driver to persist the pairing
// record (client_id, long-term PSK), replacing any earlier one, and to
// report the result with Server.Persisted or Server.PersistFailed. The
// machine sends server/pair-finalize only after Persisted (pairing.md
// "server/pair-finalize": it acknowledges the persisted record).
type ServerPersistRecord struct {
	ClientID keys.PublicKey
	PSK      keys.PSK
}

// DiscardApproval asks the server's driver to discard the operator
// approval for unpaired access of ClientID: a successful pairing
// discards it (pairing.md "Unpaired Access"). It follows Server.Persisted.
type DiscardApproval struct{ ClientID keys.PublicKey }

// RequestRehandshake asks the server's driver to re-handshake to PSK (as
// a long-term PSK) after sending server/pair-finalize, then to send
// server/activate as the first message under the new keys and report
// the handshake with Server.Rehandshaked (pairing.md "Pairing",
// connection.md "Re-handshake").
type RequestRehandshake struct{ PSK keys.PSK }

// LeavePairing asks the server's driver to send a server/activate
// without 'pairing' - the session layer chooses the resulting activities
// and roles - and to report it with Server.Activated(nil, now). It ends
// the attempt without finalizing (pairing.md "Entering and leaving
// pairing").
type LeavePairing struct{}

// ClientPending reports client/pair-pending to the server's operator:
// the client holds the attempt back. Message is the client's text
// truncated to MaxPendingMessage characters; it comes from an
// unauthenticated peer, so show it as plain text attributed to the
// device and never interpret markup or links in it.
type ClientPending struct{ Message string }

// AwaitCode tells the server's operator interface to ask for the pairing
// code of round Round (always 1 for a static code), to be passed to
// Server.EnterCode. Format is set for the dynamic method only.
type AwaitCode struct {
	Method wire.PairMethod
	Format wire.CodeFormat
	Round  uint32
}

// ClientPersistRecord asks the client's driver to persist the pairing
// record (server_id, long-term PSK), replacing any record for ServerID
// and evicting another at capacity (pairing.md "Pairing Records"), and
// to add PSK to its handshake candidates before the server's
// re-handshake. It comes only after server/pair-finalize arrived.
type ClientPersistRecord struct {
	ServerID keys.PublicKey
	PSK      keys.PSK
}

// EmitCode asks the client's driver to emit the pairing code through its
// out-channel, suspending any role output that uses the same channel
// (pairing.md "Entering and leaving pairing"). Code is a
// pairing.DynamicCode (digits: show Grouped or speak it) or a
// pairing.QRCode (qr_code: render its SP:1 token, Encode). It is the same
// code in every round of an attempt.
type EmitCode struct {
	Round uint32
	Code  pairing.Code
}

// StopEmitting asks the client's driver to stop emitting the code and to
// resume any suspended output: the attempt that emitted it has ended.
type StopEmitting struct{}

// HoldReason says why a client holds an attempt back.
type HoldReason uint8

// The reasons.
const (
	HoldNoWindow   HoldReason = iota + 1 // static: no pairing window open for this connection
	HoldRoundLimit                       // dynamic: the round limit was reached
)

func (h HoldReason) String() string {
	switch h {
	case HoldNoWindow:
		return "no pairing window"
	case HoldRoundLimit:
		return "round limit reached"
	}
	return "unknown"
}

// HeldBack tells the client's local interface that it sent
// client/pair-pending and waits for Why to clear (a window gesture, or
// the operator's reset of the round limit). The driver calls
// Client.Tick after such a local action.
type HeldBack struct{ Why HoldReason }

// Outcome is how a pairing attempt (or an activation awaiting one) ended.
type Outcome uint8

// The outcomes.
const (
	// OutcomePaired: the attempt succeeded.
	OutcomePaired Outcome = iota + 1
	// OutcomeAborted: this side sent pair/abort with Reason.
	OutcomeAborted
	// OutcomePeerAborted: the peer sent pair/abort with Reason.
	OutcomePeerAborted
	// OutcomeCancelled: a server/activate ended or superseded it.
	OutcomeCancelled
	// OutcomeTimedOut: the server's own timeout ended it (the client's
	// attempt timeout is OutcomeAborted with attempt_timeout).
	OutcomeTimedOut
	// OutcomePersistFailed: the server could not persist the record.
	OutcomePersistFailed
	// OutcomeProtocolError: a protocol error closed the connection.
	OutcomeProtocolError
	// OutcomeDropped: the connection was dropped or re-handshaked under
	// the attempt.
	OutcomeDropped
)

var outcomeText = [...]string{
	OutcomePaired:        "paired",
	OutcomeAborted:       "aborted",
	OutcomePeerAborted:   "aborted by peer",
	OutcomeCancelled:     "cancelled by activation",
	OutcomeTimedOut:      "timed out",
	OutcomePersistFailed: "persist failed",
	OutcomeProtocolError: "protocol error",
	OutcomeDropped:       "connection dropped",
}

func (o Outcome) String() string {
	if int(o) < len(outcomeText) && outcomeText[o] != "" {
		return outcomeText[o]
	}
	return "unknown"
}

// AttemptEnded reports that the pairing attempt admitted by the current
// activation is over. Reason is the pair/abort reason for OutcomeAborted
// and OutcomePeerAborted.
type AttemptEnded struct {
	Outcome Outcome
	Reason  wire.AbortReason
}

func (Send) action()                {}
func (Close) action()               {}
func (ServerPersistRecord) action() {}
func (DiscardApproval) action()     {}
func (RequestRehandshake) action()  {}
func (LeavePairing) action()        {}
func (ClientPending) action()       {}
func (AwaitCode) action()           {}
func (ClientPersistRecord) action() {}
func (EmitCode) action()            {}
func (StopEmitting) action()        {}
func (HeldBack) action()            {}
func (AttemptEnded) action()        {}
