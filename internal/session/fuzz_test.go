package session

import (
	"testing"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// FuzzAdmitActivation feeds received server/activate messages, decoded by
// the wire layer exactly as a client would, through AdmitActivation for every
// PSK category, unpaired-access setting and previous state, and checks the
// client invariants and that the server's CheckActivate never accepts what
// the client rejects. The session layer parses nothing itself; this guards
// the boundary where hostile input reaches its rules.
func FuzzAdmitActivation(f *testing.F) {
	for _, s := range []string{
		`{"type":"server/activate","payload":{"activities":[],"active_roles":[]}}`,
		`{"type":"server/activate","payload":{"activities":["playback"],"active_roles":["player@v1","metadata@v1"]}}`,
		`{"type":"server/activate","payload":{"activities":["pairing"],"pairing":{"method":"dynamic_pairing_code","format":"digits"}}}`,
		`{"type":"server/activate","payload":{"activities":["pairing","playback"],"active_roles":["source@v1"],"pairing":{"method":"pairing_psk"}}}`,
		`{"type":"server/activate","payload":{"activities":["pairing"],"pairing":{"method":"static_pairing_code"}}}`,
		`{"type":"server/activate","payload":{"activities":["party"],"active_roles":["player@v2","player@v1"]}}`,
		`{"type":"server/activate","payload":{"activities":["pairing"],"pairing":{"method":"dynamic_pairing_code","format":"qr_code"},"x":1}}`,
	} {
		f.Add([]byte(s))
	}
	listed := roles(player1, metadata1, source1, control1, player2)
	prevs := []Activation{first(), withRoles(Playback, player1), withRoles(Pairing), withRoles(NoActivities, metadata1, source1)}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := wire.Decode(b, wire.FromServer)
		if err != nil {
			return
		}
		m, ok := msg.(*wire.ServerActivate)
		if !ok {
			return
		}
		for _, cat := range []wire.PSKCategory{lt, pr, sn} {
			for _, ua := range []bool{false, true} {
				for _, pm := range []wire.PairMethods{offersBoth, offersStatic} {
					cfg := ClientConfig{UnpairedAccess: ua, PairMethods: pm, SupportedRoles: listed}
					for _, prev := range prevs {
						checkClientProperties(t, cat, cfg, prev, m)
						v := ServerView{Matched: cat, Hello: hello(ua, pm, listed...), Approval: ApprovalImplied}
						checkServerAgrees(t, v, cfg, prev, m)
					}
				}
			}
		}
	})
}
