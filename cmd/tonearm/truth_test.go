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
	state, info, _ := startTestServerProc(t, dir, args...)
	return state, info
}

func startTestServerProc(t *testing.T, dir string, args ...string) (string, daemon.ServerInfo, *proc) {
	t.Helper()
	state := filepath.Join(dir, "server")
	os.Remove(filepath.Join(state, daemon.ServerInfoFile))
	p := start(t, append([]string{"server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns"}, args...)...)
	var info daemon.ServerInfo
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	return state, info, p
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
	waitFor(t, "the player", 10*time.Second, func() bool { return strings.Contains(ctl("clients", "-v"), id) })
	ctl("approve", "--", id[:8])
	waitFor(t, "the player playing in the group", 10*time.Second, func() bool {
		gs := groupsOf(t, ctl)
		return len(gs) == 1 && gs[0].Playing && len(gs[0].Members) == 1 && gs[0].Members[0].Playing
	})
	if out := ctl("groups"); !strings.Contains(out, "Porch "+id[:8]) || strings.Contains(out, "not approved") {
		t.Fatalf("groups while playing:\n%s", out)
	}
	ctl("revoke", "--", id[:8])
	waitFor(t, "the revoked player out of playback", 10*time.Second, func() bool {
		gs := groupsOf(t, ctl)
		return len(gs) == 1 && len(gs[0].Members) == 1 && !gs[0].Members[0].Playing && gs[0].Members[0].Note == "not approved"
	})
	out := ctl("groups")
	if !strings.Contains(out, "Porch "+id[:8]+" (not approved)") || !strings.Contains(out, "no member playing") {
		t.Fatalf("groups after revoke:\n%s", out)
	}
}

// clientRow is the `ctl clients` line of a client.
func clientRow(out, id string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, id) {
			return line
		}
	}
	return ""
}

// Issue 11 case 6: an offline paired client is listed by its name and
// since when it is offline, also after the server restarts; a client that
// has forgotten its record shows "needs re-pairing" when it comes back.
func TestOfflinePairedClientShown(t *testing.T) {
	dir := t.TempDir()
	srvDir := filepath.Join(dir, "s")
	state, info, srv := startTestServerProc(t, srvDir, "--play", "none")
	ctl := ctlOf(t, state)
	pstate := filepath.Join(dir, "p")
	playerArgs := []string{"player", "--state", pstate, "--name", "Den", "--server", info.URL, "--out", "null", "--no-mdns"}
	p := start(t, playerArgs...)
	id := mustPlayerID(t, pstate)
	token, err := tonearm(t, "player", "--state", pstate, "token")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the player", 10*time.Second, func() bool { return strings.Contains(ctl("clients", "-v"), id) })
	if _, err := tonearm(t, "ctl", "--state", state, "pair", "--token", strings.TrimSpace(token), "--", id[:8]); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(ctl("clients", "-v"))
		}
	}()
	waitFor(t, "the pairing", 10*time.Second, func() bool {
		f := strings.Fields(clientRow(ctl("clients", "-v"), id))
		return len(f) > 2 && f[1] == "paired" && f[2] != "no"
	})
	p.stop(t)
	stopped := time.Now()
	var row string
	waitFor(t, "the player offline", 10*time.Second, func() bool {
		row = clientRow(ctl("clients", "-v"), id)
		return strings.Contains(row, "paired, offline since ")
	})
	checkOffline := func(when string) {
		t.Helper()
		row := clientRow(ctl("clients", "-v"), id)
		// The minute may turn between the stop and the listing.
		ok := false
		for _, at := range []time.Time{stopped, stopped.Add(time.Minute)} {
			ok = ok || strings.Contains(row, "paired, offline since "+localTime(at, time.Now())+" ")
		}
		if !ok || !strings.Contains(row, " Den ") {
			t.Fatalf("%s: offline paired client:\n%s", when, ctl("clients", "-v"))
		}
		var cl console.Client
		if err := json.Unmarshal([]byte(ctl("--json", "client", "--", id[:8])), &cl); err != nil {
			t.Fatal(err)
		}
		seen, err := time.Parse(time.RFC3339, cl.LastSeen)
		if err != nil || cl.Name != "Den" || cl.Connected || seen.Sub(stopped).Abs() > time.Minute {
			t.Fatalf("%s: client: %+v", when, cl)
		}
	}
	checkOffline("running")

	// The name and the last sighting outlive the server.
	srv.stop(t)
	state, info, _ = startTestServerProc(t, srvDir, "--play", "none")
	checkOffline("after a server restart")

	// The player forgets the server while stopped: back, it is flagged.
	if out, err := tonearm(t, "player", "--state", pstate, "forget", "--yes", "--", info.ID); err != nil {
		t.Fatalf("forget: %q %v", out, err)
	}
	playerArgs[6] = info.URL
	pl := start(t, playerArgs...)
	waitFor(t, "the credential mismatch", 10*time.Second, func() bool {
		f := strings.Fields(clientRow(ctl("clients", "-v"), id))
		return len(f) > 3 && f[1] == "needs" && f[2] == "re-pairing" && f[3] != "no"
	})
	// Gone again, it still needs re-pairing: going offline does not make
	// it plainly paired.
	pl.stop(t)
	waitFor(t, "the player offline, still needing re-pairing", 10*time.Second, func() bool {
		return strings.Contains(clientRow(ctl("clients", "-v"), id), "needs re-pairing, offline since ")
	})
}

