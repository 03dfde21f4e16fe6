package wire

import (
	"strings"
)

// Role is a versioned role identifier such as "player@v1" (README.md "Role
// Versioning").
type Role string

// The versioned roles the spec defines.
const (
	RolePlayerV1     Role = "player@v1"
	RoleSourceV1     Role = "source@v1"
	RoleControllerV1 Role = "controller@v1"
	RoleMetadataV1   Role = "metadata@v1"
	RoleArtworkV1    Role = "artwork@v1"
	RoleVisualizerV1 Role = "visualizer@v1"
	RoleColorV1      Role = "color@v1"
)

// Family returns the unversioned role name ("player" for "player@v1"), the
// key role objects use in messages.
func (r Role) Family() string {
	name, _, _ := strings.Cut(string(r), "@")
	return name
}

// Version returns the part after "@", or "" if there is none.
func (r Role) Version() string {
	_, v, _ := strings.Cut(string(r), "@")
	return v
}

// AppSpecific reports whether the role or its version is application
// specific (starts with "_").
func (r Role) AppSpecific() bool {
	return strings.HasPrefix(r.Family(), "_") || strings.HasPrefix(r.Version(), "_")
}

// wellFormed reports whether r has the form name@version with both parts
// non-empty, as every advertised role must (README.md "Role Versioning").
func (r Role) wellFormed() bool {
	name, v, ok := strings.Cut(string(r), "@")
	return ok && name != "" && v != "" && !strings.Contains(v, "@")
}

func toRoles(ss []string) []Role {
	out := make([]Role, len(ss))
	for i, s := range ss {
		out[i] = Role(s)
	}
	return out
}

