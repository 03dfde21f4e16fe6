package session

import (
	"slices"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

var (
	player1   = wire.RolePlayerV1
	player2   = wire.Role("player@v2")
	metadata1 = wire.RoleMetadataV1
	artwork1  = wire.RoleArtworkV1
	source1   = wire.RoleSourceV1
	control1  = wire.RoleControllerV1
)

func acts(a ...wire.Activity) []wire.Activity { return a }

const (
	play = wire.ActivityPlayback
	pair = wire.ActivityPairing
)

func roles(r ...wire.Role) []wire.Role { return r }

var (
	viaPSK     = &wire.PairingParams{Method: wire.MethodPairingPSK}
	viaStatic  = &wire.PairingParams{Method: wire.MethodStaticCode}
	viaDigits  = &wire.PairingParams{Method: wire.MethodDynamicCode, Format: wire.FormatDigits}
	viaQR      = &wire.PairingParams{Method: wire.MethodDynamicCode, Format: wire.FormatQRCode}
	viaNoFmt   = &wire.PairingParams{Method: wire.MethodDynamicCode}
	viaBadFmt  = &wire.PairingParams{Method: wire.MethodDynamicCode, Format: "hologram"}
	viaUnknown = &wire.PairingParams{Method: "carrier_pigeon"}
	viaStatFmt = &wire.PairingParams{Method: wire.MethodStaticCode, Format: wire.FormatDigits}
)

// Client pair-method configurations.
var (
	offersDigits = wire.PairMethods{
		PairingPSK:  &wire.StaticMethod{},
		DynamicCode: &wire.DynamicMethod{OutChannels: []wire.OutChannel{wire.OutSpeaker}, Formats: []wire.CodeFormat{wire.FormatDigits}},
	}
	offersBoth = wire.PairMethods{
		PairingPSK:  &wire.StaticMethod{},
		DynamicCode: &wire.DynamicMethod{OutChannels: []wire.OutChannel{wire.OutDisplay}, Formats: []wire.CodeFormat{wire.FormatDigits, wire.FormatQRCode}},
	}
	offersStatic = wire.PairMethods{PairingPSK: &wire.StaticMethod{}, StaticCode: &wire.StaticMethod{}}
	offersNoPSK  = wire.PairMethods{StaticCode: &wire.StaticMethod{}}
)

var listedAll = roles(player2, player1, metadata1, artwork1, source1, control1)

func cfg(ua bool, pm wire.PairMethods) ClientConfig {
	return ClientConfig{UnpairedAccess: ua, PairMethods: pm, SupportedRoles: listedAll}
}

func first() Activation { return Activation{} }

func withRoles(set ActivitySet, r ...wire.Role) Activation {
	return Activation{Activated: true, Activities: set, ActiveRoles: r}
}

func activate(a []wire.Activity, r []wire.Role, p *wire.PairingParams) *wire.ServerActivate {
	return &wire.ServerActivate{Activities: a, ActiveRoles: r, HasActiveRoles: true, Pairing: p}
}

func omitRoles(a []wire.Activity, p *wire.PairingParams) *wire.ServerActivate {
	return &wire.ServerActivate{Activities: a, Pairing: p}
}

type admitCase struct {
	name string
	cat  wire.PSKCategory
	cfg  ClientConfig
	prev Activation
	msg  *wire.ServerActivate
	rej  Rejection
	viol Violation
	// For admissible cases: the expected effective state.
	wantSet   ActivitySet
	wantRoles []wire.Role
}

// TestAdmitActivation covers every allowed-set row, every constraint, and
// every rejection branch of messaging.md "server/activate", including the
// order in which the rejection rules apply and the worked example.
func TestAdmitActivation(t *testing.T) {
	tests := []admitCase{
		// Long-term PSK: [] or [playback]; paired, so unpaired access is moot.
		{name: "lt empty", cat: lt, cfg: cfg(false, offersDigits), msg: activate(acts(), roles(), nil), wantSet: NoActivities},
		{name: "lt playback with player", cat: lt, cfg: cfg(false, offersDigits), msg: activate(acts(play), roles(player1), nil), wantSet: Playback, wantRoles: roles(player1)},
		{name: "lt empty with roles", cat: lt, cfg: cfg(false, offersDigits), msg: activate(acts(), roles(metadata1), nil), wantSet: NoActivities, wantRoles: roles(metadata1)},
		{name: "lt pairing not allowed", cat: lt, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaDigits), rej: RejectUnauthorized, viol: ViolActivitiesNotAllowed},
		{name: "lt playback+pairing not allowed", cat: lt, cfg: cfg(true, offersDigits), msg: activate(acts(play, pair), roles(), viaDigits), rej: RejectUnauthorized, viol: ViolActivitiesNotAllowed},
		{name: "lt unknown activity", cat: lt, cfg: cfg(true, offersDigits), msg: activate(acts("party"), roles(), nil), rej: RejectUnauthorized, viol: ViolUnknownActivity},
		{name: "lt repeated activity", cat: lt, cfg: cfg(true, offersDigits), msg: activate(acts(play, play), roles(), nil), rej: RejectUnauthorized, viol: ViolUnknownActivity},
		{name: "lt first omits roles is empty", cat: lt, cfg: cfg(false, offersDigits), msg: omitRoles(acts(play), nil), wantSet: Playback},
		{name: "lt subsequent omits roles keeps them", cat: lt, cfg: cfg(false, offersDigits), prev: withRoles(Playback, player1, metadata1), msg: omitRoles(acts(), nil), wantSet: NoActivities, wantRoles: roles(player1, metadata1)},
		{name: "lt explicit empty roles clears", cat: lt, cfg: cfg(false, offersDigits), prev: withRoles(Playback, player1), msg: activate(acts(play), roles(), nil), wantSet: Playback},

		// Sentinel PSK, unpaired access disabled.
		{name: "worked example: sn playback player", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(play), roles(player1), nil), rej: RejectPairingRequired, viol: ViolActivitiesNotAllowed},
		{name: "sn empty with roles needs unpaired access", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(), roles(player1), nil), rej: RejectPairingRequired, viol: ViolRolesNotPlaybackCapable},
		{name: "sn pairing with roles needs unpaired access", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(player1), viaDigits), rej: RejectPairingRequired, viol: ViolRolesNotPlaybackCapable},
		{name: "sn playback+pairing good method", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(play, pair), roles(), viaDigits), rej: RejectPairingRequired, viol: ViolActivitiesNotAllowed},
		{name: "sn empty", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(), roles(), nil), wantSet: NoActivities},
		{name: "sn pairing digits", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaDigits), wantSet: Pairing},
		{name: "sn pairing qr", cat: sn, cfg: cfg(false, offersBoth), msg: activate(acts(pair), roles(), viaQR), wantSet: Pairing},
		{name: "sn pairing static", cat: sn, cfg: cfg(false, offersStatic), msg: activate(acts(pair), roles(), viaStatic), wantSet: Pairing},
		// Rule 1 does not apply when unpaired access would not help; rule 2
		// then comes before rule 3.
		{name: "order: sn playback+pairing bad method is unauthorized", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(play, pair), roles(), viaPSK), rej: RejectUnauthorized, viol: ViolActivitiesNotAllowed},
		{name: "order: sn pairing roles bad method is unauthorized", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(player1), viaStatic), rej: RejectUnauthorized, viol: ViolRolesNotPlaybackCapable},
		{name: "order: sn unknown activity is unauthorized", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(play, "party"), roles(), nil), rej: RejectUnauthorized, viol: ViolUnknownActivity},
		{name: "sn pairing_psk disallowed", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaPSK), rej: RejectMethodNotSupported, viol: ViolMethodPSKMismatch},
		{name: "sn pairing without parameters", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), nil), rej: RejectMethodNotSupported, viol: ViolPairingMissing},
		{name: "sn static not offered", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaStatic), rej: RejectMethodNotSupported, viol: ViolMethodNotOffered},
		{name: "sn dynamic not offered", cat: sn, cfg: cfg(false, offersStatic), msg: activate(acts(pair), roles(), viaDigits), rej: RejectMethodNotSupported, viol: ViolMethodNotOffered},
		{name: "sn unknown method", cat: sn, cfg: cfg(false, offersBoth), msg: activate(acts(pair), roles(), viaUnknown), rej: RejectMethodNotSupported, viol: ViolMethodNotOffered},
		{name: "sn qr not offered", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaQR), rej: RejectMethodNotSupported, viol: ViolFormatNotOffered},
		{name: "sn dynamic without format", cat: sn, cfg: cfg(false, offersBoth), msg: activate(acts(pair), roles(), viaNoFmt), rej: RejectMethodNotSupported, viol: ViolFormatNotOffered},
		{name: "sn unknown format", cat: sn, cfg: cfg(false, offersBoth), msg: activate(acts(pair), roles(), viaBadFmt), rej: RejectMethodNotSupported, viol: ViolFormatNotOffered},
		{name: "sn static with a format", cat: sn, cfg: cfg(false, offersStatic), msg: activate(acts(pair), roles(), viaStatFmt), rej: RejectMethodNotSupported, viol: ViolFormatNotOffered},
		{name: "sn pairing object ignored without pairing", cat: sn, cfg: cfg(false, offersDigits), msg: activate(acts(), roles(), viaPSK), wantSet: NoActivities},

		// Sentinel PSK, unpaired access enabled.
		{name: "sn ua playback player", cat: sn, cfg: cfg(true, offersDigits), msg: activate(acts(play), roles(player1), nil), wantSet: Playback, wantRoles: roles(player1)},
		{name: "sn ua empty with roles", cat: sn, cfg: cfg(true, offersDigits), msg: activate(acts(), roles(metadata1), nil), wantSet: NoActivities, wantRoles: roles(metadata1)},
		{name: "sn ua playback+pairing", cat: sn, cfg: cfg(true, offersDigits), msg: activate(acts(play, pair), roles(player1), viaDigits), wantSet: Playback | Pairing, wantRoles: roles(player1)},
		{name: "sn ua playback+pairing_psk", cat: sn, cfg: cfg(true, offersDigits), msg: activate(acts(play, pair), roles(), viaPSK), rej: RejectMethodNotSupported, viol: ViolMethodPSKMismatch},
		{name: "sn ua unknown activity", cat: sn, cfg: cfg(true, offersDigits), msg: activate(acts("party"), roles(), nil), rej: RejectUnauthorized, viol: ViolUnknownActivity},

		// Pairing PSK.
		{name: "pr pairing_psk", cat: pr, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaPSK), wantSet: Pairing},
		{name: "pr code method disallowed", cat: pr, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaDigits), rej: RejectMethodNotSupported, viol: ViolMethodPSKMismatch},
		{name: "pr unknown method", cat: pr, cfg: cfg(false, offersDigits), msg: activate(acts(pair), roles(), viaUnknown), rej: RejectMethodNotSupported, viol: ViolMethodPSKMismatch},
		{name: "pr pairing_psk not offered", cat: pr, cfg: cfg(false, offersNoPSK), msg: activate(acts(pair), roles(), viaPSK), rej: RejectMethodNotSupported, viol: ViolMethodNotOffered},
		{name: "pr playback needs unpaired access", cat: pr, cfg: cfg(false, offersDigits), msg: activate(acts(play), roles(), nil), rej: RejectPairingRequired, viol: ViolActivitiesNotAllowed},
		{name: "pr ua playback+pairing_psk", cat: pr, cfg: cfg(true, offersDigits), msg: activate(acts(play, pair), roles(player1), viaPSK), wantSet: Playback | Pairing, wantRoles: roles(player1)},

		// Unknown category: fail closed.
		{name: "unknown category", cat: "xx", cfg: cfg(true, offersDigits), msg: activate(acts(), roles(), nil), rej: RejectUnauthorized, viol: ViolActivitiesNotAllowed},

		// Persistence of active_roles.
		{name: "re-handshake to pr clears persisted roles", cat: pr, cfg: cfg(false, offersDigits), prev: withRoles(Playback, player1, metadata1), msg: omitRoles(acts(pair), viaPSK), wantSet: Pairing},
		{name: "re-handshake to pr with explicit roles is rejected", cat: pr, cfg: cfg(false, offersDigits), prev: withRoles(Playback, player1), msg: activate(acts(pair), roles(player1), viaPSK), rej: RejectPairingRequired, viol: ViolRolesNotPlaybackCapable},
		{name: "sn ua pairing keeps persisted roles", cat: sn, cfg: cfg(true, offersDigits), prev: withRoles(Playback, player1), msg: omitRoles(acts(pair), viaDigits), wantSet: Pairing, wantRoles: roles(player1)},
		{name: "back to lt after pairing: roles stay cleared", cat: lt, cfg: cfg(false, offersDigits), prev: withRoles(Pairing), msg: omitRoles(acts(play), nil), wantSet: Playback},
		{name: "replacement of a version", cat: lt, cfg: cfg(false, offersDigits), prev: withRoles(Playback, player1), msg: activate(acts(play), roles(player2), nil), wantSet: Playback, wantRoles: roles(player2)},
		{name: "unlisted role ignored", cat: lt, cfg: ClientConfig{SupportedRoles: roles(player1)}, msg: activate(acts(play), roles(player1, artwork1), nil), wantSet: Playback, wantRoles: roles(player1)},
		{name: "family declared twice ignored", cat: lt, cfg: cfg(false, offersDigits), msg: activate(acts(play), roles(player2, player1, metadata1), nil), wantSet: Playback, wantRoles: roles(metadata1)},
		{name: "roles listed nowhere", cat: lt, cfg: ClientConfig{}, msg: activate(acts(play), roles(player1), nil), wantSet: Playback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := AdmitActivation(tt.cat, tt.cfg, tt.prev, tt.msg)
			if d.Rejection != tt.rej || d.Violation != tt.viol {
				t.Fatalf("got %v (%v), want %v (%v)", d.Rejection, d.Violation, tt.rej, tt.viol)
			}
			if d.PairingActivation != slices.Contains(tt.msg.Activities, pair) {
				t.Errorf("PairingActivation = %v", d.PairingActivation)
			}
			if !d.Admissible() {
				if !equalActivation(d.Next, tt.prev) {
					t.Errorf("rejected activation changed state: %+v", d.Next)
				}
				if d.Changes.Changed() || d.Pairing != nil {
					t.Errorf("rejected activation has effects: %+v", d)
				}
				return
			}
			want := Activation{Activated: true, Activities: tt.wantSet, ActiveRoles: tt.wantRoles}
			if !equalActivation(d.Next, want) {
				t.Errorf("Next = %+v, want %+v", d.Next, want)
			}
			if (d.Pairing != nil) != tt.wantSet.Has(Pairing) {
				t.Errorf("Pairing = %v for %v", d.Pairing, tt.wantSet)
			}
			if d.Pairing != nil && *d.Pairing != *tt.msg.Pairing {
				t.Errorf("Pairing = %+v, want %+v", *d.Pairing, *tt.msg.Pairing)
			}
		})
	}
}