// Issue 11 case 2, server side: a running player that dialed in is
// unpaired; it closes with goodbye 'unpaired' and does not come back by
// itself. It stays in `ctl clients` with why, and pairing it from ctl says
// plainly that the server cannot reach it.
func TestUnpairedDialedInPlayerListed(t *testing.T) {
	dir := t.TempDir()
	state, info := startTestServer(t, dir, "--play", "none")
	ctl := ctlOf(t, state)
	pstate := filepath.Join(dir, "p")
	start(t, "player", "--state", pstate, "--name", "Loft", "--server", info.URL, "--out", "null", "--no-mdns", "--pairing-code", "dynamic")
	id := mustPlayerID(t, pstate)
	token, err := tonearm(t, "player", "--state", pstate, "token")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	waitFor(t, "the player", 10*time.Second, func() bool { return strings.Contains(ctl("clients", "-v"), id) })
	ctl("pair", "--token", token, "--", id[:8])
	waitFor(t, "the pairing", 10*time.Second, func() bool {
		f := strings.Fields(clientRow(ctl("clients", "-v"), id))
		return len(f) > 2 && f[1] == "paired" && f[2] != "no"
	})
	ctl("unpair", "--", id[:8])
	var row string
	waitFor(t, "the unpaired player listed offline", 10*time.Second, func() bool {
		row = clientRow(ctl("clients", "-v"), id)
		return strings.Contains(row, "unapproved, offline since ")
	})
	if !strings.Contains(row, " Loft ") || !strings.Contains(row, "unpaired by the operator at ") ||
		!strings.Contains(row, "not reconnecting (the device closed with 'unpaired')") {
		t.Fatalf("unpaired player:\n%s", ctl("clients", "-v"))
	}
	for _, how := range [][]string{{"--token", token}, {"--method", "dynamic"}} {
		out, err := tonearm(t, append(append([]string{"ctl", "--state", state, "pair"}, how...), "--", id[:8])...)
		if err == nil || !strings.Contains(err.Error(), "Loft closed with 'unpaired' at ") ||
			!strings.Contains(err.Error(), "it dialed this server itself, so the server cannot dial it") {
			t.Fatalf("pair %v: %q %v", how, out, err)
		}
	}
	if out := ctl("client", "--", id[:8]); !strings.Contains(out, "note") || !strings.Contains(out, "unpaired by the operator") {
		t.Fatalf("client:\n%s", out)
	}
}
