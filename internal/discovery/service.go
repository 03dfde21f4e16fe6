package discovery

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"unicode/utf8"
)

// Service is what Advertise announces.
type Service struct {
	// Type is TypeClient or TypeServer (any "_name._tcp" DNS-SD type is
	// accepted; ".local." may be appended).
	Type string
	// Instance is the instance name, at most 63 bytes of UTF-8. It should
	// be unique on the link: this package does not probe for conflicts,
	// so a driver should make it so (for example the friendly name plus a
	// short form of its id).
	Instance string
	// Port is the TCP port of the WebSocket listener.
	Port int
	// Path is the TXT path; DefaultPath when empty.
	Path string
	// Name is the optional TXT name (the friendly name).
	Name string
	// Host is the host name label ("box" for "box.local."); derived from
	// os.Hostname when empty.
	Host string
	// Interfaces names the interfaces to advertise on; all up,
	// multicast-capable, non-loopback interfaces when empty (loopback only
	// when named).
	Interfaces []string
	// Network is "ip4", "ip6", or "" for both.
	Network string
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
}

// normalizeType returns the canonical type ("_x._tcp") and its FQDN.
func normalizeType(t string) (string, string, error) {
	t = strings.ToLower(strings.TrimSuffix(t, "."))
	t = strings.TrimSuffix(t, ".local")
	labels := strings.Split(t, ".")
	if len(labels) != 2 || (labels[1] != "_tcp" && labels[1] != "_udp") {
		return "", "", fmt.Errorf("%w: %q", ErrServiceType, t)
	}
	name := labels[0]
	if len(name) < 2 || len(name) > maxServiceLabel+1 || name[0] != '_' {
		return "", "", fmt.Errorf("%w: %q", ErrServiceType, t)
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "", "", fmt.Errorf("%w: %q", ErrServiceType, t)
		}
	}
	return t, t + "." + mdnsDomain, nil
}

func validateInstance(s string) error {
	if s == "" || len(s) > maxInstanceLen || !utf8.ValidString(s) || hasControl(s) {
		return fmt.Errorf("%w: %q", ErrInstance, s)
	}
	return nil
}

func validateNetwork(n string) error {
	switch n {
	case "", "ip4", "ip6":
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNetwork, n)
}

// validHostLabel reports whether h is a letters-digits-hyphens label.
func validHostLabel(h string) bool {
	if h == "" || len(h) > 63 || h[0] == '-' || h[len(h)-1] == '-' {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// defaultHost makes a host label from os.Hostname.
func defaultHost() string {
	h, _ := os.Hostname()
	h, _, _ = strings.Cut(h, ".")
	b := []byte(h)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '-'
		}
	}
	h = strings.Trim(string(b), "-")
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	if h == "" {
		return "tonearm"
	}
	return h
}

// normalize validates s and fills in defaults.
func (s Service) normalize() (Service, error) {
	var err error
	if s.Type, _, err = normalizeType(s.Type); err != nil {
		return s, err
	}
	if err := validateInstance(s.Instance); err != nil {
		return s, err
	}
	if s.Port < 1 || s.Port > 65535 {
		return s, fmt.Errorf("%w: %d", ErrPort, s.Port)
	}
	if s.Path == "" {
		s.Path = DefaultPath
	}
	if err := ValidatePath(s.Path); err != nil {
		return s, err
	}
	if err := ValidateName(s.Name); err != nil {
		return s, err
	}
	if s.Host == "" {
		s.Host = defaultHost()
	} else if !validHostLabel(s.Host) {
		return s, fmt.Errorf("%w: %q", ErrHost, s.Host)
	}
	if err := validateNetwork(s.Network); err != nil {
		return s, err
	}
	return s, nil
}
