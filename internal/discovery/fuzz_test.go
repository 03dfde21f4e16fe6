package discovery

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzTXT checks the TXT parser on any character-strings: it never
// panics, whatever it accepts is valid and builds a URL that parses back
// to the same path, and what we advertise parses back to itself.
func FuzzTXT(f *testing.F) {
	f.Add("path=/sendspin", "name=Kitchen", "")
	f.Add("PATH=/a%20b?x=1", "path=/second", "name=K\xc3\xbcche")
	f.Add("path", "=x", "name=\x01")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var strs [][]byte
		for _, s := range []string{a, b, c} {
			if s != "" {
				strs = append(strs, []byte(s))
			}
		}
		info, err := parseTXT(strs)
		if err != nil {
			return
		}
		if info.Path != "" {
			if ValidatePath(info.Path) != nil {
				t.Fatalf("accepted invalid path %q", info.Path)
			}
			u := BuildURL(netip.MustParseAddr("fe80::1%eth0"), 8928, info.Path)
			pu, err := url.Parse(u)
			if err != nil || pu.Hostname() != "fe80::1%eth0" || pu.Port() != "8928" || pu.Fragment != "" {
				t.Fatalf("URL %q parses to %v, %v", u, pu, err)
			}
			if got := pu.EscapedPath(); pu.RawQuery == "" && !strings.HasPrefix(info.Path, got) {
				t.Fatalf("URL %q path %q, want %q", u, got, info.Path)
			}
		}
		if info.Name != "" && ValidateName(info.Name) != nil {
			t.Fatalf("accepted invalid name %q", info.Name)
		}
		// Re-encoding what we accepted gives the same thing back.
		if info.Path != "" {
			again, err := parseTXT(buildTXT(info.Path, info.Name))
			if err != nil || again != info {
				t.Fatalf("round trip %+v -> %+v, %v", info, again, err)
			}
		}
		// Escaping for miekg/dns and back is lossless.
		for _, s := range strs {
			for _, esc := range []func([]byte) string{escapeText, escapeLabel} {
				back, err := unescape(esc(s))
				if err != nil || string(back) != string(s) {
					t.Fatalf("escape round trip %q -> %q, %v", s, back, err)
				}
			}
		}
	})
}

// FuzzPacket feeds any packet to the browse cache and the responder:
// neither panics, the cache stays within its bounds, everything it
// reports is valid, and replies fit the size limit.
func FuzzPacket(f *testing.F) {
	z, err := newZone(Service{Type: TypeClient, Instance: "Kitchen Speaker", Port: 8928, Name: "Kitchen", Host: "box"})
	if err != nil {
		f.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fe80::5")}
	for _, m := range []*dns.Msg{z.announcement(addrs), z.goodbye(), question("_sendspin._tcp.local.", dns.TypePTR),
		question(`Kitchen\ Speaker._sendspin._tcp.local.`, dns.TypeANY)} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m dns.Msg
		if m.Unpack(data) != nil {
			return
		}
		c, _ := newCache(TypeClient, 4)
		now := time.Unix(1000, 0)
		evs := c.observe(now, "eth0", &m)
		more, q := c.tick(now.Add(time.Hour))
		for _, e := range append(evs, more...) {
			if e.Kind == Appeared || e.Kind == Updated {
				in := e.Instance
				if ValidatePath(in.Path) != nil || ValidateName(in.Name) != nil || len(in.Addrs) == 0 ||
					len(in.Addrs) > maxAddrsPerHost || in.Instance == "" {
					t.Fatalf("reported invalid instance %+v", in)
				}
				if _, err := url.Parse(in.URL()); err != nil {
					t.Fatalf("URL %q: %v", in.URL(), err)
				}
			}
		}
		if len(c.entries) > 4 || len(q.questions) > maxQueriesPerTick || len(q.known) > maxKnownAnswers {
			t.Fatalf("bounds: %d entries, %d questions", len(c.entries), len(q.questions))
		}
		m.Response = false
		if r, _ := z.answer(&m, addrs, false); r != nil {
			if r.Len() > maxResponseSize {
				t.Fatalf("reply of %d bytes", r.Len())
			}
			if _, err := r.Pack(); err != nil {
				t.Fatalf("reply does not pack: %v", err)
			}
		}
	})
}
