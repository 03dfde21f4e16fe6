package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const eventWait = 10 * time.Second

// waitFor reads events until one satisfies ok, failing after eventWait.
func waitFor(t *testing.T, ch <-chan Event, what string, ok func(Event) bool) Event {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case e, open := <-ch:
			if !open {
				t.Fatalf("browse channel closed while waiting for %s", what)
			}
			t.Logf("event %s %q %v", e.Kind, e.Instance.Instance, e.Instance.URLs())
			if ok(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, eventWait)
		}
	}
}

func is(kind EventKind, instance string) func(Event) bool {
	return func(e Event) bool { return e.Kind == kind && e.Instance.Instance == instance }
}

func browse(t *testing.T, ctx context.Context, typ string, opts BrowseOptions) <-chan Event {
	t.Helper()
	ch, err := Browse(ctx, typ, opts)
	if err != nil {
		t.Fatalf("Browse: %v", err)
	}
	return ch
}

func advertise(t *testing.T, ctx context.Context, svc Service) Advertisement {
	t.Helper()
	ad, err := Advertise(ctx, svc)
	if err != nil {
		t.Fatalf("Advertise: %v", err)
	}
	t.Cleanup(func() { ad.Close() })
	return ad
}

func TestMulticastAdvertiseBrowseLoopback(t *testing.T) {
	needNetns(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := browse(t, ctx, TypeClient, BrowseOptions{Interfaces: []string{"lo"}})
	ad := advertise(t, ctx, Service{
		Type: TypeClient, Instance: "Kitchen Speaker", Port: DefaultClientPort,
		Name: "Kitchen", Host: "kitchen", Interfaces: []string{"lo"},
	})
	e := waitFor(t, ch, "kitchen appeared", is(Appeared, "Kitchen Speaker"))
	in := e.Instance
	if in.Path != DefaultPath || in.Name != "Kitchen" || in.Port != DefaultClientPort || in.Host != "kitchen.local." || in.Type != TypeClient {
		t.Errorf("instance = %+v", in)
	}
	if got, want := in.URL(), "ws://127.0.0.1:8928/sendspin"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	start := time.Now()
	ad.Close()
	waitFor(t, ch, "kitchen gone", is(Gone, "Kitchen Speaker"))
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("gone after %v, want about %v (goodbye)", d, goodbyeGrace)
	}
	cancel()
	for range ch {
	}
}

