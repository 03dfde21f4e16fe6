package session

import "time"

// Limits and timeouts from the spec.
const (
	// ProvisionalTimeout is how long a provisional connection may go without
	// an admissible server/activate before the client drops it
	// (connection.md "Multiple servers (server-initiated)": 30 seconds).
	ProvisionalTimeout = 30 * time.Second

	// MinRecordCapacity is the least number of pairing records a client must
	// be able to store (pairing.md "Pairing Records": at least 5).
	MinRecordCapacity = 5
)

// Our limits and defaults.
const (
	// DefaultRecordCapacity is the number of pairing records our client
	// stores unless configured otherwise (records).
	DefaultRecordCapacity = 8

	// DefaultMaxProvisional is how many provisional connections the client
	// holds at once before rejecting further incoming ones as lower priority
	// (connections). The spec allows a cap without fixing it.
	DefaultMaxProvisional = 4

	// DefaultBackoffBase is the delay after the first repeated handshake
	// failure; each further failure doubles it (duration).
	DefaultBackoffBase = 1 * time.Second

	// DefaultBackoffMax caps the handshake-failure backoff (duration).
	// messaging.md "client/goodbye" asks for backoff without numbers.
	DefaultBackoffMax = 5 * time.Minute
)
