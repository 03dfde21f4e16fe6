package group

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func newTestRegistry() *Registry {
	n := 0
	return NewRegistry("main", "House", func() string { n++; return fmt.Sprintf("g%d", n) })
}

func groupOf(t *testing.T, r *Registry, client string) Group {
	t.Helper()
	g, ok := r.Of(client)
	if !ok {
		t.Fatalf("%s has no group", client)
	}
	return g
}

// TestMembershipRules walks the rules of messaging.md "Server behavior when
// a client becomes unavailable" and "client/leave" step by step, checking
// each step's group and the effects the server must carry out.
func TestMembershipRules(t *testing.T) {
	type step struct {
		name   string
		do     func(r *Registry) (Effects, error)
		client string // whose group to check after the step
		group  string // its expected group ID
		solo   bool
		prev   string
		want   Effects
		err    error
	}
	connect := func(c, name string, player bool) func(*Registry) (Effects, error) {
		return func(r *Registry) (Effects, error) { return r.Connect(c, name, player), nil }
	}
	leave := func(c string) func(*Registry) (Effects, error) {
		return func(r *Registry) (Effects, error) { return r.Leave(c), nil }
	}
	join := func(c, g string) func(*Registry) (Effects, error) {
		return func(r *Registry) (Effects, error) { return r.Join(c, g) }
	}
	disconnect := func(c string) func(*Registry) (Effects, error) {
		return func(r *Registry) (Effects, error) { return r.Disconnect(c), nil }
	}
	roles := func(c string, player bool) func(*Registry) (Effects, error) {
		return func(r *Registry) (Effects, error) { return r.Roles(c, player), nil }
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a player starts in the default group", []step{
			{name: "connect", do: connect("A", "Kitchen", true), client: "A", group: "main", want: Effects{Changed: []string{"main"}}},
		}},
		{"a client without the player role waits in a solo group", []step{
			{name: "connect", do: connect("A", "Kitchen", false), client: "A", group: "g1", solo: true, want: Effects{Changed: []string{"g1"}}},
			{name: "still no role", do: roles("A", false), client: "A", group: "g1", solo: true},
			{name: "player role", do: roles("A", true), client: "A", group: "main", want: Effects{Removed: []string{"g1"}, Changed: []string{"main"}}},
			{name: "a later leave and regain stays solo", do: leave("A"), client: "A", group: "main", want: Effects{Stop: []string{"main"}, Changed: []string{"main"}}},
		}},
		{"leaving a multi-client group: a new solo group, the old one remembered", []step{
			{name: "A", do: connect("A", "Kitchen", true), client: "A", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "B", do: connect("B", "Den", true), client: "B", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "A leaves", do: leave("A"), client: "A", group: "g1", solo: true, prev: "main", want: Effects{Changed: []string{"main", "g1"}}},
			{name: "A leaves its solo group: it stops", do: leave("A"), client: "A", group: "g1", solo: true, prev: "main", want: Effects{Stop: []string{"g1"}, Changed: []string{"g1"}}},
			{name: "B gaining roles again changes nothing", do: roles("B", true), client: "B", group: "main"},
			{name: "A switched back by the operator", do: join("A", "main"), client: "A", group: "main", want: Effects{Removed: []string{"g1"}, Changed: []string{"main"}}},
		}},
		{"alone in the default group: leaving stops it", []step{
			{name: "A", do: connect("A", "Kitchen", true), client: "A", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "A leaves", do: leave("A"), client: "A", group: "main", want: Effects{Stop: []string{"main"}, Changed: []string{"main"}}},
		}},
		{"only connected clients make a group multi-client", []step{
			{name: "A", do: connect("A", "Kitchen", true), client: "A", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "B", do: connect("B", "Den", true), client: "B", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "B drops", do: disconnect("B"), client: "B", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "A leaves, alone connected", do: leave("A"), client: "A", group: "main", want: Effects{Stop: []string{"main"}, Changed: []string{"main"}}},
			{name: "B reconnects to its group", do: connect("B", "Den", true), client: "B", group: "main", want: Effects{Changed: []string{"main"}}},
		}},
		{"membership survives a reconnect, solo included", []step{
			{name: "A", do: connect("A", "Kitchen", true), client: "A", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "B", do: connect("B", "Den", true), client: "B", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "A leaves", do: leave("A"), client: "A", group: "g1", solo: true, prev: "main", want: Effects{Changed: []string{"main", "g1"}}},
			{name: "A drops", do: disconnect("A"), client: "A", group: "g1", solo: true, prev: "main", want: Effects{Changed: []string{"g1"}}},
			{name: "A is back, still solo: no automatic rejoin", do: connect("A", "Kitchen", true), client: "A", group: "g1", solo: true, prev: "main", want: Effects{Changed: []string{"g1"}}},
		}},
		{"joining another client's solo group makes it multi-client", []step{
			{name: "A", do: connect("A", "Kitchen", true), client: "A", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "B", do: connect("B", "Den", true), client: "B", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "A leaves", do: leave("A"), client: "A", group: "g1", solo: true, prev: "main", want: Effects{Changed: []string{"main", "g1"}}},
			{name: "B joins A", do: join("B", "g1"), client: "B", group: "g1", solo: true, want: Effects{Changed: []string{"main", "g1"}}},
			{name: "A leaves again: a second solo group", do: leave("A"), client: "A", group: "g2", solo: true, prev: "g1", want: Effects{Changed: []string{"g1", "g2"}}},
		}},
		{"operator errors", []step{
			{name: "A", do: connect("A", "Kitchen", true), client: "A", group: "main", want: Effects{Changed: []string{"main"}}},
			{name: "no group", do: join("A", "nope"), client: "A", group: "main", err: ErrNoGroup},
			{name: "no client", do: join("Z", "main"), client: "A", group: "main", err: ErrNoClient},
			{name: "same group", do: join("A", "main"), client: "A", group: "main"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRegistry()
			for _, s := range tc.steps {
				got, err := s.do(r)
				if !errors.Is(err, s.err) {
					t.Fatalf("%s: err %v, want %v", s.name, err, s.err)
				}
				if !effectsEqual(got, s.want) {
					t.Errorf("%s: effects %+v, want %+v", s.name, got, s.want)
				}
				g := groupOf(t, r, s.client)
				if g.ID != s.group || g.Solo != s.solo {
					t.Errorf("%s: %s in %+v, want %s (solo %v)", s.name, s.client, g, s.group, s.solo)
				}
				if !slices.Contains(g.Members, s.client) {
					t.Errorf("%s: %s not among its group's members %v", s.name, s.client, g.Members)
				}
				if p := r.Previous(s.client); p != s.prev {
					t.Errorf("%s: previous group %q, want %q", s.name, p, s.prev)
				}
			}
		})
	}
}

