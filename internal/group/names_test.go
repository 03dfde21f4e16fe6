package group

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCreateAndRename(t *testing.T) {
	r := newTestRegistry()
	g, err := r.Create("  Kitchen ")
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "Kitchen" || g.Solo || len(g.Members) != 0 {
		t.Fatalf("created %+v", g)
	}
	if got, ok := r.Get(g.ID); !ok || got.Name != "Kitchen" {
		t.Fatalf("not kept: %+v", got)
	}
	for _, bad := range []struct {
		name string
		want error
	}{
		{"", ErrBadName}, {"   ", ErrBadName}, {strings.Repeat("é", MaxNameLen+1), ErrBadName},
		{"a\tb", ErrBadName}, {"a\nb", ErrBadName}, {"a\x00", ErrBadName}, {"\xff", ErrBadName},
		{"kitchen", ErrNameTaken}, {"HOUSE", ErrNameTaken},
	} {
		if _, err := r.Create(bad.name); !errors.Is(err, bad.want) {
			t.Errorf("Create(%q): %v, want %v", bad.name, err, bad.want)
		}
		if _, _, err := r.Rename(g.ID, bad.name); !errors.Is(err, bad.want) && !(bad.name == "kitchen") {
			t.Errorf("Rename(%q): %v, want %v", bad.name, err, bad.want)
		}
	}
	if _, err := r.Create(strings.Repeat("é", MaxNameLen)); err != nil {
		t.Fatalf("a name of %d characters: %v", MaxNameLen, err)
	}

	// A rename tells the group's members; the same name again changes
	// nothing; a name in another case of its own is its own.
	r.Connect("a", "A", true)
	if _, err := r.Join("a", g.ID); err != nil {
		t.Fatal(err)
	}
	got, e, err := r.Rename(g.ID, "Cuisine")
	if err != nil || got.Name != "Cuisine" || !slices.Equal(e.Changed, []string{g.ID}) || len(e.Stop) != 0 {
		t.Fatalf("rename: %+v %+v %v", got, e, err)
	}
	if _, e, err := r.Rename(g.ID, "Cuisine"); err != nil || len(e.Changed) != 0 {
		t.Fatalf("same name: %+v %v", e, err)
	}
	if got, _, err := r.Rename(g.ID, "CUISINE"); err != nil || got.Name != "CUISINE" {
		t.Fatalf("own name in another case: %+v %v", got, err)
	}
	if _, _, err := r.Rename("nope", "X"); !errors.Is(err, ErrNoGroup) {
		t.Fatalf("unknown group: %v", err)
	}

	// A solo group the operator names stays when its client goes.
	r.Connect("b", "B", true)
	if _, err := r.Join("b", g.ID); err != nil {
		t.Fatal(err)
	}
	r.Leave("a")
	solo := groupOf(t, r, "a")
	if !solo.Solo {
		t.Fatalf("a is not in a solo group: %+v", solo)
	}
	if _, _, err := r.Rename(solo.ID, "Patio"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Join("a", g.ID); err != nil {
		t.Fatal(err)
	}
	if p, ok := r.Get(solo.ID); !ok || p.Name != "Patio" || p.Solo {
		t.Fatalf("the named solo group went: %+v %v", p, ok)
	}
}
