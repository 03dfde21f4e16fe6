//go:build !linux

package discovery

import "testing"

func runInNetns() (int, bool) { return 0, false }

func needNetns(t *testing.T) {
	t.Helper()
	t.Skip("multicast tests need a Linux network namespace")
}

func needVeth(t *testing.T) { needNetns(t) }
