package player

import (
	"math"
	"testing"
)

func TestGainAndRamp(t *testing.T) {
	if gainOf(100, false) != 1 || gainOf(0, false) != 0 || gainOf(80, true) != 0 {
		t.Fatal("gain bounds")
	}
	if g := gainOf(50, false); math.Abs(g-math.Pow(0.5, 1.5)) > 1e-12 {
		t.Fatalf("gain(50) = %v", g)
	}
	out := []int32{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}
	applyGain(out, 2, 1, 0)
	// Four frames ramp from 1 toward 0, ending at 0; channels move together.
	want := []int32{750, 750, 500, 500, 250, 250, 0, 0}
	for i := range out {
		if out[i] != want[i] {
			t.Fatalf("ramp %v, want %v", out, want)
		}
	}
	out = []int32{8, 8}
	applyGain(out, 1, 1, 1)
	if out[0] != 8 {
		t.Fatal("unity gain changed samples")
	}
}
