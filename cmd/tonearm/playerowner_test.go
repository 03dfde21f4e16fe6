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
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// serverKey is a made-up server ID; keys whose first three bytes match
// share their first four characters.
func serverKey(a, b, c, d byte) keys.PublicKey { return keys.PublicKey{a, b, c, d, 7, 7} }

// fillRecords writes pairing records into a player's store as earlier
// pairings would have: named ones, and one kept before names were.
func fillRecords(t *testing.T, state string, recs []store.ServerRecord) {
	t.Helper()
	st, err := store.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Identity(nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := st.PutServerRecord(r, store.MinRecordCapacity, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPlayerRecordsAndForget: the owner's view of the pairing records and
// its removal of one, on a player that is not running (issue 11): names,
// short IDs, last use in local time, the slots; forget by unique prefix,
// once-prefixed errors, and confirmation.
func TestPlayerRecordsAndForget(t *testing.T) {
	state := filepath.Join(t.TempDir(), "p")
	now := time.Now()
	yesterday := now.Add(-26 * time.Hour)
	a, b, c := serverKey(0xab, 0xcd, 0xef, 1), serverKey(0xab, 0xcd, 0xef, 2), serverKey(0x12, 0x34, 0x56, 3)
	fillRecords(t, state, []store.ServerRecord{
		{Server: a, PSK: keys.PSK{1}, LastUsed: now.Add(-time.Minute), Name: "Kitchen Hub"},
		{Server: b, PSK: keys.PSK{2}, LastUsed: yesterday, Name: "Attic"},
		{Server: c, PSK: keys.PSK{3}, LastUsed: yesterday.Add(-time.Hour)}, // before names were kept
	})
	out, err := tonearm(t, "player", "records", "--state", state)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`(?m)^NAME +SERVER +LAST USED +LAST PLAYBACK$`,
		`(?m)^Kitchen Hub +` + regexp.QuoteMeta(a.String()[:8]) + ` +` + localTime(now.Add(-time.Minute), time.Now()) + ` +no$`,
		`(?m)^Attic +` + regexp.QuoteMeta(b.String()[:8]) + ` +` + yesterday.Format("2006-01-02 15:04") + ` +no$`,
		`(?m)^- +` + regexp.QuoteMeta(c.String()[:8]) + ` +`,
		`(?m)^slots: 3 of 5 used$`,
	}
	for _, re := range want {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("records: no line matching %s in\n%s", re, out)
		}
	}
	if strings.Contains(out, a.String()) {
		t.Errorf("records shows full IDs without -v:\n%s", out)
	}
	if out, err := tonearm(t, "player", "--state", state, "records", "-v"); err != nil || !strings.Contains(out, a.String()) {
		t.Errorf("records -v: %q %v", out, err)
	}
	out, err = tonearm(t, "player", "records", "--json", "--state", state)
	var recs daemon.Records
	if err != nil || json.Unmarshal([]byte(out), &recs) != nil || len(recs.Records) != 3 || recs.Capacity != 5 ||
		recs.Records[0].Server != a.String() || recs.Records[0].Name != "Kitchen Hub" || recs.Records[2].Name != "" {
		t.Errorf("records --json: %q %v", out, err)
	}

	// forget: one prefix in errors, unique prefixes of 4 or more.
	forget := func(args ...string) (string, error) {
		return tonearm(t, append([]string{"player", "forget", "--state", state}, args...)...)
	}
	for _, tc := range []struct{ arg, want string }{
		{"abc", `player forget: server "abc": give the server ID or at least 4 of its first characters, as 'tonearm player records' shows it`},
		{"zzzz", `player forget: no pairing record has a server ID starting "zzzz"`},
		{a.String()[:4], `player forget: 2 pairing records have a server ID starting "` + a.String()[:4] + `"; give more of it`},
		{serverKey(9, 9, 9, 9).String(), `player forget: no pairing record for server ` + serverKey(9, 9, 9, 9).String()},
	} {
		_, err := forget(tc.arg, "--yes")
		got := ""
		if err != nil {
			got = strings.ReplaceAll(strings.TrimSpace(err.Error()), state, "DIR")
		}
		if !strings.HasSuffix(got, tc.want) || strings.Count(got, "forget:") != 1 {
			t.Errorf("forget %s: got %q, want it to end %q", tc.arg, got, tc.want)
		}
	}
	// Destructive: without a terminal to ask on, only --yes confirms.
	if _, err := forget(a.String()[:6]); err == nil || !strings.Contains(err.Error(), "player forget: asks for confirmation and no terminal is there to answer: add --yes") {
		t.Fatalf("forget without --yes: %v", err)
	}
	if out, _ := tonearm(t, "player", "--state", state, "records"); !strings.Contains(out, "slots: 3 of 5 used") {
		t.Fatalf("an unconfirmed forget removed a record:\n%s", out)
	}
	if out, err := forget(a.String()[:6], "--yes"); err != nil || out != "forgot server Kitchen Hub ("+a.String()[:8]+")\n" {
		t.Fatalf("forget by prefix: %q %v", out, err)
	}
	if out, _ := tonearm(t, "player", "--state", state, "records"); !strings.Contains(out, "slots: 2 of 5 used") || strings.Contains(out, "Kitchen") {
		t.Fatalf("after forget:\n%s", out)
	}
	// A prefix that starts with '-' goes after --.
	dash := serverKey(0xfb, 0xef, 0xbe, 4) // "-----" in base64url
	fillRecords(t, state, []store.ServerRecord{{Server: dash, PSK: keys.PSK{4}, LastUsed: now, Name: "Dash"}})
	if !strings.HasPrefix(dash.String(), "-") {
		t.Fatalf("test key %s does not start with '-'", dash)
	}
	if out, err := tonearm(t, "player", "forget", "--yes", "--state", state, "--", dash.String()[:5]); err != nil || !strings.Contains(out, "forgot server Dash") {
		t.Fatalf("forget -- -prefix: %q %v", out, err)
	}

	// factory-reset confirms the same way.
	if _, err := tonearm(t, "player", "factory-reset", "--state", state); err == nil || !strings.Contains(err.Error(), "add --yes") {
		t.Fatalf("factory-reset without --yes: %v", err)
	}
	if out, _ := tonearm(t, "player", "--state", state, "records"); !strings.Contains(out, "slots: 2 of 5 used") {
		t.Fatalf("an unconfirmed factory reset removed records:\n%s", out)
	}
	if out, err := tonearm(t, "player", "factory-reset", "--yes", "--state", state); err != nil || !strings.Contains(out, "cleared") {
		t.Fatalf("factory-reset --yes: %q %v", out, err)
	}
	if out, _ := tonearm(t, "player", "--state", state, "records"); !strings.Contains(out, "no pairing records") || !strings.Contains(out, "slots: 0 of 5 used") {
		t.Fatalf("after factory reset:\n%s", out)
	}
}

// TestPlayerFlagsAfterAction: every player action takes its flags before
// or after the action (GUIDE.md section 5).
func TestPlayerFlagsAfterAction(t *testing.T) {
	state := filepath.Join(t.TempDir(), "p")
	for _, args := range [][]string{
		{"token", "--state", state},
		{"token", "--state", state, "--qr"},
		{"status", "--state=" + state},
		{"static-code", "--state", state},
		{"static-code", "1234-5678", "--state", state},
		{"unpaired-access", "on", "--state", state},
		{"records", "--state", state},
		{"rotate-psk", "--state", state},
		{"factory-reset", "--state", state, "--yes"},
		{"name", "--state", state, "Den"},
	} {
		if out, err := tonearm(t, append([]string{"player"}, args...)...); err != nil {
			t.Errorf("player %s: %v (%q)", strings.Join(args, " "), err, out)
		}
	}
	// It acted on that state directory, not the default one.
	if out, err := tonearm(t, "player", "status", "--state", state); err != nil || !strings.Contains(out, "name             Den") {
		t.Errorf("status: %q %v", out, err)
	}
	if _, err := tonearm(t, "player", "pair-window", "--state", state); err == nil || !strings.Contains(err.Error(), "player pair-window: the player is not running") {
		t.Errorf("pair-window on a stopped player: %v", err)
	}
}

// TestTimeWords: times shown to people are local and human.
func TestTimeWords(t *testing.T) {
	now := time.Date(2026, 12, 7, 21, 19, 30, 0, time.Local)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(5 * time.Minute), "21:24, in 5 min"},
		{now.Add(4*time.Minute + 50*time.Second), "21:24, in 5 min"},
		{now.Add(20 * time.Second), "21:19, in under a minute"},
		{now.Add(-time.Second), "21:19, now"},
		{now.Add(65 * time.Minute), "22:24, in 1 h 5 min"},
		{now.Add(time.Hour + 59*time.Minute + 40*time.Second), "23:19, in 2 h 0 min"},
	} {
		if got := until(tc.t, now); got != tc.want {
			t.Errorf("until(+%v) = %q, want %q", tc.t.Sub(now), got, tc.want)
		}
	}
	if got := localTime(now.Add(-time.Hour), now); got != "today 20:19" {
		t.Errorf("localTime today: %q", got)
	}
	if got := localTime(now.Add(-24*time.Hour), now); got != "2026-12-06 21:19" {
		t.Errorf("localTime yesterday: %q", got)
	}
}

