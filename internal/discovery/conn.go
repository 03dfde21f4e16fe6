package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// mconn is one mDNS socket: one interface, one address family. It is
// bound to the group and port 5353, joined on its interface only, sends
// there with TTL 255 and loops its multicasts back so peers in the same
// host see them (see sockopt_linux.go).
type mconn struct {
	ifi   net.Interface
	v6    bool
	c     *net.UDPConn
	group *net.UDPAddr

	// lastSent is when each record was last multicast here (advertiser
	// loop only), for the one-second rule of RFC 6762 §6.
	lastSent map[string]time.Time
}

type packet struct {
	conn *mconn
	src  netip.AddrPort
	data []byte
}

// pickInterfaces returns the named interfaces (each must be up and
// multicast-capable), or all up, multicast, non-loopback,
// non-point-to-point ones.
func pickInterfaces(names []string) ([]net.Interface, error) {
	usable := func(ifi net.Interface) bool {
		return ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0
	}
	if len(names) > 0 {
		var out []net.Interface
		for _, n := range names {
			ifi, err := net.InterfaceByName(n)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrInterface, n, err)
			}
			if !usable(*ifi) {
				return nil, fmt.Errorf("%w: %s is down or has no multicast", ErrInterface, n)
			}
			out = append(out, *ifi)
		}
		return out, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInterface, err)
	}
	var out []net.Interface
	for _, ifi := range all {
		if usable(ifi) && ifi.Flags&(net.FlagLoopback|net.FlagPointToPoint) == 0 {
			out = append(out, ifi)
		}
	}
	return out, nil
}

// openConns opens a socket per interface and family. An interface that
// cannot join a family (for example no IPv4 address) is skipped; it fails
// only when nothing could be opened.
func openConns(ifaces []net.Interface, network string, log *slog.Logger) ([]*mconn, error) {
	var conns []*mconn
	var errs []error
	for _, ifi := range ifaces {
		for _, v6 := range []bool{false, true} {
			if (v6 && network == "ip4") || (!v6 && network == "ip6") {
				continue
			}
			m, err := openConn(ifi, v6)
			if err != nil {
				log.Debug("discovery: cannot join mDNS group", "interface", ifi.Name, "ipv6", v6, "err", err)
				errs = append(errs, err)
				continue
			}
			conns = append(conns, m)
		}
	}
	if len(conns) == 0 {
		return nil, fmt.Errorf("%w: %v", ErrNoSockets, errors.Join(errs...))
	}
	return conns, nil
}

func openConn(ifi net.Interface, v6 bool) (*mconn, error) {
	netw, group := "udp4", groupV4
	if v6 {
		netw, group = "udp6", groupV6
	}
	gaddr := &net.UDPAddr{IP: group.AsSlice(), Port: mdnsPort}
	if v6 {
		gaddr.Zone = ifi.Name
	}
	c, err := net.ListenMulticastUDP(netw, &ifi, &net.UDPAddr{IP: group.AsSlice(), Port: mdnsPort})
	if err != nil {
		return nil, err
	}
	if err := tuneConn(c, v6); err != nil {
		c.Close()
		return nil, err
	}
	return &mconn{ifi: ifi, v6: v6, c: c, group: gaddr, lastSent: map[string]time.Time{}}, nil
}

func closeConns(conns []*mconn) {
	for _, m := range conns {
		m.c.Close()
	}
}

// read forwards packets until the socket is closed; it drops packets
// when out is full rather than wait.
func (m *mconn) read(out chan<- packet) {
	buf := make([]byte, maxPacket+1)
	for {
		n, src, err := m.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient errors (ICMP, buffer) do not end the socket, but
			// avoid spinning if one repeats.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if n > maxPacket {
			continue
		}
		select {
		case out <- packet{conn: m, src: src, data: append([]byte(nil), buf[:n]...)}:
		default:
		}
	}
}

// send packs and sends msg to the group, or to dst when it is valid.
func (m *mconn) send(msg *dns.Msg, dst netip.AddrPort) error {
	b, err := msg.Pack()
	if err != nil {
		return err
	}
	if dst.IsValid() {
		_, err = m.c.WriteToUDPAddrPort(b, dst)
	} else {
		_, err = m.c.WriteToUDP(b, m.group)
	}
	return err
}

// addrs are the interface's current unicast addresses.
func (m *mconn) addrs() []netip.Addr {
	ifa, err := m.ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifa {
		if p, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(p.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// onLink is the source address check of RFC 6762 §11: a packet counts
// only if it comes from this link (a link-local address or one inside a
// prefix of the interface), which keeps off-link spoofers out. Anything
// on a loopback interface comes from this host.
func (m *mconn) onLink(src netip.Addr) bool {
	src = src.Unmap().WithZone("")
	if m.ifi.Flags&net.FlagLoopback != 0 || src.IsLinkLocalUnicast() {
		return true
	}
	ifa, err := m.ifi.Addrs()
	if err != nil {
		return false
	}
	for _, a := range ifa {
		p, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(p.IP)
		if !ok {
			continue
		}
		bits, _ := p.Mask.Size()
		if pfx, err := ip.Unmap().Prefix(bits); err == nil && pfx.Contains(src) {
			return true
		}
	}
	return false
}

// bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate int) *bucket {
	if rate <= 0 {
		rate = DefaultMaxPacketsPerSecond
	}
	return &bucket{rate: float64(rate), burst: 2 * float64(rate), tokens: 2 * float64(rate)}
}

func (b *bucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func discardLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
