// Package flow holds the pairing flows of pairing.md as pure state
// machines, one per side and connection: Server and Client run the Pairing
// PSK, Dynamic Pairing Code (digits and qr_code) and Static Pairing Code
// flows, and RoundLimit and Window are the client-wide counters a client
// keeps across connections (the round limit of pairing.md "Rounds" and the
// pairing window of "Pairing Window").
//
// It owns the conversation: which pairing message may come when, the
// pairing_index count, rounds, timeouts, the silent-discard rules, the
// protocol errors of pairing.md "Protocol Errors" and the moments to
// persist. The cryptographic values (codes, CPace rounds, wrapping) come
// from package pairing; the message types from package wire.
//
// Machines are fed events - a server/activate sent or received, a pairing
// message, operator input, the current time - and return Actions in the
// order the driver must carry them out (see Action). They must not do I/O,
// read a clock, start goroutines, decide activity-set admission (the
// session layer does) or hold a secret longer than the flow needs.
// Randomness is an io.Reader in the config (crypto/rand when nil). A
// Server or Client is not safe for concurrent use: one goroutine owns it.
// RoundLimit and Window are shared between connections and are.
package flow
