package main

import (
	"fmt"

	"github.com/tonearm-audio/tonearm/internal/console"
)

// playingText is what a playing group plays, as ctl prints it: the track
// heard, and the position in it ("02-song.flac 1:23 / 4:05"); the source
// when the server names no track.
func playingText(np console.NowPlaying, source string) string {
	s := np.Track
	if s == "" {
		s = source
	}
	if np.PositionMS != nil {
		s += " " + clockText(*np.PositionMS)
		if np.DurationMS != nil {
			s += " / " + clockText(*np.DurationMS)
		}
	}
	return s
}

// clockText is a duration in ms as m:ss, or h:mm:ss from an hour.
func clockText(ms int64) string {
	sec := max(ms, 0) / 1000
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}
