// Package securechan is the Sendspin secure channel (connection.md
// "Establishing a Connection", "Encryption"; messaging.md "Communication"):
// the cleartext init exchange, the Noise KKpsk2 handshake with PSK selection
// and Sentinel fallback, the transport framing of binary WebSocket messages,
// fragmentation, and the in-band re-handshake.
//
// The handshake itself is a pair of pure state machines (handshake.go): they
// are fed the peer's frames and return the frames to send, with no I/O and
// no clock. Conn is the driver on top of a Transport (a WebSocket, or an
// in-memory pipe in unit tests): it owns the deadlines and the goroutine
// hand-offs. The server is always the Noise initiator and the client the
// responder, whichever side dialed.
//
// It must not decide anything above the channel: which PSK a server offers
// a client, whether an activation is admissible, what a message means. Those
// arrive as configuration callbacks or leave as typed results.
package securechan
