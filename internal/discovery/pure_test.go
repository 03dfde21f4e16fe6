package discovery

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var testAddrs = []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fe80::5")}

func testZone(t *testing.T) *zone {
	t.Helper()
	z, err := newZone(Service{Type: TypeClient, Instance: "Kitchen Speaker", Port: 8928, Name: "Kitchen", Host: "box"})
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func question(name string, t uint16) *dns.Msg {
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: name, Qtype: t, Qclass: dns.ClassINET}}
	return m
}

func types(rrs []dns.RR) []uint16 {
	var out []uint16
	for _, rr := range rrs {
		out = append(out, rr.Header().Rrtype)
	}
	return out
}

func TestZoneAnswer(t *testing.T) {
	z := testZone(t)
	for _, tc := range []struct {
		name         string
		q            *dns.Msg
		answer, extr int
		shared       bool
	}{
		{"browse", question("_sendspin._tcp.local.", dns.TypePTR), 1, 4, true},
		{"browse case", question("_SENDSPIN._TCP.LOCAL.", dns.TypePTR), 1, 4, true},
		{"meta", question(servicesMeta, dns.TypePTR), 1, 0, true},
		{"srv", question(`Kitchen\032Speaker._sendspin._tcp.local.`, dns.TypeSRV), 1, 2, false},
		{"txt", question(`kitchen\ speaker._sendspin._tcp.local.`, dns.TypeTXT), 1, 0, false},
		{"any instance", question(`Kitchen\ Speaker._sendspin._tcp.local.`, dns.TypeANY), 2, 2, false},
		{"a", question("box.local.", dns.TypeA), 1, 0, false},
		{"aaaa", question("box.local.", dns.TypeAAAA), 1, 0, false},
		{"other type", question("_sendspin-server._tcp.local.", dns.TypePTR), 0, 0, false},
		{"other host", question("other.local.", dns.TypeA), 0, 0, false},
	} {
		r, shared := z.answer(tc.q, testAddrs, false)
		if tc.answer == 0 {
			if r != nil {
				t.Errorf("%s: answered %v", tc.name, r)
			}
			continue
		}
		if r == nil || len(r.Answer) != tc.answer || len(r.Extra) != tc.extr || shared != tc.shared || !r.Response || !r.Authoritative {
			t.Errorf("%s: got %v shared %v", tc.name, r, shared)
		}
	}
}

func TestZoneKnownAnswerAndLegacy(t *testing.T) {
	z := testZone(t)
	q := question("_sendspin._tcp.local.", dns.TypePTR)
	q.Answer = []dns.RR{z.ptr(ttlOther/2 + 1)}
	if r, _ := z.answer(q, testAddrs, false); r != nil {
		t.Errorf("known answer with more than half the TTL not suppressed: %v", r)
	}
	q.Answer = []dns.RR{z.ptr(ttlOther/2 - 100)}
	if r, _ := z.answer(q, testAddrs, false); r == nil {
		t.Errorf("known answer with less than half the TTL suppressed")
	}

	q = question(`Kitchen\ Speaker._sendspin._tcp.local.`, dns.TypeSRV)
	q.Id = 4242
	r, shared := z.answer(q, testAddrs, true)
	if r == nil || r.Id != 4242 || len(r.Question) != 1 || shared {
		t.Fatalf("legacy reply = %v", r)
	}
	for _, rr := range append(r.Answer, r.Extra...) {
		if rr.Header().Ttl > ttlLegacyUnicast || rr.Header().Class&classFlush != 0 {
			t.Errorf("legacy record %v keeps a long TTL or the flush bit", rr)
		}
	}
	if r, _ := z.answer(&dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Question: q.Question}, testAddrs, false); r != nil {
		t.Errorf("answered a response")
	}
}

func TestZoneAnnouncementAndGoodbye(t *testing.T) {
	z := testZone(t)
	a := z.announcement(testAddrs)
	if got := types(a.Answer); len(got) != 5 {
		t.Errorf("announcement types %v", got)
	}
	txt := a.Answer[2].(*dns.TXT)
	if len(txt.Txt) != 2 || txt.Txt[0] != "path=/sendspin" || txt.Txt[1] != "name=Kitchen" {
		t.Errorf("TXT = %q", txt.Txt)
	}
	for _, rr := range z.goodbye().Answer {
		if rr.Header().Ttl != 0 {
			t.Errorf("goodbye %v has TTL", rr)
		}
	}
	// The announcement round-trips through the cache as one instance.
	c, _ := newCache(TypeClient, 0)
	b, err := a.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var m dns.Msg
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	evs := c.observe(now, "eth0", &m)
	if len(evs) != 1 || evs[0].Kind != Appeared {
		t.Fatalf("events %v", evs)
	}
	in := evs[0].Instance
	if in.Instance != "Kitchen Speaker" || in.URL() != "ws://10.0.0.5:8928/sendspin" || in.Name != "Kitchen" ||
		in.Addrs[1] != netip.MustParseAddr("fe80::5%eth0") || in.Host != "box.local." {
		t.Errorf("instance %+v", in)
	}
	g, _ := z.goodbye().Pack()
	m = dns.Msg{}
	_ = m.Unpack(g)
	if evs := c.observe(now.Add(time.Second), "eth0", &m); len(evs) != 0 {
		t.Errorf("goodbye reported at once: %v", evs)
	}
	evs, _ = c.tick(now.Add(time.Second + goodbyeGrace))
	if len(evs) != 1 || evs[0].Kind != Gone || len(c.entries) != 0 {
		t.Errorf("after goodbye: %v, %d entries", evs, len(c.entries))
	}
}

