package wire

// Activity is a purpose a server declares on a connection.
type Activity string

// The activities of server/activate.
const (
	ActivityPlayback Activity = "playback"
	ActivityPairing  Activity = "pairing"
)

// PairingParams is the pairing object of server/activate.
type PairingParams struct {
	Method PairMethod
	Format CodeFormat // "" unless Method is dynamic_pairing_code
}

// ServerActivate is server/activate (messaging.md "server/activate"). The
// wire layer checks its shape; whether it is admissible for the matched PSK
// is the session layer's decision.
type ServerActivate struct {
	// Activities is the declared set, unordered and unique. It may hold
	// values this revision does not define: the session layer rejects such a
	// set as not allowed.
	Activities []Activity
	// ActiveRoles is meaningful only with HasActiveRoles: an omitted
	// active_roles keeps the persisted roles, which an empty list does not.
	ActiveRoles    []Role
	HasActiveRoles bool
	// Pairing is read only when Activities includes pairing; a client
	// ignores it otherwise. A received pairing activation may lack it, or
	// its Method or Format may be empty: the session layer answers those
	// with pair/abort method_not_supported.
	Pairing *PairingParams
}

// Type implements Message.
func (*ServerActivate) Type() Type { return TypeServerActivate }

// Has reports whether a is among the declared activities.
func (m *ServerActivate) Has(a Activity) bool { return enumIn(a, m.Activities...) }

func (m *ServerActivate) encode(w *writer) {
	w.strs("activities", stringsOf(m.Activities))
	if m.HasActiveRoles || len(m.ActiveRoles) > 0 {
		w.strs("active_roles", fromRoles(m.ActiveRoles))
	}
	if p := m.Pairing; p != nil {
		w.obj("pairing")
		w.str("method", string(p.Method))
		if p.Format != "" {
			w.str("format", string(p.Format))
		}
		w.end()
	}
}

func (m *ServerActivate) decode(r *reader) {
	acts, ok := r.strs("activities", true)
	if !ok {
		return
	}
	m.Activities = make([]Activity, len(acts))
	for i, a := range acts {
		m.Activities[i] = Activity(a)
		if r.st.strict && !enumIn(m.Activities[i], ActivityPlayback, ActivityPairing) {
			r.fail("activities["+itoa(i)+"]", RuleEnum)
		}
	}
	if !unique(m.Activities) {
		r.fail("activities", RuleUnique)
	}
	if roles, ok := r.strs("active_roles", false); ok {
		m.ActiveRoles = toRoles(roles)
		m.HasActiveRoles = true
		if !unique(m.ActiveRoles) {
			r.fail("active_roles", RuleUnique)
		}
	}
	if !m.Has(ActivityPairing) {
		return // pairing is ignored, and strict decoding reports it as undefined
	}
	// A sender must include pairing with its method (and a dynamic
	// method's format). A receiver takes an absent one as a method or
	// format it does not offer, which messaging.md "server/activate"
	// answers with pair/abort method_not_supported and an open connection,
	// so it is left to the session layer rather than made a decode error.
	c, ok := r.object("pairing", r.st.strict)
	if !ok {
		return
	}
	p := new(PairingParams)
	method, _ := c.str("method", r.st.strict)
	p.Method = PairMethod(method)
	if r.st.strict && !p.Method.Known() {
		c.fail("method", RuleEnum)
	}
	if p.Method == MethodDynamicCode {
		f, _ := c.str("format", r.st.strict)
		p.Format = CodeFormat(f)
		if r.st.strict && !enumIn(p.Format, FormatDigits, FormatQRCode) {
			c.fail("format", RuleEnum)
		}
	} else if r.st.strict {
		c.absent("format")
	}
	m.Pairing = p
}
