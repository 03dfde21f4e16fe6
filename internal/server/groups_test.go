package server

import (
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Group rules over real connections (messaging.md "group/update",
// "External Source Handling", "client/leave").

// groupUntil reads until a group/update and returns it with everything
// read before it.
func (tc *testClient) groupUntil(t *testing.T) (wire.GroupUpdate, []rec) {
	t.Helper()
	seq := tc.until(t, wire.TypeGroupUpdate)
	return *seq[len(seq)-1].in.JSON.(*wire.GroupUpdate), seq[:len(seq)-1]
}

// groupWhere reads until a group/update that ok accepts, returning
// everything read before it.
func (tc *testClient) groupWhere(t *testing.T, ok func(wire.GroupUpdate) bool) (wire.GroupUpdate, []rec) {
	t.Helper()
	var all []rec
	for {
		g, seq := tc.groupUntil(t)
		all = append(all, seq...)
		if ok(g) {
			return g, all
		}
		all = append(all, rec{typ: wire.TypeGroupUpdate})
	}
}

// quiet checks that for d nothing of the kinds given arrives.
func (tc *testClient) quiet(t *testing.T, d time.Duration, what string, bad func(rec) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r, ok := tc.next(t, time.Until(deadline))
		if !ok {
			return
		}
		if bad(r) {
			t.Fatalf("%s: got %s (binary %d)", what, r.typ, r.id)
		}
	}
}

func isStreaming(r rec) bool { return r.typ == wire.TypeStreamStart || r.id == wire.IDAudioChunk }

// TestGroupUpdateFollowsActivation: group/update comes after the first
// server/activate, with every field, and again on each change of group or
// playback state.
func TestGroupUpdateFollowsActivation(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, true)
	tc.connect(t, ts.url)
	g, before := tc.groupUntil(t)
	if n := len(tc.order); len(before) != 0 || n < 3 || tc.order[n-2] != wire.TypeServerActivate || tc.order[n-3] != wire.TypeServerHello {
		t.Fatalf("first group/update not right after the first activation: %v", tc.order)
	}
	// Unapproved, no roles: a solo group of its own, named after it.
	if g.GroupID == "" || g.GroupID == DefaultGroup || g.GroupName != "Kitchen" || g.PlaybackState != wire.PlaybackStopped {
		t.Fatalf("first group/update %+v", g)
	}
	if err := ts.s.Approve(tc.id.Public(), false); err != nil {
		t.Fatal(err)
	}
	g, _ = tc.groupUntil(t)
	if g.GroupID != DefaultGroup || g.GroupName != "Test Server" || g.PlaybackState != wire.PlaybackStopped {
		t.Fatalf("after approval %+v", g)
	}
	tc.state(t, true, 0)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	if g, _ = tc.groupUntil(t); g != (wire.GroupUpdate{PlaybackState: wire.PlaybackPlaying, GroupID: DefaultGroup, GroupName: "Test Server"}) {
		t.Fatalf("after play %+v", g)
	}
	a := tc.until(t, wire.TypeStreamStart)
	for _, r := range a {
		if r.typ == wire.TypeGroupUpdate {
			t.Fatal("a second group/update while nothing changed")
		}
	}
	ts.s.Stop()
	g, seq := tc.groupUntil(t)
	if g.PlaybackState != wire.PlaybackStopped || g.GroupID != DefaultGroup {
		t.Fatalf("after stop %+v", g)
	}
	ended := false
	for _, r := range seq {
		ended = ended || r.typ == wire.TypeStreamEnd
	}
	if !ended {
		t.Fatal("stopped without stream/end")
	}
	infos := ts.s.Groups()
	if len(infos) != 1 || infos[0].ID != DefaultGroup || infos[0].Playing || len(infos[0].Members) != 1 || infos[0].Members[0] != tc.id.Public() {
		t.Fatalf("groups %+v", infos)
	}
}

