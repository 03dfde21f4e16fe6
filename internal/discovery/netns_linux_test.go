package discovery

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// The multicast tests run in a network namespace of their own: TestMain
// re-executes the test binary with CLONE_NEWNET (as root; otherwise inside
// a new user namespace too), and the child sets up
//
//	lo           up, with the MULTICAST flag (off by default on lo) and
//	             route_localnet, so IPv4 multicast works on it (Linux
//	             does not deliver IPv6 multicast on lo: the IPv6 tests
//	             use the veth pair)
//	tnA <-> tnB  a veth pair: 10.77.0.1/24 fd77::1/64 and 10.77.0.2/24
//	             fd77::2/64, a "link" between two "hosts" that are really
//	             one namespace
//
// with the ip command (Debian package iproute2). Nothing is sent on the
// machine's real interfaces. When a namespace cannot be made, the
// multicast tests skip and say why.

const (
	netnsEnv   = "TONEARM_DISCOVERY_NETNS" // "child" in the re-executed binary
	netnsReady = "TONEARM_DISCOVERY_NETNS_READY"
)

// netnsSkip is why the multicast tests cannot run ("" when they can).
var netnsSkip string

// vethPair is set when the veth pair could be made.
var vethPair bool

func runInNetns() (code int, ran bool) {
	switch os.Getenv(netnsEnv) {
	case "child":
		if os.Getenv(netnsReady) == "" {
			// First process in the namespace (fuzz workers inherit both
			// variables and skip this).
			if err := setupNetns(); err != nil {
				netnsSkip = "cannot set up the test network namespace: " + err.Error()
			}
			os.Setenv(netnsReady, "1")
		}
		vethPair = os.Getenv("TONEARM_DISCOVERY_VETH") == "1"
		return 0, false
	case "unavailable":
		netnsSkip = os.Getenv("TONEARM_DISCOVERY_NETNS_WHY")
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		netnsSkip = "cannot find the test binary: " + err.Error()
		return 0, false
	}
	attempts := []*syscall.SysProcAttr{{Cloneflags: syscall.CLONE_NEWNET}}
	if os.Geteuid() != 0 {
		attempts = append(attempts, &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		})
	}
	var why []string
	for _, attr := range attempts {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), netnsEnv+"=child")
		cmd.SysProcAttr = attr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, true
		case errors.As(err, &exit):
			return exit.ExitCode(), true
		}
		why = append(why, err.Error())
	}
	netnsSkip = "no network namespace (need root or unprivileged user namespaces): " + strings.Join(why, "; ")
	os.Setenv(netnsEnv, "unavailable")
	os.Setenv("TONEARM_DISCOVERY_NETNS_WHY", netnsSkip)
	return 0, false
}

func setupNetns() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the ip command (Debian package iproute2) is missing: %w", err)
	}
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	// Addresses usable at once (no duplicate address detection), and
	// packets from tnA's address accepted on tnB although the namespace
	// owns both.
	for _, s := range []string{
		"/proc/sys/net/ipv6/conf/all/accept_dad", "/proc/sys/net/ipv6/conf/default/accept_dad",
		"/proc/sys/net/ipv4/conf/all/rp_filter", "/proc/sys/net/ipv4/conf/default/rp_filter",
	} {
		_ = os.WriteFile(s, []byte("0"), 0o644)
	}
	// route_localnet: multicast from 127.0.0.1 on lo (else the source is
	// 0.0.0.0 and the packet is a martian).
	for _, s := range []string{
		"/proc/sys/net/ipv4/conf/all/accept_local", "/proc/sys/net/ipv4/conf/default/accept_local",
		"/proc/sys/net/ipv4/conf/all/route_localnet", "/proc/sys/net/ipv4/conf/lo/route_localnet",
	} {
		_ = os.WriteFile(s, []byte("1"), 0o644)
	}
	if err := run("link", "set", "lo", "up", "multicast", "on"); err != nil {
		return err
	}
	steps := [][]string{
		{"link", "add", "tnA", "type", "veth", "peer", "name", "tnB"},
		{"addr", "add", "10.77.0.1/24", "dev", "tnA"},
		{"addr", "add", "10.77.0.2/24", "dev", "tnB"},
		{"addr", "add", "fd77::1/64", "dev", "tnA", "nodad"},
		{"addr", "add", "fd77::2/64", "dev", "tnB", "nodad"},
		{"link", "set", "tnA", "up"},
		{"link", "set", "tnB", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			// lo alone still lets most tests run.
			fmt.Fprintf(os.Stderr, "discovery test: no veth pair, link tests will skip: %v\n", err)
			return nil
		}
	}
	os.Setenv("TONEARM_DISCOVERY_VETH", "1")
	return nil
}

// needNetns skips t unless it runs in the private namespace.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Getenv(netnsEnv) != "child" || netnsSkip != "" {
		why := netnsSkip
		if why == "" {
			why = "not in the test network namespace"
		}
		t.Skip("multicast test skipped: " + why)
	}
}

// needVeth skips t unless the veth pair exists.
func needVeth(t *testing.T) {
	t.Helper()
	needNetns(t)
	if !vethPair {
		t.Skip("multicast link test skipped: the veth pair could not be made")
	}
}
