package server

import (
	"errors"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// volumePlayer is an approved player reporting volume and mute as given,
// offering the commands given.
func volumePlayer(t *testing.T, ts *testServer, volume int, cmds ...wire.PlayerCommandName) *testClient {
	t.Helper()
	tc := newClient(t, true)
	tc.connect(t, ts.url)
	if err := ts.s.Approve(tc.id.Public(), false); err != nil {
		t.Fatal(err)
	}
	tc.activation(t)
	muted := false
	err := tc.c.WriteMessage(&wire.ClientState{Available: true, Player: &wire.PlayerState{Volume: &volume, Muted: &muted,
		RequiredLeadTimeMS: 100, MinBufferMS: 50, SupportedCommands: append([]wire.PlayerCommandName{}, cmds...)}})
	if err != nil {
		t.Fatal(err)
	}
	// The server must have the state before it may send a command.
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs := ts.s.connsFor(tc.id.Public())
		if len(cs) > 0 && cs[0].playerState() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never had the player's state")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return tc
}

func (tc *testClient) command(t *testing.T) wire.PlayerCommand {
	t.Helper()
	seq := tc.until(t, wire.TypeServerCommand)
	return *seq[len(seq)-1].in.JSON.(*wire.ServerCommand).Player
}

// TestVolumeCommands: server/command goes only to players whose latest
// state lists the command; group volume keeps the players' relative levels
// (roles/controller/v1.md); group mute leaves volumes alone.
func TestVolumeCommands(t *testing.T) {
	ts := startServer(t)
	a := volumePlayer(t, ts, 40, wire.PlayerCmdVolume, wire.PlayerCmdMute)
	b := volumePlayer(t, ts, 80, wire.PlayerCmdVolume)
	c := volumePlayer(t, ts, 30) // reports a volume, accepts no command
	if err := ts.s.SetVolume(c.id.Public(), 50); !errors.Is(err, ErrNoVolume) {
		t.Fatalf("volume to a player without the command: %v", err)
	}
	if err := ts.s.SetMute(b.id.Public(), true); !errors.Is(err, ErrNoVolume) {
		t.Fatalf("mute to a player without the command: %v", err)
	}
	if err := ts.s.SetVolume(a.id.Public(), 101); !errors.Is(err, ErrBadVolume) {
		t.Fatalf("volume 101: %v", err)
	}
	if err := ts.s.SetVolume(newClient(t, true).id.Public(), 10); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("volume to nobody: %v", err)
	}
	if err := ts.s.SetVolume(a.id.Public(), 55); err != nil {
		t.Fatal(err)
	}
	if got := a.command(t); got != (wire.PlayerCommand{Command: wire.PlayerCmdVolume, Volume: 55}) {
		t.Fatalf("%+v", got)
	}
	// a reports 40 still (it did not apply the 55): group volume 60 -> 70
	// moves both by 10.
	if v, m, err := ts.s.GroupVolume(DefaultGroup); err != nil || v != 60 || m {
		t.Fatalf("group volume %d muted %v: %v", v, m, err)
	}
	if err := ts.s.SetGroupVolume(DefaultGroup, 70); err != nil {
		t.Fatal(err)
	}
	if got := a.command(t); got.Command != wire.PlayerCmdVolume || got.Volume != 50 {
		t.Fatalf("a got %+v", got)
	}
	if got := b.command(t); got.Command != wire.PlayerCmdVolume || got.Volume != 90 {
		t.Fatalf("b got %+v", got)
	}
	if err := ts.s.SetGroupMute(DefaultGroup, true); err != nil {
		t.Fatal(err)
	}
	if got := a.command(t); got != (wire.PlayerCommand{Command: wire.PlayerCmdMute, Mute: true}) {
		t.Fatalf("a got %+v", got)
	}
	for _, tc := range []*testClient{b, c} {
		if r, ok := tc.next(t, 200*time.Millisecond); ok && r.typ == wire.TypeServerCommand {
			t.Fatalf("a player without the commands got %+v", r.in.JSON)
		}
	}
	if err := ts.s.SetGroupVolume("nope", 10); !errors.Is(err, ErrNoGroup) {
		t.Fatalf("%v", err)
	}
}
