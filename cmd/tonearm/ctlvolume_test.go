package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCtlVolumeNegative: a negative volume is a volume out of range, not
// an unknown flag (issue 11 case 7: `ctl volume -5` answered "flag
// provided but not defined"), wherever the flags are.
func TestCtlVolumeNegative(t *testing.T) {
	state := filepath.Join(t.TempDir(), "server")
	for _, args := range [][]string{
		{"volume", "-5"},
		{"volume", "-5", "--group", "main"},
		{"volume", "--group", "main", "-5"},
	} {
		out, err := tonearm(t, append([]string{"ctl", "--state", state}, args...)...)
		if err == nil || !strings.Contains(err.Error(), `tonearm: ctl volume: give a volume from 0 to 100, not "-5"`) {
			t.Errorf("ctl %v: %q, %v", args, out, err)
		}
	}
	// A flag it does not know is still refused as one.
	if _, err := tonearm(t, "ctl", "--state", state, "volume", "5", "-x"); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -x") {
		t.Errorf("unknown flag: %v", err)
	}
	for a, want := range map[string]bool{"-5": true, "-0.5": true, "-": false, "-5.": false, "-x5": false, "-.5": false, "5": false} {
		if looksLikeNumber(a) != want {
			t.Errorf("looksLikeNumber(%q) = %v", a, !want)
		}
	}
}