func TestCacheExpiryRefreshAndBounds(t *testing.T) {
	z := testZone(t)
	c, _ := newCache(TypeClient, 2)
	now := time.Unix(1000, 0)
	_, q := c.tick(now)
	if len(q.questions) != 1 || q.questions[0].Qtype != dns.TypePTR {
		t.Fatalf("first query %v", q)
	}
	c.observe(now, "eth0", z.announcement(testAddrs))
	// Refresh queries at 80% of the SRV TTL, expiry at 100%.
	_, q = c.tick(now.Add(ttlHost * time.Second * 79 / 100))
	for _, qq := range q.questions {
		if qq.Qtype == dns.TypeSRV {
			t.Errorf("SRV refreshed before 80%%")
		}
	}
	_, q = c.tick(now.Add(ttlHost * time.Second * 81 / 100))
	found := false
	for _, qq := range q.questions {
		found = found || qq.Qtype == dns.TypeSRV
	}
	if !found {
		t.Errorf("no SRV refresh at 81%%: %v", q.questions)
	}
	evs, _ := c.tick(now.Add(ttlHost * time.Second))
	if len(evs) != 1 || evs[0].Kind != Gone {
		t.Errorf("at SRV expiry: %v", evs)
	}

	// Bounds: a third instance is ignored while two are tracked.
	for _, name := range []string{"a", "b", "c"} {
		zz, _ := newZone(Service{Type: TypeClient, Instance: name, Port: 1, Host: "h" + name})
		c.observe(now, "eth0", zz.announcement(testAddrs))
	}
	if len(c.entries) != 2 || c.droppedInstances != 1 {
		t.Errorf("%d entries, %d dropped", len(c.entries), c.droppedInstances)
	}

	// Cache flush: a new address replaces the old one a second later.
	c2, _ := newCache(TypeClient, 0)
	c2.observe(now, "eth0", z.announcement(testAddrs[:1]))
	evs = c2.observe(now.Add(5*time.Second), "eth0", z.announcement([]netip.Addr{netip.MustParseAddr("10.0.0.9")}))
	if len(evs) != 1 || evs[0].Kind != Updated || len(evs[0].Instance.Addrs) != 2 {
		t.Fatalf("new address: %v", evs)
	}
	evs, _ = c2.tick(now.Add(6*time.Second + time.Millisecond))
	if len(evs) != 1 || evs[0].Kind != Updated || evs[0].Instance.URL() != "ws://10.0.0.9:8928/sendspin" {
		t.Errorf("after flush: %v", evs)
	}
}

func TestCachePendingForgotten(t *testing.T) {
	c, _ := newCache(TypeClient, 0)
	now := time.Unix(1000, 0)
	m := newResponse()
	m.Answer = []dns.RR{&dns.PTR{Hdr: hdr("_sendspin._tcp.local.", dns.TypePTR, 4500, false), Ptr: `x._sendspin._tcp.local.`}}
	c.observe(now, "eth0", m)
	_, q := c.tick(now.Add(pendingQueryInterval))
	if len(q.questions) < 2 {
		t.Errorf("no SRV/TXT query for a pending instance: %v", q.questions)
	}
	c.tick(now.Add(pendingTimeout))
	if len(c.entries) != 0 {
		t.Errorf("pending instance kept")
	}
}

func TestBucket(t *testing.T) {
	b := newBucket(10)
	now := time.Unix(0, 0)
	n := 0
	for range 100 {
		if b.allow(now) {
			n++
		}
	}
	if n != 20 {
		t.Errorf("burst %d, want 20", n)
	}
	if !b.allow(now.Add(100*time.Millisecond)) || b.allow(now.Add(100*time.Millisecond)) {
		t.Errorf("refill")
	}
}

func TestMemory(t *testing.T) {
	checkNoLeaks(t)
	mem := NewMemory()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ad1, err := mem.Advertise(ctx, Service{Type: TypeClient, Instance: "one", Port: 8928})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Advertise(ctx, Service{Type: TypeClient, Instance: "bad", Port: 8928, Path: "x"}); err == nil {
		t.Fatal("invalid service accepted")
	}
	ch, err := mem.Browse(ctx, TypeClient, BrowseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := <-ch; e.Kind != Appeared || e.Instance.URL() != "ws://127.0.0.1:8928/sendspin" {
		t.Errorf("first event %+v", e)
	}
	adCtx, adCancel := context.WithCancel(ctx)
	if _, err := mem.Advertise(adCtx, Service{Type: TypeClient, Instance: "two", Port: 9000, Name: "Two"}); err != nil {
		t.Fatal(err)
	}
	mem.Advertise(ctx, Service{Type: TypeServer, Instance: "srv", Port: 8927})
	if e := <-ch; e.Kind != Appeared || e.Instance.Instance != "two" || e.Instance.Name != "Two" {
		t.Errorf("second event %+v", e)
	}
	ad1.Close()
	ad1.Close()
	if e := <-ch; e.Kind != Gone || e.Instance.Instance != "one" {
		t.Errorf("third event %+v", e)
	}
	adCancel()
	if e := <-ch; e.Kind != Gone || e.Instance.Instance != "two" {
		t.Errorf("fourth event %+v", e)
	}
	cancel()
	for range ch {
	}
}
