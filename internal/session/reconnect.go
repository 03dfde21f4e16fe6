package session

import (
	"math"
	"strconv"
	"time"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Reconnect is what the side that can reconnect (the server on
// server-initiated connections, the client otherwise) does after a
// connection ends (messaging.md "client/goodbye").
type Reconnect uint8

// Reconnect policies.
const (
	// ReconnectAuto: reconnect automatically (restart, or a silent drop of
	// a playback or empty connection).
	ReconnectAuto Reconnect = iota + 1
	// ReconnectLater: the client refused under the multiple-server rules;
	// retrying later is allowed, with backoff.
	ReconnectLater
	// ReconnectOtherActivities: not with the same activity set
	// (unauthorized).
	ReconnectOtherActivities
	// ReconnectAfterPairing: not without pairing first (pairing_required).
	ReconnectAfterPairing
	// ReconnectAvailable: no automatic reconnect, but the client stays shown
	// as available for future playback (another_server).
	ReconnectAvailable
	// ReconnectNone: no automatic reconnect; resumption is operator-driven.
	ReconnectNone
)

var reconnectNames = [...]string{
	ReconnectAuto:            "auto",
	ReconnectLater:           "later",
	ReconnectOtherActivities: "not with the same activities",
	ReconnectAfterPairing:    "after pairing",
	ReconnectAvailable:       "none, shown available",
	ReconnectNone:            "none",
}

func (r Reconnect) String() string {
	if r > 0 && int(r) < len(reconnectNames) {
		return reconnectNames[r]
	}
	return "Reconnect(" + strconv.Itoa(int(r)) + ")"
}

// Automatic reports whether the policy is to reconnect without operator
// action (at once for ReconnectAuto, after a backoff for ReconnectLater).
func (r Reconnect) Automatic() bool { return r == ReconnectAuto || r == ReconnectLater }

// AfterGoodbye maps a client/goodbye reason to the reconnect policy. A reason
// this revision does not define gets ReconnectNone: doing nothing is the
// safe default.
func AfterGoodbye(reason wire.GoodbyeReason) Reconnect {
	switch reason {
	case wire.GoodbyeRestart:
		return ReconnectAuto
	case wire.GoodbyeConcurrentAttempt:
		return ReconnectLater
	case wire.GoodbyeUnauthorized:
		return ReconnectOtherActivities
	case wire.GoodbyePairingRequired:
		return ReconnectAfterPairing
	case wire.GoodbyeAnotherServer:
		return ReconnectAvailable
	}
	// shutdown, user_request, unpaired, and anything unknown.
	return ReconnectNone
}

// AfterDrop is the policy for a connection lost without client/goodbye whose
// last declared activities were set (empty if never activated): a playback
// or empty connection is treated as a restart; any other (pairing only) as
// a session termination.
func AfterDrop(set ActivitySet) Reconnect {
	if set == NoActivities || set.Has(Playback) {
		return ReconnectAuto
	}
	return ReconnectNone
}

// Backoff computes delays for repeated Noise-handshake failures
// (messaging.md "client/goodbye": servers SHOULD apply backoff). It is pure:
// the caller counts failures and supplies the jitter.
type Backoff struct {
	// Base is the delay after the first failure; 0 means
	// DefaultBackoffBase.
	Base time.Duration
	// Max caps the delay; 0 means DefaultBackoffMax.
	Max time.Duration
}

// Delay returns the wait before the next attempt after failures consecutive
// failures (0 for none). The delay doubles with each failure from Base up to
// Max; jitter in [0, 1) then picks a point in the upper half of it
// ("equal jitter"), so synchronized peers spread out but never retry at
// once. Out-of-range jitter is clamped.
func (b Backoff) Delay(failures int, jitter float64) time.Duration {
	if failures <= 0 {
		return 0
	}
	base, limit := b.Base, b.Max
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if limit <= 0 {
		limit = DefaultBackoffMax
	}
	d := base
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	switch {
	case jitter < 0 || math.IsNaN(jitter):
		jitter = 0
	case jitter >= 1:
		jitter = 1
	}
	half := d / 2
	return half + time.Duration(jitter*float64(d-half))
}
