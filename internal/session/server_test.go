package session

import (
	"errors"
	"slices"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// hello builds a client/hello listing rs, with the support objects of the
// defined versions among them.
func hello(ua bool, pm wire.PairMethods, rs ...wire.Role) *wire.ClientHello {
	h := &wire.ClientHello{Name: "c", SupportedRoles: rs, PairMethods: pm, UnpairedAccess: ua}
	if slices.Contains(rs, wire.RolePlayerV1) {
		h.PlayerSupport = &wire.PlayerSupport{}
	}
	if slices.Contains(rs, wire.RoleSourceV1) {
		h.SourceSupport = &wire.SourceSupport{}
	}
	if slices.Contains(rs, wire.RoleVisualizerV1) {
		h.VisualizerSupport = &wire.VisualizerSupport{}
	}
	return h
}

// TestPermittedSets: the allowed sets, less playback where pairing.md
// "Unpaired Access" (approval) or connection.md "Sentinel Fallback" (record
// exists on an unpaired session) forbids it.
func TestPermittedSets(t *testing.T) {
	all := []ActivitySet{NoActivities, Pairing, Playback, Playback | Pairing}
	tests := []struct {
		name   string
		v      ServerView
		wanted []ActivitySet
	}{
		{"lt", ServerView{Matched: lt, Hello: hello(false, offersDigits)}, []ActivitySet{NoActivities, Playback}},
		{"lt record, unapproved", ServerView{Matched: lt, Hello: hello(false, offersDigits), RecordExists: true}, []ActivitySet{NoActivities, Playback}},
		{"sn no ua", ServerView{Matched: sn, Hello: hello(false, offersDigits), Approval: ApprovalExplicit}, []ActivitySet{NoActivities, Pairing}},
		{"sn ua unapproved", ServerView{Matched: sn, Hello: hello(true, offersDigits)}, []ActivitySet{NoActivities, Pairing}},
		{"sn ua implied", ServerView{Matched: sn, Hello: hello(true, offersDigits), Approval: ApprovalImplied}, all},
		{"sn ua explicit", ServerView{Matched: sn, Hello: hello(true, offersDigits), Approval: ApprovalExplicit}, all},
		{"sn ua explicit, credential mismatch", ServerView{Matched: sn, Hello: hello(true, offersDigits), Approval: ApprovalExplicit, RecordExists: true}, []ActivitySet{NoActivities, Pairing}},
		{"pr ua explicit, record exists", ServerView{Matched: pr, Hello: hello(true, offersDigits), Approval: ApprovalExplicit, RecordExists: true}, []ActivitySet{NoActivities, Pairing}},
		{"pr ua implied", ServerView{Matched: pr, Hello: hello(true, offersDigits), Approval: ApprovalImplied}, all},
	}
	for _, tt := range tests {
		if got := tt.v.PermittedSets(); !slices.Equal(got, tt.wanted) {
			t.Errorf("%s: PermittedSets = %v, want %v", tt.name, got, tt.wanted)
		}
	}
}

// TestCheckActivate has a row for every rule a server checks before sending
// server/activate.
func TestCheckActivate(t *testing.T) {
	rs := roles(player1, metadata1, source1, control1)
	paired := ServerView{Matched: lt, Hello: hello(false, offersDigits, rs...)}
	snOpen := ServerView{Matched: sn, Hello: hello(true, offersDigits, rs...), Approval: ApprovalExplicit}
	snImplied := ServerView{Matched: sn, Hello: hello(true, offersDigits, rs...), Approval: ApprovalImplied}
	snUnapproved := ServerView{Matched: sn, Hello: hello(true, offersDigits, rs...)}
	snMismatch := ServerView{Matched: sn, Hello: hello(true, offersDigits, rs...), Approval: ApprovalExplicit, RecordExists: true}
	snClosed := ServerView{Matched: sn, Hello: hello(false, offersDigits, rs...), Approval: ApprovalExplicit}
	prView := ServerView{Matched: pr, Hello: hello(false, offersDigits, rs...)}
	noSupport := ServerView{Matched: lt, Hello: &wire.ClientHello{SupportedRoles: roles(player1)}}
	twoPlayers := ServerView{Matched: lt, Hello: hello(false, offersDigits, player2, player1)}
	on := withRoles(Playback, player1)

	tests := []struct {
		name string
		v    ServerView
		prev Activation
		msg  *wire.ServerActivate
		want Violation
		role wire.Role
	}{
		{"paired playback", paired, first(), activate(acts(play), roles(player1, metadata1), nil), NoViolation, ""},
		{"paired subsequent omits roles", paired, on, omitRoles(acts(), nil), NoViolation, ""},
		{"no hello", ServerView{Matched: lt}, first(), activate(acts(), roles(), nil), ViolNoClientHello, ""},
		{"first without roles", paired, first(), omitRoles(acts(play), nil), ViolFirstWithoutRoles, ""},
		{"unknown activity", paired, first(), activate(acts("party"), roles(), nil), ViolUnknownActivity, ""},
		{"repeated activity", paired, first(), activate(acts(play, play), roles(), nil), ViolUnknownActivity, ""},
		{"lt pairing", paired, first(), activate(acts(pair), roles(), viaDigits), ViolActivitiesNotAllowed, ""},
		{"sn playback without client ua", snClosed, first(), activate(acts(play), roles(), nil), ViolActivitiesNotAllowed, ""},
		{"sn roles without client ua", snClosed, first(), activate(acts(), roles(metadata1), nil), ViolRolesNotPlaybackCapable, ""},
		{"sn pairing_psk", snClosed, first(), activate(acts(pair), roles(), viaPSK), ViolMethodPSKMismatch, ""},
		{"pr code method", prView, first(), activate(acts(pair), roles(), viaDigits), ViolMethodPSKMismatch, ""},
		{"pr pairing_psk", prView, first(), activate(acts(pair), roles(), viaPSK), NoViolation, ""},
		{"not offered", snClosed, first(), activate(acts(pair), roles(), viaStatic), ViolMethodNotOffered, ""},
		{"format not offered", snClosed, first(), activate(acts(pair), roles(), viaQR), ViolFormatNotOffered, ""},
		{"format on static", ServerView{Matched: sn, Hello: hello(false, offersStatic)}, first(), activate(acts(pair), roles(), viaStatFmt), ViolFormatNotOffered, ""},
		{"pairing missing", snClosed, first(), activate(acts(pair), roles(), nil), ViolPairingMissing, ""},
		{"stray pairing object", snClosed, first(), activate(acts(), roles(), viaDigits), ViolPairingUnexpected, ""},
		{"role not listed", paired, first(), activate(acts(play), roles(artwork1), nil), ViolRoleNotListed, artwork1},
		{"role malformed", ServerView{Matched: lt, Hello: hello(false, offersDigits, "player")}, first(), activate(acts(play), roles("player"), nil), ViolRoleMalformed, "player"},
		{"role repeated", paired, first(), activate(acts(play), roles(metadata1, metadata1), nil), ViolRoleMalformed, metadata1},
		{"two versions of a family", twoPlayers, first(), activate(acts(play), roles(player2, player1), nil), ViolRoleFamilyTwice, player1},
		{"missing support object", noSupport, first(), activate(acts(play), roles(player1), nil), ViolRoleMissingSupport, player1},
		{"sn ua explicit playback", snOpen, first(), activate(acts(play), roles(player1, source1), nil), NoViolation, ""},
		{"sn ua implied playback", snImplied, first(), activate(acts(play), roles(player1), nil), NoViolation, ""},
		{"sn ua implied source", snImplied, first(), activate(acts(play), roles(player1, source1), nil), ViolSourceNeedsExplicitApproval, source1},
		{"sn ua unapproved playback", snUnapproved, first(), activate(acts(play), roles(), nil), ViolUnapproved, ""},
		{"sn ua unapproved roles", snUnapproved, first(), activate(acts(), roles(metadata1), nil), ViolUnapproved, ""},
		{"sn ua unapproved pairing", snUnapproved, first(), activate(acts(pair), roles(), viaDigits), NoViolation, ""},
		{"approval revoked, persisted roles", snUnapproved, withRoles(NoActivities, metadata1), omitRoles(acts(), nil), ViolUnapproved, ""},
		{"credential mismatch playback", snMismatch, first(), activate(acts(play), roles(), nil), ViolRecordExists, ""},
		{"credential mismatch roles", snMismatch, first(), activate(acts(), roles(control1), nil), ViolRecordExists, ""},
		{"credential mismatch pairing", snMismatch, first(), activate(acts(pair), roles(), viaDigits), NoViolation, ""},
		{"credential mismatch idle", snMismatch, first(), activate(acts(), roles(), nil), NoViolation, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.v.CheckActivate(tt.prev, tt.msg)
			if tt.want == NoViolation {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !res.Next.Activated {
					t.Errorf("Next not activated: %+v", res.Next)
				}
				return
			}
			var ae *ActivateError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if ae.Violation != tt.want || ae.Role != tt.role {
				t.Errorf("got %v (%q), want %v (%q)", ae.Violation, ae.Role, tt.want, tt.role)
			}
			if ae.Error() == "" {
				t.Error("empty error text")
			}
		})
	}
}