// TestUnavailableLeavesMultiClientGroup: a player that becomes unavailable
// in a group with another is moved to a new solo group, told so before its
// stream ends, and the other plays on; back to available it is not
// rejoined until the operator switches it back.
func TestUnavailableLeavesMultiClientGroup(t *testing.T) {
	for _, how := range []string{"available false", "client/leave"} {
		t.Run(how, func(t *testing.T) {
			ts := startServer(t)
			a, b := approvedPlayer(t, ts), approvedPlayer(t, ts)
			if err := ts.s.Play(tone(t)); err != nil {
				t.Fatal(err)
			}
			a.until(t, wire.TypeStreamStart)
			b.until(t, wire.TypeStreamStart)
			if how == "client/leave" {
				if err := a.c.WriteMessage(&wire.ClientLeave{}); err != nil {
					t.Fatal(err)
				}
			} else {
				a.state(t, false, 0)
			}
			g, _ := a.groupUntil(t)
			if g.GroupID == DefaultGroup || g.PlaybackState != wire.PlaybackStopped || g.GroupName != "Kitchen" {
				t.Fatalf("moved to %+v", g)
			}
			a.until(t, wire.TypeStreamEnd) // after the group/update
			if !ts.s.Playing() {
				t.Fatal("the other player's group stopped")
			}
			gi, _ := ts.s.GroupOf(a.id.Public())
			if gi.ID != g.GroupID || !gi.Solo {
				t.Fatalf("server has it in %+v", gi)
			}
			// b plays on, with no stream/end and no group change.
			deadline := time.Now().Add(300 * time.Millisecond)
			chunks := 0
			for time.Now().Before(deadline) {
				r, ok := b.next(t, time.Until(deadline))
				if !ok {
					break
				}
				if r.typ == wire.TypeStreamEnd || r.typ == wire.TypeGroupUpdate {
					t.Fatalf("the other player got %s", r.typ)
				}
				if r.id == wire.IDAudioChunk {
					chunks++
				}
			}
			if chunks == 0 {
				t.Fatal("the other player stopped getting audio")
			}
			if how == "available false" {
				a.state(t, true, 0)
			}
			a.quiet(t, 400*time.Millisecond, "rejoined by itself", isStreaming)
			// The operator's switch brings it back, in the playing group.
			if err := ts.s.JoinGroup(a.id.Public(), DefaultGroup); err != nil {
				t.Fatal(err)
			}
			if g, _ := a.groupUntil(t); g.GroupID != DefaultGroup || g.PlaybackState != wire.PlaybackPlaying {
				t.Fatalf("switched back to %+v", g)
			}
			a.until(t, wire.TypeStreamStart)
			for {
				if r, _ := a.next(t, 5*time.Second); r.id == wire.IDAudioChunk {
					break
				}
			}
			if infos := ts.s.Groups(); len(infos) != 1 {
				t.Fatalf("the solo group outlived its client's switch: %+v", infos)
			}
		})
	}
}

// TestUnavailableAloneStopsGroup: a player alone in its group that becomes
// unavailable stops the group's playback: stream/end, then group/update
// reporting stopped, in the same group.
func TestUnavailableAloneStopsGroup(t *testing.T) {
	ts := startServer(t)
	a := approvedPlayer(t, ts)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	a.groupWhere(t, func(g wire.GroupUpdate) bool { return g.PlaybackState == wire.PlaybackPlaying })
	a.until(t, wire.TypeStreamStart)
	a.state(t, false, 0)
	g, seq := a.groupUntil(t)
	if g.GroupID != DefaultGroup || g.PlaybackState != wire.PlaybackStopped {
		t.Fatalf("%+v", g)
	}
	ended := false
	for _, r := range seq {
		ended = ended || r.typ == wire.TypeStreamEnd
	}
	if !ended {
		t.Fatal("no stream/end before the group/update reporting stopped")
	}
	if ts.s.Playing() {
		t.Fatal("the group still plays")
	}
	a.state(t, true, 0)
	a.quiet(t, 300*time.Millisecond, "restarted by itself", isStreaming)
}

// TestGroupOperatorErrors: unknown groups and clients are refused.
func TestGroupOperatorErrors(t *testing.T) {
	ts := startServer(t)
	a := approvedPlayer(t, ts)
	if err := ts.s.JoinGroup(a.id.Public(), "nope"); err == nil {
		t.Fatal("joined a group that does not exist")
	}
	if err := ts.s.PlayGroup("nope", tone(t)); err == nil {
		t.Fatal("played to a group that does not exist")
	}
	if err := ts.s.StopGroup("nope"); err == nil {
		t.Fatal("stopped a group that does not exist")
	}
	b := newClient(t, true)
	if err := ts.s.JoinGroup(b.id.Public(), DefaultGroup); err == nil {
		t.Fatal("joined a client never seen")
	}
	if err := ts.s.LeaveGroup(b.id.Public()); err == nil {
		t.Fatal("a client never seen left its group")
	}
}
