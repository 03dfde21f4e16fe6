package discovery

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// classFlush is the cache-flush bit of a record's class, RFC 6762 §10.2.
// In a question the same bit asks for a unicast response (§5.4).
const classFlush = 1 << 15

// zone holds the records of one advertised instance. It is pure: the
// driver passes the interface's addresses and decides when to send.
type zone struct {
	svc          Service
	serviceFQDN  string // "_sendspin._tcp.local."
	instanceFQDN string // presentation form, escaped
	hostFQDN     string
	txt          []string // presentation form
	serviceKey   string   // nameKey forms, for matching questions
	instanceKey  string
	hostKey      string
	metaKey      string
}

func newZone(svc Service) (*zone, error) {
	svc, err := svc.normalize()
	if err != nil {
		return nil, err
	}
	z := &zone{svc: svc}
	z.serviceFQDN = svc.Type + "." + mdnsDomain
	z.instanceFQDN = escapeLabel([]byte(svc.Instance)) + "." + z.serviceFQDN
	z.hostFQDN = svc.Host + "." + mdnsDomain
	for _, s := range buildTXT(svc.Path, svc.Name) {
		z.txt = append(z.txt, escapeText(s))
	}
	z.serviceKey = nameKey(z.serviceFQDN)
	z.instanceKey = nameKey(z.instanceFQDN)
	z.hostKey = nameKey(z.hostFQDN)
	z.metaKey = nameKey(servicesMeta)
	if z.instanceKey == "" || z.hostKey == "" {
		return nil, ErrInstance
	}
	return z, nil
}

// nameKey is the case-folded wire form of a domain name, so names that
// differ only in case or in escaping compare equal; "" if it is invalid.
func nameKey(name string) string {
	var buf [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil {
		return ""
	}
	return string(bytes.ToLower(buf[:n]))
}

func hdr(name string, t uint16, ttl uint32, unique bool) dns.RR_Header {
	class := uint16(dns.ClassINET)
	if unique {
		class |= classFlush
	}
	return dns.RR_Header{Name: name, Rrtype: t, Class: class, Ttl: ttl}
}

func (z *zone) ptr(ttl uint32) dns.RR {
	return &dns.PTR{Hdr: hdr(z.serviceFQDN, dns.TypePTR, ttl, false), Ptr: z.instanceFQDN}
}

func (z *zone) metaPTR(ttl uint32) dns.RR {
	return &dns.PTR{Hdr: hdr(servicesMeta, dns.TypePTR, ttl, false), Ptr: z.serviceFQDN}
}

func (z *zone) srv(ttl uint32) dns.RR {
	return &dns.SRV{Hdr: hdr(z.instanceFQDN, dns.TypeSRV, ttl, true), Port: uint16(z.svc.Port), Target: z.hostFQDN}
}

func (z *zone) txtRR(ttl uint32) dns.RR {
	return &dns.TXT{Hdr: hdr(z.instanceFQDN, dns.TypeTXT, ttl, true), Txt: append([]string(nil), z.txt...)}
}

// addrRRs are the A and AAAA records for addrs, filtered by the network.
func (z *zone) addrRRs(addrs []netip.Addr, ttl uint32, want uint16) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() && z.svc.Network != "ip6" && (want == dns.TypeA || want == dns.TypeANY) {
			out = append(out, &dns.A{Hdr: hdr(z.hostFQDN, dns.TypeA, ttl, true), A: a.AsSlice()})
		}
		if a.Is6() && z.svc.Network != "ip4" && (want == dns.TypeAAAA || want == dns.TypeANY) {
			out = append(out, &dns.AAAA{Hdr: hdr(z.hostFQDN, dns.TypeAAAA, ttl, true), AAAA: a.WithZone("").AsSlice()})
		}
	}
	return out
}

func newResponse() *dns.Msg {
	m := new(dns.Msg)
	m.Response = true
	m.Authoritative = true
	return m
}

// announcement is the unsolicited response sent at start (RFC 6762 §8.3).
func (z *zone) announcement(addrs []netip.Addr) *dns.Msg {
	m := newResponse()
	m.Answer = append(m.Answer, z.ptr(ttlOther), z.srv(ttlHost), z.txtRR(ttlOther))
	m.Answer = append(m.Answer, z.addrRRs(addrs, ttlHost, dns.TypeANY)...)
	return m
}

// goodbye withdraws the instance (RFC 6762 §10.1). Address records are
// left to expire: the host name may be shared with other services.
func (z *zone) goodbye() *dns.Msg {
	m := newResponse()
	m.Answer = append(m.Answer, z.ptr(0), z.srv(0), z.txtRR(0))
	return m
}

