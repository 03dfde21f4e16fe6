package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/audio"
)

// Files in any rate and channel count come out on the server's 48 kHz
// stereo timeline, at their own depth; a folder plays its files in order.
func TestOpenSource(t *testing.T) {
	fix := func(name string) string { return filepath.Join("..", "audio", "testdata", name) }
	cases := []struct {
		spec   string
		frames int // expected frames at 48 kHz, 0 for an endless source
		depth  int
	}{
		{fix("stereo16.flac"), 9600, 16},      // 8820 frames at 44.1 kHz
		{fix("mono24.flac"), 4800, 24},        // already 48 kHz, mono to stereo
		{fix("chirp-mono22k.mp3"), 24000, 16}, // 11025 frames at 22.05 kHz
		{SourceTone, 0, 16},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.spec), func(t *testing.T) {
			src, err := OpenSource(c.spec, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			f := src.Format()
			if f.SampleRate != StreamRate || f.Channels != StreamChannels || f.BitDepth != c.depth {
				t.Fatalf("format %v", f)
			}
			if c.frames == 0 {
				return
			}
			buf := make([]int32, 1<<20)
			n, _ := audio.ReadFull(src, buf)
			if got := n / 2; got != c.frames {
				t.Fatalf("%d frames, want %d", got, c.frames)
			}
		})
	}
	// A folder: both FLAC files, in name order (mono24 before stereo16).
	dir := t.TempDir()
	for _, name := range []string{"stereo16.flac", "mono24.flac"} {
		b, err := os.ReadFile(fix(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not audio"), 0o644)
	src, err := OpenSource(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	buf := make([]int32, 1<<20)
	n, _ := audio.ReadFull(src, buf)
	if got := n / 2; got != 4800+9600 {
		t.Fatalf("folder: %d frames, want %d", got, 4800+9600)
	}

	for spec, want := range map[string]string{
		"/nonexistent.wav":      "no such file",
		fix("README.md"):        "unsupported file type",
		fix("stereo32.flac"):    "not supported",
		SourceNone:              "not a source",
		SourceStdin:             "no standard input",
		filepath.Join(dir, "x"): "no such file",
	} {
		if _, err := OpenSource(spec, nil, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenSource(%q) = %v, want %q", spec, err, want)
		}
	}
}
