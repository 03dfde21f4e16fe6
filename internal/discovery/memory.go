package discovery

import (
	"context"
	"net/netip"
	"slices"
	"sync"
)

// Memory is an in-memory Advertiser and Browser for the unit tests of
// drivers: what is advertised on it is reported at once, with address
// Addr, to its browsers of the same type; Close or the end of the
// advertising context reports it gone. It validates services like MDNS
// does, ignores interfaces, networks and limits, and never touches the
// network.
type Memory struct {
	// Addr is the address every instance is reported at; 127.0.0.1 when
	// invalid.
	Addr netip.Addr

	mu       sync.Mutex
	ads      map[*memAd]Instance
	watchers map[*memWatch]struct{}
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{} }

var (
	_ Advertiser = (*Memory)(nil)
	_ Browser    = (*Memory)(nil)
)

type memAd struct {
	m    *Memory
	once sync.Once
	stop context.CancelFunc
	done chan struct{}
}

// Advertise implements Advertiser.
func (m *Memory) Advertise(ctx context.Context, svc Service) (Advertisement, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	svc, err := svc.normalize()
	if err != nil {
		return nil, err
	}
	addr := m.Addr
	if !addr.IsValid() {
		addr = netip.MustParseAddr("127.0.0.1")
	}
	in := Instance{
		Type: svc.Type, Instance: svc.Instance, Host: svc.Host + "." + mdnsDomain,
		Addrs: []netip.Addr{addr}, Port: uint16(svc.Port), Path: svc.Path, Name: svc.Name,
		Interface: "memory",
	}
	ctx, cancel := context.WithCancel(ctx)
	ad := &memAd{m: m, stop: cancel, done: make(chan struct{})}
	m.mu.Lock()
	if m.ads == nil {
		m.ads = map[*memAd]Instance{}
	}
	m.ads[ad] = in
	m.broadcast(Event{Kind: Appeared, Instance: in})
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		delete(m.ads, ad)
		m.broadcast(Event{Kind: Gone, Instance: in})
		m.mu.Unlock()
		close(ad.done)
	}()
	return ad, nil
}

func (a *memAd) Close() error {
	a.stop()
	<-a.done
	return nil
}

type memWatch struct {
	typ   string
	mu    sync.Mutex
	queue []Event
	wake  chan struct{}
}

// broadcast queues e for every browser of its type; m.mu is held.
func (m *Memory) broadcast(e Event) {
	for w := range m.watchers {
		if w.typ == e.Instance.Type {
			w.push(e)
		}
	}
}

func (w *memWatch) push(e Event) {
	e.Instance.Addrs = slices.Clone(e.Instance.Addrs)
	w.mu.Lock()
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Browse implements Browser: instances already advertised are reported
// first, then changes, until ctx is done.
func (m *Memory) Browse(ctx context.Context, serviceType string, opts BrowseOptions) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	typ, _, err := normalizeType(serviceType)
	if err != nil {
		return nil, err
	}
	w := &memWatch{typ: typ, wake: make(chan struct{}, 1)}
	m.mu.Lock()
	if m.watchers == nil {
		m.watchers = map[*memWatch]struct{}{}
	}
	m.watchers[w] = struct{}{}
	var current []Instance
	for _, in := range m.ads {
		if in.Type == typ {
			current = append(current, in)
		}
	}
	slices.SortFunc(current, func(a, b Instance) int {
		if a.Instance < b.Instance {
			return -1
		}
		if a.Instance > b.Instance {
			return 1
		}
		return 0
	})
	for _, in := range current {
		w.push(Event{Kind: Appeared, Instance: in})
	}
	m.mu.Unlock()

	out := make(chan Event)
	go func() {
		defer close(out)
		defer func() {
			m.mu.Lock()
			delete(m.watchers, w)
			m.mu.Unlock()
		}()
		for {
			w.mu.Lock()
			q := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, e := range q {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
