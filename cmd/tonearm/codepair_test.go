package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/daemon"
)

// playerID reads a player's ID from its status.
func playerID(t *testing.T, state string) string {
	t.Helper()
	return mustPlayerID(t, state)
}

// TestPairByCodeCommands pairs two players the way an operator would,
// with the commands only: a dynamic code read off one player's terminal
// (a wrong code first, then the right one), a static code entered up front
// for the other after its owner opened the pairing window; then a cancel
// and an unpair.
func TestPairByCodeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and two players")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "server")
	start(t, "server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns", "--play", "none")
	var info daemon.ServerInfo
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	dynState, staticState := filepath.Join(dir, "dyn"), filepath.Join(dir, "static")
	dyn := start(t, "player", "--state", dynState, "--name", "Dyn", "--server", info.URL, "--pairing-code", "dynamic", "--no-mdns")
	start(t, "player", "--state", staticState, "--name", "Static", "--server", info.URL, "--pairing-code", "static:1234-5678", "--no-mdns")
	dynID, staticID := playerID(t, dynState), playerID(t, staticState)
	waitFor(t, "both players", 10*time.Second, func() bool {
		out, _ := tonearm(t, "ctl", "--state", state, "clients", "-v")
		return strings.Contains(out, dynID) && strings.Contains(out, staticID)
	})

	// Dynamic: the operator starts, reads the code off the player's
	// terminal, mistypes it once, then types it right.
	in, feed := io.Pipe()
	ctl := startIn(t, in, "ctl", "--state", state, "pair", "--method", "dynamic", "--", dynID[:8])
	codeRE := regexp.MustCompile(`pairing code for [^:]+: (\d{3}-\d{3})`)
	var code string
	waitFor(t, "the code on the player's terminal", 10*time.Second, func() bool {
		m := codeRE.FindStringSubmatch(dyn.stdout.String())
		if m != nil {
			code = m[1]
		}
		return m != nil
	})
	wrong := "000-000"
	if code == wrong {
		wrong = "111-111"
	}
	waitFor(t, "the prompt", 10*time.Second, func() bool { return strings.Contains(ctl.stdout.String(), "(round 1 of 20): ") })
	io.WriteString(feed, wrong+"\n")
	waitFor(t, "the second round's prompt", 10*time.Second, func() bool {
		return strings.Contains(ctl.stdout.String(), "wrong code; enter the code Dyn ("+dynID[:8]+") shows (round 2 of 20): ")
	})
	io.WriteString(feed, code+"\n")
	waitFor(t, "the pairing", 10*time.Second, func() bool { return strings.Contains(ctl.stdout.String(), "paired with Dyn ("+dynID[:8]+")") })
	feed.Close()
	ctl.stop(t)
	out, err := tonearm(t, "player", "--state", dynState, "records", "-v")
	if err != nil || !strings.Contains(out, info.ID) {
		t.Fatalf("dynamic player's records: %q %v", out, err)
	}

	// Static: the window is closed, so the device holds the attempt back
	// and ctl says so; its owner opens the window and the pairing goes on.
	ctl = start(t, "ctl", "--state", state, "pair", staticID, "--code", "1234 5678")
	waitFor(t, "the hold-back", 10*time.Second, func() bool {
		return strings.Contains(ctl.stdout.String(), "Static ("+staticID[:8]+") holds the attempt back")
	})
	out, err = tonearm(t, "player", "--state", staticState, "pair-window")
	if err != nil || !strings.Contains(out, "pairing window open until") {
		t.Fatalf("pair-window: %q %v", out, err)
	}
	waitFor(t, "the static pairing", 10*time.Second, func() bool {
		return strings.Contains(ctl.stdout.String(), "paired with Static ("+staticID[:8]+")")
	})
	ctl.stop(t)
	out, _ = tonearm(t, "ctl", "--state", state, "clients", "-v")
	if strings.Count(out, " paired ") != 2 {
		t.Fatalf("clients after pairing:\n%s", out)
	}

	// A wrong static code is refused before anything is sent.
	if _, err := tonearm(t, "ctl", "--state", state, "pair", staticID, "--code", "12"); err == nil || !strings.Contains(err.Error(), "malformed pairing code") {
		t.Fatalf("short code: %v", err)
	}

	// Cancel: an attempt left waiting for a code (no input on ctl's
	// terminal: not paired, so exit status 1) is cancelled by the
	// operator; the pairing stands as it was.
	out, err = tonearm(t, "ctl", "--state", state, "pair", dynID, "--method", "dynamic")
	if err == nil || !strings.Contains(err.Error(), "no input: the attempt goes on") {
		t.Fatalf("pair without input: %q %v", out, err)
	}
	out, err = tonearm(t, "ctl", "--state", state, "cancel", dynID)
	if err != nil || !strings.Contains(out, "cancelled pairing with Dyn ("+dynID[:8]+")") {
		t.Fatalf("cancel: %q %v", out, err)
	}
	waitFor(t, "the cancelled attempt to show", 10*time.Second, func() bool {
		out, _ := tonearm(t, "ctl", "--state", state, "client", dynID)
		return strings.Contains(out, "pairing with Dyn ("+dynID[:8]+") cancelled, by dynamic code") && strings.Contains(out, "status        paired")
	})
	if _, err := tonearm(t, "ctl", "--state", state, "cancel", dynID); err == nil || !strings.Contains(err.Error(), "no pairing attempt") {
		t.Fatalf("second cancel: %v", err)
	}

	// Unpair: both sides forget.
	out, err = tonearm(t, "ctl", "--state", state, "unpair", dynID)
	if err != nil || !strings.Contains(out, "unpaired Dyn ("+dynID[:8]+")") {
		t.Fatalf("unpair: %q %v", out, err)
	}
	waitFor(t, "the player to forget the server", 10*time.Second, func() bool {
		out, _ := tonearm(t, "player", "--state", dynState, "records")
		return strings.Contains(out, "no pairing records")
	})
	if _, err := tonearm(t, "ctl", "--state", state, "unpair", dynID); err == nil || !strings.Contains(err.Error(), "not paired") {
		t.Fatalf("second unpair: %v", err)
	}
}
