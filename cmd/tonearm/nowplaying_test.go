package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/daemon"
)

// TestCtlNamesTheTrack: `ctl status` and `ctl groups` name the track
// heard and the position in it, not the folder; `ctl next` on the last
// track says there is no next track and that the group stopped, and
// fails, since no skip happened (issue 11 case 7).
func TestCtlNamesTheTrack(t *testing.T) {
	dir := t.TempDir()
	music := filepath.Join(dir, "music")
	if err := os.Mkdir(music, 0o700); err != nil {
		t.Fatal(err)
	}
	writeNoise(t, filepath.Join(music, "01-intro.wav"), 20)
	writeNoise(t, filepath.Join(music, "02-song.wav"), 20)
	state := filepath.Join(dir, "server")
	start(t, "server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns",
		"--play", music, "--name", "House")
	waitFor(t, "the server", 10*time.Second, func() bool {
		var info daemon.ServerInfo
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	ctl := func(args ...string) (string, error) {
		t.Helper()
		return tonearm(t, append([]string{"ctl", "--state", state}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := ctl(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := regexp.MustCompile(`(?m)^playing: 01-intro\.wav 0:0[1-9] / 0:20$`)
	waitFor(t, "status to name the first track a second in", 10*time.Second, func() bool {
		return first.MatchString(must("status"))
	})
	if out := must("groups"); !regexp.MustCompile(`main +House +playing 01-intro\.wav \d:\d\d / 0:20( \(no member playing\))? +100`).MatchString(out) {
		t.Fatalf("groups:\n%s", out)
	}
	if out := must("next"); out != "skipped to the next track in group House (main)\n" {
		t.Fatalf("next: %q", out)
	}
	second := regexp.MustCompile(`(?m)^playing: 02-song\.wav 0:0\d / 0:20$`)
	waitFor(t, "status to name the second track", 10*time.Second, func() bool {
		return second.MatchString(must("status"))
	})
	var g struct {
		Groups []struct {
			Track      string `json:"track"`
			PositionMS *int64 `json:"position_ms"`
			DurationMS *int64 `json:"duration_ms"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(must("--json", "groups")), &g); err != nil {
		t.Fatal(err)
	}
	if gr := g.Groups[0]; gr.Track != "02-song.wav" || gr.PositionMS == nil || gr.DurationMS == nil || *gr.DurationMS != 20000 || *gr.PositionMS > 20000 {
		t.Fatalf("groups JSON: %+v", g)
	}
	out, err := ctl("next")
	if err == nil || !strings.Contains(err.Error(), "tonearm: ctl next: no next track: group main stopped at the end of the folder") {
		t.Fatalf("next on the last track: %q, %v", out, err)
	}
	if out := must("status"); !strings.Contains(out, "playing: nothing\n") {
		t.Fatalf("status after the last next:\n%s", out)
	}
	if out := must("groups"); !regexp.MustCompile(`main +House +stopped`).MatchString(out) {
		t.Fatalf("groups after the last next:\n%s", out)
	}
}
