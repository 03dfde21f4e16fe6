// Package player is the Sendspin player driver (a client with the player
// role): it connects to a server, runs the secure channel with the
// credentials in its store (its pairing PSK, its pairing records), exchanges
// hellos, admits or rejects each server/activate by the session rules, keeps
// its clock synchronized with bursts of client/time, and reports its state.
//
// It owns goroutines: per connection, a reader and an owner that holds the
// session state. The rules live in internal/session and internal/clocksync;
// nothing here re-decides them. This is the connection core; audio output
// and pairing build on it.
package player
