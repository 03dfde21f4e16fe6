package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// openPTY opens a pseudo-terminal: the master side, written as a person
// types, and the terminal the command reads.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestDestructiveActionsAskOnATerminal: at a terminal, forget and
// factory-reset ask y/N; only a yes goes ahead.
func TestDestructiveActionsAskOnATerminal(t *testing.T) {
	state := filepath.Join(t.TempDir(), "p")
	k := serverKey(0x42, 0x42, 0x42, 1)
	fillRecords(t, state, []store.ServerRecord{{Server: k, PSK: keys.PSK{1}, LastUsed: time.Now(), Name: "Hub"}})
	answer := func(typed string, args ...string) (string, string, int) {
		t.Helper()
		master, tty := openPTY(t)
		if _, err := master.WriteString(typed + "\n"); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"player", "--state", state}, args...), tty, &out, &errb)
		return out.String(), errb.String(), code
	}
	for _, no := range []string{"", "n", "no", "maybe"} {
		_, stderr, code := answer(no, "forget", k.String()[:5])
		if code != 1 || !strings.HasPrefix(stderr, "forget server Hub ("+k.String()[:8]+")? ") || !strings.Contains(stderr, "[y/N] ") ||
			!strings.HasSuffix(stderr, "tonearm: player forget: not confirmed; nothing was changed\n") {
			t.Fatalf("answered %q: exit %d, stderr %q", no, code, stderr)
		}
	}
	if out, _ := tonearm(t, "player", "--state", state, "records"); !strings.Contains(out, "slots: 1 of 5 used") {
		t.Fatalf("a refused forget removed the record:\n%s", out)
	}
	if out, stderr, code := answer("y", "forget", k.String()[:5]); code != 0 || out != "forgot server Hub ("+k.String()[:8]+")\n" {
		t.Fatalf("answered y: exit %d, %q %q", code, out, stderr)
	}
	if _, stderr, code := answer("N", "factory-reset"); code != 1 || !strings.Contains(stderr, "factory reset: remove every pairing record and setting?") {
		t.Fatalf("factory-reset answered N: exit %d, %q", code, stderr)
	}
	if out, _, code := answer("yes", "factory-reset"); code != 0 || !strings.Contains(out, "cleared") {
		t.Fatalf("factory-reset answered yes: exit %d, %q", code, out)
	}
}