func equalActivation(a, b Activation) bool {
	return a.Activated == b.Activated && a.Activities == b.Activities &&
		slices.Equal(a.ActiveRoles, b.ActiveRoles)
}

// TestRejectionResponses pins what each rejection sends and whether the
// connection closes (messaging.md "server/activate" and "client/goodbye").
func TestRejectionResponses(t *testing.T) {
	tests := []struct {
		r       Rejection
		goodbye wire.GoodbyeReason
		abort   wire.AbortReason
		closes  bool
	}{
		{RejectNone, "", "", false},
		{RejectPairingRequired, wire.GoodbyePairingRequired, "", true},
		{RejectUnauthorized, wire.GoodbyeUnauthorized, "", true},
		{RejectMethodNotSupported, "", wire.AbortMethodNotSupported, false},
	}
	for _, tt := range tests {
		g, gok := tt.r.Goodbye()
		a, aok := tt.r.Abort()
		if g != tt.goodbye || gok != (tt.goodbye != "") || a != tt.abort || aok != (tt.abort != "") || tt.r.Closes() != tt.closes {
			t.Errorf("%v: goodbye %q %v abort %q %v closes %v", tt.r, g, gok, a, aok, tt.r.Closes())
		}
	}
	if Rejection(9).String() != "Rejection(9)" || Violation(99).String() != "Violation(99)" {
		t.Error("String of unknown values")
	}
	for v := NoViolation; v <= ViolNoClientHello; v++ {
		if v.String() == "" || v.String()[0] == 'V' {
			t.Errorf("Violation %d has no name", v)
		}
	}
}

