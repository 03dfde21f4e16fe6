package player

import (
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/server"
)

// TestPairingBothSuites: each method pairs over each cipher suite
// (connection.md: servers support both), and the reconnect lands on the
// new long-term PSK in the same suite with no pairing activity.
func TestPairingBothSuites(t *testing.T) {
	for _, suite := range []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM} {
		for _, method := range []string{"token", "dynamic", "static"} {
			t.Run(string(suite)+"/"+method, func(t *testing.T) {
				o := codeOpts{pl: func(c *Config) { c.Suite = suite }}
				switch method {
				case "dynamic":
					o.method = CodeDynamic
				case "static":
					o.method = CodeStatic
				}
				r := newCodeRig(t, o)
				r.connect()
				r.connected()
				if info, _ := serverView(r.srv, r.pl.ID()); info.Suite != suite {
					t.Fatalf("connected in %s, want %s", info.Suite, suite)
				}
				switch method {
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
				case "dynamic":
					if err := r.srv.StartPairing(server.PairRequest{Client: r.pl.ID()}); err != nil {
						t.Fatal(err)
					}
					r.waitPhase(server.PairingAwaitingCode, 1)
					if err := r.srv.EnterCode(r.pl.ID(), r.shown(1).Text); err != nil {
						t.Fatal(err)
					}
				}
				checkPaired(t, r.rig)
				started := strings.Count(r.srvLog.String(), `msg="pairing started"`)
				r.disconnect()
				r.connect()
				checkPaired(t, r.rig)
				info, _ := serverView(r.srv, r.pl.ID())
				if info.Suite != suite || info.Status != server.StatusPaired {
					t.Fatalf("reconnect: %+v", info)
				}
				if strings.Count(r.srvLog.String(), `msg="pairing started"`) != started || r.pl.Status().Pairing.Active {
					t.Fatal("pairing activity after the reconnect")
				}
			})
		}
	}
}
