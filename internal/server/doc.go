// Package server is the Sendspin server driver: it accepts client-initiated
// connections and dials server-initiated ones, runs the secure channel's
// handshake with the PSK the store says (a pairing record, an operator's
// pairing token, else the Sentinel), exchanges hellos, declares each
// connection's activities and roles through the session rules, answers
// clock synchronization, tracks each client's state and carries out
// operator actions.
//
// It owns goroutines: one reader and one owner per connection. The owner
// goroutine holds the session's state; the reader and the operator's calls
// signal it. The rules themselves live in internal/session (what may be
// declared) and internal/securechan (the channel); nothing here re-decides
// them.
package server
