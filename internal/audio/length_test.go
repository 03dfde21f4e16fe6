package audio

import (
	"path/filepath"
	"testing"
)

// TestDurationUS: a WAV or FLAC file's duration from its header, through
// a conversion too; none for sources that do not know theirs; a
// playlist's tracks' as it opens them.
func TestDurationUS(t *testing.T) {
	f := Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
	dir := t.TempDir()
	wav := filepath.Join(dir, "a.wav")
	w, err := CreateWAV(wav, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(make([]int32, 2*72000)); err != nil { // 1.5 s
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := OpenFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if us, ok := DurationUS(src); !ok || us != 1_500_000 {
		t.Fatalf("wav: %d %v", us, ok)
	}
	conv, err := Convert(src, Format{SampleRate: 44100, Channels: 1, BitDepth: 16})
	if err != nil {
		t.Fatal(err)
	}
	if us, ok := DurationUS(conv); !ok || us != 1_500_000 {
		t.Fatalf("converted wav: %d %v", us, ok)
	}
	fl, err := OpenFile(filepath.Join("testdata", "stereo16.flac"))
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if us, ok := DurationUS(fl); !ok || us <= 0 {
		t.Fatalf("flac: %d %v", us, ok)
	}
	mp3, err := OpenFile(filepath.Join("testdata", "chirp.mp3"))
	if err != nil {
		t.Fatal(err)
	}
	defer mp3.Close()
	if _, ok := DurationUS(mp3); ok {
		t.Fatal("an MP3 claims a duration")
	}
	tone, _ := NewTone(f)
	if _, ok := DurationUS(tone); ok {
		t.Fatal("the tone claims a duration")
	}
	p, err := NewPlaylist([]string{wav, filepath.Join("testdata", "chirp.mp3")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if us, ok := p.TrackDuration(0); !ok || us != 1_500_000 {
		t.Fatalf("playlist track 0: %d %v", us, ok)
	}
	if _, ok := p.TrackDuration(1); ok {
		t.Fatal("the MP3 track claims a duration")
	}
}
