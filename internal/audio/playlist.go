package audio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Playlist plays files one after another as a single Source, gapless: the
// last frame of a track is followed by the first frame of the next, with
// nothing inserted or lost.
//
// Its Format is the first playable track's. A later track in another
// format is converted to it (Convert). Consecutive tracks of one format
// form a run that is converted as one stream, so the resampler's filter
// spans the joins as if the run were one file; at a change of source
// format the run before ends as its last file does (the filter sees
// silence after it), still without a gap.
//
// A file that fails to open or to decode is skipped and reported to
// OnError; the playlist fails only when no file in it can be opened.
// A Playlist is not safe for concurrent use.
type Playlist struct {
	// Loop starts over from the first track after the last.
	Loop bool
	// OnError, if set, is told about each file skipped because it failed.
	// Failures while constructing the playlist are told at the first Read
	// or Skip.
	OnError func(path string, err error)

	paths  []string
	format Format
	early  []skipped

	run    *chain
	out    Source // run converted to format
	outPos int64  // frames of out read into buf
	marks  []mark // the run's tracks from the current one on
	store  []int32
	buf    []int32 // read from out, not yet returned
	opened int     // tracks opened since a frame was last read
	err    error
	closed bool
	// durations are the durations of the tracks opened so far, where
	// their files say (TrackDuration).
	durations map[int]int64
}

type mark struct {
	index int
	start int64 // the run's output frame the track starts at
}

type skipped struct {
	path string
	err  error
}

// OpenFolder makes a playlist of the WAV, FLAC and MP3 files directly in
// dir (by content, whatever their names), in byte order of their names.
func OpenFolder(dir string) (*Playlist, error) { return OpenFolderAt(dir, 0, 0) }

// OpenFolderAt is OpenFolder with every track converted to rate and
// channels (0: the first track's), so a server that streams one format
// gets it from the playlist itself and can still jump between tracks.
func OpenFolderAt(dir string, rate, channels int) (*Playlist, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	var paths []string
	for _, e := range entries { // sorted by name
		path := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if looksLikeAudio(path) {
			paths = append(paths, path)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("audio: %s: no WAV, FLAC or MP3 files", dir)
	}
	return NewPlaylistAt(paths, rate, channels)
}

// looksLikeAudio reports whether a file is one we decode, or claims to be
// audio we cannot play (so its error is reported rather than ignored).
func looksLikeAudio(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true // report why when it is played
	}
	defer f.Close()
	_, err = sniff(bufio.NewReaderSize(f, 4096))
	return err == nil || (!errors.Is(err, ErrUnsupportedFile) && err.Error() != "empty file")
}

// NewPlaylist makes a playlist of files. It opens the first that opens to
// learn the playlist's format, and fails if none does.
func NewPlaylist(paths []string) (*Playlist, error) { return NewPlaylistAt(paths, 0, 0) }

// NewPlaylistAt is NewPlaylist converting every track to rate and channels
// (0: the first track's); the bit depth is the first track's.
func NewPlaylistAt(paths []string, rate, channels int) (*Playlist, error) {
	if len(paths) == 0 {
		return nil, errors.New("audio: empty playlist")
	}
	p := &Playlist{paths: slices.Clone(paths)}
	idx, src, err := p.openFrom(0)
	if err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("audio: no file of the playlist opens: %w", p.early[0].err)
	}
	p.format = src.Format()
	if rate > 0 {
		p.format.SampleRate = rate
	}
	if channels > 0 {
		p.format.Channels = channels
	}
	if err := p.format.Validate(); err != nil {
		src.Close()
		return nil, fmt.Errorf("audio: playlist format: %w", err)
	}
	p.store = make([]int32, playlistBuffer*p.format.Channels)
	if err := p.startRun(idx, src); err != nil {
		return nil, err
	}
	return p, nil
}

// Format implements Source.
func (p *Playlist) Format() Format { return p.format }

