package discovery

import (
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// EventKind says what happened to an instance.
type EventKind int

const (
	// Appeared: a complete, valid instance (SRV, TXT with a valid path, at
	// least one address) is known for the first time, or again after Gone.
	Appeared EventKind = iota + 1
	// Updated: a known instance changed its host, addresses, port, path
	// or name.
	Updated
	// Gone: the instance said goodbye (TTL 0), its records expired, or it
	// stopped being valid (for example its TXT lost the path).
	Gone
)

func (k EventKind) String() string {
	switch k {
	case Appeared:
		return "appeared"
	case Updated:
		return "updated"
	case Gone:
		return "gone"
	}
	return "unknown"
}

// Event reports a change of one instance. For Gone, Instance is the last
// state reported.
type Event struct {
	Kind     EventKind
	Instance Instance
}

// rec is the lifetime of one cached record.
type rec struct {
	received time.Time
	ttl      time.Duration
	expiry   time.Time
	refresh  int // refresh queries sent since received (RFC 6762 §5.2)
}

func newRec(now time.Time, ttl uint32) rec {
	if ttl == 0 {
		// Goodbye: keep it one more second, RFC 6762 §10.1.
		return rec{received: now, expiry: now.Add(goodbyeGrace), refresh: len(refreshPoints)}
	}
	d := time.Duration(ttl) * time.Second
	return rec{received: now, ttl: d, expiry: now.Add(d)}
}

// refreshPoints are the fractions of a TTL (in percent) at which a
// record is queried again, RFC 6762 §5.2.
var refreshPoints = [...]int{80, 85, 90, 95}

// due reports whether the next refresh query of r is due, and counts it.
func (r *rec) due(now time.Time) bool {
	if r.ttl == 0 || r.refresh >= len(refreshPoints) {
		return false
	}
	if now.Before(r.received.Add(r.ttl * time.Duration(refreshPoints[r.refresh]) / 100)) {
		return false
	}
	for r.refresh < len(refreshPoints) && !now.Before(r.received.Add(r.ttl*time.Duration(refreshPoints[r.refresh])/100)) {
		r.refresh++
	}
	return true
}

type entry struct {
	key   string // nameKey of the instance FQDN
	fqdn  string
	label string
	iface string

	ptr rec

	hasSRV    bool
	srv       rec
	target    string
	targetKey string
	port      uint16

	hasTXT bool
	txt    rec
	info   txtInfo

	incompleteSince time.Time // zero while complete
	lastQuery       time.Time
	reported        bool
	last            Instance
}

type addrRec struct {
	received, expiry time.Time
}

type host struct {
	name  string
	addrs map[netip.Addr]addrRec
}

// cache is the browse state for one service type. It is pure: the driver
// feeds it packets and the time, and sends the questions it asks for.
type cache struct {
	typ        string
	serviceFQ  string
	serviceKey string
	max        int

	entries map[string]*entry
	hosts   map[string]*host

	nextQuery time.Time
	interval  time.Duration

	droppedInstances int // instances ignored because the cache was full
}

func newCache(typ string, max int) (*cache, error) {
	t, fq, err := normalizeType(typ)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = DefaultMaxInstances
	}
	return &cache{
		typ: t, serviceFQ: fq, serviceKey: nameKey(fq), max: max,
		entries: map[string]*entry{}, hosts: map[string]*host{},
	}, nil
}

