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

	"github.com/tonearm-audio/tonearm/internal/console"
	"github.com/tonearm-audio/tonearm/internal/daemon"
)

// exited waits for a command started with start or startIn to end by
// itself and returns its exit status.
func (p *proc) exited(t *testing.T, d time.Duration) int {
	t.Helper()
	code := -1
	p.once.Do(func() {
		select {
		case code = <-p.done:
		case <-time.After(d):
			p.cancel()
			t.Fatalf("tonearm %s did not end; stdout %q stderr %q", strings.Join(p.args, " "), p.stdout.String(), p.stderr.String())
		}
	})
	return code
}

// outcomeRig is a server (no source) with its console, for the operator's
// commands.
type outcomeRig struct {
	dir, state string
	info       daemon.ServerInfo
	srv        *proc
}

func newOutcomeRig(t *testing.T) *outcomeRig {
	t.Helper()
	r := &outcomeRig{dir: t.TempDir()}
	r.state = filepath.Join(r.dir, "server")
	r.srv = start(t, "server", "--state", r.state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns", "--play", "none")
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(r.state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &r.info) == nil
	})
	return r
}

// player starts a player connected to the server and waits until the
// server lists it; it returns the player's state directory, ID and process.
func (r *outcomeRig) player(t *testing.T, name string, args ...string) (string, string, *proc) {
	t.Helper()
	st := filepath.Join(r.dir, strings.ToLower(name))
	p := start(t, append([]string{"player", "--state", st, "--name", name, "--server", r.info.URL, "--no-mdns", "--out", "null"}, args...)...)
	id := mustPlayerID(t, st)
	// Connected, not only listed: the server lists a client that left
	// as well.
	waitFor(t, name+" at the server", 10*time.Second, func() bool {
		out, err := tonearm(t, "ctl", "--state", r.state, "--json", "client", "--", id)
		var cl console.Client
		return err == nil && json.Unmarshal([]byte(out), &cl) == nil && cl.Connected
	})
	return st, id, p
}

// clientJSON is the console's entry for a client.
func (r *outcomeRig) clientJSON(t *testing.T, id string) console.Client {
	t.Helper()
	out, err := tonearm(t, "ctl", "--state", r.state, "--json", "client", "--", id)
	if err != nil {
		t.Fatal(err)
	}
	var cl console.Client
	if err := json.Unmarshal([]byte(out), &cl); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return cl
}

// Issue case 1: a token that is not the device's current one (one
// character changed) fails, and ctl says so with exit status 1; the
// console's entry for the client carries the same words. A good token
// prints the same "paired with" line as code pairing.
func TestPairByTokenReportsOutcome(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and a player")
	}
	r := newOutcomeRig(t)
	pst, id, _ := r.player(t, "Kitchen")
	token, err := tonearm(t, "player", "--state", pst, "token")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	// Change one character in the PSK half of the token.
	b := []byte(token)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	bad := string(b)

	out, err := tonearm(t, "ctl", "--state", r.state, "pair", "--token", bad, "--", id[:8])
	if err == nil {
		t.Fatalf("a wrong token: ctl exited 0: %q", out)
	}
	want := "pairing failed: Kitchen (" + id[:8] + ") refused the token"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("a wrong token: %v; want %q", err, want)
	}
	cl := r.clientJSON(t, id)
	if cl.Pairing == nil || !cl.Pairing.Done || cl.Pairing.OK || !strings.HasPrefix(cl.Pairing.Text, want) {
		t.Fatalf("the console's entry after a wrong token: %+v", cl.Pairing)
	}
	if !strings.Contains(err.Error(), cl.Pairing.Text) {
		t.Fatalf("ctl and the console disagree: %q vs %q", err, cl.Pairing.Text)
	}
	// The player reconnects (a refused token closes the connection).
	waitFor(t, "Kitchen back at the server", 10*time.Second, func() bool {
		return r.clientJSON(t, id).Connected
	})

	out, err = tonearm(t, "ctl", "--state", r.state, "pair", "--token", token)
	if err != nil {
		t.Fatalf("the right token: %v", err)
	}
	if !strings.Contains(out, "paired with Kitchen ("+id[:8]+")\n") {
		t.Fatalf("the right token: %q", out)
	}
	cl = r.clientJSON(t, id)
	if cl.Status != "paired" || cl.Pairing == nil || !cl.Pairing.OK {
		t.Fatalf("after pairing: %+v %+v", cl, cl.Pairing)
	}
	// A paired client has no approval to revoke, and ctl says what takes
	// its access instead.
	if _, err := tonearm(t, "ctl", "--state", r.state, "revoke", "--", id[:8]); err == nil ||
		!strings.Contains(err.Error(), "Kitchen ("+id[:8]+"): the client is not approved: it is paired; unpair it to take its access") {
		t.Fatalf("revoke of a paired client: %v", err)
	}
}

