package group

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSetVolume(t *testing.T) {
	cases := []struct {
		name      string
		current   []int
		requested int
		want      []int
	}{
		{"plain shift keeps relative levels", []int{20, 40, 60}, 50, []int{30, 50, 70}},
		{"to 100 reaches 100 everywhere", []int{20, 90}, 100, []int{100, 100}},
		{"to 0 reaches 0 everywhere", []int{5, 70}, 0, []int{0, 0}},
		// 90+20=110 clamps to 100: the lost 10 goes to the others (10 -> 40).
		{"lost delta shared", []int{90, 10}, 70, []int{100, 40}},
		{"lost delta shared twice", []int{95, 85, 10}, 80, []int{100, 100, 40}},
		{"one player", []int{33}, 71, []int{71}},
		{"no change", []int{10, 30}, 20, []int{10, 30}},
		{"rounding at the end", []int{0, 1, 1}, 1, []int{0, 1, 1}},
		{"request out of range is clamped", []int{50}, 150, []int{100}},
		{"none", nil, 50, nil},
	}
	for _, c := range cases {
		if got := SetVolume(c.current, c.requested); !slices.Equal(got, c.want) {
			t.Errorf("%s: SetVolume(%v, %d) = %v, want %v", c.name, c.current, c.requested, got, c.want)
		}
	}
}

// TestSetVolumeProperties: results stay in range, keep their order, and
// the resulting group volume is the requested one whenever no player is
// clamped at a bound it could not pass.
func TestSetVolumeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 5000 {
		n := 1 + r.IntN(6)
		cur := make([]int, n)
		for i := range cur {
			cur[i] = r.IntN(101)
		}
		req := r.IntN(101)
		got := SetVolume(cur, req)
		for i := range got {
			if got[i] < 0 || got[i] > 100 {
				t.Fatalf("%v -> %d: %v out of range", cur, req, got)
			}
			for j := range got {
				if cur[i] < cur[j] && got[i] > got[j] {
					t.Fatalf("%v -> %d: %v reorders players", cur, req, got)
				}
			}
		}
		if g := Volume(got); g < req-1 || g > req+1 {
			allBound := true
			for _, v := range got {
				if v != 0 && v != 100 {
					allBound = false
				}
			}
			if !allBound {
				t.Fatalf("%v -> %d: %v has group volume %d", cur, req, got, g)
			}
		}
	}
}

func TestReadGroupState(t *testing.T) {
	if Volume(nil) != 100 || Volume([]int{10, 21}) != 16 || Volume([]int{10, 20}) != 15 {
		t.Fatal("Volume")
	}
	if Muted(nil) || !Muted([]bool{true, true}) || Muted([]bool{true, false}) {
		t.Fatal("Muted")
	}
}
