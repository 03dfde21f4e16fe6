package console

import (
	"path/filepath"
)

// NowPlaying is what a playing group's players hear: the track (its file
// name for a folder or a file, "test signal" for the tone, "stdin" for
// raw PCM on standard input), how far into it playback is, and its
// duration when the file says.
type NowPlaying struct {
	Track      string `json:"track,omitempty"`
	PositionMS *int64 `json:"position_ms,omitempty"`
	DurationMS *int64 `json:"duration_ms,omitempty"`
}

// nowPlaying is group id's NowPlaying; source is what it was given to
// play, named as on the command line.
func (c *Console) nowPlaying(id, source string) NowPlaying {
	np, ok := c.cfg.Server.NowPlaying(id)
	if !ok {
		return NowPlaying{}
	}
	out := NowPlaying{Track: np.Track}
	if out.Track == "" {
		switch source {
		case "":
		case "tone":
			out.Track = "test signal"
		case "-":
			out.Track = "stdin"
		default:
			out.Track = filepath.Base(source)
		}
	}
	pos := np.PositionUS / 1000
	out.PositionMS = &pos
	if np.HaveDuration {
		d := np.DurationUS / 1000
		out.DurationMS = &d
	}
	return out
}
