// Package daemon runs Tonearm's long-lived processes: the server (listener,
// mDNS advertisement and browsing, dialing discovered players, the operator
// console, the music source) and the player (listener or server
// connection, mDNS, the local control socket, the audio output).
//
// It is driver glue on top of internal/server, internal/player,
// internal/discovery and internal/console; it owns goroutines and sockets
// and must not implement protocol rules itself (those live in the session,
// pairing and stream packages).
package daemon