// TestRoleRemovalOnActivation checks the client's duties on removal
// (messaging.md "server/activate": role removal includes explicit removal,
// implicit removal when no longer playback-capable, and replacement).
func TestRoleRemovalOnActivation(t *testing.T) {
	tests := []struct {
		name       string
		cat        wire.PSKCategory
		prev       Activation
		msg        *wire.ServerActivate
		cleared    bool
		removed    []wire.Role
		added      []wire.Role
		endStreams []wire.Role
		discard    []wire.Role
		stopSrc    []wire.Role
	}{
		{name: "explicit removal", cat: lt, prev: withRoles(Playback, player1, metadata1, source1), msg: activate(acts(play), roles(player1), nil),
			removed: roles(metadata1, source1), discard: roles(metadata1), stopSrc: roles(source1)},
		{name: "implicit removal", cat: pr, prev: withRoles(Playback, player1, artwork1, control1), msg: omitRoles(acts(pair), viaPSK), cleared: true,
			removed: roles(player1, artwork1, control1), endStreams: roles(player1, artwork1), discard: roles(control1)},
		{name: "replacement", cat: lt, prev: withRoles(Playback, player1, metadata1), msg: activate(acts(play), roles(player2, metadata1), nil),
			removed: roles(player1), added: roles(player2), endStreams: roles(player1)},
		{name: "unchanged", cat: lt, prev: withRoles(Playback, player1), msg: omitRoles(acts(), nil)},
		{name: "first adds", cat: lt, msg: activate(acts(play), roles(player1, metadata1), nil), added: roles(player1, metadata1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := AdmitActivation(tt.cat, cfg(false, offersDigits), tt.prev, tt.msg)
			if !d.Admissible() {
				t.Fatalf("rejected: %v (%v)", d.Rejection, d.Violation)
			}
			c := d.Changes
			if d.RolesCleared != tt.cleared || !slices.Equal(c.Removed, tt.removed) || !slices.Equal(c.Added, tt.added) ||
				!slices.Equal(c.EndStreams, tt.endStreams) || !slices.Equal(c.DiscardState, tt.discard) || !slices.Equal(c.StopSources, tt.stopSrc) {
				t.Errorf("cleared %v changes %+v", d.RolesCleared, c)
			}
		})
	}
}

