package session

import (
	"strconv"
	"strings"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// ActivitySet is a set of the activities this revision defines
// (messaging.md "server/activate": activities). An activity list holding any
// other value is not representable; see ParseActivities.
type ActivitySet uint8

// The defined activities as set members.
const (
	Playback ActivitySet = 1 << iota
	Pairing
)

// NoActivities is the empty set.
const NoActivities ActivitySet = 0

// Has reports whether every member of x is in s.
func (s ActivitySet) Has(x ActivitySet) bool { return s&x == x }

// String renders the set like the spec's tables: "[]", "[playback]",
// "[pairing]", "[playback pairing]".
func (s ActivitySet) String() string {
	var parts []string
	if s.Has(Playback) {
		parts = append(parts, string(wire.ActivityPlayback))
	}
	if s.Has(Pairing) {
		parts = append(parts, string(wire.ActivityPairing))
	}
	if rest := s &^ (Playback | Pairing); rest != 0 {
		parts = append(parts, "invalid")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Activities returns the set as a wire list in a fixed order, for encoding.
func (s ActivitySet) Activities() []wire.Activity {
	out := []wire.Activity{}
	if s.Has(Playback) {
		out = append(out, wire.ActivityPlayback)
	}
	if s.Has(Pairing) {
		out = append(out, wire.ActivityPairing)
	}
	return out
}

// Rank is the admission priority of a connection, from its highest-ranked
// declared activity (connection.md "Multiple servers (server-initiated)").
type Rank uint8

// Ranks from lowest to highest.
const (
	RankEmpty Rank = iota
	RankPairing
	RankPlayback
)

var rankNames = [...]string{RankEmpty: "empty", RankPairing: "pairing", RankPlayback: "playback"}

func (r Rank) String() string {
	if int(r) < len(rankNames) {
		return rankNames[r]
	}
	return "Rank(" + strconv.Itoa(int(r)) + ")"
}

// Rank returns the set's admission rank: playback > pairing > empty.
func (s ActivitySet) Rank() Rank {
	switch {
	case s.Has(Playback):
		return RankPlayback
	case s.Has(Pairing):
		return RankPairing
	}
	return RankEmpty
}

// ParseActivities converts a received activity list. ok is false when the
// list holds a value this revision does not define or repeats one: such a
// list is not an allowed set for any PSK (messaging.md "Communication": an
// unrecognized value in a known field follows that field's rules).
func ParseActivities(acts []wire.Activity) (s ActivitySet, ok bool) {
	for _, a := range acts {
		var m ActivitySet
		switch a {
		case wire.ActivityPlayback:
			m = Playback
		case wire.ActivityPairing:
			m = Pairing
		default:
			return 0, false
		}
		if s.Has(m) {
			return 0, false
		}
		s |= m
	}
	return s, true
}

// Paired reports whether a session keyed with a PSK of category c is a paired
// session: only the long-term PSK makes one; pairing-PSK and Sentinel
// sessions are unpaired (README "Definitions": Paired Session).
func Paired(c wire.PSKCategory) bool { return c == wire.PSKLongTerm }

// AllowedSet reports whether s is an activity set a server may declare on a
// session keyed with category c, for a client whose unpaired access is
// enabled or not (messaging.md "server/activate", the table of allowed
// activity sets). An unknown category allows nothing.
func AllowedSet(c wire.PSKCategory, s ActivitySet, unpairedAccess bool) bool {
	switch c {
	case wire.PSKLongTerm:
		return s == NoActivities || s == Playback
	case wire.PSKPairing, wire.PSKSentinel:
		switch s {
		case NoActivities, Pairing:
			return true
		case Playback, Playback | Pairing:
			return unpairedAccess // footnote 1
		}
	}
	return false
}

// AllowedSets lists the allowed activity sets for c, in the order of the
// spec's table.
func AllowedSets(c wire.PSKCategory, unpairedAccess bool) []ActivitySet {
	var out []ActivitySet
	for _, s := range []ActivitySet{NoActivities, Pairing, Playback, Playback | Pairing} {
		if AllowedSet(c, s, unpairedAccess) {
			out = append(out, s)
		}
	}
	return out
}

// PlaybackCapable reports whether a connection declaring s is
// playback-capable: s extended with playback is an allowed set for c
// (messaging.md "server/activate": Playback-capable connections). Only a
// playback-capable connection may carry non-empty active_roles.
func PlaybackCapable(c wire.PSKCategory, s ActivitySet, unpairedAccess bool) bool {
	return AllowedSet(c, s|Playback, unpairedAccess)
}
