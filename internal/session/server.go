package session

import (
	"slices"
	"strconv"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Approval is the operator's approval of unpaired access for one client_id
// (pairing.md "Unpaired Access").
type Approval uint8

// Approval levels.
const (
	// ApprovalNone: the server must not declare playback or activate roles
	// on an unpaired connection to the client.
	ApprovalNone Approval = iota
	// ApprovalImplied: an operator action that clearly means to use the
	// client, such as starting playback on it. It does not extend to
	// source@v1 (roles/source/v1.md "Unpaired access").
	ApprovalImplied
	// ApprovalExplicit: granted through the dedicated approval control.
	ApprovalExplicit
)

var approvalNames = [...]string{ApprovalNone: "none", ApprovalImplied: "implied", ApprovalExplicit: "explicit"}

func (a Approval) String() string {
	if int(a) < len(approvalNames) {
		return approvalNames[a]
	}
	return "Approval(" + strconv.Itoa(int(a)) + ")"
}

// ServerView is what the server knows about one connection when it decides
// what to activate.
type ServerView struct {
	// Matched is the category of the PSK the current session keys use.
	Matched wire.PSKCategory
	// Hello is the client's client/hello.
	Hello *wire.ClientHello
	// Approval is the operator's approval of unpaired access for this
	// client_id.
	Approval Approval
	// RecordExists is whether the server holds a pairing record for this
	// client_id. On an unpaired session that is the credential-mismatch
	// case (connection.md "Sentinel Fallback"): no playback and no roles
	// until re-pairing replaces the record.
	RecordExists bool
}

// unpairedAccess is the client's advertised setting.
func (v ServerView) unpairedAccess() bool { return v.Hello != nil && v.Hello.UnpairedAccess }

// playbackGate returns the server-only rule that forbids playback and roles
// on this connection, or NoViolation.
func (v ServerView) playbackGate() Violation {
	switch {
	case Paired(v.Matched):
		return NoViolation
	case v.RecordExists:
		return ViolRecordExists
	case v.Approval == ApprovalNone:
		return ViolUnapproved
	}
	return NoViolation
}

// PermittedSets lists the activity sets the server may declare on this
// connection: the allowed sets for the matched PSK and the client's unpaired
// access, without playback where operator approval or the
// credential-mismatch rule forbids it.
func (v ServerView) PermittedSets() []ActivitySet {
	var out []ActivitySet
	for _, s := range AllowedSets(v.Matched, v.unpairedAccess()) {
		if s.Has(Playback) && v.playbackGate() != NoViolation {
			continue
		}
		out = append(out, s)
	}
	return out
}

// SelectRoles picks the roles to activate on a connection that will declare
// set: the client's preferred version of each family (PreferredRoles), none
// unless the connection is playback-capable and the unpaired-access gates
// allow roles, and no source@v1 on an unpaired session without explicit
// approval.
func (v ServerView) SelectRoles(set ActivitySet, p RolePolicy) []wire.Role {
	if v.Hello == nil || !PlaybackCapable(v.Matched, set, v.unpairedAccess()) || v.playbackGate() != NoViolation {
		return nil
	}
	rs := PreferredRoles(v.Hello, p)
	if !Paired(v.Matched) && v.Approval != ApprovalExplicit {
		rs = slices.DeleteFunc(rs, func(r wire.Role) bool { return r.Family() == "source" })
	}
	return rs
}

// ActivateError is a server/activate the server must not send.
type ActivateError struct {
	Violation Violation
	// Role is the offending role for the role rules.
	Role wire.Role
}

func (e *ActivateError) Error() string {
	s := "session: server/activate not sendable: " + e.Violation.String()
	if e.Role != "" {
		s += " (" + string(e.Role) + ")"
	}
	return s
}

// ServerResult is the effect of a sendable activation.
type ServerResult struct {
	// Next is the connection's activation state once the client applies it.
	Next Activation
	// Changes are the role changes; before sending, the server ends the
	// active streams of Changes.EndStreams (RoleChanges.StreamEnds), sends
	// server/state for added state roles promptly after, and waits for the
	// client/state an added role requires before starting its stream.
	Changes RoleChanges
}

// CheckActivate validates m before the server sends it on a connection in
// state prev, so a server never sends an activation the client would reject
// or one the spec forbids the server to send. It applies the client's
// admissibility constraints against the client's advertised unpaired access
// and pair methods, and the server-only rules: active_roles on the first
// activation, no stray pairing object, roles listed by the client, one
// version per family with its support object, operator approval, source@v1
// approval and the credential-mismatch restriction.
func (v ServerView) CheckActivate(prev Activation, m *wire.ServerActivate) (ServerResult, error) {
	fail := func(viol Violation, r wire.Role) (ServerResult, error) {
		return ServerResult{}, &ActivateError{Violation: viol, Role: r}
	}
	if v.Hello == nil {
		return fail(ViolNoClientHello, "")
	}
	if !prev.Activated && !m.HasActiveRoles && len(m.ActiveRoles) == 0 {
		return fail(ViolFirstWithoutRoles, "")
	}
	ev := evaluate(v.Matched, v.unpairedAccess(), &v.Hello.PairMethods, prev, m)
	if ev.violation != NoViolation {
		return fail(ev.violation, "")
	}
	if !ev.set.Has(Pairing) && m.Pairing != nil {
		return fail(ViolPairingUnexpected, "")
	}
	families := map[string]bool{}
	for i, r := range ev.roles {
		switch {
		case !wellFormed(r) || slices.Contains(ev.roles[:i], r):
			return fail(ViolRoleMalformed, r)
		case !slices.Contains(v.Hello.SupportedRoles, r):
			return fail(ViolRoleNotListed, r)
		case families[r.Family()]:
			return fail(ViolRoleFamilyTwice, r)
		}
		families[r.Family()] = true
		if req, ok := requiredSupport(v.Hello, r); req && !ok {
			return fail(ViolRoleMissingSupport, r)
		}
	}
	if ev.set.Has(Playback) || len(ev.roles) > 0 {
		if g := v.playbackGate(); g != NoViolation {
			return fail(g, "")
		}
	}
	if !Paired(v.Matched) && v.Approval != ApprovalExplicit {
		for _, r := range ev.roles {
			if r.Family() == "source" {
				return fail(ViolSourceNeedsExplicitApproval, r)
			}
		}
	}
	next := Activation{Activated: true, Activities: ev.set, ActiveRoles: slices.Clone(ev.roles)}
	return ServerResult{Next: next, Changes: DiffRoles(prev.ActiveRoles, next.ActiveRoles, nil)}, nil
}

// RolesAfterRehandshake returns the role changes the first activation after a
// re-handshake to category to will make if it omits active_roles and keeps
// activities set: persisted roles are removed when the connection is then no
// longer playback-capable. The server ends the streams of
// Changes.EndStreams before starting the re-handshake (messaging.md
// "server/activate").
func (v ServerView) RolesAfterRehandshake(prev Activation, to wire.PSKCategory, set ActivitySet) RoleChanges {
	if PlaybackCapable(to, set, v.unpairedAccess()) {
		return RoleChanges{}
	}
	return DiffRoles(prev.ActiveRoles, nil, nil)
}

// MethodRequest is what the operator asked for when starting pairing.
type MethodRequest uint8

// Operator requests.
const (
	// RequestCode: whichever pairing-code method the client offers,
	// dynamic preferred.
	RequestCode MethodRequest = iota + 1
	// RequestDynamic: the dynamic pairing code.
	RequestDynamic
	// RequestStatic: the static pairing code.
	RequestStatic
	// RequestPairingPSK: the operator entered the client's pairing token.
	RequestPairingPSK
)

var requestNames = [...]string{RequestCode: "code", RequestDynamic: "dynamic", RequestStatic: "static", RequestPairingPSK: "pairing_psk"}

func (r MethodRequest) String() string {
	if r > 0 && int(r) < len(requestNames) {
		return requestNames[r]
	}
	return "MethodRequest(" + strconv.Itoa(int(r)) + ")"
}

// PairingError says why no pairing can be planned.
type PairingError uint8

// Pairing planning failures.
const (
	// ErrMethodNotOffered: the client does not offer the requested method.
	ErrMethodNotOffered PairingError = iota + 1
	// ErrNoCodeMethod: the client offers neither pairing-code method.
	ErrNoCodeMethod
	// ErrNoUsableFormat: the client offers only qr_code and the operator
	// interface cannot scan one.
	ErrNoUsableFormat
	// ErrBadRequest: the request is not one of the defined values.
	ErrBadRequest
)

var pairingErrNames = [...]string{
	ErrMethodNotOffered: "the client does not offer the requested pairing method",
	ErrNoCodeMethod:     "the client offers no pairing-code method",
	ErrNoUsableFormat:   "the client offers only qr_code and the operator interface cannot scan it",
	ErrBadRequest:       "unknown pairing request",
}

func (e PairingError) Error() string {
	if e > 0 && int(e) < len(pairingErrNames) {
		return "session: " + pairingErrNames[e]
	}
	return "session: PairingError(" + strconv.Itoa(int(e)) + ")"
}

// PairingPlan is how the server starts a pairing.
type PairingPlan struct {
	// Params is the pairing object of the pairing server/activate.
	Params wire.PairingParams
	// RehandshakeTo is the PSK category to re-handshake to before that
	// activation, or "" when the current session already fits: pairing_psk
	// runs only on a pairing-PSK session and the code methods only on a
	// Sentinel-keyed one (messaging.md "server/activate": pairing.method is
	// pairing_psk iff the matched PSK is the pairing PSK; pairing.md
	// "Pairing PSK Flow" and "Methods").
	RehandshakeTo wire.PSKCategory
}

// PlanPairing picks the pairing method and format for the operator's request
// from the client's descriptors (which the wire layer has already cleared of
// unknown keys and values), on a session keyed with matched. Dynamic is
// preferred over static when a client wrongly offers both; qr_code is chosen
// only when canScanQR, and preferred then for its larger code.
func PlanPairing(matched wire.PSKCategory, offered *wire.PairMethods, req MethodRequest, canScanQR bool) (PairingPlan, error) {
	var method wire.PairMethod
	switch req {
	case RequestPairingPSK:
		method = wire.MethodPairingPSK
	case RequestDynamic:
		method = wire.MethodDynamicCode
	case RequestStatic:
		method = wire.MethodStaticCode
	case RequestCode:
		switch {
		case offered.Offers(wire.MethodDynamicCode):
			method = wire.MethodDynamicCode
		case offered.Offers(wire.MethodStaticCode):
			method = wire.MethodStaticCode
		default:
			return PairingPlan{}, ErrNoCodeMethod
		}
	default:
		return PairingPlan{}, ErrBadRequest
	}
	if !offered.Offers(method) {
		return PairingPlan{}, ErrMethodNotOffered
	}
	plan := PairingPlan{Params: wire.PairingParams{Method: method}}
	if method == wire.MethodDynamicCode {
		f := offered.DynamicCode.Formats
		switch {
		case canScanQR && slices.Contains(f, wire.FormatQRCode):
			plan.Params.Format = wire.FormatQRCode
		case slices.Contains(f, wire.FormatDigits):
			plan.Params.Format = wire.FormatDigits
		default:
			return PairingPlan{}, ErrNoUsableFormat
		}
	}
	want := wire.PSKSentinel
	if method == wire.MethodPairingPSK {
		want = wire.PSKPairing
	}
	if matched != want {
		plan.RehandshakeTo = want
	}
	return plan, nil
}