func TestPairingLeft(t *testing.T) {
	d := AdmitActivation(sn, cfg(false, offersDigits), withRoles(Pairing), activate(acts(), roles(), nil))
	if !d.Admissible() || !d.PairingLeft || d.Pairing != nil {
		t.Errorf("leaving pairing: %+v", d)
	}
	d = AdmitActivation(sn, cfg(false, offersDigits), withRoles(Pairing), activate(acts(pair), roles(), viaDigits))
	if !d.Admissible() || d.PairingLeft || d.Pairing == nil {
		t.Errorf("re-sent pairing activation: %+v", d)
	}
	// A rejected pairing activation still counts toward pairing_index.
	d = AdmitActivation(sn, cfg(false, offersDigits), withRoles(Pairing), activate(acts(pair), roles(), viaQR))
	if d.Admissible() || !d.PairingActivation || d.PairingLeft {
		t.Errorf("rejected pairing activation: %+v", d)
	}
}

func TestReliesOnUnpairedAccess(t *testing.T) {
	tests := []struct {
		cat  wire.PSKCategory
		a    Activation
		want bool
	}{
		{lt, withRoles(Playback, player1), false},
		{sn, withRoles(Playback), true},
		{sn, withRoles(NoActivities, metadata1), true},
		{pr, withRoles(Pairing), false},
		{sn, withRoles(NoActivities), false},
	}
	for _, tt := range tests {
		if got := ReliesOnUnpairedAccess(tt.cat, tt.a); got != tt.want {
			t.Errorf("ReliesOnUnpairedAccess(%q, %+v) = %v", tt.cat, tt.a, got)
		}
	}
}

// TestOnServerUnpair is messaging.md "server/unpair": a paired session removes
// its record and says goodbye unpaired; an unpaired one ignores the message.
func TestOnServerUnpair(t *testing.T) {
	tests := []struct {
		cat  wire.PSKCategory
		a    Activation
		want UnpairAction
	}{
		{lt, withRoles(Playback, player1), UnpairRemoveRecord},
		{lt, withRoles(NoActivities), UnpairRemoveRecord},
		{sn, withRoles(Playback), UnpairIgnore},
		{pr, withRoles(Pairing), UnpairIgnore},
		{lt, first(), UnpairOutOfSequence},
	}
	for _, tt := range tests {
		if got := OnServerUnpair(tt.cat, tt.a); got != tt.want {
			t.Errorf("OnServerUnpair(%q, %+v) = %v, want %v", tt.cat, tt.a, got, tt.want)
		}
	}
}
