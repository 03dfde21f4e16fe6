package discovery

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Browse implements Browser over mDNS.
func (MDNS) Browse(ctx context.Context, serviceType string, opts BrowseOptions) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateNetwork(opts.Network); err != nil {
		return nil, err
	}
	c, err := newCache(serviceType, opts.MaxInstances)
	if err != nil {
		return nil, err
	}
	log := discardLogger(opts.Logger)
	ifaces, err := pickInterfaces(opts.Interfaces)
	if err != nil {
		return nil, err
	}
	conns, err := openConns(ifaces, opts.Network, log)
	if err != nil {
		return nil, err
	}
	out := make(chan Event, eventQueue)
	b := &browser{c: c, conns: conns, log: log, out: out, limit: newBucket(opts.MaxPacketsPerSecond)}
	go b.run(ctx)
	return out, nil
}

type browser struct {
	c     *cache
	conns []*mconn
	log   *slog.Logger
	out   chan Event
	limit *bucket
	drops int
}

func (b *browser) run(ctx context.Context) {
	defer close(b.out)
	pkts := make(chan packet, packetQueue)
	var wg sync.WaitGroup
	for _, m := range b.conns {
		wg.Go(func() { m.read(pkts) })
	}
	defer func() {
		closeConns(b.conns)
		wg.Wait()
		if b.drops > 0 || b.c.droppedInstances > 0 {
			b.log.Debug("discovery: browse dropped input", "packets", b.drops, "instances", b.c.droppedInstances)
		}
	}()

	ticker := time.NewTicker(tickInterval)
	defer ticker.Stop()
	if !b.tick(ctx, time.Now()) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			if !b.tick(ctx, now) {
				return
			}
		case p := <-pkts:
			now := time.Now()
			if !b.limit.allow(now) {
				b.drops++
				continue
			}
			// RFC 6762 §6: responses not from port 5353 are ignored.
			if p.src.Port() != mdnsPort || !p.conn.onLink(p.src.Addr()) {
				continue
			}
			var m dns.Msg
			if m.Unpack(p.data) != nil {
				continue
			}
			if !b.emit(ctx, b.c.observe(now, p.conn.ifi.Name, &m)) {
				return
			}
		}
	}
}

func (b *browser) tick(ctx context.Context, now time.Time) bool {
	evs, q := b.c.tick(now)
	if len(q.questions) > 0 {
		b.sendQuery(q)
	}
	return b.emit(ctx, evs)
}

// sendQuery sends the questions on every socket, at most 16 a packet,
// the known answers with the first packet (RFC 6762 §7.1).
func (b *browser) sendQuery(q query) {
	const perPacket = 16
	for i := 0; i < len(q.questions); i += perPacket {
		msg := new(dns.Msg)
		msg.Question = q.questions[i:min(i+perPacket, len(q.questions))]
		if i == 0 {
			msg.Answer = q.known
		}
		for _, m := range b.conns {
			if err := m.send(msg, netip.AddrPort{}); err != nil {
				b.log.Debug("discovery: query failed", "interface", m.ifi.Name, "err", err)
			}
		}
	}
}

func (b *browser) emit(ctx context.Context, evs []Event) bool {
	for _, e := range evs {
		select {
		case b.out <- e:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