// Track is the track the next frame read belongs to: its index in the
// playlist and its file name.
func (p *Playlist) Track() (index int, name string) {
	if len(p.marks) == 0 {
		return -1, ""
	}
	i := p.marks[0].index
	return i, filepath.Base(p.paths[i])
}

// Read implements Source. A Read never returns frames of two tracks.
func (p *Playlist) Read(dst []int32) (int, error) {
	p.reportEarly()
	if p.closed {
		return 0, errors.New("audio: playlist is closed")
	}
	ch := p.format.Channels
	want := len(dst) / ch
	if want == 0 {
		return 0, nil
	}
	p.fill()
	if len(p.buf) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		return 0, io.EOF
	}
	// Only frames of the current track.
	pos := p.advanceMarks()
	n := min(want, len(p.buf)/ch)
	if len(p.marks) > 1 {
		n = int(min(int64(n), p.marks[1].start-pos))
	}
	copy(dst, p.buf[:n*ch])
	p.buf = p.buf[n*ch:]
	// Read ahead at once, so that Track names the next frame's track
	// even when that frame is the first of a file not yet opened.
	p.fill()
	p.advanceMarks()
	return n * ch, nil
}

// fill reads from the runs until buf holds frames or there is no run left.
func (p *Playlist) fill() {
	for len(p.buf) == 0 && p.out != nil {
		// The run's sources end for good once they said io.EOF, so an
		// error that comes with samples is seen again on the next call.
		k, err := p.out.Read(p.store)
		p.buf = p.store[:k]
		p.outPos += int64(k / p.format.Channels)
		if k == 0 && err != nil {
			if err != io.EOF {
				p.report(p.paths[p.run.index], err)
			}
			if err := p.nextRun(); err != nil {
				p.err = err
			}
		}
	}
}

// advanceMarks drops the tracks the read position has passed and returns
// that position, the run's output frame Read returns next.
func (p *Playlist) advanceMarks() int64 {
	pos := p.outPos - int64(len(p.buf)/p.format.Channels)
	for len(p.marks) > 1 && p.marks[1].start <= pos {
		p.marks = p.marks[1:]
	}
	return pos
}

// Skip moves to the start of the next track now (for the server: send
// stream/clear). At the end of a playlist that does not loop, the
// playlist ends: Read returns io.EOF.
func (p *Playlist) Skip() error {
	cur, _ := p.Track()
	return p.Jump(cur + 1)
}

// Jump moves to the start of track index now (or of the first track after
// it that opens); an index past the end is the end of a playlist that does
// not loop, and wraps around one that does.
func (p *Playlist) Jump(index int) error {
	p.reportEarly()
	if p.closed {
		return errors.New("audio: playlist is closed")
	}
	if p.out == nil && p.err != nil {
		return p.err // failed; at the plain end it may still jump back
	}
	if index < 0 {
		return fmt.Errorf("audio: no track %d", index)
	}
	if p.Loop {
		index %= len(p.paths)
	}
	p.closeRun()
	p.opened = 0
	idx, src, err := p.openFrom(index)
	if err != nil {
		p.err = err
		return err
	}
	if src == nil {
		return nil
	}
	return p.startRun(idx, src)
}

// Close implements Source.
func (p *Playlist) Close() error {
	p.closed = true
	p.closeRun()
	return nil
}

// openFrom opens the first track from index i on that opens, wrapping
// around when looping, trying each file at most once. It returns a nil
// Source at the end of the list, and an error when looping finds no file
// that opens or only empty ones.
func (p *Playlist) openFrom(i int) (int, Source, error) {
	var lastErr error
	for tries := 0; tries < len(p.paths); tries++ {
		if i >= len(p.paths) {
			if !p.Loop {
				return 0, nil, nil
			}
			i = 0
		}
		if p.opened >= len(p.paths) { // a whole pass without a frame
			return 0, nil, nil
		}
		src, err := OpenFile(p.paths[i])
		if err == nil {
			p.opened++
			return i, src, nil
		}
		p.report(p.paths[i], err)
		lastErr = err
		i++
	}
	if lastErr != nil && p.Loop {
		return 0, nil, fmt.Errorf("audio: no file of the playlist opens: %w", lastErr)
	}
	return 0, nil, nil
}