// answer builds the reply to query q received on an interface with addrs.
// legacy is a one-shot query from a port other than 5353 (RFC 6762 §6.7),
// answered by unicast with short TTLs and the query's id and questions.
// It returns nil when nothing of ours is asked for; shared says the reply
// answers a shared record (PTR), so a multicast reply is delayed by
// 20-120 ms (RFC 6762 §6). Work is linear in the packet: at most
// maxQuestionsIn questions and maxKnownIn known answers are looked at,
// and each record is answered at most once.
func (z *zone) answer(q *dns.Msg, addrs []netip.Addr, legacy bool) (m *dns.Msg, shared bool) {
	if q.Response || q.Opcode != dns.OpcodeQuery || q.Rcode != dns.RcodeSuccess {
		return nil, false
	}
	var ptr, meta, srv, txt, a, aaaa bool
	for _, question := range q.Question[:min(len(q.Question), maxQuestionsIn)] {
		if c := question.Qclass &^ classFlush; c != dns.ClassINET && c != dns.ClassANY {
			continue
		}
		t := question.Qtype
		any := t == dns.TypeANY
		switch nameKey(question.Name) {
		case z.serviceKey:
			ptr = ptr || t == dns.TypePTR || any
		case z.metaKey:
			meta = meta || t == dns.TypePTR || any
		case z.instanceKey:
			srv = srv || t == dns.TypeSRV || any
			txt = txt || t == dns.TypeTXT || any
		case z.hostKey:
			a = a || t == dns.TypeA || any
			aaaa = aaaa || t == dns.TypeAAAA || any
		}
	}
	var answer, extra []dns.RR
	if ptr {
		answer = append(answer, z.ptr(ttlOther))
	}
	if meta {
		answer = append(answer, z.metaPTR(ttlOther))
	}
	if srv {
		answer = append(answer, z.srv(ttlHost))
	}
	if txt {
		answer = append(answer, z.txtRR(ttlOther))
	}
	if a {
		answer = append(answer, z.addrRRs(addrs, ttlHost, dns.TypeA)...)
	}
	if aaaa {
		answer = append(answer, z.addrRRs(addrs, ttlHost, dns.TypeAAAA)...)
	}
	answer = suppressKnown(answer, q.Answer[:min(len(q.Answer), maxKnownIn)])
	if len(answer) == 0 {
		return nil, false
	}
	// Additional records (RFC 6763 §12): what a browser needs next.
	if ptr && !srv {
		extra = append(extra, z.srv(ttlHost))
	}
	if ptr && !txt {
		extra = append(extra, z.txtRR(ttlOther))
	}
	if (ptr || srv) && !a {
		extra = append(extra, z.addrRRs(addrs, ttlHost, dns.TypeA)...)
	}
	if (ptr || srv) && !aaaa {
		extra = append(extra, z.addrRRs(addrs, ttlHost, dns.TypeAAAA)...)
	}
	m = newResponse()
	m.Answer, m.Extra = answer, extra
	if legacy {
		m.Id = q.Id
		m.Question = q.Question[:min(len(q.Question), maxQuestionsIn)]
		for _, rr := range append(append([]dns.RR(nil), m.Answer...), m.Extra...) {
			h := rr.Header()
			h.Class &^= classFlush // RFC 6762 §6.7: no cache-flush bit
			h.Ttl = min(h.Ttl, ttlLegacyUnicast)
		}
	}
	shrink(m)
	return m, (ptr || meta) && !legacy
}

// sameRecord compares two records ignoring TTL, the cache-flush bit, name
// case and escaping.
func sameRecord(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	if ha.Rrtype != hb.Rrtype || ha.Class&^classFlush != hb.Class&^classFlush || nameKey(ha.Name) != nameKey(hb.Name) {
		return false
	}
	switch x := a.(type) {
	case *dns.PTR:
		y, ok := b.(*dns.PTR)
		return ok && nameKey(x.Ptr) == nameKey(y.Ptr)
	case *dns.SRV:
		y, ok := b.(*dns.SRV)
		return ok && x.Port == y.Port && x.Priority == y.Priority && x.Weight == y.Weight && nameKey(x.Target) == nameKey(y.Target)
	case *dns.TXT:
		y, ok := b.(*dns.TXT)
		return ok && slices.Equal(x.Txt, y.Txt)
	case *dns.A:
		y, ok := b.(*dns.A)
		return ok && x.A.Equal(y.A)
	case *dns.AAAA:
		y, ok := b.(*dns.AAAA)
		return ok && x.AAAA.Equal(y.AAAA)
	}
	return false
}

// suppressKnown drops answers the querier already has with at least half
// their TTL left (RFC 6762 §7.1).
func suppressKnown(answers, known []dns.RR) []dns.RR {
	out := answers[:0]
next:
	for _, a := range answers {
		for _, k := range known {
			if k.Header().Ttl >= a.Header().Ttl/2 && sameRecord(a, k) {
				continue next
			}
		}
		out = append(out, a)
	}
	return out
}

// dedupe drops from extra what is already in answer or earlier in extra.
func dedupe(extra, answer []dns.RR) []dns.RR {
	var out []dns.RR
next:
	for _, e := range extra {
		for _, a := range answer {
			if sameRecord(e, a) {
				continue next
			}
		}
		for _, o := range out {
			if sameRecord(e, o) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// shrink drops additional records, then answers, until the message fits
// maxResponseSize.
func shrink(m *dns.Msg) {
	for m.Len() > maxResponseSize && len(m.Extra) > 0 {
		m.Extra = m.Extra[:len(m.Extra)-1]
	}
	for m.Len() > maxResponseSize && len(m.Answer) > 1 {
		m.Answer = m.Answer[:len(m.Answer)-1]
	}
}

// instanceLabel returns the raw first label of an instance FQDN if the
// rest is exactly serviceFQDN, or ok false.
func instanceLabel(fqdn, serviceKey string) (string, bool) {
	labels := dns.SplitDomainName(fqdn)
	if len(labels) < 2 {
		return "", false
	}
	rest := strings.Join(labels[1:], ".")
	if nameKey(rest) != serviceKey {
		return "", false
	}
	raw, err := unescape(labels[0])
	if err != nil || len(raw) == 0 || len(raw) > maxInstanceLen {
		return "", false
	}
	return string(raw), true
}