// TestSelectRoles follows README "Priority and Activation" and the unpaired
// access gates.
func TestSelectRoles(t *testing.T) {
	viz := wire.RoleVisualizerV1
	implV2 := func(r wire.Role) bool { return ImplementsDefined(r) || r == player2 }
	omitArtwork := func(r wire.Role) bool { return r.Family() == "artwork" }
	tests := []struct {
		name string
		v    ServerView
		set  ActivitySet
		p    RolePolicy
		want []wire.Role
	}{
		{"priority order kept", ServerView{Matched: lt, Hello: hello(false, offersDigits, metadata1, player1, control1)}, Playback, RolePolicy{}, roles(metadata1, player1, control1)},
		{"first implemented version", ServerView{Matched: lt, Hello: hello(false, offersDigits, player2, player1)}, Playback, RolePolicy{}, roles(player1)},
		{"newer version when implemented", ServerView{Matched: lt, Hello: hello(false, offersDigits, player2, player1)}, Playback, RolePolicy{Implements: implV2}, roles(player2)},
		{"lower version listed first wins", ServerView{Matched: lt, Hello: hello(false, offersDigits, player1, player2)}, Playback, RolePolicy{Implements: implV2}, roles(player1)},
		{"unknown and app roles skipped", ServerView{Matched: lt, Hello: hello(false, offersDigits, "_acme_x@v1", "lamp@v1", control1)}, Playback, RolePolicy{}, roles(control1)},
		{"malformed skipped", ServerView{Matched: lt, Hello: hello(false, offersDigits, "player", "@v1", "x@", control1)}, Playback, RolePolicy{Implements: func(wire.Role) bool { return true }}, roles(control1)},
		{"missing support object", ServerView{Matched: lt, Hello: &wire.ClientHello{SupportedRoles: roles(player1, viz, metadata1)}}, Playback, RolePolicy{}, roles(metadata1)},
		{"missing support falls to next version", ServerView{Matched: lt, Hello: &wire.ClientHello{SupportedRoles: roles(player1, player2), PlayerSupport: nil}}, Playback, RolePolicy{Implements: implV2}, roles(player2)},
		{"policy omits family", ServerView{Matched: lt, Hello: hello(false, offersDigits, artwork1, player1)}, Playback, RolePolicy{Omit: omitArtwork}, roles(player1)},
		{"policy omission does not fall back", ServerView{Matched: lt, Hello: hello(false, offersDigits, player2, player1)}, Playback, RolePolicy{Implements: implV2, Omit: func(r wire.Role) bool { return r == player2 }}, nil},
		{"lt empty activities", ServerView{Matched: lt, Hello: hello(false, offersDigits, player1)}, NoActivities, RolePolicy{}, roles(player1)},
		{"lt pairing not capable", ServerView{Matched: lt, Hello: hello(false, offersDigits, player1)}, Pairing, RolePolicy{}, nil},
		{"sn without ua", ServerView{Matched: sn, Hello: hello(false, offersDigits, player1), Approval: ApprovalExplicit}, NoActivities, RolePolicy{}, nil},
		{"sn ua unapproved", ServerView{Matched: sn, Hello: hello(true, offersDigits, player1)}, Playback, RolePolicy{}, nil},
		{"sn ua implied drops source", ServerView{Matched: sn, Hello: hello(true, offersDigits, source1, player1), Approval: ApprovalImplied}, Playback, RolePolicy{}, roles(player1)},
		{"sn ua explicit keeps source", ServerView{Matched: sn, Hello: hello(true, offersDigits, source1, player1), Approval: ApprovalExplicit}, Playback, RolePolicy{}, roles(source1, player1)},
		{"paired keeps source", ServerView{Matched: lt, Hello: hello(false, offersDigits, source1)}, Playback, RolePolicy{}, roles(source1)},
		{"credential mismatch", ServerView{Matched: sn, Hello: hello(true, offersDigits, player1), Approval: ApprovalExplicit, RecordExists: true}, Playback, RolePolicy{}, nil},
		{"sn ua pairing capable", ServerView{Matched: sn, Hello: hello(true, offersDigits, player1), Approval: ApprovalExplicit}, Pairing, RolePolicy{}, roles(player1)},
		{"no hello", ServerView{Matched: lt}, Playback, RolePolicy{}, nil},
	}
	for _, tt := range tests {
		got := tt.v.SelectRoles(tt.set, tt.p)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: SelectRoles = %v, want %v", tt.name, got, tt.want)
		}
		// Whatever is selected must pass the server's own check.
		if tt.v.Hello != nil && tt.p.Implements == nil {
			msg := activate(tt.set.Activities(), got, nil)
			if tt.set.Has(Pairing) {
				msg.Pairing = viaDigits
				if tt.v.Matched == pr {
					msg.Pairing = viaPSK
				}
			}
			if _, err := tt.v.CheckActivate(first(), msg); err != nil && len(got) > 0 {
				t.Errorf("%s: selected roles fail CheckActivate: %v", tt.name, err)
			}
		}
	}
}

