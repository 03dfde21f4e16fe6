package player

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/server"
)

// relayMITM is a man in the middle between two handshakes: it answers the
// player as a server and dials the real server as a client, each leg under
// its own keys, and relays every message both ways. The legs have
// different handshake hashes, so pairing by code must fail (pairing.md:
// the code is bound to the handshake's h).
type relayMITM struct {
	target   string
	asServer *keys.Identity
	asClient *keys.Identity
}

func (m *relayMITM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr, err := securechan.Accept(w, r)
	if err != nil {
		return
	}
	down, err := securechan.ServerHandshake(r.Context(), tr, securechan.ServerConfig{Identity: m.asServer})
	if err != nil {
		return
	}
	defer down.Close()
	ut, err := securechan.Dial(r.Context(), m.target)
	if err != nil {
		return
	}
	up, err := securechan.ClientHandshake(r.Context(), ut, securechan.ClientConfig{Identity: m.asClient, PairingPSK: keys.PSK{9}})
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pump := func(from, to *securechan.Conn) {
		defer func() { done <- struct{}{} }()
		for {
			in, err := from.Read()
			if err != nil {
				return
			}
			if in.JSON != nil {
				err = to.WriteMessage(in.JSON)
			} else {
				err = to.WriteBinary(in.Data)
			}
			if err != nil {
				return
			}
		}
	}
	go pump(up, down)
	go pump(down, up)
	<-done
}

func TestRelayMITMOverTheWire(t *testing.T) {
	for _, method := range []CodeMethod{CodeDynamic, CodeStatic} {
		name := map[CodeMethod]string{CodeDynamic: "dynamic", CodeStatic: "static"}[method]
		t.Run(name, func(t *testing.T) {
			r := newCodeRig(t, codeOpts{method: method})
			sid, _ := keys.GenerateIdentity(nil)
			cid, _ := keys.GenerateIdentity(nil)
			relay := httptest.NewServer(&relayMITM{target: r.url, asServer: sid, asClient: cid})
			t.Cleanup(relay.Close)
			r.url = "ws" + strings.TrimPrefix(relay.URL, "http") + "/sendspin"
			r.connect()
			// The server sees the relay's client, the player the relay's
			// server; the operator pairs with what the server lists.
			waitFor(t, "the relayed connection", func() bool {
				_, ok := serverView(r.srv, cid.Public())
				return ok && r.pl.Status().Connected
			})
			if method == CodeStatic {
				if err := r.pl.OpenPairingWindow(); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.srv.StartPairing(server.PairRequest{Client: cid.Public()}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the server to ask for the code", func() bool {
				return r.srv.PairingState(cid.Public()).Phase == server.PairingAwaitingCode
			})
			code := rigStatic
			if method == CodeDynamic {
				code = r.shown(1).Text // what the player really shows
			}
			if err := r.srv.EnterCode(cid.Public(), code); err != nil {
				t.Fatal(err)
			}
			// The round fails: dynamic goes to round 2 (the client's
			// pair-retry), static ends with a wrong code.
			waitFor(t, "the round to fail", func() bool {
				st := r.srv.PairingState(cid.Public())
				if method == CodeDynamic {
					return st.Phase == server.PairingAwaitingCode && st.Round == 2 && st.WrongCodes == 1
				}
				return st.Phase == server.PairingNone && st.Last == server.OutcomeWrongCode
			})
			if method == CodeDynamic {
				if err := r.srv.CancelPairing(cid.Public()); err != nil {
					t.Fatal(err)
				}
			}
			// Nothing persisted anywhere.
			if _, ok, _ := r.sst.ClientRecord(cid.Public()); ok {
				t.Fatal("the server stored a record for the relay")
			}
			if recs, _ := r.pst.ServerRecords(); len(recs) != 0 {
				t.Fatal("the player stored a record")
			}
			if r.pl.Status().Paired {
				t.Fatal("the player is paired through the relay")
			}
		})
	}
}
