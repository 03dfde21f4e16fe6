package server

import (
	"testing"
	"time"
)

// TestNowPlayingNamesTheTrackHeard: a group playing a folder names the
// track its players hear, not the one the streamer has read ahead to,
// with the position in it and its duration (issue 11 case 7: status named
// the folder); a skip names the next track once it is heard.
func TestNowPlayingNamesTheTrackHeard(t *testing.T) {
	ts := startServer(t)
	if _, ok := ts.s.NowPlaying(DefaultGroup); ok {
		t.Fatal("now playing on a stopped group")
	}
	// 1.2 s tracks: the streamer reads seconds ahead, so by the time the
	// first is heard it has read into the second and third.
	played := time.Now()
	if err := ts.s.Play(writeTracks(t, 3, 1.2)); err != nil {
		t.Fatal(err)
	}
	np, ok := ts.s.NowPlaying(DefaultGroup)
	if !ok || np.Track != "0.wav" || !np.HaveDuration || np.DurationUS != 1_200_000 || np.PositionUS != 0 {
		t.Fatalf("at the start: %+v %v", np, ok)
	}
	waitFor(t, func() bool {
		np, _ = ts.s.NowPlaying(DefaultGroup)
		return np.Track == "0.wav" && np.PositionUS > 300_000
	})
	// The position counts from when the track is heard, after the
	// start-up lead: never more than the time since play.
	if np.PositionUS > int64(time.Since(played)/time.Microsecond) {
		t.Fatalf("position %d µs after %v: %+v", np.PositionUS, time.Since(played), np)
	}
	began := time.Now()
	if err := ts.s.Skip(DefaultGroup); err != nil {
		t.Fatal(err)
	}
	// The jump is heard after the lead: until then the first track plays.
	waitFor(t, func() bool {
		np, _ = ts.s.NowPlaying(DefaultGroup)
		return np.Track == "1.wav"
	})
	if np.PositionUS > int64(time.Since(began)/time.Microsecond) || np.DurationUS != 1_200_000 {
		t.Fatalf("after the skip: %+v", np)
	}
	// Without a skip the next track follows when the one before ends.
	waitFor(t, func() bool {
		np, _ = ts.s.NowPlaying(DefaultGroup)
		return np.Track == "2.wav"
	})
	// The test signal has no tracks and no end: the position only.
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		np, _ = ts.s.NowPlaying(DefaultGroup)
		return np.Track == "" && !np.HaveDuration && np.PositionUS > 0
	})
}