// TestPlanPairing covers method and format selection (pairing.md
// "client/hello pair-method descriptor", "Pairing PSK Flow"; messaging.md
// "server/activate": pairing).
func TestPlanPairing(t *testing.T) {
	both := wire.PairMethods{
		PairingPSK:  &wire.StaticMethod{},
		StaticCode:  &wire.StaticMethod{},
		DynamicCode: &wire.DynamicMethod{OutChannels: []wire.OutChannel{wire.OutDisplay}, Formats: []wire.CodeFormat{wire.FormatDigits, wire.FormatQRCode}},
	}
	qrOnly := wire.PairMethods{
		PairingPSK:  &wire.StaticMethod{},
		DynamicCode: &wire.DynamicMethod{OutChannels: []wire.OutChannel{wire.OutDisplay}, Formats: []wire.CodeFormat{wire.FormatQRCode}},
	}
	pskOnly := wire.PairMethods{PairingPSK: &wire.StaticMethod{}}
	tests := []struct {
		name   string
		cat    wire.PSKCategory
		pm     wire.PairMethods
		req    MethodRequest
		scan   bool
		method wire.PairMethod
		format wire.CodeFormat
		rehs   wire.PSKCategory
		err    error
	}{
		{"code prefers dynamic when both offered", sn, both, RequestCode, false, wire.MethodDynamicCode, wire.FormatDigits, "", nil},
		{"qr when scannable", sn, both, RequestCode, true, wire.MethodDynamicCode, wire.FormatQRCode, "", nil},
		{"digits when not scannable", sn, offersBoth, RequestDynamic, false, wire.MethodDynamicCode, wire.FormatDigits, "", nil},
		{"qr only, cannot scan", sn, qrOnly, RequestCode, false, "", "", "", ErrNoUsableFormat},
		{"qr only, can scan", sn, qrOnly, RequestDynamic, true, wire.MethodDynamicCode, wire.FormatQRCode, "", nil},
		{"static", sn, offersStatic, RequestCode, true, wire.MethodStaticCode, "", "", nil},
		{"explicit static when both", sn, both, RequestStatic, false, wire.MethodStaticCode, "", "", nil},
		{"static not offered", sn, offersDigits, RequestStatic, false, "", "", "", ErrMethodNotOffered},
		{"dynamic not offered", sn, offersStatic, RequestDynamic, false, "", "", "", ErrMethodNotOffered},
		{"no code method", sn, pskOnly, RequestCode, false, "", "", "", ErrNoCodeMethod},
		{"pairing_psk on pr session", pr, pskOnly, RequestPairingPSK, false, wire.MethodPairingPSK, "", "", nil},
		{"pairing_psk on sn session re-handshakes", sn, pskOnly, RequestPairingPSK, false, wire.MethodPairingPSK, "", pr, nil},
		{"pairing_psk on lt session re-handshakes", lt, pskOnly, RequestPairingPSK, false, wire.MethodPairingPSK, "", pr, nil},
		{"pairing_psk not offered", sn, offersNoPSK, RequestPairingPSK, false, "", "", "", ErrMethodNotOffered},
		{"code on pr session re-handshakes to sentinel", pr, offersDigits, RequestCode, false, wire.MethodDynamicCode, wire.FormatDigits, sn, nil},
		{"code on lt session re-handshakes to sentinel", lt, offersStatic, RequestCode, false, wire.MethodStaticCode, "", sn, nil},
		{"bad request", sn, both, 0, false, "", "", "", ErrBadRequest},
	}
	for _, tt := range tests {
		plan, err := PlanPairing(tt.cat, &tt.pm, tt.req, tt.scan)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if plan.Params.Method != tt.method || plan.Params.Format != tt.format || plan.RehandshakeTo != tt.rehs {
			t.Errorf("%s: plan = %+v", tt.name, plan)
		}
		// The plan, once on the planned PSK, is admissible for the client.
		after := tt.cat
		if plan.RehandshakeTo != "" {
			after = plan.RehandshakeTo
		}
		d := AdmitActivation(after, ClientConfig{PairMethods: tt.pm}, first(), activate(acts(pair), roles(), &plan.Params))
		if !d.Admissible() {
			t.Errorf("%s: planned activation rejected: %v (%v)", tt.name, d.Rejection, d.Violation)
		}
	}
	if ErrNoUsableFormat.Error() == "" || PairingError(77).Error() == "" || RequestCode.String() != "code" {
		t.Error("error and request texts")
	}
}

