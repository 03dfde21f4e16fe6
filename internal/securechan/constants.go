package securechan

import (
	"time"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// From the spec.
const (
	// maxTransportMessage is the largest Noise transport message, in bytes.
	maxTransportMessage = wire.MaxNoiseMessage
	// tagSize is the AEAD tag of both suites.
	tagSize = wire.AEADTagSize
	// maxNonce is reserved by Noise: a cipher state with this nonce is
	// exhausted (Noise section 5.1).
	maxNonce = ^uint64(0)
	// WebSocketPath is the recommended endpoint path.
	WebSocketPath = "/sendspin"
)

// Ours.
const (
	// DefaultHandshakeTimeout bounds the wait for each expected message of
	// the init and handshake phases, and of a re-handshake (connection.md
	// "Failure Handling" suggests 30 seconds).
	DefaultHandshakeTimeout = 30 * time.Second
	// maxHandshakeFrame bounds a cleartext frame before the switch to
	// transport mode. The largest legitimate one, noise/handshake message
	// 1, is under 300 bytes; 4 KiB leaves room without letting a peer make
	// us buffer 64 KiB per half-open connection.
	maxHandshakeFrame = 4 << 10
	// maxNoiseHandshakeMessage bounds a Noise handshake message we accept:
	// KKpsk2 message 1 is e (32) + an encrypted payload of about 100 bytes.
	maxNoiseHandshakeMessage = 1024
)
