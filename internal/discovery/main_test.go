package discovery

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain re-runs the test binary inside a private network namespace
// (see netns_linux_test.go) so the multicast tests never touch a real
// interface of the machine.
func TestMain(m *testing.M) {
	if code, ran := runInNetns(); ran {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// checkNoLeaks fails t if goroutines of this package are still running
// shortly after the test body returned.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			leaked := ourGoroutines()
			if leaked == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked:\n%s", leaked)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func ourGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/discovery.(") && !strings.Contains(g, "_test.go") && !strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
