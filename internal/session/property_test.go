package session

import (
	"slices"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// TestActivationProperties enumerates a small but complete domain of
// sessions, previous states and activations, and checks invariants that must
// hold for every combination:
//
//   - an admissible activation never leaves non-empty active_roles on a
//     connection that is not playback-capable, and its activities are an
//     allowed set;
//   - pairing_required is only chosen on an unpaired session of a client
//     without unpaired access; method_not_supported only with pairing
//     declared; a rejection never changes state;
//   - whatever the server's CheckActivate accepts, the client admits, with
//     the same resulting state (so a server never sends an inadmissible
//     activation), and it never carries playback or roles on an unpaired
//     session without approval or with a pairing record.
func TestActivationProperties(t *testing.T) {
	cats := []wire.PSKCategory{lt, pr, sn}
	prevs := []Activation{
		first(),
		withRoles(Playback, player1),
		withRoles(NoActivities, metadata1),
		withRoles(Pairing),
		withRoles(Playback|Pairing, player1, source1),
	}
	actLists := [][]wire.Activity{acts(), acts(play), acts(pair), acts(play, pair), acts(pair, play), acts("party"), acts(pair, pair)}
	roleLists := [][]wire.Role{nil, {}, {player1}, {player1, metadata1}, {source1}, {player2, player1}, {artwork1}}
	pairings := []*wire.PairingParams{nil, viaPSK, viaDigits, viaQR, viaStatic, viaNoFmt, viaUnknown}
	methods := []wire.PairMethods{offersDigits, offersStatic, offersBoth}
	listed := roles(player1, metadata1, source1, control1)
	n := 0
	for _, cat := range cats {
		for _, ua := range []bool{false, true} {
			for _, pm := range methods {
				h := hello(ua, pm, listed...)
				ccfg := ClientConfig{UnpairedAccess: ua, PairMethods: pm, SupportedRoles: listed}
				for _, prev := range prevs {
					for _, al := range actLists {
						for _, rl := range roleLists {
							for _, p := range pairings {
								m := &wire.ServerActivate{Activities: al, ActiveRoles: rl, HasActiveRoles: rl != nil, Pairing: p}
								n++
								checkClientProperties(t, cat, ccfg, prev, m)
								for _, appr := range []Approval{ApprovalNone, ApprovalImplied, ApprovalExplicit} {
									for _, rec := range []bool{false, true} {
										v := ServerView{Matched: cat, Hello: h, Approval: appr, RecordExists: rec}
										checkServerAgrees(t, v, ccfg, prev, m)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if n < 10000 {
		t.Fatalf("domain too small: %d", n)
	}
}

func checkClientProperties(t *testing.T, cat wire.PSKCategory, cfg ClientConfig, prev Activation, m *wire.ServerActivate) {
	t.Helper()
	d := AdmitActivation(cat, cfg, prev, m)
	if d.Admissible() {
		if len(d.Next.ActiveRoles) > 0 && !PlaybackCapable(cat, d.Next.Activities, cfg.UnpairedAccess) {
			t.Fatalf("%q %+v %+v: roles %v on a connection not playback-capable", cat, prev, m, d.Next.ActiveRoles)
		}
		if !AllowedSet(cat, d.Next.Activities, cfg.UnpairedAccess) {
			t.Fatalf("%q %+v: admitted a set that is not allowed", cat, m)
		}
		if d.Violation != NoViolation {
			t.Fatalf("admissible with violation %v", d.Violation)
		}
		return
	}
	if !equalActivation(d.Next, prev) {
		t.Fatalf("rejection changed state")
	}
	switch d.Rejection {
	case RejectPairingRequired:
		if Paired(cat) || cfg.UnpairedAccess {
			t.Fatalf("%q ua=%v %+v: pairing_required on a paired session or with unpaired access", cat, cfg.UnpairedAccess, m)
		}
		// Enabling unpaired access makes it admissible.
		cfg.UnpairedAccess = true
		if e := AdmitActivation(cat, cfg, prev, m); !e.Admissible() {
			t.Fatalf("%q %+v: pairing_required but not admissible with unpaired access (%v)", cat, m, e.Rejection)
		}
	case RejectMethodNotSupported:
		if !slices.Contains(m.Activities, pair) {
			t.Fatalf("method_not_supported without pairing")
		}
	case RejectUnauthorized:
	default:
		t.Fatalf("unexpected rejection %v", d.Rejection)
	}
}

func checkServerAgrees(t *testing.T, v ServerView, cfg ClientConfig, prev Activation, m *wire.ServerActivate) {
	t.Helper()
	res, err := v.CheckActivate(prev, m)
	if err != nil {
		return
	}
	d := AdmitActivation(v.Matched, cfg, prev, m)
	if !d.Admissible() {
		t.Fatalf("%+v %+v %+v: server sends what the client rejects (%v, %v)", v, prev, m, d.Rejection, d.Violation)
	}
	if !equalActivation(d.Next, res.Next) || len(d.Ignored) > 0 {
		t.Fatalf("%+v: client state %+v, server state %+v, ignored %v", m, d.Next, res.Next, d.Ignored)
	}
	if !Paired(v.Matched) && (res.Next.Activities.Has(Playback) || len(res.Next.ActiveRoles) > 0) {
		if v.Approval == ApprovalNone || v.RecordExists {
			t.Fatalf("%+v: playback or roles on an unpaired session (approval %v, record %v)", m, v.Approval, v.RecordExists)
		}
		if v.Approval != ApprovalExplicit && slices.Contains(res.Next.ActiveRoles, source1) {
			t.Fatalf("source@v1 without explicit approval")
		}
	}
	if !prev.Activated && !m.HasActiveRoles {
		t.Fatalf("first activation without active_roles accepted")
	}
}
