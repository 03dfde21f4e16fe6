// Package playout turns a player's received audio into output frames at the
// right moment (roles/player/v1.md "Playback Synchronization"): it keeps the
// decoded chunks in server-time order, maps server timestamps to the local
// clock through the time filter, applies output_delay_ms, drops late
// chunks, and corrects drift by deleting or duplicating single frames
// (the spec's suggested strategy), snapping in one shot only at startup,
// after a clear, after an underrun or for an error beyond the 1 ms floor.
//
// It is pure: the caller supplies the local time at which the first frame
// of each rendered block will be heard, and the current time mapping. It
// never reads a clock, so a virtual clock makes every test exact.
package playout
