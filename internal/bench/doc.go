// Package bench measures Tonearm the way docs/PERFORMANCE.md reports it:
// the fan-out of encrypted PCM players one server core feeds (against a
// plain WebSocket fan-out of the same bytes, measured in the same run),
// and the time from connect to available for a paired player.
//
// It is a driver-layer tool: the load generator speaks the real protocol
// (secure channel, hellos, client/state, client/time) with many light
// clients, and checks every audio chunk arrives before its play time with
// none missing. It must not be imported by the server or the player.
package bench
