package discovery

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestParseTXT(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxPathLen)
	for _, tc := range []struct {
		name     string
		in       []string
		path     string
		nameHint string
		err      bool
	}{
		{"recommended", []string{"path=/sendspin", "name=Kitchen"}, "/sendspin", "Kitchen", false},
		{"no path", []string{"name=Kitchen"}, "", "Kitchen", false},
		{"empty path", []string{"path="}, "", "", false},
		{"path without value", []string{"path"}, "", "", false},
		{"relative path", []string{"path=sendspin"}, "", "", false},
		{"double slash", []string{"path=//evil.example/x"}, "", "", false},
		{"fragment", []string{"path=/a#b"}, "", "", false},
		{"space", []string{"path=/a b"}, "", "", false},
		{"bad escape", []string{"path=/a%zz"}, "", "", false},
		{"query and escape", []string{"path=/a%20b?x=1"}, "/a%20b?x=1", "", false},
		{"too long path", []string{"path=" + long}, "", "", false},
		{"first key wins", []string{"Path=/one", "path=/two", "name=A", "NAME=B"}, "/one", "A", false},
		{"invalid first path hides later", []string{"path=x", "path=/two"}, "", "", false},
		{"equals first ignored", []string{"=path=/x", "path=/y"}, "/y", "", false},
		{"value with equals", []string{"path=/a=b"}, "/a=b", "", false},
		{"control in name dropped", []string{"path=/x", "name=a\x01b"}, "/x", "", false},
		{"bad utf8 name dropped", []string{"path=/x", "name=\xff"}, "/x", "", false},
		{"utf8 name", []string{"path=/x", "name=Küche"}, "/x", "Küche", false},
		{"too many strings", make([]string, maxTXTStrings+1), "", "", true},
		{"too large", []string{strings.Repeat("a", 255), strings.Repeat("b", 255), strings.Repeat("c", 255), strings.Repeat("d", 255), strings.Repeat("e", 255), strings.Repeat("f", 255)}, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var strs [][]byte
			for _, s := range tc.in {
				strs = append(strs, []byte(s))
			}
			info, err := parseTXT(strs)
			if tc.err {
				if !errors.Is(err, ErrTXT) {
					t.Fatalf("err = %v, want ErrTXT", err)
				}
				return
			}
			if err != nil || info.Path != tc.path || info.Name != tc.nameHint {
				t.Fatalf("parseTXT = %+v, %v; want path %q name %q", info, err, tc.path, tc.nameHint)
			}
		})
	}
}

