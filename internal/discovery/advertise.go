package discovery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

type advertisement struct {
	z      *zone
	conns  []*mconn
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// Advertise implements Advertiser over mDNS.
func (MDNS) Advertise(ctx context.Context, svc Service) (Advertisement, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	z, err := newZone(svc)
	if err != nil {
		return nil, err
	}
	log := discardLogger(svc.Logger)
	ifaces, err := pickInterfaces(svc.Interfaces)
	if err != nil {
		return nil, err
	}
	conns, err := openConns(ifaces, z.svc.Network, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &advertisement{z: z, conns: conns, log: log, cancel: cancel, done: make(chan struct{})}
	go a.run(ctx)
	return a, nil
}

func (a *advertisement) Close() error {
	a.cancel()
	<-a.done
	return nil
}

// delayed is a multicast reply waiting for its random delay.
type delayed struct {
	at  time.Time
	msg *dns.Msg
}

func (a *advertisement) run(ctx context.Context) {
	defer close(a.done)
	pkts := make(chan packet, packetQueue)
	var wg sync.WaitGroup
	for _, m := range a.conns {
		wg.Go(func() { m.read(pkts) })
	}
	defer func() {
		for _, m := range a.conns {
			a.sendTo(m, a.z.goodbye(), netip.AddrPort{})
		}
		closeConns(a.conns)
		wg.Wait()
	}()

	limit := newBucket(DefaultMaxPacketsPerSecond)
	pending := map[*mconn]*delayed{}
	announced, nextAnnounce, interval := 0, time.Now(), announceInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		if announced < announceCount && !now.Before(nextAnnounce) {
			for _, m := range a.conns {
				a.multicast(m, a.z.announcement(m.addrs()), now, true)
			}
			announced++
			nextAnnounce = now.Add(interval)
			interval *= 2
		}
		for m, d := range pending {
			if !now.Before(d.at) {
				a.multicast(m, d.msg, now, false)
				delete(pending, m)
			}
		}
		wake := time.Hour
		if announced < announceCount {
			wake = min(wake, nextAnnounce.Sub(now))
		}
		for _, d := range pending {
			wake = min(wake, d.at.Sub(now))
		}
		timer.Reset(max(wake, 0))

		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case p := <-pkts:
			if !limit.allow(time.Now()) {
				continue
			}
			a.handle(p, pending)
		}
	}
}

func (a *advertisement) handle(p packet, pending map[*mconn]*delayed) {
	var q dns.Msg
	if q.Unpack(p.data) != nil || q.Response {
		return
	}
	m := p.conn
	if !m.onLink(p.src.Addr()) {
		return
	}
	legacy := p.src.Port() != mdnsPort
	reply, shared := a.z.answer(&q, m.addrs(), legacy)
	if reply == nil {
		return
	}
	if legacy {
		a.sendTo(m, reply, p.src)
		return
	}
	if !shared {
		a.multicast(m, reply, time.Now(), false)
		return
	}
	if d := pending[m]; d != nil {
		d.msg.Answer = append(d.msg.Answer, dedupe(reply.Answer, d.msg.Answer)...)
		d.msg.Extra = dedupe(append(d.msg.Extra, reply.Extra...), d.msg.Answer)
		shrink(d.msg)
		return
	}
	delay := sharedDelayMin + rand.N(sharedDelayMax-sharedDelayMin)
	pending[m] = &delayed{at: time.Now().Add(delay), msg: reply}
}

// multicast sends msg to the group on m, leaving out answers multicast
// there less than a second ago (RFC 6762 §6) unless force is set.
func (a *advertisement) multicast(m *mconn, msg *dns.Msg, now time.Time, force bool) {
	if !force {
		kept := msg.Answer[:0]
		for _, rr := range msg.Answer {
			if t, ok := m.lastSent[recordKey(rr)]; ok && now.Sub(t) < recordRepeatMin {
				continue
			}
			kept = append(kept, rr)
		}
		msg.Answer = kept
		if len(msg.Answer) == 0 {
			return
		}
	}
	for _, rr := range msg.Answer {
		m.lastSent[recordKey(rr)] = now
	}
	for k, t := range m.lastSent {
		if now.Sub(t) >= recordRepeatMin {
			delete(m.lastSent, k)
		}
	}
	a.sendTo(m, msg, netip.AddrPort{})
}

func (a *advertisement) sendTo(m *mconn, msg *dns.Msg, dst netip.AddrPort) {
	if err := m.send(msg, dst); err != nil {
		a.log.Debug("discovery: send failed", "interface", m.ifi.Name, "err", err)
	}
}

// recordKey identifies a record by name, type and data.
func recordKey(rr dns.RR) string {
	c := dns.Copy(rr)
	c.Header().Ttl = 0
	c.Header().Class &^= classFlush
	return nameKey(c.Header().Name) + "/" + strconv.Itoa(int(c.Header().Rrtype)) + "/" + c.String()
}
