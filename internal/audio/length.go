package audio

// DurationUS is how long a source plays from its start, in µs, when its
// file says so: a WAV file's data chunk size, a FLAC file's STREAMINFO
// sample count (through any conversion, which keeps the duration). False
// for sources that do not know (MP3, a streamed WAV, raw PCM, the test
// signal). It is the header's word: a truncated file ends earlier.
func DurationUS(src Source) (us int64, ok bool) {
	for {
		switch s := src.(type) {
		case interface{ length() (int64, bool) }:
			frames, ok := s.length()
			if !ok {
				return 0, false
			}
			return src.Format().FramesToMicros(frames), true
		case *closingSource:
			src = s.Source
		case *namedSource:
			src = s.Source
		case *converter:
			src = s.src
		default:
			return 0, false
		}
	}
}

func (w *WAVReader) length() (int64, bool) {
	return w.frames, w.frames >= 0
}

func (f *flacReader) length() (int64, bool) {
	if n := f.st.Info.NSamples; n > 0 {
		return int64(n), true
	}
	return 0, false
}

// TrackDuration is the duration of track index in µs, once the playlist
// has opened it and when its file says (DurationUS).
func (p *Playlist) TrackDuration(index int) (us int64, ok bool) {
	us, ok = p.durations[index]
	return us, ok
}

func (p *Playlist) trackOpened(index int, src Source) {
	if p.durations == nil {
		p.durations = map[int]int64{}
	}
	if us, ok := DurationUS(src); ok {
		p.durations[index] = us
	} else {
		delete(p.durations, index)
	}
}
