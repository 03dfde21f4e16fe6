//go:build !linux

package discovery

import "net"

// tuneConn is a no-op off Linux: the stdlib's defaults apply (multicast
// loopback off, so peers on the same host do not see each other, and
// sockets may receive the group from other interfaces too).
func tuneConn(c *net.UDPConn, v6 bool) error { return nil }