func effectsEqual(a, b Effects) bool {
	return slices.Equal(a.Stop, b.Stop) && slices.Equal(a.Changed, b.Changed) && slices.Equal(a.Removed, b.Removed)
}

// TestMembershipInvariants checks, after every step of a long
// pseudo-random sequence, that each known client is in exactly one group,
// that groups list only known clients, that solo groups are never empty and
// that the default group always exists.
func TestMembershipInvariants(t *testing.T) {
	r := newTestRegistry()
	clients := []string{"A", "B", "C", "D"}
	seed := uint32(1)
	rnd := func(n int) int {
		seed = seed*1664525 + 1013904223
		return int(seed>>16) % n
	}
	for i := 0; i < 5000; i++ {
		c := clients[rnd(len(clients))]
		switch rnd(6) {
		case 0:
			r.Connect(c, c, rnd(2) == 0)
		case 1:
			r.Disconnect(c)
		case 2:
			r.Leave(c)
		case 3:
			gs := r.Groups()
			_, _ = r.Join(c, gs[rnd(len(gs))].ID)
		case 4:
			r.Roles(c, rnd(2) == 0)
		case 5:
			if p := r.Previous(c); p != "" {
				_, _ = r.Join(c, p)
			}
		}
		seen := map[string]int{}
		gs := r.Groups()
		if gs[0].ID != "main" {
			t.Fatalf("step %d: default group missing or not first: %+v", i, gs)
		}
		for _, g := range gs {
			if g.Solo && len(g.Members) == 0 {
				t.Fatalf("step %d: empty solo group %s", i, g.ID)
			}
			for _, m := range g.Members {
				seen[m]++
				if mg, _ := r.Of(m); mg.ID != g.ID {
					t.Fatalf("step %d: %s listed in %s but is in %s", i, m, g.ID, mg.ID)
				}
			}
		}
		for c, n := range seen {
			if n != 1 {
				t.Fatalf("step %d: %s in %d groups", i, c, n)
			}
		}
		for _, c := range clients {
			if _, ok := r.Of(c); ok && seen[c] != 1 {
				t.Fatalf("step %d: %s in no group", i, c)
			}
		}
	}
}
