package audio

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeWAV(t testing.TB, path string, f Format, samples []int32) string {
	t.Helper()
	w, err := CreateWAV(path, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// trackSamples labels every frame with its track and index, 16-bit exact.
func trackSamples(f Format, track, frames int) []int32 {
	out := make([]int32, 0, frames*f.Channels)
	for i := range frames {
		for c := range f.Channels {
			out = append(out, int32((track+1)<<12+i+c*7)<<16)
		}
	}
	return out
}

// readTracks reads p to the end with reads of size frames, checking that
// no read spans two tracks, and returns the samples and the track of each
// frame.
func readTracks(t *testing.T, p *Playlist, size int) (samples []int32, tracks []int) {
	t.Helper()
	ch := p.Format().Channels
	buf := make([]int32, size*ch)
	for {
		track, _ := p.Track()
		n, err := p.Read(buf)
		samples = append(samples, buf[:n]...)
		for range n / ch {
			tracks = append(tracks, track)
		}
		if err == io.EOF {
			return samples, tracks
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(samples) > 1<<24 {
			t.Fatal("playlist does not end")
		}
	}
}

func TestPlaylistGapless(t *testing.T) {
	dir := t.TempDir()
	f := Format{44100, 2, 16}
	lens := []int{1000, 2345, 1, 777}
	var paths []string
	var want []int32
	var wantTracks []int
	for k, n := range lens {
		s := trackSamples(f, k, n)
		paths = append(paths, writeWAV(t, filepath.Join(dir, fmt.Sprintf("%d.wav", k)), f, s))
		want = append(want, s...)
		for range n {
			wantTracks = append(wantTracks, k)
		}
	}
	for _, size := range []int{1, 100, 4096, 10000} {
		p, err := NewPlaylist(paths)
		if err != nil {
			t.Fatal(err)
		}
		if p.Format() != f {
			t.Fatalf("format %v", p.Format())
		}
		if i, name := p.Track(); i != 0 || name != "0.wav" {
			t.Fatalf("track %d %q", i, name)
		}
		got, tracks := readTracks(t, p, size)
		equalSamples(t, "playlist", got, want)
		for i := range wantTracks {
			if tracks[i] != wantTracks[i] {
				t.Fatalf("reads of %d: frame %d reported as track %d, want %d", size, i, tracks[i], wantTracks[i])
			}
		}
		p.Close()
	}
}

// Tracks in another format are converted; consecutive ones are converted
// as one stream, so the join between them is filtered like any other
// stretch of the signal.
func TestPlaylistMixedFormats(t *testing.T) {
	dir := t.TempDir()
	f1, f2 := Format{48000, 2, 16}, Format{44100, 1, 24}
	a := trackSamples(f1, 0, 3000)
	b := sine(f2, 4410, 440, 0.5)
	c := sine(f2, 2205, 440, 0.5) // continues b's waveform only if filtered as one
	for i := range c {
		c[i] = quantize(0.5*sinAt(440, 4410+i, 44100), 24)
	}
	paths := []string{
		writeWAV(t, filepath.Join(dir, "a.wav"), f1, a),
		writeWAV(t, filepath.Join(dir, "b.wav"), f2, b),
		writeWAV(t, filepath.Join(dir, "c.wav"), f2, c),
	}
	p, err := NewPlaylist(paths)
	if err != nil {
		t.Fatal(err)
	}
	got, tracks := readTracks(t, p, 1000)
	// Track a as is, then b and c converted as one source.
	want := append([]int32(nil), a...)
	want = append(want, convertAll(t, &sliceSource{f: f2, s: append(append([]int32(nil), b...), c...)}, f1)...)
	equalSamples(t, "mixed", got, want)
	bStart, cStart := 3000, 3000+int((4410*48000+44099)/44100)
	if tracks[bStart-1] != 0 || tracks[bStart] != 1 || tracks[cStart-1] != 1 || tracks[cStart] != 2 {
		t.Fatalf("tracks change at the wrong frames")
	}
	// Across the b-c join the sine is as clean as anywhere.
	var sig, noise float64
	for j := cStart - 500; j < cStart+500; j++ {
		w := 0.5 * sinAt(440, j-bStart, 48000)
		g := float64(got[2*j]) / (1 << 31)
		sig += w * w
		noise += (g - w) * (g - w)
	}
	if s := 10 * math.Log10(sig/noise); s < 80 {
		t.Fatalf("SNR %.1f dB across the join", s)
	}
}

func sinAt(hz float64, i, rate int) float64 {
	return math.Sin(2 * math.Pi * hz * float64(i) / float64(rate))
}

func TestPlaylistSkipLoopAndErrors(t *testing.T) {
	dir := t.TempDir()
	f := Format{48000, 1, 16}
	good := func(name string, k, n int) string {
		return writeWAV(t, filepath.Join(dir, name), f, trackSamples(f, k, n))
	}
	bad := filepath.Join(dir, "bad.mp3")
	os.WriteFile(bad, []byte("not audio at all"), 0o600)
	missing := filepath.Join(dir, "missing.wav")
	paths := []string{missing, good("0.wav", 0, 500), bad, good("1.wav", 1, 300)}

	p, err := NewPlaylist(paths)
	if err != nil {
		t.Fatal(err)
	}
	var reported []string
	p.OnError = func(path string, err error) {
		if !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Errorf("error %q does not name %s", err, path)
		}
		reported = append(reported, filepath.Base(path))
	}
	if i, _ := p.Track(); i != 1 {
		t.Fatalf("starts at track %d", i)
	}
	buf := make([]int32, 100)
	if n, _ := p.Read(buf); n != 100 || buf[0] != trackSamples(f, 0, 1)[0] {
		t.Fatalf("first read %d", n)
	}
	if err := p.Skip(); err != nil {
		t.Fatal(err)
	}
	if i, name := p.Track(); i != 3 || name != "1.wav" {
		t.Fatalf("after skip: track %d %s", i, name)
	}
	if n, _ := p.Read(buf); n != 100 || buf[0] != trackSamples(f, 1, 1)[0] {
		t.Fatalf("after skip read %d samples, first %#x", n, buf[0])
	}
	if strings.Join(reported, ",") != "missing.wav,bad.mp3" {
		t.Fatalf("reported %v", reported)
	}
	// Without Loop the end ends it; with Loop it goes round, gapless.
	if err := p.Skip(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(buf); err != io.EOF {
		t.Fatalf("after the last track: %v", err)
	}
	p.Close()

	p, _ = NewPlaylist(paths)
	p.Loop = true
	got := make([]int32, 0)
	for len(got) < 2*800+500 {
		n, err := p.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	round := append(trackSamples(f, 0, 500), trackSamples(f, 1, 300)...)
	want := append(append(append([]int32(nil), round...), round...), round[:500]...)
	equalSamples(t, "loop", got[:len(want)], want)
	p.Close()

	// Every file failing is an error, at once or later.
	if _, err := NewPlaylist([]string{missing, bad}); err == nil || !strings.Contains(err.Error(), "no file of the playlist opens") {
		t.Fatalf("all failing: %v", err)
	}
	if _, err := NewPlaylist(nil); err == nil {
		t.Fatal("empty playlist")
	}
	one := good("gone.wav", 2, 10)
	p, _ = NewPlaylist([]string{one, bad})
	p.Loop = true
	os.Remove(one)
	for err = nil; err == nil; _, err = p.Read(buf) {
	}
	if err == io.EOF || !strings.Contains(err.Error(), "no file of the playlist opens") {
		t.Fatalf("all failing while looping: %v", err)
	}
}

// Looping over files without frames ends instead of spinning.
func TestPlaylistLoopEmpty(t *testing.T) {
	dir := t.TempDir()
	f := Format{48000, 2, 16}
	paths := []string{writeWAV(t, filepath.Join(dir, "a.wav"), f, nil), writeWAV(t, filepath.Join(dir, "b.wav"), f, nil)}
	p, err := NewPlaylist(paths)
	if err != nil {
		t.Fatal(err)
	}
	p.Loop = true
	if n, err := p.Read(make([]int32, 10)); n != 0 || err != io.EOF {
		t.Fatalf("%d, %v", n, err)
	}
}

func TestOpenFolder(t *testing.T) {
	dir := t.TempDir()
	f := Format{44100, 2, 16}
	writeWAV(t, filepath.Join(dir, "b.wav"), f, trackSamples(f, 1, 10))
	writeWAV(t, filepath.Join(dir, "a-track.bin"), f, trackSamples(f, 0, 10)) // named oddly, still a WAV
	os.WriteFile(filepath.Join(dir, "c.flac"), readFixture(t, "stereo16.flac"), 0o600)
	os.WriteFile(filepath.Join(dir, "cover.jpg"), []byte("\xff\xd8\xff\xe0JFIF"), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o600)
	os.WriteFile(filepath.Join(dir, "._b.wav"), []byte("\x00\x05\x16\x07AppleDouble"), 0o600)
	os.WriteFile(filepath.Join(dir, "d.mp2"), []byte{0xff, 0xfd, 0x90, 0x00}, 0o600) // audio we cannot play: reported
	os.Mkdir(filepath.Join(dir, "e.wav"), 0o700)
	p, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range p.paths {
		names = append(names, filepath.Base(path))
	}
	if strings.Join(names, " ") != "a-track.bin b.wav c.flac d.mp2" {
		t.Fatalf("playlist %v", names)
	}
	var skipped []string
	p.OnError = func(path string, err error) { skipped = append(skipped, filepath.Base(path)) }
	got, _ := readTracks(t, p, 512)
	if len(got) != 2*(10+10+8820) || strings.Join(skipped, " ") != "d.mp2" {
		t.Fatalf("%d samples, skipped %v", len(got), skipped)
	}
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "x.txt"), []byte("x"), 0o600)
	if _, err := OpenFolder(empty); err == nil || !strings.Contains(err.Error(), "no WAV, FLAC or MP3 files") {
		t.Fatalf("empty folder: %v", err)
	}
	if _, err := OpenFolder(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing folder: %v", err)
	}
}

// TestPlaylistJumpAndFormat: Jump goes to the start of any track, past the
// end is the end (or wraps when looping); NewPlaylistAt converts every
// track to the rate and channels asked for.
func TestPlaylistJumpAndFormat(t *testing.T) {
	dir := t.TempDir()
	f := Format{48000, 1, 16}
	var paths []string
	for k := 0; k < 3; k++ {
		paths = append(paths, writeWAV(t, filepath.Join(dir, fmt.Sprintf("%d.wav", k)), f, trackSamples(f, k, 400)))
	}
	p, err := NewPlaylist(paths)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int32, 10)
	for _, k := range []int{2, 0, 1} {
		if err := p.Jump(k); err != nil {
			t.Fatal(err)
		}
		if i, _ := p.Track(); i != k {
			t.Fatalf("jumped to %d, at %d", k, i)
		}
		if n, _ := p.Read(buf); n != 10 || buf[0] != trackSamples(f, k, 1)[0] {
			t.Fatalf("track %d starts with %#x", k, buf[0])
		}
	}
	if err := p.Jump(-1); err == nil {
		t.Fatal("jumped to track -1")
	}
	if err := p.Jump(3); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(buf); err != io.EOF {
		t.Fatalf("past the end: %v", err)
	}
	// From the end, a jump back still plays.
	if err := p.Jump(1); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Read(buf); n != 10 || buf[0] != trackSamples(f, 1, 1)[0] {
		t.Fatalf("jump back from the end read %d, %#x", n, buf[0])
	}
	p.Close()
	p, _ = NewPlaylist(paths)
	p.Loop = true
	if err := p.Jump(4); err != nil {
		t.Fatal(err)
	}
	if i, _ := p.Track(); i != 1 {
		t.Fatalf("looping jump to 4 is at %d", i)
	}
	p.Close()

	q, err := NewPlaylistAt(paths, 44100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got := q.Format(); got != (Format{44100, 2, 16}) {
		t.Fatalf("format %+v", got)
	}
	total := 0
	big := make([]int32, 4096)
	for {
		n, err := q.Read(big)
		total += n
		if err != nil {
			break
		}
	}
	// 1200 frames at 48 kHz are about 1102 at 44.1 kHz, two channels.
	if frames := total / 2; frames < 1090 || frames > 1115 {
		t.Fatalf("converted to %d frames", frames)
	}
	if _, err := NewPlaylistAt(paths, 48000, 1000); err == nil {
		t.Fatal("a 1000-channel playlist was made")
	}
}