// A token for a client that is not connected: ctl waits for it, then
// says it is not paired yet, with exit status 1.
func TestPairByTokenWaitsForClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server")
	}
	r := newOutcomeRig(t)
	pst := filepath.Join(r.dir, "offline")
	token, err := tonearm(t, "player", "--state", pst, "token")
	if err != nil {
		t.Fatal(err)
	}
	id := mustPlayerID(t, pst)
	out, err := tonearm(t, "ctl", "--state", r.state, "pair", "--token", strings.TrimSpace(token), "--wait", "1s")
	if err == nil {
		t.Fatalf("ctl exited 0 for a client that never connected: %q", out)
	}
	if !strings.Contains(out, "waiting for "+id[:8]+" to connect") || !strings.Contains(err.Error(), "not paired yet") ||
		!strings.Contains(out, "the token names "+id+", which has never connected to this server") {
		t.Fatalf("out %q err %v", out, err)
	}

	// Interrupted while it waits, ctl drops the token: the attempt ends
	// as cancelled, and the client does not pair when it connects later.
	ctl := start(t, "ctl", "--state", r.state, "pair", "--token", strings.TrimSpace(token))
	waitFor(t, "ctl to wait", 10*time.Second, func() bool { return strings.Contains(ctl.stdout.String(), "to connect") })
	ctl.cancel()
	if c := ctl.exited(t, 15*time.Second); c != 1 || !strings.Contains(ctl.stderr.String(), "interrupted; the attempt was cancelled") {
		t.Fatalf("ctl exited %d: %q", c, ctl.stderr.String())
	}
	if p := r.clientJSON(t, id).Pairing; p == nil || !p.Done || p.Last != "cancelled" {
		t.Fatalf("after the interrupt: %+v", p)
	}
}

