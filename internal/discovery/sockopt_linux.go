package discovery

import (
	"net"
	"syscall"
)

// Socket options missing from package syscall (linux/in.h, linux/in6.h).
const (
	ipMulticastAll   = 49 // IP_MULTICAST_ALL, Linux 2.6.31
	ipv6MulticastAll = 29 // IPV6_MULTICAST_ALL, Linux 4.20
)

// tuneConn sets what net.ListenMulticastUDP does not:
//   - multicast loopback on (the stdlib turns it off), so an advertiser
//     and a browser on the same host, or in the same test, see each other;
//   - TTL / hop limit 255, RFC 6762 §11;
//   - IP_MULTICAST_ALL off, so the socket receives the group only from
//     the interface it joined: without it Linux delivers every joined
//     group's traffic to every socket bound to 5353, and we could not tell
//     which interface a packet came from. Old kernels lack the IPv6 one;
//     that is not fatal.
func tuneConn(c *net.UDPConn, v6 bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		if v6 {
			if serr = syscall.SetsockoptInt(s, syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_LOOP, 1); serr != nil {
				return
			}
			if serr = syscall.SetsockoptInt(s, syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_HOPS, 255); serr != nil {
				return
			}
			_ = syscall.SetsockoptInt(s, syscall.IPPROTO_IPV6, ipv6MulticastAll, 0)
			return
		}
		if serr = syscall.SetsockoptInt(s, syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 1); serr != nil {
			return
		}
		if serr = syscall.SetsockoptInt(s, syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 255); serr != nil {
			return
		}
		serr = syscall.SetsockoptInt(s, syscall.IPPROTO_IP, ipMulticastAll, 0)
	})
	if err != nil {
		return err
	}
	return serr
}
