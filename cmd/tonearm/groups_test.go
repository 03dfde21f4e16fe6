package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/console"
	"github.com/tonearm-audio/tonearm/internal/daemon"
)

// TestGroupCommands: the operator's group commands against a running
// server and two players, as a user would type them: the players play in
// the default group; one is taken out (alone, stopped, and its own status
// says so) and comes back only when the operator joins it again.
func TestGroupCommands(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "server")
	start(t, "server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns",
		"--play", "tone", "--name", "House")
	var info daemon.ServerInfo
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	pstate := func(i int) string { return filepath.Join(dir, fmt.Sprintf("p%d", i)) }
	for i := 1; i <= 2; i++ {
		start(t, "player", "--state", pstate(i), "--name", fmt.Sprintf("room %d", i), "--server", info.URL,
			"--unpaired-access", "on", "--out", "null")
	}
	ctl := func(args ...string) string {
		t.Helper()
		out, err := tonearm(t, append([]string{"ctl", "--state", state}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	groups := func() []console.Group {
		t.Helper()
		var l console.GroupList
		if err := json.Unmarshal([]byte(ctl("--json", "groups")), &l); err != nil {
			t.Fatal(err)
		}
		return l.Groups
	}
	ids := map[string]string{} // name -> client ID
	waitFor(t, "both players to connect", 10*time.Second, func() bool {
		for _, line := range strings.Split(ctl("clients", "-v"), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[1] == "unapproved" {
				ids[f[3]+" "+f[4]] = f[0]
			}
		}
		return len(ids) == 2
	})
	for _, id := range ids {
		ctl("approve", id)
	}
	waitFor(t, "both players in the playing default group", 10*time.Second, func() bool {
		gs := groups()
		return len(gs) == 1 && gs[0].Playing && gs[0].Source == "tone" && len(gs[0].Members) == 2 &&
			strings.Count(ctl("clients", "-v"), "playback") == 2
	})
	if out := ctl("clients", "-v"); strings.Count(out, "House") != 2 || !strings.Contains(out, "GROUP") {
		t.Fatalf("clients do not show their group:\n%s", out)
	}
	if out := ctl("groups"); !strings.HasPrefix(out, "GROUP") || !strings.Contains(out, "playing test signal ") {
		t.Fatalf("groups:\n%s", out)
	}

	one := ids["room 1"]
	if out := ctl("leave", "--", one[:8]); out != "room 1 ("+one[:8]+") left group House (main); now alone in a stopped group of its own\n" {
		t.Fatalf("leave: %q", out)
	}
	waitFor(t, "room 1 alone and stopped", 10*time.Second, func() bool {
		gs := groups()
		return len(gs) == 2 && gs[0].ID == "main" && gs[0].Playing && len(gs[0].Members) == 1 && gs[0].Members[0].Name == "room 2" &&
			gs[1].Solo && !gs[1].Playing && gs[1].Name == "room 1" && len(gs[1].Members) == 1 && gs[1].Members[0].ID == one
	})
	waitFor(t, "room 1 to hear of its group", 10*time.Second, func() bool {
		out, err := tonearm(t, "player", "--state", pstate(1), "status")
		return err == nil && strings.Contains(out, "group            room 1 (") && strings.Contains(out, "), stopped")
	})
	// Alone in its group, it stays there: leaving again says so.
	if out := ctl("leave", "--", one[:8]); !strings.HasPrefix(out, "room 1 ("+one[:8]+") was alone in group room 1 (") || !strings.HasSuffix(out, "), which stopped\n") {
		t.Fatalf("leave when alone: %q", out)
	}
	// The player hears of its new group before the activation that takes
	// its playback away (messaging.md: group/update before stream/end),
	// so the server's listing may lag the player's status by a message.
	waitFor(t, "room 1 without playback in the server's listing", 10*time.Second, func() bool {
		return strings.Count(ctl("clients", "-v"), "playback") == 1
	})
	// Coming back takes the operator.
	if out := ctl("join", "--", one[:8], "house"); out != "room 1 ("+one[:8]+") joined group House (main)\n" {
		t.Fatalf("join: %q", out)
	}
	waitFor(t, "room 1 back in the default group, playing", 10*time.Second, func() bool {
		out, err := tonearm(t, "player", "--state", pstate(1), "status")
		return err == nil && strings.Contains(out, "group            House (main), playing") &&
			len(groups()) == 1 && strings.Count(ctl("clients", "-v"), "playback") == 2
	})
	// Volume: the group's, keeping relative levels, then one player's.
	if out := ctl("volume", "30"); out != "volume of group House (main) set to 30\n" {
		t.Fatalf("volume: %q", out)
	}
	waitFor(t, "both players at 30", 10*time.Second, func() bool {
		for i := 1; i <= 2; i++ {
			if out, err := tonearm(t, "player", "--state", pstate(i), "status"); err != nil || !strings.Contains(out, "volume           30\n") {
				return false
			}
		}
		return true
	})
	if out := ctl("mute", "on", "--client", one[:8]); out != "room 1 ("+one[:8]+") muted\n" {
		t.Fatalf("mute: %q", out)
	}
	waitFor(t, "room 1 muted", 10*time.Second, func() bool {
		out, err := tonearm(t, "player", "--state", pstate(1), "status")
		return err == nil && strings.Contains(out, "volume           30, muted\n")
	})
	for _, bad := range [][]string{{"volume", "101"}, {"volume", "loud"}, {"mute", "maybe"}, {"volume", "5", "--group", "attic"}} {
		if out, err := tonearm(t, append([]string{"ctl", "--state", state}, bad...)...); err == nil {
			t.Errorf("ctl %v succeeded: %q", bad, out)
		}
	}
	// A track jump needs a folder.
	if out, err := tonearm(t, "ctl", "--state", state, "next"); err == nil || !strings.Contains(err.Error(), "no tracks to skip") {
		t.Fatalf("next on the tone: %q, %v", out, err)
	}
	music := filepath.Join(dir, "music")
	if err := os.Mkdir(music, 0o700); err != nil {
		t.Fatal(err)
	}
	writeNoise(t, filepath.Join(music, "1.wav"), 3)
	writeNoise(t, filepath.Join(music, "2.wav"), 3)
	ctl("play", music)
	if out := ctl("next"); out != "skipped to the next track in group House (main)\n" {
		t.Fatalf("next: %q", out)
	}
	if out := ctl("stop", "--group", "main"); out != "stopped group House (main)\n" {
		t.Fatalf("stop: %q", out)
	}
	if out := ctl("stop", "--group", "main"); out != "group House (main) was not playing\n" {
		t.Fatalf("stop again: %q", out)
	}
	for _, bad := range [][]string{{"join", one[:8], "attic"}, {"play", "tone", "--group", "attic"}, {"leave", one[:8], "extra"}, {"groups", "--group", "main"}} {
		if out, err := tonearm(t, append([]string{"ctl", "--state", state}, bad...)...); err == nil {
			t.Errorf("ctl %v succeeded: %q", bad, out)
		}
	}
}
