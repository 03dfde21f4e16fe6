// Package group holds the pure group rules: membership (who is in which
// group, solo groups, leaving and rejoining: messaging.md "External Source
// Handling", "client/leave") and the controller role's group volume and
// mute (roles/controller/v1.md). Playback itself and the messages live
// with the server driver; this package only computes: no I/O, no clock.
package group

import "math"

// SetVolume applies roles/controller/v1.md "Setting group volume" to the
// volumes of the players that support the volume command: the group
// volume (their average) moves to requested while their relative levels
// are kept, clamping at 0 and 100 and sharing what a clamped player could
// not take among the others, until the delta is applied or every player is
// clamped. Final volumes are rounded to the nearest integer. The result has
// the same order as current.
func SetVolume(current []int, requested int) []int {
	n := len(current)
	if n == 0 {
		return nil
	}
	requested = max(0, min(100, requested))
	vols := make([]float64, n)
	sum := 0.0
	for i, v := range current {
		vols[i] = float64(v)
		sum += vols[i]
	}
	clamped := make([]bool, n)
	// Step 1: the delta against the current group volume (the average).
	delta := float64(requested) - sum/float64(n)
	share := delta // per-player delta this round
	for range n + 1 {
		lost := 0.0
		for i := range vols {
			if clamped[i] {
				continue
			}
			// Step 2: apply the delta; step 3: clamp.
			p := vols[i] + share
			c := math.Max(0, math.Min(100, p))
			if c != p {
				clamped[i] = true
				lost += p - c
			}
			vols[i] = c
		}
		// Step 4: share the lost delta among the players not clamped.
		free := 0
		for _, c := range clamped {
			if !c {
				free++
			}
		}
		if lost == 0 || free == 0 {
			break
		}
		share = lost / float64(free)
	}
	out := make([]int, n)
	for i, v := range vols {
		out[i] = int(math.Round(v))
	}
	return out
}

// Volume reads the group volume: the rounded average of the volumes of the
// players that support volume; 100 when none does (the caller then drops
// 'volume' from the controller's supported_commands).
func Volume(volumes []int) int {
	if len(volumes) == 0 {
		return 100
	}
	sum := 0
	for _, v := range volumes {
		sum += v
	}
	return int(math.Round(float64(sum) / float64(len(volumes))))
}

// Muted reads the group mute: true only when every mute-supporting player
// is muted; false when none supports mute.
func Muted(mutes []bool) bool {
	if len(mutes) == 0 {
		return false
	}
	for _, m := range mutes {
		if !m {
			return false
		}
	}
	return true
}