// Issue cases 3 and 4: a wrong dynamic code says it was wrong; a pairing
// prompt ends when the player disconnects, and when the server stops,
// each with a reason and exit status 1.
func TestCodePromptOutcomes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and a player")
	}
	r := newOutcomeRig(t)
	_, id, pl := r.player(t, "Bedroom", "--pairing-code", "dynamic")
	codeRE := regexp.MustCompile(`pairing code for [^:]+: (\d{3}-\d{3})`)

	// Case 3: the second prompt says the first code was wrong.
	in, feed := io.Pipe()
	ctl := startIn(t, in, "ctl", "--state", r.state, "pair", "--method", "dynamic", "--", id[:8])
	var code string
	waitFor(t, "the code on the player's terminal", 10*time.Second, func() bool {
		m := codeRE.FindAllStringSubmatch(pl.stdout.String(), -1)
		if m != nil {
			code = m[len(m)-1][1]
		}
		return m != nil
	})
	waitFor(t, "the prompt", 10*time.Second, func() bool {
		return strings.Contains(ctl.stdout.String(), "enter the code Bedroom ("+id[:8]+") shows (round 1 of 20): ")
	})
	wrong := "000-000"
	if code == wrong {
		wrong = "111-111"
	}
	io.WriteString(feed, wrong+"\n")
	waitFor(t, "the second prompt", 10*time.Second, func() bool {
		return strings.Contains(ctl.stdout.String(), "wrong code; enter the code Bedroom ("+id[:8]+") shows (round 2 of 20): ")
	})
	cl := r.clientJSON(t, id)
	if cl.Pairing == nil || !strings.HasPrefix(cl.Pairing.Text, "wrong code; ") || cl.Pairing.WrongCodes != 1 {
		t.Fatalf("the console's entry after a wrong code: %+v", cl.Pairing)
	}

	// Case 4: the player goes away while ctl waits for the code.
	pl.stop(t)
	if c := ctl.exited(t, 15*time.Second); c != 1 {
		t.Fatalf("ctl exited %d after the player left; stdout %q", c, ctl.stdout.String())
	}
	if e := ctl.stderr.String(); !strings.Contains(e, "pairing failed: the connection to Bedroom ("+id[:8]+") dropped") {
		t.Fatalf("ctl's reason: %q", e)
	}
	feed.Close()

	// Case 4: the server stops while ctl waits for the code.
	_, id, _ = r.player(t, "Bedroom", "--pairing-code", "dynamic")
	in, feed = io.Pipe()
	defer feed.Close()
	ctl = startIn(t, in, "ctl", "--state", r.state, "pair", "--method", "dynamic", "--", id[:8])
	waitFor(t, "the prompt", 10*time.Second, func() bool { return strings.Contains(ctl.stdout.String(), "(round 1 of 20): ") })
	r.srv.stop(t)
	if c := ctl.exited(t, 15*time.Second); c != 1 {
		t.Fatalf("ctl exited %d after the server stopped; stdout %q", c, ctl.stdout.String())
	}
	if e := ctl.stderr.String(); !strings.Contains(e, "ctl pair: lost the server while pairing") {
		t.Fatalf("ctl's reason: %q", e)
	}
}

// Interrupting ctl at a code prompt cancels the attempt and says so.
func TestCodePromptInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and a player")
	}
	r := newOutcomeRig(t)
	_, id, _ := r.player(t, "Den", "--pairing-code", "dynamic")
	in, feed := io.Pipe()
	defer feed.Close()
	ctl := startIn(t, in, "ctl", "--state", r.state, "pair", "--method", "dynamic", "--", id[:8])
	waitFor(t, "the prompt", 10*time.Second, func() bool { return strings.Contains(ctl.stdout.String(), "(round 1 of 20): ") })
	ctl.cancel() // what Ctrl-C does
	if c := ctl.exited(t, 15*time.Second); c != 1 {
		t.Fatalf("ctl exited %d", c)
	}
	if e := ctl.stderr.String(); !strings.Contains(e, "ctl pair: interrupted; the attempt was cancelled") {
		t.Fatalf("ctl's reason: %q", e)
	}
	waitFor(t, "the cancelled attempt", 10*time.Second, func() bool {
		p := r.clientJSON(t, id).Pairing
		return p != nil && p.Done && p.Last == "cancelled"
	})
}