func (p *Playlist) report(path string, err error) {
	if p.format.Channels == 0 || p.OnError == nil { // constructing, or no one told
		if p.format.Channels == 0 {
			p.early = append(p.early, skipped{path, err})
		}
		return
	}
	p.OnError(path, err)
}

func (p *Playlist) reportEarly() {
	if p.OnError != nil {
		for _, s := range p.early {
			p.OnError(s.path, s.err)
		}
		p.early = nil
	}
}

// startRun starts playing a run of tracks at track idx, opened as src.
// A track that cannot be converted is skipped like one that does not
// open.
func (p *Playlist) startRun(idx int, src Source) error {
	for src != nil {
		p.trackOpened(idx, src)
		p.run = &chain{p: p, format: src.Format(), cur: src, index: idx}
		out, err := Convert(p.run, p.format)
		if err == nil {
			p.out, p.outPos, p.buf = out, 0, nil
			p.marks = append(p.marks[:0], mark{index: idx})
			return nil
		}
		p.run.Close()
		p.run = nil
		p.report(p.paths[idx], err)
		if idx, src, err = p.openFrom(idx + 1); err != nil {
			return err
		}
	}
	return nil
}

// nextRun starts the run after the one that ended, if any.
func (p *Playlist) nextRun() error {
	idx, src := p.run.pendingIndex, p.run.pending
	p.run.pending = nil
	err := p.run.err
	p.closeRun()
	if src == nil {
		return err
	}
	return p.startRun(idx, src)
}

func (p *Playlist) closeRun() {
	if p.run != nil {
		p.run.Close()
	}
	p.run, p.out, p.buf, p.marks = nil, nil, nil, p.marks[:0]
}

// chain concatenates consecutive tracks of one format: a run. It ends
// at a track of another format, which it leaves open for the next run.
type chain struct {
	p            *Playlist
	format       Format
	cur          Source
	index        int   // the track cur is
	inPos        int64 // frames read in the run
	pending      Source
	pendingIndex int
	err          error // no file opens any more
}

func (c *chain) Format() Format { return c.format }

func (c *chain) Read(dst []int32) (int, error) {
	for c.cur != nil {
		k, err := c.cur.Read(dst)
		if k > 0 {
			c.inPos += int64(k / c.format.Channels)
			c.p.opened = 0
			return k, nil
		}
		if err == nil {
			if len(dst) < c.format.Channels {
				return 0, nil
			}
			err = io.ErrNoProgress
		}
		if err != io.EOF {
			c.p.report(c.p.paths[c.index], err)
		}
		c.cur.Close()
		c.cur = nil
		idx, src, err := c.p.openFrom(c.index + 1)
		if err != nil {
			c.err = err
			return 0, io.EOF
		}
		if src == nil {
			return 0, io.EOF
		}
		if src.Format() != c.format {
			c.pending, c.pendingIndex = src, idx
			return 0, io.EOF
		}
		c.cur, c.index = src, idx
		c.p.trackOpened(idx, src)
		// Where the track starts in the run's converted output: the
		// converter's frame n is at input time n*from/to (Convert).
		start := ceilDiv(c.inPos*int64(c.p.format.SampleRate), int64(c.format.SampleRate))
		c.p.marks = append(c.p.marks, mark{index: idx, start: start})
	}
	return 0, io.EOF
}

func (c *chain) Close() error {
	for _, s := range []Source{c.cur, c.pending} {
		if s != nil {
			s.Close()
		}
	}
	c.cur, c.pending = nil, nil
	return nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
