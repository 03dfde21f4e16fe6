package discovery

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Instance is one discovered service instance.
type Instance struct {
	// Type is the service type without the domain, e.g. "_sendspin._tcp".
	Type string
	// Instance is the instance name (the first label, unescaped).
	Instance string
	// Host is the target host name of the SRV record, e.g. "box.local.".
	Host string
	// Addrs are the host's addresses, IPv4 first; IPv6 link-local ones
	// carry the zone of the interface they were learned on.
	Addrs []netip.Addr
	// Port is the SRV port.
	Port uint16
	// Path is the TXT path, validated: it starts with '/'.
	Path string
	// Name is the TXT name, a hint only ("" if absent or invalid).
	Name string
	// Interface is the interface the instance was last heard on.
	Interface string
}

// URL is the ws:// URL of the instance at its preferred address (IPv4,
// then global IPv6, then link-local IPv6), or "" if it has none.
func (in Instance) URL() string {
	urls := in.URLs()
	if len(urls) == 0 {
		return ""
	}
	return urls[0]
}

// URLs are the ws:// URLs of every address of the instance, in preference
// order.
func (in Instance) URLs() []string {
	out := make([]string, 0, len(in.Addrs))
	for _, a := range sortAddrs(in.Addrs) {
		out = append(out, BuildURL(a, in.Port, in.Path))
	}
	return out
}

func (in Instance) equal(o Instance) bool {
	if in.Type != o.Type || in.Instance != o.Instance || in.Host != o.Host ||
		in.Port != o.Port || in.Path != o.Path || in.Name != o.Name ||
		len(in.Addrs) != len(o.Addrs) {
		return false
	}
	for i := range in.Addrs {
		if in.Addrs[i] != o.Addrs[i] {
			return false
		}
	}
	return true
}

// BuildURL builds "ws://ADDR:PORT/PATH". IPv6 addresses are bracketed and
// a zone is percent-encoded as RFC 6874 says ("[fe80::1%25eth0]").
// path must already be valid (see ValidatePath).
func BuildURL(addr netip.Addr, port uint16, path string) string {
	addr = addr.Unmap()
	var host string
	if addr.Is4() {
		host = addr.String()
	} else {
		zone := addr.Zone()
		host = "[" + addr.WithZone("").String()
		if zone != "" {
			host += "%25" + zone
		}
		host += "]"
	}
	return "ws://" + host + ":" + strconv.Itoa(int(port)) + path
}

// addrRank orders addresses for URLs: IPv4, global IPv6, other IPv6.
func addrRank(a netip.Addr) int {
	switch {
	case a.Unmap().Is4():
		return 0
	case !a.IsLinkLocalUnicast():
		return 1
	default:
		return 2
	}
}

func sortAddrs(in []netip.Addr) []netip.Addr {
	out := append([]netip.Addr(nil), in...)
	// Insertion sort: a handful of addresses at most.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && addrLess(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func addrLess(a, b netip.Addr) bool {
	ra, rb := addrRank(a), addrRank(b)
	if ra != rb {
		return ra < rb
	}
	if c := a.WithZone("").Compare(b.WithZone("")); c != 0 {
		return c < 0
	}
	return a.Zone() < b.Zone()
}

// ValidatePath checks a TXT path: it starts with '/', is at most
// MaxPathLen bytes, and is an ASCII URI path with an optional query
// (RFC 3986 pchar, '/', '?', percent-escapes); no fragment, no spaces.
// We are stricter than the spec ("path key specifying the WebSocket
// endpoint") so a peer cannot smuggle anything into the URL we dial.
func ValidatePath(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("%w: must start with '/'", ErrPath)
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrPath, MaxPathLen)
	}
	if len(p) > 1 && p[1] == '/' {
		// "//x" would read as an authority if the URL were ever re-parsed
		// relative to another one.
		return fmt.Errorf("%w: starts with '//'", ErrPath)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0:
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return fmt.Errorf("%w: bad percent-escape", ErrPath)
			}
		default:
			return fmt.Errorf("%w: character %q not allowed", ErrPath, c)
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// ValidateName checks a TXT name: valid UTF-8, at most MaxNameLen bytes,
// no control characters. The empty name means "no name".
func ValidateName(n string) error {
	if len(n) > MaxNameLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrName, MaxNameLen)
	}
	if !utf8.ValidString(n) {
		return fmt.Errorf("%w: not UTF-8", ErrName)
	}
	if hasControl(n) {
		return fmt.Errorf("%w: control character", ErrName)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// txtInfo is what a TXT record says, after validation.
type txtInfo struct {
	Path string // "" when absent or invalid: the instance is ignored
	Name string // "" when absent or invalid
}

// parseTXT reads the character-strings of a TXT record (raw bytes, not
// escaped) as RFC 6763 §6 key/value pairs. Keys are case-insensitive and
// only the first occurrence of a key counts (§6.4). It fails when the
// record is larger than this package accepts, and returns an empty Path
// when path is missing or invalid.
func parseTXT(strs [][]byte) (txtInfo, error) {
	var info txtInfo
	if len(strs) > maxTXTStrings {
		return info, fmt.Errorf("%w: %d strings", ErrTXT, len(strs))
	}
	total := 0
	for _, s := range strs {
		total += 1 + len(s)
		if len(s) > maxTXTString {
			return info, fmt.Errorf("%w: string of %d bytes", ErrTXT, len(s))
		}
	}
	if total > maxTXTTotal {
		return info, fmt.Errorf("%w: %d bytes", ErrTXT, total)
	}
	var seenPath, seenName bool
	for _, s := range strs {
		key, val, hasVal := bytes.Cut(s, []byte("="))
		if len(key) == 0 {
			continue // §6.4: a string starting with '=' is ignored
		}
		switch strings.ToLower(string(key)) {
		case txtKeyPath:
			if seenPath {
				continue
			}
			seenPath = true
			if hasVal && ValidatePath(string(val)) == nil {
				info.Path = string(val)
			}
		case txtKeyName:
			if seenName {
				continue
			}
			seenName = true
			if hasVal && ValidateName(string(val)) == nil {
				info.Name = string(val)
			}
		}
	}
	return info, nil
}

// buildTXT makes the character-strings advertised for path and name.
func buildTXT(path, name string) [][]byte {
	out := [][]byte{[]byte(txtKeyPath + "=" + path)}
	if name != "" {
		out = append(out, []byte(txtKeyName+"="+name))
	}
	return out
}

// escapeText turns raw bytes into miekg/dns presentation form, which is
// what dns.TXT.Txt holds and what it packs from: '"' and '\' are
// backslash-escaped, other bytes outside printable ASCII become \DDD.
func escapeText(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&sb, "\\%03d", c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// escapeLabel turns raw bytes into a presentation-form DNS label: like
// escapeText, and also '.', ' ' and the zone-file specials are escaped so
// the label stays one label.
func escapeLabel(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case strings.IndexByte(`."\()@$; `, c) >= 0:
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&sb, "\\%03d", c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// unescape reverses escapeText and escapeLabel (and any presentation form
// miekg/dns produces): "\DDD" is a byte, "\X" is X.
func unescape(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("%w: trailing backslash", ErrTXT)
		}
		if isDigit(s[i+1]) {
			if i+3 >= len(s) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
				return nil, fmt.Errorf("%w: bad \\DDD escape", ErrTXT)
			}
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if v > 255 {
				return nil, fmt.Errorf("%w: bad \\DDD escape", ErrTXT)
			}
			out = append(out, byte(v))
			i += 3
			continue
		}
		out = append(out, s[i+1])
		i++
	}
	return out, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
