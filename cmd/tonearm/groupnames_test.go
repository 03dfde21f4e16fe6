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

// TestGroupCreateAndRename: `ctl group create` and `ctl group rename`
// through the binary, as an operator types them: one line each saying
// what happened, refusals with the reason and a failing exit, and the
// player in the renamed group hears the new name.
func TestGroupCreateAndRename(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "server")
	start(t, "server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns",
		"--play", "none", "--name", "House")
	var info daemon.ServerInfo
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	pstate := filepath.Join(dir, "player")
	start(t, "player", "--state", pstate, "--name", "Den", "--server", info.URL, "--unpaired-access", "on", "--out", "null", "--no-mdns")
	ctl := func(args ...string) (string, error) {
		t.Helper()
		return tonearm(t, append([]string{"ctl", "--state", state}, args...)...)
	}
	groupID := func(name string) string {
		t.Helper()
		out, err := ctl("--json", "groups")
		if err != nil {
			t.Fatal(err)
		}
		var l console.GroupList
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatal(err)
		}
		for _, g := range l.Groups {
			if g.Name == name {
				return g.ID
			}
		}
		return ""
	}

	out, err := ctl("group", "create", "Living", "room")
	id := groupID("Living room")
	if err != nil || id == "" || out != "created group Living room ("+id+")\n" {
		t.Fatalf("create: %q, %v (id %q)", out, err, id)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"group", "create", "living", "ROOM"}, `tonearm: ctl group create: group name taken: group ` + id + ` is already named "Living room"`},
		{[]string{"group", "create", strings.Repeat("x", 65)}, "ctl group create: bad group name: 65 characters, at most 64"},
		{[]string{"group", "create"}, "ctl group create: give the new group's name"},
		{[]string{"group", "rename", "attic", "Loft"}, `ctl group rename: no group "attic"`},
		{[]string{"group", "rename", "Living room"}, "ctl group rename: give the group (ID or name) and its new name"},
		{[]string{"group", "rename", id, "house"}, `group name taken: group main is already named "House"`},
		{[]string{"group", "delete", id}, `ctl group: unknown action "delete"`},
		{[]string{"group"}, "ctl group: give create NAME or rename GROUP NAME"},
	} {
		out, err := ctl(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ctl %q: %q, %v; want a failure saying %q", c.args, out, err, c.says)
		}
	}

	// The player, moved in, hears of the group, then of its new name.
	waitFor(t, "the player", 10*time.Second, func() bool {
		out, err := ctl("clients", "-v")
		return err == nil && strings.Contains(out, "Den")
	})
	var pid string
	for _, line := range strings.Split(func() string { o, _ := ctl("clients", "-v"); return o }(), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[3] == "Den" {
			pid = f[0]
		}
	}
	if _, err := ctl("approve", pid); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl("join", pid[:8], "living room"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the player in Living room", 10*time.Second, func() bool {
		out, err := tonearm(t, "player", "--state", pstate, "status")
		return err == nil && strings.Contains(out, "Living room ("+id+"), stopped")
	})
	out, err = ctl("group", "rename", "living room", "Lounge")
	if err != nil || out != "renamed group Living room ("+id+") to Lounge\n" {
		t.Fatalf("rename: %q, %v", out, err)
	}
	waitFor(t, "the player to hear the new name", 10*time.Second, func() bool {
		out, err := tonearm(t, "player", "--state", pstate, "status")
		return err == nil && strings.Contains(out, "Lounge ("+id+"), stopped")
	})
	if out, _ := ctl("groups"); !strings.Contains(out, id+"  Lounge") {
		t.Fatalf("groups:\n%s", out)
	}
}
