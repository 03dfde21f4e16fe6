package server

import (
	"errors"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/group"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// TestCreateAndRenameGroup: the operator creates a group, moves a player
// into it and renames it; the player is told each time by group/update
// (messaging.md "group/update": group_name). Bad and taken names are
// refused with the reason.
func TestCreateAndRenameGroup(t *testing.T) {
	ts := startServer(t)
	tc := approvedPlayer(t, ts)
	tc.groupWhere(t, func(g wire.GroupUpdate) bool { return g.GroupID == DefaultGroup })
	g, err := ts.s.CreateGroup(" Kitchen ")
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "Kitchen" || g.Playing || len(g.Members) != 0 || g.ID == DefaultGroup {
		t.Fatalf("created %+v", g)
	}
	if _, err := ts.s.CreateGroup("kitchen"); !errors.Is(err, group.ErrNameTaken) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := ts.s.CreateGroup("a\nb"); !errors.Is(err, group.ErrBadName) {
		t.Fatalf("control character: %v", err)
	}
	if err := ts.s.JoinGroup(tc.id.Public(), g.ID); err != nil {
		t.Fatal(err)
	}
	tc.groupWhere(t, func(u wire.GroupUpdate) bool { return u.GroupID == g.ID && u.GroupName == "Kitchen" })
	r, err := ts.s.RenameGroup(g.ID, "Cuisine")
	if err != nil || r.Name != "Cuisine" || len(r.Members) != 1 {
		t.Fatalf("rename: %+v %v", r, err)
	}
	u, _ := tc.groupWhere(t, func(u wire.GroupUpdate) bool { return u.GroupID == g.ID && u.GroupName == "Cuisine" })
	if u.PlaybackState != wire.PlaybackStopped {
		t.Fatalf("%+v", u)
	}
	if _, err := ts.s.RenameGroup("nope", "X"); !errors.Is(err, ErrNoGroup) {
		t.Fatalf("unknown group: %v", err)
	}
	if _, err := ts.s.RenameGroup(g.ID, "test server"); !errors.Is(err, group.ErrNameTaken) {
		t.Fatalf("the default group's name: %v", err)
	}
}