// whenRE matches a recent time as localTime shows it: today's, or
// yesterday's just after midnight.
const whenRE = `(?:today \d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d)`

// TestPlayerSeesOperatorActions: what the owner of a speaker sees of the
// operator's actions, through `tonearm player status` and the player's
// log (issue 11): a revoke, a pairing that evicts a record, an unpair.
func TestPlayerSeesOperatorActions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and a player")
	}
	dir := t.TempDir()
	state, pstate := filepath.Join(dir, "server"), filepath.Join(dir, "p")
	start(t, "server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns",
		"--play", "tone", "--name", "Hub")
	var info daemon.ServerInfo
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	// Five records from earlier pairings fill the player's slots; the
	// oldest is the attic's.
	now := time.Now()
	old := []store.ServerRecord{
		{Server: serverKey(1, 1, 1, 1), PSK: keys.PSK{1}, LastUsed: now.Add(-50 * time.Hour), Name: "Old Attic"},
		{Server: serverKey(2, 2, 2, 2), PSK: keys.PSK{2}, LastUsed: now.Add(-40 * time.Hour), Name: "Garage"},
		{Server: serverKey(3, 3, 3, 3), PSK: keys.PSK{3}, LastUsed: now.Add(-30 * time.Hour)},
		{Server: serverKey(4, 4, 4, 4), PSK: keys.PSK{4}, LastUsed: now.Add(-20 * time.Hour), Name: "Office"},
		{Server: serverKey(5, 5, 5, 5), PSK: keys.PSK{5}, LastUsed: now.Add(-10 * time.Hour), Name: "Shed"},
	}
	fillRecords(t, pstate, old)
	pl := start(t, "player", "--state", pstate, "--name", "Den", "--server", info.URL, "--unpaired-access", "on",
		"--out", "null", "--no-mdns")
	id := playerID(t, pstate)
	ctl := func(args ...string) string {
		t.Helper()
		out, err := tonearm(t, append([]string{"ctl", "--state", state}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	status := func() string {
		t.Helper()
		out, err := tonearm(t, "player", "status", "--state", pstate)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	waitStatus := func(what string, cond func(string) bool) string {
		t.Helper()
		var out string
		waitFor(t, what, 10*time.Second, func() bool { out = status(); return cond(out) })
		return out
	}
	waitFor(t, "the player to connect", 10*time.Second, func() bool { return strings.Contains(ctl("clients", "-v"), id) })

	// Approved, it plays; revoked, the status says what was taken away,
	// not what the group does.
	ctl("approve", id)
	waitStatus("the player playing", func(s string) bool {
		return strings.Contains(s, "activities       playback (roles: player@v1)\n") && strings.Contains(s, "), playing\n")
	})
	ctl("revoke", id)
	out := waitStatus("the revoke to show", func(s string) bool {
		return strings.Contains(s, "activities       none, no roles: not approved for playback\n")
	})
	if strings.Contains(out, "playing\n") {
		t.Fatalf("status says playing after the revoke:\n%s", out)
	}

	// Pairing with a sixth server evicts the least recently used record:
	// the log and the status say which, and for whom.
	tok, err := tonearm(t, "player", "token", "--state", pstate)
	if err != nil {
		t.Fatal(err)
	}
	tonearm(t, "ctl", "--state", state, "pair", "--token", strings.TrimSpace(tok)) // its outcome is ctl's to report
	hub := "Hub (" + info.ID[:8] + ")"
	attic := "Old Attic (" + old[0].Server.String()[:8] + ")"
	out = waitStatus("the pairing", func(s string) bool { return strings.Contains(s, "paired           true\n") })
	if !regexp.MustCompile(`(?m)^evicted +` + regexp.QuoteMeta(attic+", for "+hub) + ` \(` + whenRE + `\)$`).MatchString(out) {
		t.Fatalf("status does not show the eviction:\n%s", out)
	}
	if log := pl.stderr.String(); !strings.Contains(log, "pairing records full: the record of "+attic+" was evicted for "+hub) {
		t.Fatalf("the player's log does not show the eviction:\n%s", log)
	}
	out, err = tonearm(t, "player", "records", "--state", pstate)
	if err != nil || !regexp.MustCompile(`(?m)^Hub +`+regexp.QuoteMeta(info.ID[:8])+` +`+whenRE+` +`).MatchString(out) ||
		!strings.Contains(out, "slots: 5 of 5 used") || strings.Contains(out, "Old Attic") || !regexp.MustCompile(`(?m)^- +`).MatchString(out) {
		t.Fatalf("records after the eviction: %v\n%s", err, out)
	}

	// The operator unpairs: the player says so, after the connection is
	// gone and when it has come back unpaired.
	ctl("unpair", id)
	event := hub + " unpaired this player; its pairing record was removed"
	out = waitStatus("the unpair to show", func(s string) bool {
		return regexp.MustCompile(`(?m)^server event +` + regexp.QuoteMeta(event) + ` \(` + whenRE + `\)$`).MatchString(s)
	})
	if log := pl.stderr.String(); !strings.Contains(log, event) {
		t.Fatalf("the player's log does not show the unpair:\n%s", log)
	}
	if out, _ := tonearm(t, "player", "records", "--state", pstate); strings.Contains(out, "Hub") || !strings.Contains(out, "slots: 4 of 5 used") {
		t.Fatalf("records after the unpair:\n%s", out)
	}

	// Back unpaired and approved, the owner turns unpaired access off on
	// the running player: the connection relying on it closes.
	waitStatus("the unpaired reconnect", func(s string) bool { return strings.Contains(s, "paired           false\n") })
	ctl("approve", id)
	waitStatus("the player role", func(s string) bool { return strings.Contains(s, "(roles: player@v1)") })
	if out, err := tonearm(t, "player", "unpaired-access", "off", "--state", pstate); err != nil || out != "unpaired access off; closed 1 connection that relied on it\n" {
		t.Fatalf("unpaired-access off on the running player: %q %v", out, err)
	}
	waitStatus("the player without roles", func(s string) bool {
		return strings.Contains(s, "unpaired access  off\n") && !strings.Contains(s, "roles: player")
	})
}

// TestPairWindowTimes: the static pairing window's end is shown in local
// time with how soon it comes (issue 11: it printed raw UTC).
func TestPairWindowTimes(t *testing.T) {
	pstate := filepath.Join(t.TempDir(), "p")
	start(t, "player", "--state", pstate, "--listen", "127.0.0.1:0", "--pairing-code", "static", "--out", "null", "--no-mdns")
	waitFor(t, "the player", 10*time.Second, func() bool {
		out, _ := tonearm(t, "player", "status", "--state", pstate)
		return strings.Contains(out, "running          true")
	})
	out, err := tonearm(t, "player", "pair-window", "--state", pstate)
	re := regexp.MustCompile(`^pairing window open until (\d\d:\d\d), in [45] min\n$`)
	if err != nil || !re.MatchString(out) {
		t.Fatalf("pair-window: %q %v", out, err)
	}
	st, err := tonearm(t, "player", "status", "--state", pstate)
	if err != nil || !regexp.MustCompile(`(?m)^pairing window +open until \d\d:\d\d, in [45] min$`).MatchString(st) {
		t.Fatalf("status: %q %v", st, err)
	}
}
