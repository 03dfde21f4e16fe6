package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/console"
	"github.com/tonearm-audio/tonearm/internal/daemon"
)

// startServer runs `tonearm server` on loopback and returns its state
// directory and addresses.
func startTestServer(t *testing.T, dir string, args ...string) (string, daemon.ServerInfo) {
	t.Helper()
	state := filepath.Join(dir, "server")
	start(t, append([]string{"server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns"}, args...)...)
	var info daemon.ServerInfo
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	return state, info
}

// ctlOf runs `tonearm ctl` against the server in state; a failure fails
// the test.
func ctlOf(t *testing.T, state string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, err := tonearm(t, append([]string{"ctl", "--state", state}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func groupsOf(t *testing.T, ctl func(...string) string) []console.Group {
	t.Helper()
	var l console.GroupList
	if err := json.Unmarshal([]byte(ctl("--json", "groups")), &l); err != nil {
		t.Fatal(err)
	}
	return l.Groups
}

// Issue 11 case 6: after `ctl revoke`, the client is still a member of the
// playing group, but it no longer plays; the listing says so instead of
// counting it as playing.
func TestRevokedClientNotListedAsPlaying(t *testing.T) {
	dir := t.TempDir()
	state, info := startTestServer(t, dir, "--play", "tone", "--name", "House")
	ctl := ctlOf(t, state)
	pstate := filepath.Join(dir, "p")
	start(t, "player", "--state", pstate, "--name", "Porch", "--server", info.URL, "--unpaired-access", "on", "--out", "null", "--no-mdns")
	id := mustPlayerID(t, pstate)
	waitFor(t, "the player", 10*time.Second, func() bool { return strings.Contains(ctl("clients"), id) })
	ctl("approve", id[:8])
	waitFor(t, "the player playing in the group", 10*time.Second, func() bool {
		gs := groupsOf(t, ctl)
		return len(gs) == 1 && gs[0].Playing && len(gs[0].Members) == 1 && gs[0].Members[0].Playing
	})
	if out := ctl("groups"); !strings.Contains(out, "Porch "+id[:8]) || strings.Contains(out, "not approved") {
		t.Fatalf("groups while playing:\n%s", out)
	}
	ctl("revoke", id[:8])
	waitFor(t, "the revoked player out of playback", 10*time.Second, func() bool {
		gs := groupsOf(t, ctl)
		return len(gs) == 1 && len(gs[0].Members) == 1 && !gs[0].Members[0].Playing && gs[0].Members[0].Note == "not approved"
	})
	out := ctl("groups")
	if !strings.Contains(out, "Porch "+id[:8]+" (not approved)") || !strings.Contains(out, "no member playing") {
		t.Fatalf("groups after revoke:\n%s", out)
	}
}
