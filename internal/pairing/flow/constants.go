package flow

import "time"

// From the spec.
const (
	// AttemptTimeout is the client's attempt timeout, measured from its
	// first message of the attempt (client/pair-init): 2 minutes, the
	// recommended value (pairing.md "Entering and leaving pairing").
	AttemptTimeout = 2 * time.Minute

	// RoundLimit is the number of rounds since the last verified
	// server_kc after which the client aborts instead of retrying and
	// holds attempts back (pairing.md "Rounds"). Rounds, not seconds.
	RoundLimit = 20

	// WindowLifetime is the pairing window's lifetime from opening,
	// without pausing: 5 minutes, the recommended value (pairing.md
	// "Pairing Window").
	WindowLifetime = 5 * time.Minute

	// WindowMaxFailures is the failed attempt (server_kc verification
	// failure on the client) that closes a pairing window: the fifth.
	WindowMaxFailures = 5

	// MaxPendingMessage is the most characters of a client/pair-pending
	// message a server shows; longer text is truncated (pairing.md
	// "client/pair-pending").
	MaxPendingMessage = 200
)

// Ours.
const (
	// ServerInitTimeout bounds how long a server waits for
	// client/pair-init after a pairing server/activate before cancelling
	// the activation (pairing.md "Entering and leaving pairing": servers
	// SHOULD apply their own timeout). It covers a client/pair-pending
	// hold-back, so it is as long as a pairing window lives: the operator
	// may have to walk to the device and press its button.
	ServerInitTimeout = 5 * time.Minute

	// ServerAttemptTimeout bounds an attempt on the server, from
	// client/pair-init. Longer than the client's recommended 2 minutes so
	// that a conformant client's attempt_timeout normally ends it first;
	// this is the backstop against a peer that never finishes.
	ServerAttemptTimeout = 5 * time.Minute

	// ServerMaxRounds is the most rounds a server runs in one Dynamic
	// Pairing Code attempt. A conformant client aborts at RoundLimit
	// rounds since its last verified server_kc, so more rounds in one
	// attempt only happen after an operator reset on the client; the
	// server then ends the attempt with pairing_code_mismatch.
	ServerMaxRounds = RoundLimit

	// DefaultWindowPending is the client/pair-pending message of a
	// client waiting for a pairing window gesture.
	DefaultWindowPending = "Open the pairing window on the device to continue."

	// DefaultLimitPending is the client/pair-pending message of a client
	// held back by the round limit.
	DefaultLimitPending = "Too many pairing rounds: reset pairing on the device to continue."
)
