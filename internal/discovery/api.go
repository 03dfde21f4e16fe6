package discovery

import (
	"context"
	"log/slog"
)

// Advertiser announces services. MDNS is the real one, Memory a fake for
// driver tests.
type Advertiser interface {
	// Advertise validates svc, starts answering for it and announces it.
	// It lasts until the Advertisement is closed or ctx is done; either
	// way a goodbye is sent.
	Advertise(ctx context.Context, svc Service) (Advertisement, error)
}

// Advertisement is one running advertisement.
type Advertisement interface {
	// Close sends the goodbye, releases the sockets and returns when every
	// goroutine has ended. It is safe to call more than once.
	Close() error
}

// Browser finds services.
type Browser interface {
	// Browse reports instances of serviceType (TypeClient or TypeServer)
	// until ctx is done; then the channel is closed, after every goroutine
	// has ended. The caller must keep receiving: the browser waits rather
	// than drop an event.
	Browse(ctx context.Context, serviceType string, opts BrowseOptions) (<-chan Event, error)
}

// BrowseOptions tune a Browse; the zero value is ready to use.
type BrowseOptions struct {
	// Interfaces to browse on; all up, multicast-capable, non-loopback
	// interfaces when empty (loopback only when named).
	Interfaces []string
	// Network is "ip4", "ip6", or "" for both.
	Network string
	// MaxInstances bounds the instances tracked; DefaultMaxInstances when 0.
	MaxInstances int
	// MaxPacketsPerSecond bounds the packets processed;
	// DefaultMaxPacketsPerSecond when 0.
	MaxPacketsPerSecond int
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// MDNS advertises and browses with Multicast DNS on the local network.
// The zero value is ready to use.
type MDNS struct{}

var (
	_ Advertiser = MDNS{}
	_ Browser    = MDNS{}
)

// Advertise is MDNS{}.Advertise.
func Advertise(ctx context.Context, svc Service) (Advertisement, error) {
	return MDNS{}.Advertise(ctx, svc)
}

// Browse is MDNS{}.Browse.
func Browse(ctx context.Context, serviceType string, opts BrowseOptions) (<-chan Event, error) {
	return MDNS{}.Browse(ctx, serviceType, opts)
}