// observe takes one received message; iface is the interface it arrived on.
func (c *cache) observe(now time.Time, iface string, m *dns.Msg) []Event {
	if !m.Response || m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		return nil
	}
	rrs := make([]dns.RR, 0, len(m.Answer)+len(m.Extra))
	rrs = append(append(rrs, m.Answer...), m.Extra...)

	// PTRs first: only they create instances, so the bound holds.
	for _, rr := range rrs {
		p, ok := rr.(*dns.PTR)
		if !ok || nameKey(p.Hdr.Name) != c.serviceKey {
			continue
		}
		label, ok := instanceLabel(p.Ptr, c.serviceKey)
		if !ok {
			continue
		}
		key := nameKey(p.Ptr)
		e := c.entries[key]
		if e == nil {
			if p.Hdr.Ttl == 0 {
				continue
			}
			if len(c.entries) >= c.max {
				c.droppedInstances++
				continue
			}
			e = &entry{key: key, fqdn: p.Ptr, label: label, incompleteSince: now}
			c.entries[key] = e
		}
		e.ptr = newRec(now, p.Hdr.Ttl)
		e.iface = iface
	}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype != dns.TypeSRV && h.Rrtype != dns.TypeTXT {
			continue
		}
		e := c.entries[nameKey(h.Name)]
		if e == nil {
			continue // SRV and TXT never create instances
		}
		switch r := rr.(type) {
		case *dns.SRV:
			if r.Hdr.Ttl > 0 {
				tk := nameKey(r.Target)
				if tk == "" {
					continue
				}
				e.target, e.targetKey, e.port = dns.CanonicalName(r.Target), tk, r.Port
			}
			e.hasSRV = e.hasSRV || r.Hdr.Ttl > 0
			e.srv = newRec(now, r.Hdr.Ttl)
		case *dns.TXT:
			if r.Hdr.Ttl > 0 {
				e.info = txtFromRR(r)
			}
			e.hasTXT = e.hasTXT || r.Hdr.Ttl > 0
			e.txt = newRec(now, r.Hdr.Ttl)
		}
		e.iface = iface
	}
	referenced := map[string]bool{}
	for _, e := range c.entries {
		if e.hasSRV {
			referenced[e.targetKey] = true
		}
	}
	for _, rr := range rrs {
		var a netip.Addr
		switch r := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(r.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(r.AAAA.To16())
		default:
			continue
		}
		hk := nameKey(rr.Header().Name)
		if !referenced[hk] || !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
			a = a.WithZone(iface)
		}
		c.addAddr(now, hk, rr.Header(), a)
	}
	return c.evaluate(now)
}

func (c *cache) addAddr(now time.Time, hk string, h *dns.RR_Header, a netip.Addr) {
	ho := c.hosts[hk]
	if ho == nil {
		ho = &host{name: dns.CanonicalName(h.Name), addrs: map[netip.Addr]addrRec{}}
		c.hosts[hk] = ho
	}
	r := newRec(now, h.Ttl)
	if h.Class&classFlush != 0 && h.Ttl > 0 {
		// Cache flush (RFC 6762 §10.2): same-family addresses received
		// more than a second ago go in a second.
		for o, or := range ho.addrs {
			if o.Is4() == a.Is4() && o != a && now.Sub(or.received) > time.Second && or.expiry.After(now.Add(goodbyeGrace)) {
				or.expiry = now.Add(goodbyeGrace)
				ho.addrs[o] = or
			}
		}
	}
	if _, ok := ho.addrs[a]; !ok && len(ho.addrs) >= maxAddrsPerHost {
		return
	}
	ho.addrs[a] = addrRec{received: now, expiry: r.expiry}
}

// txtFromRR parses a TXT record; an invalid one yields an empty path.
func txtFromRR(r *dns.TXT) txtInfo {
	strs := make([][]byte, 0, len(r.Txt))
	for _, s := range r.Txt {
		b, err := unescape(s)
		if err != nil {
			return txtInfo{}
		}
		strs = append(strs, b)
	}
	info, err := parseTXT(strs)
	if err != nil {
		return txtInfo{}
	}
	return info
}

// instance builds the reportable instance of e, or ok false when it is
// incomplete or invalid.
func (c *cache) instance(e *entry) (Instance, bool) {
	if !e.hasSRV || !e.hasTXT || e.info.Path == "" || e.port == 0 {
		return Instance{}, false
	}
	ho := c.hosts[e.targetKey]
	if ho == nil || len(ho.addrs) == 0 {
		return Instance{}, false
	}
	addrs := make([]netip.Addr, 0, len(ho.addrs))
	for a := range ho.addrs {
		addrs = append(addrs, a)
	}
	return Instance{
		Type: c.typ, Instance: e.label, Host: e.target, Addrs: sortAddrs(addrs),
		Port: e.port, Path: e.info.Path, Name: e.info.Name, Interface: e.iface,
	}, true
}

