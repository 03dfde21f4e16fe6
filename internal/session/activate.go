package session

import (
	"slices"
	"strconv"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Activation is the activation state of one connection as both ends track it
// (messaging.md "server/activate"). The zero value is a connection that has
// not been activated yet.
type Activation struct {
	// Activated is set once an admissible server/activate was applied.
	Activated  bool
	Activities ActivitySet
	// ActiveRoles are the effective roles, persisted across activations that
	// omit active_roles.
	ActiveRoles []wire.Role
}

// Violation names the constraint an activation breaks. The client side uses
// it to choose its Rejection and for logs; the server side returns it in an
// *ActivateError before sending.
type Violation uint8

// Violations. The first group are the client-visible admissibility
// constraints of messaging.md "server/activate"; the second are rules only
// the server can check.
const (
	NoViolation Violation = iota
	// The activities list holds a value this revision does not define, or
	// repeats one.
	ViolUnknownActivity
	// The activities are not an allowed set for the matched PSK.
	ViolActivitiesNotAllowed
	// active_roles is non-empty on a connection that is not playback-capable.
	ViolRolesNotPlaybackCapable
	// pairing is in activities without a pairing object.
	ViolPairingMissing
	// pairing.method is pairing_psk on a session not keyed with the pairing
	// PSK, or another method on one that is.
	ViolMethodPSKMismatch
	// pairing.method is not a method the client currently offers.
	ViolMethodNotOffered
	// pairing.format is not a format the client currently offers for the
	// method (absent for dynamic_pairing_code, or present for another one).
	ViolFormatNotOffered

	// Server-only rules.

	// The first server/activate omits active_roles, which it must carry.
	ViolFirstWithoutRoles
	// A pairing object accompanies activities without pairing.
	ViolPairingUnexpected
	// An active role is repeated or malformed.
	ViolRoleMalformed
	// An active role was not listed in the client's supported_roles.
	ViolRoleNotListed
	// Two versions of one role family are active.
	ViolRoleFamilyTwice
	// An active role version requires a support object the client did not
	// send.
	ViolRoleMissingSupport
	// Playback or roles on an unpaired session while the server holds a
	// pairing record for the client: the credential-mismatch restriction.
	ViolRecordExists
	// Playback or roles on an unpaired session to a client the operator has
	// not approved.
	ViolUnapproved
	// source@v1 on an unpaired session without explicit approval.
	ViolSourceNeedsExplicitApproval
	// No client/hello was received: nothing can be activated yet.
	ViolNoClientHello
)

var violationNames = [...]string{
	NoViolation:                     "none",
	ViolUnknownActivity:             "unknown or repeated activity",
	ViolActivitiesNotAllowed:        "activity set not allowed for the matched PSK",
	ViolRolesNotPlaybackCapable:     "active_roles on a connection not playback-capable",
	ViolPairingMissing:              "pairing activity without pairing parameters",
	ViolMethodPSKMismatch:           "pairing.method disallowed by the matched PSK",
	ViolMethodNotOffered:            "pairing.method not offered by the client",
	ViolFormatNotOffered:            "pairing.format not offered by the client",
	ViolFirstWithoutRoles:           "first activation without active_roles",
	ViolPairingUnexpected:           "pairing parameters without pairing activity",
	ViolRoleMalformed:               "repeated or malformed active role",
	ViolRoleNotListed:               "active role not in supported_roles",
	ViolRoleFamilyTwice:             "two versions of one role family",
	ViolRoleMissingSupport:          "active role without its required support object",
	ViolRecordExists:                "playback or roles while a pairing record exists on an unpaired session",
	ViolUnapproved:                  "playback or roles on an unpaired session without operator approval",
	ViolSourceNeedsExplicitApproval: "source@v1 on an unpaired session without explicit approval",
	ViolNoClientHello:               "no client/hello received",
}

func (v Violation) String() string {
	if int(v) < len(violationNames) {
		return violationNames[v]
	}
	return "Violation(" + strconv.Itoa(int(v)) + ")"
}

// pairingClass reports whether v is one of the pairing-parameter constraints,
// answered with pair/abort method_not_supported.
func (v Violation) pairingClass() bool {
	return v >= ViolPairingMissing && v <= ViolFormatNotOffered
}

// Rejection is the client's response to an inadmissible server/activate,
// chosen by the first rule that applies (messaging.md "server/activate").
type Rejection uint8

// Rejections in the spec's order.
const (
	// RejectNone: the activation is admissible.
	RejectNone Rejection = iota
	// RejectPairingRequired: client/goodbye pairing_required, then close.
	RejectPairingRequired
	// RejectUnauthorized: client/goodbye unauthorized, then close.
	RejectUnauthorized
	// RejectMethodNotSupported: pair/abort method_not_supported; the
	// connection stays open and the activation is not applied.
	RejectMethodNotSupported
)

var rejectionNames = [...]string{
	RejectNone:               "admissible",
	RejectPairingRequired:    "goodbye pairing_required",
	RejectUnauthorized:       "goodbye unauthorized",
	RejectMethodNotSupported: "pair/abort method_not_supported",
}

func (r Rejection) String() string {
	if int(r) < len(rejectionNames) {
		return rejectionNames[r]
	}
	return "Rejection(" + strconv.Itoa(int(r)) + ")"
}

// Goodbye returns the client/goodbye reason to send, if the rejection sends
// one.
func (r Rejection) Goodbye() (wire.GoodbyeReason, bool) {
	switch r {
	case RejectPairingRequired:
		return wire.GoodbyePairingRequired, true
	case RejectUnauthorized:
		return wire.GoodbyeUnauthorized, true
	}
	return "", false
}

// Abort returns the pair/abort reason to send, if the rejection sends one.
func (r Rejection) Abort() (wire.AbortReason, bool) {
	if r == RejectMethodNotSupported {
		return wire.AbortMethodNotSupported, true
	}
	return "", false
}

// Closes reports whether the client closes the connection after responding.
func (r Rejection) Closes() bool { return r == RejectPairingRequired || r == RejectUnauthorized }

// ClientConfig is what the client's own configuration contributes to
// admissibility: the values it currently advertises.
type ClientConfig struct {
	// UnpairedAccess is whether the client currently admits unpaired access
	// (pairing.md "Unpaired Access").
	UnpairedAccess bool
	// PairMethods are the pairing methods and formats the client currently
	// offers (its own supported_pair_methods).
	PairMethods wire.PairMethods
	// SupportedRoles are the roles the client listed in client/hello. Roles
	// outside it in an activation are ignored, never used.
	SupportedRoles []wire.Role
}

// ClientDecision is the outcome of AdmitActivation.
type ClientDecision struct {
	// Rejection is RejectNone when the activation is admissible.
	Rejection Rejection
	// Violation is the first constraint the activation breaks under the
	// client's actual configuration, for logs; NoViolation when admissible.
	Violation Violation
	// Next is the connection's activation state after applying an admissible
	// activation; the previous state when rejected.
	Next Activation
	// Changes are the role additions and removals the client carries out.
	Changes RoleChanges
	// RolesCleared is set when persisted roles were treated as empty because
	// the connection is no longer playback-capable.
	RolesCleared bool
	// Ignored are declared roles the client will not use: roles it did not
	// list, and every version of a family declared more than once.
	Ignored []wire.Role
	// Pairing holds the admitted attempt's parameters when the admissible
	// activation declares pairing; each such activation admits one new
	// attempt, superseding any earlier one.
	Pairing *wire.PairingParams
	// PairingLeft is set when an admissible activation drops pairing from
	// activities: any attempt is abandoned and its state discarded
	// (pairing.md "Entering and leaving pairing").
	PairingLeft bool
	// PairingActivation is set whenever the message declares pairing,
	// admissible or not: it counts toward pairing_index (pairing.md
	// "Messages": pairing server/activate messages received).
	PairingActivation bool
}

// Admissible reports whether the activation was admitted.
func (d ClientDecision) Admissible() bool { return d.Rejection == RejectNone }

// AdmitActivation decides whether a client admits server/activate m on a
// session keyed with category matched, given the connection's state prev and
// the client's configuration; m may be the first or a subsequent activation
// (a re-handshake's first one is subsequent). A rejection is chosen by the
// first rule that applies (messaging.md "server/activate"):
//
//  1. unpaired session, unpaired access disabled, and enabling it would make
//     m admissible: goodbye pairing_required;
//  2. activities not an allowed set, or active_roles non-empty on a
//     connection not playback-capable: goodbye unauthorized;
//  3. a pairing method or format the PSK disallows or the client does not
//     offer: pair/abort method_not_supported, connection open.
//
// Multi-server admission (Arbiter) applies only to admissible activations.
func AdmitActivation(matched wire.PSKCategory, cfg ClientConfig, prev Activation, m *wire.ServerActivate) ClientDecision {
	d := ClientDecision{Next: prev, PairingActivation: slices.Contains(m.Activities, wire.ActivityPairing)}
	ev := evaluate(matched, cfg.UnpairedAccess, &cfg.PairMethods, prev, m)
	d.Violation = ev.violation
	if ev.violation != NoViolation {
		switch {
		case !Paired(matched) && !cfg.UnpairedAccess &&
			evaluate(matched, true, &cfg.PairMethods, prev, m).violation == NoViolation:
			d.Rejection = RejectPairingRequired
		case ev.violation.pairingClass():
			d.Rejection = RejectMethodNotSupported
		default:
			d.Rejection = RejectUnauthorized
		}
		return d
	}
	roles, ignored := usableRoles(ev.roles, cfg.SupportedRoles)
	d.Ignored = ignored
	d.RolesCleared = ev.cleared
	d.Next = Activation{Activated: true, Activities: ev.set, ActiveRoles: roles}
	d.Changes = DiffRoles(prev.ActiveRoles, roles, nil)
	if ev.set.Has(Pairing) {
		p := *m.Pairing
		d.Pairing = &p
	} else if prev.Activities.Has(Pairing) {
		d.PairingLeft = true
	}
	return d
}

// evaluation is the result of checking the admissibility constraints.
type evaluation struct {
	violation Violation
	set       ActivitySet
	roles     []wire.Role // effective roles as declared, before client filtering
	explicit  bool        // active_roles was sent
	cleared   bool        // persisted roles treated as empty
}

// evaluate checks m against the constraints of messaging.md "server/activate"
// in the order activities, roles, pairing parameters, and computes the
// effective state. methods are the pairing methods the client offers.
func evaluate(matched wire.PSKCategory, unpairedAccess bool, methods *wire.PairMethods, prev Activation, m *wire.ServerActivate) evaluation {
	var ev evaluation
	set, ok := ParseActivities(m.Activities)
	if !ok {
		ev.violation = ViolUnknownActivity
		return ev
	}
	ev.set = set
	if !AllowedSet(matched, set, unpairedAccess) {
		ev.violation = ViolActivitiesNotAllowed
		return ev
	}
	capable := PlaybackCapable(matched, set, unpairedAccess)
	// The encoder emits active_roles when it is non-empty, so a non-empty
	// list counts as sent whatever HasActiveRoles says.
	ev.explicit = m.HasActiveRoles || len(m.ActiveRoles) > 0
	switch {
	case ev.explicit:
		ev.roles = m.ActiveRoles
		if len(ev.roles) > 0 && !capable {
			ev.violation = ViolRolesNotPlaybackCapable
			return ev
		}
	case !prev.Activated:
		// A first activation that omits active_roles carries an empty one.
	case !capable:
		// Persisted roles on a connection no longer playback-capable are
		// treated as empty rather than the message rejected.
		ev.cleared = len(prev.ActiveRoles) > 0
	default:
		ev.roles = prev.ActiveRoles
	}
	if set.Has(Pairing) {
		ev.violation = checkPairing(matched, methods, m.Pairing)
	}
	return ev
}

// checkPairing applies the pairing.method invariant and the offered-methods
// rule (messaging.md "server/activate": pairing).
func checkPairing(matched wire.PSKCategory, methods *wire.PairMethods, p *wire.PairingParams) Violation {
	if p == nil {
		return ViolPairingMissing
	}
	if (p.Method == wire.MethodPairingPSK) != (matched == wire.PSKPairing) {
		return ViolMethodPSKMismatch
	}
	if !methods.Offers(p.Method) {
		return ViolMethodNotOffered
	}
	if p.Method == wire.MethodDynamicCode {
		if p.Format == "" || !slices.Contains(methods.DynamicCode.Formats, p.Format) {
			return ViolFormatNotOffered
		}
	} else if p.Format != "" {
		return ViolFormatNotOffered
	}
	return NoViolation
}

// usableRoles keeps the declared roles the client listed, dropping every
// version of a family declared twice: the client cannot tell which the
// server meant (README "Priority and Activation": at most one per family).
func usableRoles(declared, listed []wire.Role) (keep, ignored []wire.Role) {
	count := map[string]int{}
	for _, r := range declared {
		count[r.Family()]++
	}
	for _, r := range declared {
		if slices.Contains(listed, r) && count[r.Family()] == 1 {
			keep = append(keep, r)
		} else {
			ignored = append(ignored, r)
		}
	}
	return keep, ignored
}

// ReliesOnUnpairedAccess reports whether a connection in state a on a session
// keyed with matched relies on unpaired access: an unpaired session declaring
// playback or carrying roles. A client that stops admitting unpaired access
// closes such connections with goodbye pairing_required (pairing.md "Unpaired
// Access").
func ReliesOnUnpairedAccess(matched wire.PSKCategory, a Activation) bool {
	return !Paired(matched) && (a.Activities.Has(Playback) || len(a.ActiveRoles) > 0)
}

// UnpairAction is the client's response to server/unpair.
type UnpairAction uint8

// Responses to server/unpair (messaging.md "server/unpair").
const (
	// UnpairRemoveRecord: remove the matched pairing record, send goodbye
	// unpaired and close.
	UnpairRemoveRecord UnpairAction = iota + 1
	// UnpairIgnore: the session is unpaired; continue unchanged.
	UnpairIgnore
	// UnpairOutOfSequence: received before the initial server/activate, which
	// the server must not do (messaging.md "Communication"); close without
	// touching any record.
	UnpairOutOfSequence
)

var unpairNames = [...]string{
	UnpairRemoveRecord:  "remove record, goodbye unpaired",
	UnpairIgnore:        "ignore",
	UnpairOutOfSequence: "out of sequence, close",
}

func (a UnpairAction) String() string {
	if a > 0 && int(a) < len(unpairNames) {
		return unpairNames[a]
	}
	return "UnpairAction(" + strconv.Itoa(int(a)) + ")"
}

// OnServerUnpair decides the client's response to server/unpair on a session
// keyed with matched in state a.
func OnServerUnpair(matched wire.PSKCategory, a Activation) UnpairAction {
	switch {
	case !a.Activated:
		return UnpairOutOfSequence
	case !Paired(matched):
		return UnpairIgnore
	}
	return UnpairRemoveRecord
}
