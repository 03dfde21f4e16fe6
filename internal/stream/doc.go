// Package stream holds the server's per-player streaming rules that need no
// I/O: player buffer accounting (roles/player/v1.md "Player Buffer
// Accounting") and the send-ahead arithmetic of "Server Audio Send
// Constraints". The drivers that encode and send chunks build on it.
//
// Everything here is pure: times are server-clock microseconds passed in,
// nothing reads a clock, starts a goroutine or touches the network.
package stream
