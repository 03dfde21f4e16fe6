package session

import (
	"testing"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

const (
	lt = wire.PSKLongTerm
	pr = wire.PSKPairing
	sn = wire.PSKSentinel
)

var allSets = []ActivitySet{NoActivities, Pairing, Playback, Playback | Pairing}

// TestAllowedSets is messaging.md "server/activate", the table of allowed
// activity sets, row by row, with footnote 1 as the unpaired-access column.
func TestAllowedSets(t *testing.T) {
	tests := []struct {
		cat            wire.PSKCategory
		unpairedAccess bool
		want           []ActivitySet
	}{
		{lt, false, []ActivitySet{NoActivities, Playback}},
		{lt, true, []ActivitySet{NoActivities, Playback}},
		{pr, false, []ActivitySet{NoActivities, Pairing}},
		{pr, true, []ActivitySet{NoActivities, Pairing, Playback, Playback | Pairing}},
		{sn, false, []ActivitySet{NoActivities, Pairing}},
		{sn, true, []ActivitySet{NoActivities, Pairing, Playback, Playback | Pairing}},
		{"xx", true, nil},
		{"", false, nil},
	}
	for _, tt := range tests {
		for _, s := range allSets {
			want := false
			for _, w := range tt.want {
				want = want || w == s
			}
			if got := AllowedSet(tt.cat, s, tt.unpairedAccess); got != want {
				t.Errorf("AllowedSet(%q, %v, ua=%v) = %v, want %v", tt.cat, s, tt.unpairedAccess, got, want)
			}
		}
		got := AllowedSets(tt.cat, tt.unpairedAccess)
		if len(got) != len(tt.want) {
			t.Errorf("AllowedSets(%q, %v) = %v, want %v", tt.cat, tt.unpairedAccess, got, tt.want)
		}
	}
}

// TestPlaybackCapable follows the definition: activities extended with
// playback are an allowed set.
func TestPlaybackCapable(t *testing.T) {
	tests := []struct {
		cat  wire.PSKCategory
		ua   bool
		set  ActivitySet
		want bool
	}{
		{lt, false, NoActivities, true},
		{lt, false, Playback, true},
		{lt, true, Pairing, false}, // [playback pairing] is not allowed for lt
		{lt, true, Playback | Pairing, false},
		{pr, false, NoActivities, false},
		{pr, false, Pairing, false},
		{pr, false, Playback, false},
		{pr, true, NoActivities, true},
		{pr, true, Pairing, true}, // capable even without playback declared
		{pr, true, Playback | Pairing, true},
		{sn, false, NoActivities, false},
		{sn, true, NoActivities, true},
		{sn, true, Pairing, true},
		{"xx", true, NoActivities, false},
	}
	for _, tt := range tests {
		if got := PlaybackCapable(tt.cat, tt.set, tt.ua); got != tt.want {
			t.Errorf("PlaybackCapable(%q, %v, ua=%v) = %v, want %v", tt.cat, tt.set, tt.ua, got, tt.want)
		}
	}
}

func TestParseActivities(t *testing.T) {
	tests := []struct {
		in   []wire.Activity
		want ActivitySet
		ok   bool
	}{
		{nil, NoActivities, true},
		{[]wire.Activity{}, NoActivities, true},
		{[]wire.Activity{"playback"}, Playback, true},
		{[]wire.Activity{"pairing", "playback"}, Playback | Pairing, true},
		{[]wire.Activity{"playback", "playback"}, 0, false},
		{[]wire.Activity{"control"}, 0, false},
		{[]wire.Activity{"playback", "Pairing"}, 0, false},
		{[]wire.Activity{""}, 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseActivities(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseActivities(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRankAndStrings(t *testing.T) {
	tests := []struct {
		set  ActivitySet
		rank Rank
		str  string
	}{
		{NoActivities, RankEmpty, "[]"},
		{Pairing, RankPairing, "[pairing]"},
		{Playback, RankPlayback, "[playback]"},
		{Playback | Pairing, RankPlayback, "[playback pairing]"},
	}
	for _, tt := range tests {
		if tt.set.Rank() != tt.rank || tt.set.String() != tt.str {
			t.Errorf("%v: rank %v string %q", tt.set, tt.set.Rank(), tt.set.String())
		}
		back, ok := ParseActivities(tt.set.Activities())
		if !ok || back != tt.set {
			t.Errorf("Activities round trip of %v = %v", tt.set, back)
		}
	}
	if !(RankEmpty < RankPairing && RankPairing < RankPlayback) {
		t.Error("rank order is not empty < pairing < playback")
	}
	if RankPlayback.String() != "playback" || Rank(9).String() != "Rank(9)" {
		t.Error("Rank.String")
	}
}

// TestPaired is README "Definitions": only the long-term PSK makes a paired
// session.
func TestPaired(t *testing.T) {
	for cat, want := range map[wire.PSKCategory]bool{lt: true, pr: false, sn: false, "": false, "LT": false} {
		if Paired(cat) != want {
			t.Errorf("Paired(%q) = %v", cat, !want)
		}
	}
}
