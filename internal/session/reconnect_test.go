package session

import (
	"math"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// TestAfterGoodbye is the reason list of messaging.md "client/goodbye".
func TestAfterGoodbye(t *testing.T) {
	tests := []struct {
		reason wire.GoodbyeReason
		want   Reconnect
		auto   bool
	}{
		{wire.GoodbyeAnotherServer, ReconnectAvailable, false},
		{wire.GoodbyeShutdown, ReconnectNone, false},
		{wire.GoodbyeRestart, ReconnectAuto, true},
		{wire.GoodbyeUserRequest, ReconnectNone, false},
		{wire.GoodbyeUnauthorized, ReconnectOtherActivities, false},
		{wire.GoodbyePairingRequired, ReconnectAfterPairing, false},
		{wire.GoodbyeConcurrentAttempt, ReconnectLater, true},
		{wire.GoodbyeUnpaired, ReconnectNone, false},
		{"gone_fishing", ReconnectNone, false},
	}
	for _, tt := range tests {
		got := AfterGoodbye(tt.reason)
		if got != tt.want || got.Automatic() != tt.auto {
			t.Errorf("AfterGoodbye(%q) = %v (auto %v), want %v", tt.reason, got, got.Automatic(), tt.want)
		}
	}
}

// TestAfterDrop: without client/goodbye, empty or playback connections are
// treated as restart, others as a session termination.
func TestAfterDrop(t *testing.T) {
	tests := []struct {
		set  ActivitySet
		want Reconnect
	}{
		{NoActivities, ReconnectAuto},
		{Playback, ReconnectAuto},
		{Playback | Pairing, ReconnectAuto},
		{Pairing, ReconnectNone},
	}
	for _, tt := range tests {
		if got := AfterDrop(tt.set); got != tt.want {
			t.Errorf("AfterDrop(%v) = %v, want %v", tt.set, got, tt.want)
		}
	}
	if Reconnect(0).String() != "Reconnect(0)" || ReconnectAuto.String() != "auto" {
		t.Error("Reconnect.String")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second}
	tests := []struct {
		failures int
		jitter   float64
		want     time.Duration
	}{
		{0, 0.5, 0},
		{-3, 0.5, 0},
		{1, 0, 500 * time.Millisecond},
		{1, 0.999999999, time.Second - time.Nanosecond},
		{1, 1, time.Second},
		{2, 0, time.Second},
		{3, 0.5, 3 * time.Second},
		{4, 0, 4 * time.Second},
		{5, 0, 5 * time.Second}, // 16 s capped to 10 s
		{5, 1, 10 * time.Second},
		{math.MaxInt, 0.5, 7500 * time.Millisecond},
		{3, -1, 2 * time.Second},
		{3, math.NaN(), 2 * time.Second},
		{3, 7, 4 * time.Second},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.failures, tt.jitter); got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.failures, tt.jitter, got, tt.want)
		}
	}
	// Defaults, and monotonic growth up to the cap whatever the jitter.
	var d Backoff
	prevMax := time.Duration(0)
	for n := 1; n < 100; n++ {
		lo, hi := d.Delay(n, 0), d.Delay(n, 1)
		if lo > hi || hi < prevMax || hi > DefaultBackoffMax || lo < DefaultBackoffBase/2 {
			t.Fatalf("n=%d: [%v, %v] after %v", n, lo, hi, prevMax)
		}
		prevMax = hi
	}
	if prevMax != DefaultBackoffMax {
		t.Errorf("cap not reached: %v", prevMax)
	}
}