func fromRoles(rs []Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// supportKey is the client/hello / server/hello key of a role version's
// support object (messaging.md "client/hello").
func supportKey(r Role) string { return string(r) + "_support" }

// ServerHello is server/hello (messaging.md "server/hello").
type ServerHello struct {
	Name string
	// Languages are BCP 47 tags in operator preference; nil when absent.
	Languages     []string
	SourceSupport *ServerSourceSupport // source@v1_support
}

// Type implements Message.
func (*ServerHello) Type() Type { return TypeServerHello }

func (m *ServerHello) encode(w *writer) {
	w.str("name", m.Name)
	if m.Languages != nil {
		w.strs("languages", m.Languages)
	}
	if m.SourceSupport != nil {
		w.obj(supportKey(RoleSourceV1))
		m.SourceSupport.encode(w)
		w.end()
	}
}

func (m *ServerHello) decode(r *reader) {
	m.Name, _ = r.str("name", true)
	if langs, ok := r.strs("languages", false); ok {
		if len(langs) == 0 {
			r.fail("languages", RuleEmpty)
		}
		for i, l := range langs {
			if r.st.strict && !languageTag(l) {
				r.fail("languages["+itoa(i)+"]", RuleEncoding)
			}
		}
		m.Languages = langs
	}
	m.SourceSupport = optRead[ServerSourceSupport](r, supportKey(RoleSourceV1))
}

// languageTag is a loose BCP 47 check: subtags of 1-8 ASCII letters or digits
// separated by hyphens.
func languageTag(s string) bool {
	if s == "" {
		return false
	}
	for _, sub := range strings.Split(s, "-") {
		if len(sub) < 1 || len(sub) > 8 {
			return false
		}
		for i := 0; i < len(sub); i++ {
			c := sub[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}

// DeviceInfo is client/hello device_info.
type DeviceInfo struct {
	ProductName     string
	Manufacturer    string
	SoftwareVersion string
	MACAddress      string // lowercase aa:bb:cc:dd:ee:ff
}

func (d *DeviceInfo) encode(w *writer) {
	if d.ProductName != "" {
		w.str("product_name", d.ProductName)
	}
	if d.Manufacturer != "" {
		w.str("manufacturer", d.Manufacturer)
	}
	if d.SoftwareVersion != "" {
		w.str("software_version", d.SoftwareVersion)
	}
	if d.MACAddress != "" {
		w.str("mac_address", d.MACAddress)
	}
}

func (d *DeviceInfo) decode(r *reader) {
	d.ProductName, _ = r.str("product_name", false)
	d.Manufacturer, _ = r.str("manufacturer", false)
	d.SoftwareVersion, _ = r.str("software_version", false)
	if mac, ok := r.str("mac_address", false); ok {
		// Informational only: a receiver keeps a malformed address out
		// rather than refusing the client; a sender must get it right.
		if macAddress(mac) {
			d.MACAddress = mac
		} else if r.st.strict {
			r.fail("mac_address", RuleEncoding)
		}
	}
}

// macAddress checks the lowercase colon-separated form aa:bb:cc:dd:ee:ff.
func macAddress(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// PairMethod identifies a pairing method (pairing.md "Methods").
type PairMethod string

// The three pairing methods.
const (
	MethodPairingPSK  PairMethod = "pairing_psk"
	MethodStaticCode  PairMethod = "static_pairing_code"
	MethodDynamicCode PairMethod = "dynamic_pairing_code"
)

// Known reports whether m is a method the spec defines.
func (m PairMethod) Known() bool {
	return enumIn(m, MethodPairingPSK, MethodStaticCode, MethodDynamicCode)
}

// Location is where an operator finds a method's configured secret.
type Location string

// The defined locations.
const (
	LocationDevice   Location = "device"
	LocationLeaflet  Location = "leaflet"
	LocationOperator Location = "operator"
)

// OutChannel is how a dynamic pairing code reaches the operator.
type OutChannel string

// The defined out-channels.
const (
	OutDisplay OutChannel = "display"
	OutSpeaker OutChannel = "speaker"
)

// CodeFormat is a dynamic pairing code emission format.
type CodeFormat string

// The defined emission formats.
const (
	FormatDigits CodeFormat = "digits"
	FormatQRCode CodeFormat = "qr_code"
)

// StaticMethod is the descriptor of pairing_psk and static_pairing_code.
type StaticMethod struct {
	Locations []Location // nil when absent
}

// DynamicMethod is the descriptor of dynamic_pairing_code.
type DynamicMethod struct {
	OutChannels []OutChannel
	Formats     []CodeFormat
}

// PairMethods is client/hello supported_pair_methods (pairing.md
// "client/hello pair-method descriptor"). A received descriptor keeps only the
// values this revision defines; a key, or a dynamic descriptor left with no
// format or no channel, that this revision does not recognize is listed in
// Ignored and otherwise left unvalidated, as the spec requires.
type PairMethods struct {
	PairingPSK  *StaticMethod
	StaticCode  *StaticMethod
	DynamicCode *DynamicMethod
	// Ignored lists the keys ignored on receipt: a sign that the client
	// speaks a newer revision. Never encoded.
	Ignored []string
}

// Offers reports whether the client offers method m.
func (p *PairMethods) Offers(m PairMethod) bool {
	switch m {
	case MethodPairingPSK:
		return p.PairingPSK != nil
	case MethodStaticCode:
		return p.StaticCode != nil
	case MethodDynamicCode:
		return p.DynamicCode != nil
	}
	return false
}

func (p *PairMethods) encode(w *writer) {
	enc := func(key string, s *StaticMethod) {
		w.obj(key)
		if s.Locations != nil {
			w.strs("locations", stringsOf(s.Locations))
		}
		w.end()
	}
	if p.PairingPSK != nil {
		enc(string(MethodPairingPSK), p.PairingPSK)
	}
	if p.StaticCode != nil {
		enc(string(MethodStaticCode), p.StaticCode)
	}
	if d := p.DynamicCode; d != nil {
		w.obj(string(MethodDynamicCode))
		w.strs("out_channels", stringsOf(d.OutChannels))
		w.strs("formats", stringsOf(d.Formats))
		w.end()
	}
}

func (p *PairMethods) decode(r *reader) {
	static := func(key string) *StaticMethod {
		c, ok := r.object(key, false)
		if !ok {
			return nil
		}
		s := new(StaticMethod)
		if locs, ok := c.strs("locations", false); ok {
			s.Locations = known(c, "locations", locs, LocationDevice, LocationLeaflet, LocationOperator)
		}
		return s
	}
	p.PairingPSK = static(string(MethodPairingPSK))
	p.StaticCode = static(string(MethodStaticCode))
	if c, ok := r.object(string(MethodDynamicCode), false); ok {
		chans, _ := c.strs("out_channels", true)
		formats, _ := c.strs("formats", true)
		d := &DynamicMethod{
			OutChannels: known(c, "out_channels", chans, OutDisplay, OutSpeaker),
			Formats:     known(c, "formats", formats, FormatDigits, FormatQRCode),
		}
		if r.st.strict && (len(d.Formats) == 0 || len(d.OutChannels) == 0) {
			c.fail("", RuleEmpty)
		}
		if len(d.Formats) > 0 && len(d.OutChannels) > 0 {
			p.DynamicCode = d
		} else {
			p.Ignored = append(p.Ignored, string(MethodDynamicCode))
		}
	}
	for _, f := range r.fields {
		if !PairMethod(f.key).Known() {
			p.Ignored = append(p.Ignored, f.key)
		}
	}
	if r.st.strict {
		if len(p.Ignored) > 0 {
			r.fail(p.Ignored[0], RuleEnum)
		}
		// Every client offers the Pairing PSK method, and at most one
		// pairing-code method (messaging.md "client/hello").
		if p.PairingPSK == nil {
			r.fail(string(MethodPairingPSK), RuleRequired)
		}
		if p.StaticCode != nil && p.DynamicCode != nil {
			r.fail(string(MethodStaticCode), RuleConflict)
		}
	}
}

// known keeps the values this revision defines. Strict decoding (our own
// output) rejects any other; received values outside the set are ignored
// (pairing.md "client/hello pair-method descriptor").
func known[T ~string](r *reader, key string, vals []string, defined ...T) []T {
	out := make([]T, 0, len(vals))
	for i, v := range vals {
		if enumIn(T(v), defined...) {
			out = append(out, T(v))
		} else if r.st.strict {
			r.fail(key+"["+itoa(i)+"]", RuleEnum)
		}
	}
	if r.st.strict && !unique(out) {
		r.fail(key, RuleUnique)
	}
	return out
}

func stringsOf[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// ClientHello is client/hello (messaging.md "client/hello").
type ClientHello struct {
	Name       string
	DeviceInfo *DeviceInfo
	// SupportedRoles in priority order, most preferred first.
	SupportedRoles    []Role
	PlayerSupport     *PlayerSupport     // player@v1_support
	SourceSupport     *SourceSupport     // source@v1_support
	VisualizerSupport *VisualizerSupport // visualizer@v1_support
	// OtherSupport holds the raw support objects of other role versions,
	// keyed by their full key ("_acme_display@v1_support"). A sender may
	// only include those of application-specific role versions it lists.
	OtherSupport   map[string][]byte
	PairMethods    PairMethods
	UnpairedAccess bool // unpaired_access.enabled
}

// Type implements Message.
func (*ClientHello) Type() Type { return TypeClientHello }

func (m *ClientHello) encode(w *writer) {
	w.str("name", m.Name)
	optObj(w, "device_info", m.DeviceInfo)
	w.strs("supported_roles", fromRoles(m.SupportedRoles))
	if m.PlayerSupport != nil {
		w.obj(supportKey(RolePlayerV1))
		m.PlayerSupport.encode(w)
		w.end()
	}
	if m.SourceSupport != nil {
		w.obj(supportKey(RoleSourceV1))
		m.SourceSupport.encode(w)
		w.end()
	}
	if m.VisualizerSupport != nil {
		w.obj(supportKey(RoleVisualizerV1))
		m.VisualizerSupport.encode(w)
		w.end()
	}
	w.ext(m.OtherSupport)
	w.obj("supported_pair_methods")
	m.PairMethods.encode(w)
	w.end()
	w.obj("unpaired_access")
	w.bool("enabled", m.UnpairedAccess)
	w.end()
}

func (m *ClientHello) decode(r *reader) {
	m.Name, _ = r.str("name", true)
	m.DeviceInfo = optRead[DeviceInfo](r, "device_info")
	roles, _ := r.strs("supported_roles", true)
	m.SupportedRoles = toRoles(roles)
	m.PlayerSupport = optRead[PlayerSupport](r, supportKey(RolePlayerV1))
	m.SourceSupport = optRead[SourceSupport](r, supportKey(RoleSourceV1))
	m.VisualizerSupport = optRead[VisualizerSupport](r, supportKey(RoleVisualizerV1))
	for _, f := range r.fields {
		if !strings.HasSuffix(f.key, "_support") || f.key == supportKey(RolePlayerV1) ||
			f.key == supportKey(RoleSourceV1) || f.key == supportKey(RoleVisualizerV1) {
			continue
		}
		v, _ := r.get(f.key)
		if m.OtherSupport == nil {
			m.OtherSupport = make(map[string][]byte)
		}
		m.OtherSupport[f.key] = append([]byte(nil), v...)
	}
	if c, ok := r.object("supported_pair_methods", true); ok {
		m.PairMethods.decode(c)
	}
	if c, ok := r.object("unpaired_access", true); ok {
		m.UnpairedAccess, _ = c.boolean("enabled", true)
	}
	if r.st.strict {
		m.checkSender(r)
	}
}

// checkSender applies the rules on what a client may put in client/hello.
func (m *ClientHello) checkSender(r *reader) {
	listed := map[Role]bool{}
	for i, role := range m.SupportedRoles {
		if !role.wellFormed() {
			r.fail("supported_roles["+itoa(i)+"]", RuleEncoding)
			return
		}
		listed[role] = true
	}
	if !unique(m.SupportedRoles) {
		r.fail("supported_roles", RuleUnique)
	}
	// A defined role version's support object is present exactly when the
	// version is listed.
	for _, c := range []struct {
		role    Role
		present bool
	}{
		{RolePlayerV1, m.PlayerSupport != nil},
		{RoleSourceV1, m.SourceSupport != nil},
		{RoleVisualizerV1, m.VisualizerSupport != nil},
	} {
		if listed[c.role] && !c.present {
			r.fail(supportKey(c.role), RuleRequired)
		}
		if !listed[c.role] && c.present {
			r.fail(supportKey(c.role), RuleForbidden)
		}
	}
	for key := range m.OtherSupport {
		role := Role(strings.TrimSuffix(key, "_support"))
		if !role.AppSpecific() || !listed[role] {
			r.fail(key, RuleForbidden)
		}
	}
}
