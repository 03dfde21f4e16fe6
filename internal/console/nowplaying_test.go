package console

import (
	"testing"
)

// TestNowPlayingTrackNames: a group's track is named for what it plays:
// the file name of a file, "test signal" for the tone, "stdin" for raw
// PCM on standard input, with the position; the status names the
// default group's.
func TestNowPlayingTrackNames(t *testing.T) {
	r := newRig(t, true)
	for src, want := range map[string]string{"/music/album/02-song.wav": "02-song.wav", "tone": "test signal", "-": "stdin"} {
		if code, m := r.call(t, "POST", "/api/play", `{"source":"`+src+`"}`, nil); code != 200 {
			t.Fatalf("play %s: %d %v", src, code, m)
		}
		_, m := r.call(t, "GET", "/api/groups", "", nil)
		g := m["groups"].([]any)[0].(map[string]any)
		if g["track"] != want || g["source"] != src {
			t.Errorf("playing %s: %v", src, g)
		}
		if _, ok := g["position_ms"].(float64); !ok {
			t.Errorf("playing %s: no position: %v", src, g)
		}
		if _, ok := g["duration_ms"]; ok {
			t.Errorf("playing %s (the tone underneath): a duration: %v", src, g)
		}
		_, st := r.call(t, "GET", "/api/status", "", nil)
		if st["track"] != want {
			t.Errorf("status playing %s: %v", src, st)
		}
	}
	r.call(t, "POST", "/api/stop", "", nil)
	_, m := r.call(t, "GET", "/api/groups", "", nil)
	if g := m["groups"].([]any)[0].(map[string]any); g["track"] != nil || g["position_ms"] != nil {
		t.Errorf("stopped: %v", g)
	}
}
