// Package session holds the pure session rules of Sendspin that sit between
// the secure channel and the drivers: which server/activate a client admits
// and how it rejects the others, what a server may declare and which roles it
// activates, pairing method selection, role-removal duties, the client's
// multi-server admission arbiter, and reconnect policy.
//
// It is the second layer of Tonearm (GUIDE.md section 2). It owns decisions,
// not connections: callers feed it the matched PSK category, the decoded wire
// messages, their own configuration and the current time, and get back typed
// decisions (a Rejection, a Violation, an Outcome with the connections to
// close and what to send them). It must not do I/O, read the clock, start
// goroutines, keep secrets or persist anything; persistence duties (the
// last-playback server, pairing records, approvals) are returned as events for
// the driver to carry out.
//
// The spec it implements is pinned in ../shared/spec: messaging.md
// "server/activate", "client/goodbye" and "server/unpair"; connection.md
// "Multiple servers (server-initiated)" and "Sentinel Fallback"; pairing.md
// "Unpaired Access", "Pairing Records" and "client/hello pair-method
// descriptor"; README "Priority and Activation" and "Definitions". Readings of
// ambiguous passages are recorded in docs/SESSION-RULES.md.
package session