// evaluate reports the changes of every entry since the last call.
func (c *cache) evaluate(now time.Time) []Event {
	var evs []Event
	for _, key := range c.sortedKeys() {
		e := c.entries[key]
		in, ok := c.instance(e)
		switch {
		case ok && !e.reported:
			evs = append(evs, Event{Kind: Appeared, Instance: in})
		case ok && !in.equal(e.last):
			evs = append(evs, Event{Kind: Updated, Instance: in})
		case !ok && e.reported:
			evs = append(evs, Event{Kind: Gone, Instance: e.last})
		}
		if ok {
			e.last = in
			e.incompleteSince = time.Time{}
		} else if e.incompleteSince.IsZero() {
			e.incompleteSince = now
		}
		e.reported = ok
	}
	return evs
}

func (c *cache) sortedKeys() []string {
	keys := make([]string, 0, len(c.entries))
	for k := range c.entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// query is what tick asks the driver to send.
type query struct {
	questions []dns.Question
	known     []dns.RR // known answers, to go with the PTR question
}

// tick expires records and returns the resulting events and the queries
// now due.
func (c *cache) tick(now time.Time) ([]Event, query) {
	var evs []Event
	for _, key := range c.sortedKeys() {
		e := c.entries[key]
		if e.hasTXT && !now.Before(e.txt.expiry) {
			e.hasTXT, e.info = false, txtInfo{}
		}
		if !now.Before(e.ptr.expiry) || (e.hasSRV && !now.Before(e.srv.expiry)) ||
			(!e.incompleteSince.IsZero() && now.Sub(e.incompleteSince) >= pendingTimeout) {
			if e.reported {
				evs = append(evs, Event{Kind: Gone, Instance: e.last})
			}
			delete(c.entries, key)
		}
	}
	referenced := map[string]bool{}
	for _, e := range c.entries {
		if e.hasSRV {
			referenced[e.targetKey] = true
		}
	}
	for hk, ho := range c.hosts {
		for a, r := range ho.addrs {
			if !now.Before(r.expiry) {
				delete(ho.addrs, a)
			}
		}
		if len(ho.addrs) == 0 || !referenced[hk] {
			delete(c.hosts, hk)
		}
	}
	evs = append(evs, c.evaluate(now)...)
	return evs, c.queries(now)
}

func (c *cache) queries(now time.Time) query {
	var q query
	add := func(name string, t uint16) {
		if len(q.questions) >= maxQueriesPerTick {
			return
		}
		qq := dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}
		if !slices.Contains(q.questions, qq) {
			q.questions = append(q.questions, qq)
		}
	}
	if !now.Before(c.nextQuery) {
		add(c.serviceFQ, dns.TypePTR)
		if c.interval == 0 {
			c.interval = queryIntervalMin
		} else {
			c.interval = min(2*c.interval, queryIntervalMax)
		}
		c.nextQuery = now.Add(c.interval)
		for _, key := range c.sortedKeys() {
			e := c.entries[key]
			left := e.ptr.expiry.Sub(now)
			if !e.reported || e.ptr.ttl == 0 || left < e.ptr.ttl/2 || len(q.known) >= maxKnownAnswers {
				continue
			}
			q.known = append(q.known, &dns.PTR{
				Hdr: dns.RR_Header{Name: c.serviceFQ, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: uint32(left / time.Second)},
				Ptr: e.fqdn,
			})
		}
	}
	for _, key := range c.sortedKeys() {
		e := c.entries[key]
		if !e.reported && now.Sub(e.lastQuery) >= pendingQueryInterval {
			e.lastQuery = now
			if !e.hasSRV {
				add(e.fqdn, dns.TypeSRV)
			}
			if !e.hasTXT {
				add(e.fqdn, dns.TypeTXT)
			}
			if e.hasSRV {
				add(e.target, dns.TypeA)
				add(e.target, dns.TypeAAAA)
			}
		}
		if e.ptr.due(now) {
			add(c.serviceFQ, dns.TypePTR)
		}
		if e.hasSRV && e.srv.due(now) {
			add(e.fqdn, dns.TypeSRV)
			add(e.target, dns.TypeA)
			add(e.target, dns.TypeAAAA)
		}
		if e.hasTXT && e.txt.due(now) {
			add(e.fqdn, dns.TypeTXT)
		}
	}
	return q
}