// TestDiffRoles and StreamEnds: what the server ends before an activation.
func TestDiffRoles(t *testing.T) {
	app := wire.Role("_acme_lights@v1")
	kind := func(r wire.Role) RoleKind {
		if r == app {
			return KindServerStream | KindServerState
		}
		return DefinedKind(r)
	}
	viz := wire.RoleVisualizerV1
	c := DiffRoles(roles(player1, artwork1, viz, metadata1, source1, app), roles(player2, viz), kind)
	if !slices.Equal(c.Removed, roles(player1, artwork1, metadata1, source1, app)) || !slices.Equal(c.Added, roles(player2)) {
		t.Fatalf("diff = %+v", c)
	}
	if !slices.Equal(c.EndStreams, roles(player1, artwork1, app)) || !slices.Equal(c.DiscardState, roles(metadata1, app)) || !slices.Equal(c.StopSources, roles(source1)) {
		t.Fatalf("kinds = %+v", c)
	}
	active := func(f string) bool { return f == "player" || f == "_acme_lights" || f == "visualizer" }
	if got := c.StreamEnds(active); !slices.Equal(got, []string{"player", "_acme_lights"}) {
		t.Errorf("StreamEnds = %v", got)
	}
	if got := (RoleChanges{}).StreamEnds(active); got != nil {
		t.Errorf("no removals: StreamEnds = %v", got)
	}
	if DiffRoles(roles(player1), roles(player1), nil).Changed() {
		t.Error("unchanged roles reported as changed")
	}
}

// TestRolesAfterRehandshake: a server re-handshaking an LT session with
// roles to the pairing PSK of a client without unpaired access removes them
// implicitly, so it ends their streams first.
func TestRolesAfterRehandshake(t *testing.T) {
	prev := withRoles(Playback, player1, metadata1)
	closed := ServerView{Matched: lt, Hello: hello(false, offersDigits, player1, metadata1)}
	c := closed.RolesAfterRehandshake(prev, pr, Pairing)
	if !slices.Equal(c.EndStreams, roles(player1)) || !slices.Equal(c.DiscardState, roles(metadata1)) {
		t.Errorf("closed client: %+v", c)
	}
	open := ServerView{Matched: lt, Hello: hello(true, offersDigits, player1, metadata1)}
	if c := open.RolesAfterRehandshake(prev, pr, Pairing); c.Changed() {
		t.Errorf("client with unpaired access: %+v", c)
	}
	if c := closed.RolesAfterRehandshake(withRoles(Pairing), lt, Playback); c.Changed() {
		t.Errorf("back to lt: %+v", c)
	}
}

func TestApprovalString(t *testing.T) {
	if ApprovalImplied.String() != "implied" || Approval(7).String() != "Approval(7)" {
		t.Error("Approval.String")
	}
}
