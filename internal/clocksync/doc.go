// Package clocksync is the Sendspin time filter (messaging.md "Clock
// Synchronization", "Time filter"): the two-dimensional Kalman filter that
// tracks the server clock's offset and drift relative to the client's, to
// the letter of the spec (integer timestamps, its parameters, adaptive
// forgetting, drift significance, both conversions and their rounding), and
// the burst schedule of client/time messages around it.
//
// It is a pure state machine: measurements and the current time come in as
// integers in microseconds; it starts no goroutines and reads no clock. A
// Filter is not safe for concurrent use; the player's session goroutine owns
// it and publishes snapshots (Mapping) to the audio path.
package clocksync