// A browser started after the advertisement finds it by querying.
func TestMulticastBrowseFindsExisting(t *testing.T) {
	needNetns(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	advertise(t, ctx, Service{Type: TypeServer, Instance: "Living Room", Port: DefaultServerPort, Path: "/ws", Host: "srv", Interfaces: []string{"lo"}})
	time.Sleep(4 * time.Second) // announcements are over
	ch := browse(t, ctx, "_sendspin-server._tcp.local.", BrowseOptions{Interfaces: []string{"lo"}, Network: "ip4"})
	e := waitFor(t, ch, "server appeared", is(Appeared, "Living Room"))
	if got, want := e.Instance.URL(), "ws://127.0.0.1:8927/ws"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if e.Instance.Name != "" {
		t.Errorf("Name = %q, want none", e.Instance.Name)
	}
	cancel()
	for range ch {
	}
}

// Advertising on one end of a veth pair and browsing on the other, per
// address family.
func TestMulticastLink(t *testing.T) {
	needVeth(t)
	for _, tc := range []struct {
		network string
		want    string
	}{
		{"ip4", "ws://10.77.0.1:8928/sendspin"},
		{"ip6", "ws://[fd77::1]:8928/sendspin"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			checkNoLeaks(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ch := browse(t, ctx, TypeClient, BrowseOptions{Interfaces: []string{"tnB"}, Network: tc.network})
			ad := advertise(t, ctx, Service{
				Type: TypeClient, Instance: "Player " + tc.network, Port: 8928, Name: "Über Player",
				Host: "player-" + tc.network, Interfaces: []string{"tnA"}, Network: tc.network,
			})
			e := waitFor(t, ch, "player appeared", is(Appeared, "Player "+tc.network))
			if got := e.Instance.URL(); got != tc.want {
				t.Errorf("URL = %q, want %q (all: %v)", got, tc.want, e.Instance.URLs())
			}
			if e.Instance.Name != "Über Player" || e.Instance.Interface != "tnB" {
				t.Errorf("instance = %+v", e.Instance)
			}
			for _, a := range e.Instance.Addrs {
				if tc.network == "ip4" != a.Is4() {
					t.Errorf("address %v in a %s browse", a, tc.network)
				}
				if a.IsLinkLocalUnicast() {
					u := BuildURL(a, 8928, "/sendspin")
					if a.Zone() != "tnB" || !strings.Contains(u, "%25tnB]") {
						t.Errorf("link-local %v gives %q, want zone tnB", a, u)
					}
					if pu, err := url.Parse(u); err != nil || pu.Hostname() != a.String() {
						t.Errorf("url.Parse(%q) = %v, %v", u, pu, err)
					}
				}
			}
			ad.Close()
			waitFor(t, ch, "player gone", is(Gone, "Player "+tc.network))
			cancel()
			for range ch {
			}
		})
	}
}

func TestMulticastTwoInstances(t *testing.T) {
	needNetns(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := browse(t, ctx, TypeClient, BrowseOptions{Interfaces: []string{"lo"}, Network: "ip4"})
	a := advertise(t, ctx, Service{Type: TypeClient, Instance: "A", Port: 9001, Host: "ha", Interfaces: []string{"lo"}})
	advertise(t, ctx, Service{Type: TypeClient, Instance: "B", Port: 9002, Path: "/b", Host: "hb", Interfaces: []string{"lo"}})
	seen := map[string]string{}
	for len(seen) < 2 {
		e := waitFor(t, ch, "two instances", func(e Event) bool { return e.Kind == Appeared })
		seen[e.Instance.Instance] = e.Instance.URL()
	}
	if seen["A"] != "ws://127.0.0.1:9001/sendspin" || seen["B"] != "ws://127.0.0.1:9002/b" {
		t.Errorf("seen = %v", seen)
	}
	a.Close()
	e := waitFor(t, ch, "a gone", func(e Event) bool { return e.Kind == Gone })
	if e.Instance.Instance != "A" {
		t.Errorf("gone: %q, want A", e.Instance.Instance)
	}
	cancel()
	for range ch {
	}
}

// rogue sends hand-made mDNS responses on lo from port 5353.
type rogue struct {
	t *testing.T
	m *mconn
}

func newRogue(t *testing.T) *rogue {
	t.Helper()
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	m, err := openConn(*ifi, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.c.Close() })
	return &rogue{t: t, m: m}
}

func (r *rogue) send(rrs ...dns.RR) {
	r.t.Helper()
	msg := newResponse()
	msg.Answer = rrs
	if err := r.m.send(msg, netip.AddrPort{}); err != nil {
		r.t.Fatal(err)
	}
}

// records makes the PTR, SRV, TXT and A of one instance on lo.
func records(instance string, ttl uint32, txt ...string) []dns.RR {
	fq := escapeLabel([]byte(instance)) + "." + TypeClient + ".local."
	target := "h" + fmt.Sprint(len(instance)) + ".local."
	return []dns.RR{
		&dns.PTR{Hdr: hdr(TypeClient+".local.", dns.TypePTR, ttl, false), Ptr: fq},
		&dns.SRV{Hdr: hdr(fq, dns.TypeSRV, ttl, true), Port: 8928, Target: target},
		&dns.TXT{Hdr: hdr(fq, dns.TypeTXT, ttl, true), Txt: txt},
		&dns.A{Hdr: hdr(target, dns.TypeA, ttl, true), A: net.IPv4(127, 0, 0, 1)},
	}
}

func TestMulticastTXTWithoutPathIgnored(t *testing.T) {
	needNetns(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := browse(t, ctx, TypeClient, BrowseOptions{Interfaces: []string{"lo"}, Network: "ip4"})
	r := newRogue(t)
	time.Sleep(200 * time.Millisecond)
	r.send(records("nopath", 120, "name=x")...)
	r.send(records("badpath", 120, "path=sendspin")...)
	r.send(records("empty", 120, "path=")...)
	r.send(records("good", 120, "PATH=/ok", "path=/second", "name=Good")...)
	e := waitFor(t, ch, "good appeared", func(e Event) bool { return e.Kind == Appeared })
	if e.Instance.Instance != "good" || e.Instance.Path != "/ok" || e.Instance.Name != "Good" {
		t.Errorf("first appeared = %+v, want good with the first path", e.Instance)
	}
	// The invalid ones never appear, even when asked for again.
	deadline := time.After(2 * time.Second)
	for {
		select {
		case e := <-ch:
			t.Errorf("unexpected %s %q", e.Kind, e.Instance.Instance)
		case <-deadline:
			cancel()
			for range ch {
			}
			return
		}
	}
}

func TestMulticastGoodbyeAndExpiry(t *testing.T) {
	needNetns(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := browse(t, ctx, TypeClient, BrowseOptions{Interfaces: []string{"lo"}, Network: "ip4"})
	r := newRogue(t)
	time.Sleep(200 * time.Millisecond)

	// Goodbye: the same records with TTL 0.
	r.send(records("bye", 120, "path=/x")...)
	waitFor(t, ch, "bye appeared", is(Appeared, "bye"))
	r.send(records("bye", 0, "path=/x")[:3]...)
	waitFor(t, ch, "bye gone", is(Gone, "bye"))

	// Expiry: a 2-second TTL nobody refreshes.
	start := time.Now()
	r.send(records("short", 2, "path=/x")...)
	waitFor(t, ch, "short appeared", is(Appeared, "short"))
	waitFor(t, ch, "short gone", is(Gone, "short"))
	if d := time.Since(start); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("gone after %v, want about 2s", d)
	}

	// An update of the TXT is reported.
	r.send(records("upd", 120, "path=/one")...)
	waitFor(t, ch, "upd appeared", is(Appeared, "upd"))
	r.send(records("upd", 120, "path=/two", "name=Two")...)
	e := waitFor(t, ch, "upd updated", is(Updated, "upd"))
	if e.Instance.Path != "/two" || e.Instance.Name != "Two" {
		t.Errorf("updated = %+v", e.Instance)
	}
	cancel()
	for range ch {
	}
}

// A flood of bogus instances is bounded by MaxInstances and the packet
// rate, and the browser keeps working.
func TestMulticastFloodBounded(t *testing.T) {
	needNetns(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const max = 16
	ch := browse(t, ctx, TypeClient, BrowseOptions{Interfaces: []string{"lo"}, Network: "ip4", MaxInstances: max, MaxPacketsPerSecond: 100})
	r := newRogue(t)
	time.Sleep(200 * time.Millisecond)
	appeared := map[string]bool{}
	count := func() {
		for {
			select {
			case e := <-ch:
				if e.Kind == Appeared {
					appeared[e.Instance.Instance] = true
				}
			default:
				return
			}
		}
	}
	for i := range 3000 {
		var rrs []dns.RR
		for j := range 5 {
			rrs = append(rrs, records(fmt.Sprintf("bogus-%d-%d", i, j), 4500, "path=/x")...)
		}
		r.send(rrs...)
		if i%100 == 0 {
			count()
		}
	}
	time.Sleep(time.Second)
	count()
	if len(appeared) > max {
		t.Errorf("%d instances appeared, want at most %d", len(appeared), max)
	}
	if len(appeared) == 0 {
		t.Errorf("no instance appeared: the browser should still work")
	}
	t.Logf("%d of 15000 bogus instances appeared", len(appeared))
	cancel()
	for range ch {
	}
}
