package wire

import "math"

// MetadataState is the metadata object of server/state
// (roles/metadata/v1.md). Optional strings are nil when absent.
type MetadataState struct {
	Timestamp   int64 // µs, server clock: when this takes effect
	Title       *string
	Artist      *string
	AlbumArtist *string
	Album       *string
	ArtworkURL  *string
	Year        *int
	Track       *int
	Progress    *Progress // nil clears the client's position
}

// Progress is metadata playback progress.
type Progress struct {
	TrackProgress int64 // ms at Timestamp
	TrackDuration int64 // ms, 0 for unknown or unlimited
	PlaybackSpeed int64 // speed * 1000, 0 = paused
}

func (m *MetadataState) encode(w *writer) {
	w.int("timestamp", m.Timestamp)
	optStr := func(k string, v *string) {
		if v != nil {
			w.str(k, *v)
		}
	}
	optStr("title", m.Title)
	optStr("artist", m.Artist)
	optStr("album_artist", m.AlbumArtist)
	optStr("album", m.Album)
	optStr("artwork_url", m.ArtworkURL)
	if m.Year != nil {
		w.int("year", int64(*m.Year))
	}
	if m.Track != nil {
		w.int("track", int64(*m.Track))
	}
	if p := m.Progress; p != nil {
		w.obj("progress")
		w.int("track_progress", p.TrackProgress)
		w.int("track_duration", p.TrackDuration)
		w.int("playback_speed", p.PlaybackSpeed)
		w.end()
	}
}

func (m *MetadataState) decode(r *reader) {
	m.Timestamp, _ = r.int("timestamp", true, math.MinInt64, math.MaxInt64)
	optStr := func(k string) *string {
		if v, ok := r.str(k, false); ok {
			return &v
		}
		return nil
	}
	m.Title = optStr("title")
	m.Artist = optStr("artist")
	m.AlbumArtist = optStr("album_artist")
	m.Album = optStr("album")
	m.ArtworkURL = optStr("artwork_url")
	// year is YYYY; track numbers are 1-indexed.
	if v, ok := r.int("year", false, 0, 9999); ok {
		n := int(v)
		m.Year = &n
	}
	if v, ok := r.int("track", false, 1, math.MaxInt32); ok {
		n := int(v)
		m.Track = &n
	}
	if c, ok := r.object("progress", false); ok {
		p := new(Progress)
		p.TrackProgress, _ = c.int("track_progress", true, 0, math.MaxInt64)
		p.TrackDuration, _ = c.int("track_duration", true, 0, math.MaxInt64)
		p.PlaybackSpeed, _ = c.int("playback_speed", true, 0, math.MaxInt32)
		m.Progress = p
	}
}
