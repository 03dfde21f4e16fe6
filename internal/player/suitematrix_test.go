package player

import (
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// TestPairingSuiteMatrix: every method and format (token, digits,
// qr_code, static) over each cipher suite, in both connection directions,
// from a Sentinel session and from a paired one. Each pairing replaces any
// old record on both sides with one new long-term PSK, and a reconnect in
// the same direction lands on it in the same suite with no pairing
// activity. (TestPairingBothSuites covers the client-initiated Sentinel
// cases of token, digits and static; the rest is here.)
func TestPairingSuiteMatrix(t *testing.T) {
	type method struct {
		name    string
		m       CodeMethod
		formats []wire.CodeFormat
		format  wire.CodeFormat
	}
	methods := []method{
		{"token", CodeDynamic, nil, ""},
		{"digits", CodeDynamic, nil, ""},
		{"qr_code", CodeDynamic, []wire.CodeFormat{wire.FormatDigits, wire.FormatQRCode}, wire.FormatQRCode},
		{"static", CodeStatic, nil, ""},
	}
	for _, suite := range []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM} {
		for _, m := range methods {
			for _, dial := range []bool{false, true} {
				for _, paired := range []bool{false, true} {
					if !dial && !paired && m.name != "qr_code" {
						continue // TestPairingBothSuites
					}
					from := "/from-sentinel"
					if paired {
						from = "/from-paired"
					}
					t.Run(string(suite)+"/"+m.name+"/"+dirName(dial)+from, func(t *testing.T) {
						r := newCodeRig(t, codeOpts{method: m.m, formats: m.formats, dial: dial,
							pl: func(c *Config) { c.Suite, c.Log = suite, testOnlyLog(t) }})
						old := keys.PSK{6, 6}
						if paired {
							r.seedPaired(old)
						}
						r.connect()
						r.connected()
						info, _ := serverView(r.srv, r.pl.ID())
						if info.Suite != suite {
							t.Fatalf("connected in %s, want %s", info.Suite, suite)
						}
						if paired != (info.Status == server.StatusPaired) || paired != r.pl.Status().Paired {
							t.Fatalf("paired %v: server %v, player %+v", paired, info.Status, r.pl.Status())
						}
						switch m.name {
						case "token":
							if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
								t.Fatal(err)
							}
						case "static":
							if err := r.pl.OpenPairingWindow(); err != nil {
								t.Fatal(err)
							}
							if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), StaticCode: rigStatic}); err != nil {
								t.Fatal(err)
							}
						default:
							if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID(), Format: m.format}); err != nil {
								t.Fatal(err)
							}
							st := r.waitPhase(server.PairingAwaitingCode, 1)
							ev := r.shown(1)
							want := m.format
							if want == "" {
								want = wire.FormatDigits
							}
							if st.Format != want || ev.Format != want {
								t.Fatalf("format: server %s, player %s, want %s", st.Format, ev.Format, want)
							}
							if want == wire.FormatQRCode {
								if _, ok := ev.Token.(pairing.QRCode); !ok || !strings.HasPrefix(ev.Text, "SP:1") {
									t.Fatalf("qr_code event: %T %d chars", ev.Token, len(ev.Text))
								}
							}
							r.noNewRecords(old0(paired, old))
							if err := r.srv.EnterCode(r.pl.ID(), ev.Text); err != nil {
								t.Fatal(err)
							}
						}
						// From a paired session the old records satisfy
						// checkPaired: wait for the attempt's end first.
						r.waitLast(server.OutcomePaired)
						checkPaired(t, r.rig)
						spsk, _, _ := r.sst.ClientRecord(r.pl.ID())
						if spsk.Equal(old) {
							t.Fatal("the old record was not replaced")
						}
						if pl := r.pl.Status().Pairing; pl.Last != flow.OutcomePaired {
							t.Fatalf("player: %+v", pl)
						}

						started := strings.Count(r.srvLog.String(), `msg="pairing started"`)
						r.disconnect()
						r.connect()
						checkPaired(t, r.rig)
						info, _ = serverView(r.srv, r.pl.ID())
						if info.Suite != suite || info.Status != server.StatusPaired {
							t.Fatalf("reconnect: %+v", info)
						}
						if again, _, _ := r.sst.ClientRecord(r.pl.ID()); !again.Equal(spsk) {
							t.Fatal("the reconnect changed the record")
						}
						if strings.Count(r.srvLog.String(), `msg="pairing started"`) != started || r.pl.Status().Pairing.Active ||
							r.pairState().Phase != server.PairingNone {
							t.Fatal("pairing activity after the reconnect")
						}
					})
				}
			}
		}
	}
}

// old0 is the record a side holds before pairing: old when paired.
func old0(paired bool, old keys.PSK) keys.PSK {
	if paired {
		return old
	}
	return keys.PSK{}
}

// TestWrongTokenServerInitiated: a token with a PSK the player does not
// hold, entered while the server holds a connection it dialed, fails the
// re-handshake: the session ends, nothing is persisted, the server forgets
// the token (a redial connects unpaired, keyed by the Sentinel), and the
// right token then pairs.
func TestWrongTokenServerInitiated(t *testing.T) {
	r := newCodeRig(t, codeOpts{dial: true, pl: func(c *Config) { c.UnpairedAccess, c.Log = true, testOnlyLog(t) }})
	r.connect()
	r.connected()
	bad := pairing.PSKToken{ClientKey: r.pl.ID(), PSK: keys.PSK{9, 9, 9}}.Encode()
	if id, err := r.srv.PairWithToken(bad); err != nil || id != r.pl.ID() {
		t.Fatalf("PairWithToken: %v %v", id, err)
	}
	if err := <-r.errs; err == nil {
		t.Fatal("the session survived a wrong token")
	}
	waitFor(t, "the connection to be gone", func() bool {
		_, ok := serverView(r.srv, r.pl.ID())
		return !ok && !r.pl.Status().Connected
	})
	r.noNewRecords(keys.PSK{})
	if st := r.pairState(); st.Phase != server.PairingNone || st.Last == server.OutcomePaired {
		t.Fatalf("server: %+v", st)
	}
	if strings.Contains(r.srvLog.String(), `msg="pairing started"`) {
		t.Fatal("an attempt started under a PSK the player refused")
	}
	r.connect()
	r.connected()
	info, _ := serverView(r.srv, r.pl.ID())
	if info.Status == server.StatusPaired || r.pl.Status().Paired {
		t.Fatalf("after the redial: %+v", info)
	}
	r.noNewRecords(keys.PSK{})
	if _, err := r.srv.PairWithToken(r.pl.Token()); err != nil {
		t.Fatal(err)
	}
	checkPaired(t, r.rig)
}