func TestBuildURL(t *testing.T) {
	for _, tc := range []struct {
		addr string
		port uint16
		path string
		want string
	}{
		{"192.168.1.20", 8928, "/sendspin", "ws://192.168.1.20:8928/sendspin"},
		{"::ffff:10.0.0.1", 8927, "/s", "ws://10.0.0.1:8927/s"},
		{"2001:db8::1", 8928, "/sendspin", "ws://[2001:db8::1]:8928/sendspin"},
		{"fe80::1%eth0", 8928, "/sendspin", "ws://[fe80::1%25eth0]:8928/sendspin"},
		{"fe80::1%2", 1, "/a?b=c", "ws://[fe80::1%252]:1/a?b=c"},
	} {
		addr := netip.MustParseAddr(tc.addr)
		got := BuildURL(addr, tc.port, tc.path)
		if got != tc.want {
			t.Errorf("BuildURL(%s) = %q, want %q", tc.addr, got, tc.want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("url.Parse(%q): %v", got, err)
			continue
		}
		if u.Scheme != "ws" || u.Hostname() != addr.Unmap().String() || u.Port() == "" {
			t.Errorf("url.Parse(%q) = host %q port %q", got, u.Hostname(), u.Port())
		}
	}
}

func TestInstanceURLPreference(t *testing.T) {
	in := Instance{Port: 8928, Path: "/sendspin", Addrs: []netip.Addr{
		netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.0.0.2"),
	}}
	want := []string{"ws://10.0.0.2:8928/sendspin", "ws://[2001:db8::1]:8928/sendspin", "ws://[fe80::1%25eth0]:8928/sendspin"}
	got := in.URLs()
	if strings.Join(got, " ") != strings.Join(want, " ") || in.URL() != want[0] {
		t.Errorf("URLs = %v, want %v", got, want)
	}
	if (Instance{}).URL() != "" {
		t.Errorf("URL of an instance without addresses is not empty")
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "Kitchen Speaker", `a.b\c"d`, "Küche (2)", "\x00\xff;@$", ""} {
		for name, esc := range map[string]func([]byte) string{"text": escapeText, "label": escapeLabel} {
			got, err := unescape(esc([]byte(s)))
			if err != nil || string(got) != s {
				t.Errorf("%s round trip of %q = %q, %v", name, s, got, err)
			}
		}
	}
	for _, bad := range []string{`\`, `\25`, `\999`, `a\1`} {
		if _, err := unescape(bad); err == nil {
			t.Errorf("unescape(%q) succeeded", bad)
		}
	}
}

func TestInstanceLabel(t *testing.T) {
	key := nameKey("_sendspin._tcp.local.")
	for _, tc := range []struct {
		fqdn, want string
		ok         bool
	}{
		{`Kitchen\ Speaker._sendspin._tcp.local.`, "Kitchen Speaker", true},
		{`Kitchen\032Speaker._SENDSPIN._tcp.LOCAL.`, "Kitchen Speaker", true},
		{`a\.b._sendspin._tcp.local.`, "a.b", true},
		{`x.y._sendspin._tcp.local.`, "", false},
		{`_sendspin._tcp.local.`, "", false},
		{`x._sendspin-server._tcp.local.`, "", false},
	} {
		got, ok := instanceLabel(tc.fqdn, key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("instanceLabel(%q) = %q, %v; want %q, %v", tc.fqdn, got, ok, tc.want, tc.ok)
		}
	}
}

func TestServiceValidation(t *testing.T) {
	ok := Service{Type: TypeClient, Instance: "x", Port: 8928}
	for _, tc := range []struct {
		name string
		mod  func(*Service)
		err  error
	}{
		{"ok", func(*Service) {}, nil},
		{"type with domain", func(s *Service) { s.Type = "_sendspin-server._tcp.local." }, nil},
		{"bad type", func(s *Service) { s.Type = "sendspin" }, ErrServiceType},
		{"long type", func(s *Service) { s.Type = "_abcdefghijklmnop._tcp" }, ErrServiceType},
		{"empty instance", func(s *Service) { s.Instance = "" }, ErrInstance},
		{"long instance", func(s *Service) { s.Instance = strings.Repeat("x", 64) }, ErrInstance},
		{"control instance", func(s *Service) { s.Instance = "a\nb" }, ErrInstance},
		{"port 0", func(s *Service) { s.Port = 0 }, ErrPort},
		{"port big", func(s *Service) { s.Port = 65536 }, ErrPort},
		{"bad path", func(s *Service) { s.Path = "sendspin" }, ErrPath},
		{"bad name", func(s *Service) { s.Name = "\xff" }, ErrName},
		{"bad host", func(s *Service) { s.Host = "a.b" }, ErrHost},
		{"bad network", func(s *Service) { s.Network = "tcp" }, ErrNetwork},
	} {
		s := ok
		tc.mod(&s)
		n, err := s.normalize()
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
		if err == nil && (n.Path != DefaultPath || !validHostLabel(n.Host)) {
			t.Errorf("%s: defaults not filled: %+v", tc.name, n)
		}
	}
	if ErrPath.Error() != "discovery: invalid path" || Error(99).Error() != "discovery: unknown error" {
		t.Errorf("error texts")
	}
}