// Issue case 5: approving a player that does not allow unpaired access
// says it will not play, and why; one that allows it is just approved.
func TestApproveSaysWhetherItTakes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and two players")
	}
	r := newOutcomeRig(t)
	_, closed, _ := r.player(t, "Closed", "--unpaired-access", "off")
	_, open, _ := r.player(t, "Open", "--unpaired-access", "on")
	out, err := tonearm(t, "ctl", "--state", r.state, "approve", "--", closed[:8])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "approved Closed ("+closed[:8]+"), but it does not allow unpaired access, so it will not play") {
		t.Fatalf("approve of a closed player: %q", out)
	}
	out, err = tonearm(t, "ctl", "--state", r.state, "approve", "--", open[:8])
	if err != nil {
		t.Fatal(err)
	}
	if out != "approved Open ("+open[:8]+")\n" {
		t.Fatalf("approve of an open player: %q", out)
	}
	// Approved, it gets the player role (playback is declared once its
	// group plays); the closed one gets nothing.
	waitFor(t, "the open player to get the player role", 10*time.Second, func() bool {
		return strings.Contains(strings.Join(r.clientJSON(t, open).Roles, ","), "player@v1")
	})
	if cl := r.clientJSON(t, closed); len(cl.Roles) != 0 || cl.Status != "approved" {
		t.Fatalf("the closed player: %+v", cl)
	}

	// Revoking says what it did, and only when there was an approval.
	out, err = tonearm(t, "ctl", "--state", r.state, "revoke", "--", open[:8])
	if err != nil || out != "revoked the approval of Open ("+open[:8]+")\n" {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if _, err := tonearm(t, "ctl", "--state", r.state, "revoke", "--", open[:8]); err == nil || !strings.Contains(err.Error(), "Open ("+open[:8]+"): the client is not approved") {
		t.Fatalf("a second revoke: %v", err)
	}

	// The listing shows IDs as people read them, the first 8 characters
	// (GUIDE.md section 5); -v shows them whole.
	out, err = tonearm(t, "ctl", "--state", r.state, "clients")
	if err != nil || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(open[:8])+` +unapproved +`).MatchString(out) || strings.Contains(out, open) {
		t.Fatalf("clients: %q %v", out, err)
	}
	out, err = tonearm(t, "ctl", "--state", r.state, "clients", "-v")
	if err != nil || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(open)+` +unapproved +`).MatchString(out) {
		t.Fatalf("clients -v: %q %v", out, err)
	}
}

// --log-level: a server at warn does not log its info lines; at info it
// does.
func TestLogLevel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers")
	}
	for _, c := range []struct {
		level string
		ready bool
	}{{"warn", false}, {"info", true}, {"debug", true}} {
		state := filepath.Join(t.TempDir(), "s")
		srv := start(t, "server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns", "--play", "none", "--log-level", c.level)
		waitFor(t, "the server", 10*time.Second, func() bool {
			_, err := os.Stat(filepath.Join(state, daemon.ServerInfoFile))
			return err == nil
		})
		srv.stop(t)
		if got := strings.Contains(srv.stderr.String(), `msg="server ready"`); got != c.ready {
			t.Errorf("--log-level %s: server ready logged %v: %q", c.level, got, srv.stderr.String())
		}
	}
}

// ctl code says what the code did: a wrong one exits 1 with the next
// round's words, the right one exits 0 once the client is paired.
func TestCodeCommandOutcome(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server and a player")
	}
	r := newOutcomeRig(t)
	_, id, pl := r.player(t, "Study", "--pairing-code", "dynamic")
	if out, err := tonearm(t, "ctl", "--state", r.state, "pair", "--method", "dynamic", "--", id[:8]); err == nil ||
		!strings.Contains(err.Error(), "no input: the attempt goes on") {
		t.Fatalf("pair without input: %q %v", out, err)
	}
	codeRE := regexp.MustCompile(`pairing code for [^:]+: (\d{3}-\d{3})`)
	var code string
	waitFor(t, "the code on the player's terminal", 10*time.Second, func() bool {
		m := codeRE.FindStringSubmatch(pl.stdout.String())
		if m != nil {
			code = m[1]
		}
		return m != nil
	})
	wrong := "000-000"
	if code == wrong {
		wrong = "111-111"
	}
	out, err := tonearm(t, "ctl", "--state", r.state, "code", "--", id[:8], wrong)
	if err == nil || !strings.Contains(err.Error(), "wrong code; enter the code Study ("+id[:8]+") shows (round 2 of 20)") {
		t.Fatalf("a wrong code: %q %v", out, err)
	}
	out, err = tonearm(t, "ctl", "--state", r.state, "code", "--", id[:8], code)
	if err != nil || out != "paired with Study ("+id[:8]+")\n" {
		t.Fatalf("the right code: %q %v", out, err)
	}
}
