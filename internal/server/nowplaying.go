package server

import (
	"errors"
	"io"

	"github.com/tonearm-audio/tonearm/internal/audio"
)

// What a group plays now, by track: the streamer reads its source ahead
// of time, so the source's own idea of its current track is seconds
// ahead of what is heard. It marks where each track begins on the
// timeline as it reads, and the track heard is the last that began
// before now.

// trackMark is where a track begins on the timeline.
type trackMark struct {
	index   int
	name    string
	ts      int64 // server µs of its first frame
	durUS   int64
	haveDur bool
}

// trackDurations is a track source that knows its tracks' durations
// (audio.Playlist).
type trackDurations interface {
	TrackDuration(index int) (us int64, ok bool)
}

// readChunk reads chunk index's frames into buf as audio.ReadFull does,
// marking where a track of a track source begins (a Read of a track
// source never returns frames of two tracks). st.mu is held.
func (st *streamer) readChunk(index int64, buf []int32) (int, error) {
	ts, ok := st.src.(trackSource)
	if !ok {
		return audio.ReadFull(st.src, buf)
	}
	ch := st.format.Channels
	n := 0
	for n < len(buf) {
		idx, name := ts.Track() // the track of the next frame read
		m, err := st.src.Read(buf[n:])
		if m > 0 && idx >= 0 && idx != st.lastTrack {
			mk := trackMark{index: idx, name: name, ts: st.chunkTS(index) + st.format.FramesToMicros(int64(n/ch))}
			if d, ok := st.src.(trackDurations); ok {
				mk.durUS, mk.haveDur = d.TrackDuration(idx)
			}
			st.tracks = append(st.tracks, mk)
			st.lastTrack = idx
		}
		n += m
		if err == io.EOF {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// NowPlaying is what a group's players are hearing.
type NowPlaying struct {
	// Track is the file name of the track heard, for a source with
	// tracks (a folder); "" for other sources.
	Track string
	// PositionUS is how far into the track (or, without tracks, into the
	// source) playback is; DurationUS the track's or source's duration
	// when HaveDuration.
	PositionUS   int64
	DurationUS   int64
	HaveDuration bool
}

func (st *streamer) nowPlaying() NowPlaying {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.s.Now()
	var np NowPlaying
	if len(st.tracks) > 0 {
		m := st.tracks[0]
		for _, x := range st.tracks[1:] {
			if x.ts > now {
				break
			}
			m = x
		}
		np = NowPlaying{Track: m.name, PositionUS: max(0, now-m.ts), DurationUS: m.durUS, HaveDuration: m.haveDur}
	} else if ts, ok := st.src.(trackSource); ok {
		// Nothing read yet: the first track, not begun.
		idx, name := ts.Track()
		np.Track = name
		if d, ok := st.src.(trackDurations); ok && idx >= 0 {
			np.DurationUS, np.HaveDuration = d.TrackDuration(idx)
		}
	} else {
		np = NowPlaying{PositionUS: max(0, now-st.t0), DurationUS: st.durUS, HaveDuration: st.haveDur}
	}
	if np.HaveDuration {
		np.PositionUS = min(np.PositionUS, np.DurationUS)
	}
	return np
}

// NowPlaying is what group id plays now; false when it is stopped.
func (s *Server) NowPlaying(id string) (NowPlaying, bool) {
	s.mu.Lock()
	st := s.streams[id]
	s.mu.Unlock()
	if st == nil {
		return NowPlaying{}, false
	}
	return st.nowPlaying(), true
}

// ErrNoNextTrack is Skip's answer on the last track of a folder that does
// not loop: there is no next track, and the group has stopped.
var ErrNoNextTrack = errors.New("server: no next track")
