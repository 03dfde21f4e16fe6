package player

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/flow"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Out-of-sequence pairing messages from a server, to the real player over
// WebSocket on loopback (pairing.md "Protocol Errors"). The server is a
// bare secure channel, since ours never sends them: it keys the session
// with the player's pairing PSK (token flow) or the Sentinel (dynamic
// flow), sends the pairing activation, and then whatever the case says.
// The player closes the connection, ends the attempt as a protocol error
// and persists nothing.

// bareServer is one scripted server connection.
type bareServer struct {
	url   string
	conn  chan *securechan.Conn // the session, once the activations went out
	got   chan wire.Message     // the player's pairing messages
	ended chan struct{}         // closed when the session ended
	id    *keys.Identity
}

func newBareServer(t *testing.T, pairingPSK *keys.PSK, params *wire.PairingParams) *bareServer {
	t.Helper()
	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &bareServer{conn: make(chan *securechan.Conn, 1), got: make(chan wire.Message, 16), ended: make(chan struct{}), id: id}
	choose := func(keys.PublicKey) securechan.PSKChoice { return securechan.SentinelChoice }
	if pairingPSK != nil {
		choose = func(keys.PublicKey) securechan.PSKChoice {
			return securechan.PSKChoice{PSK: *pairingPSK, Category: wire.PSKPairing}
		}
	}
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(b.ended)
		tr, err := securechan.Accept(w, r)
		if err != nil {
			return
		}
		c, err := securechan.ServerHandshake(r.Context(), tr, securechan.ServerConfig{Identity: id, ChoosePSK: choose})
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.WriteMessage(&wire.ServerHello{Name: "Bare"})
		for {
			in, err := c.Read()
			if err != nil {
				return
			}
			switch m := in.JSON.(type) {
			case *wire.ClientHello:
				_ = c.WriteMessage(&wire.ServerActivate{HasActiveRoles: true})
				if params != nil {
					_ = c.WriteMessage(&wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPairing}, Pairing: params})
				}
				b.conn <- c
			case *wire.ClientPairInit, *wire.ClientPairFinalize, *wire.ClientPairAuth, *wire.ClientPairConfirm,
				*wire.ClientPairRetry, *wire.ClientPairPending, *wire.PairAbort:
				b.got <- m
			}
		}
	}))
	t.Cleanup(h.Close)
	b.url = "ws" + strings.TrimPrefix(h.URL, "http")
	return b
}

// recv returns the player's next pairing message.
func recv[M wire.Message](t *testing.T, b *bareServer) M {
	t.Helper()
	select {
	case m := <-b.got:
		got, ok := m.(M)
		if !ok {
			t.Fatalf("the player sent %T", m)
		}
		return got
	case <-time.After(10 * time.Second):
		var zero M
		t.Fatalf("no %T from the player", zero)
		return zero
	}
}

func TestServerPairingOutOfSequence(t *testing.T) {
	var nonce [wire.NonceSize]byte
	nonce[0] = 1
	var share [wire.ShareSize]byte
	share[0] = 9
	token := &wire.PairingParams{Method: wire.MethodPairingPSK}
	dynamic := &wire.PairingParams{Method: wire.MethodDynamicCode, Format: wire.FormatDigits}
	afterTokenInit := func(t *testing.T, b *bareServer) {
		recv[*wire.ClientPairInit](t, b)
		recv[*wire.ClientPairFinalize](t, b)
	}
	afterDynamicInit := func(t *testing.T, b *bareServer) {
		if m := recv[*wire.ClientPairInit](t, b); m.CommitB == nil {
			t.Fatal("client/pair-init without commit_B")
		}
	}
	afterCode := func(t *testing.T, b *bareServer, c *securechan.Conn) {
		afterDynamicInit(t, b)
		if err := c.WriteMessage(&wire.ServerPairInit{NonceA: &nonce}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		token   bool // keyed by the player's pairing PSK; else the Sentinel
		params  *wire.PairingParams
		before  func(t *testing.T, b *bareServer, c *securechan.Conn)
		bad     wire.Message
		attempt bool // an attempt was running when the bad message came
	}{
		{name: "pair-finalize outside pairing", bad: &wire.ServerPairFinalize{}},
		{name: "pair-abort outside pairing", bad: &wire.PairAbort{Reason: wire.AbortUserCancelled}},
		{name: "pair-init outside pairing", bad: &wire.ServerPairInit{NonceA: &nonce}},
		{name: "token/pair-init", token: true, params: token, attempt: true,
			before: func(t *testing.T, b *bareServer, _ *securechan.Conn) { afterTokenInit(t, b) },
			bad:    &wire.ServerPairInit{NonceA: &nonce}},
		{name: "token/pair-auth", token: true, params: token, attempt: true,
			before: func(t *testing.T, b *bareServer, _ *securechan.Conn) { afterTokenInit(t, b) },
			bad:    &wire.ServerPairAuth{PakeMsg1: share}},
		{name: "token/pair-confirm", token: true, params: token, attempt: true,
			before: func(t *testing.T, b *bareServer, _ *securechan.Conn) { afterTokenInit(t, b) },
			bad:    &wire.ServerPairConfirm{}},
		{name: "dynamic/pair-auth before pair-init", params: dynamic, attempt: true,
			before: func(t *testing.T, b *bareServer, _ *securechan.Conn) { afterDynamicInit(t, b) },
			bad:    &wire.ServerPairAuth{PakeMsg1: share}},
		{name: "dynamic/pair-init without nonce_A", params: dynamic, attempt: true,
			before: func(t *testing.T, b *bareServer, _ *securechan.Conn) { afterDynamicInit(t, b) },
			bad:    &wire.ServerPairInit{}},
		{name: "dynamic/pair-finalize before the code is verified", params: dynamic, attempt: true,
			before: func(t *testing.T, b *bareServer, _ *securechan.Conn) { afterDynamicInit(t, b) },
			bad:    &wire.ServerPairFinalize{}},
		{name: "dynamic/pair-init twice", params: dynamic, attempt: true, before: afterCode,
			bad: &wire.ServerPairInit{NonceA: &nonce}},
		{name: "dynamic/pair-confirm before pair-auth", params: dynamic, attempt: true, before: afterCode,
			bad: &wire.ServerPairConfirm{}},
		{name: "dynamic/pair-finalize with the code shown", params: dynamic, attempt: true, before: afterCode,
			bad: &wire.ServerPairFinalize{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pst, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pst.Close() })
			var shown []CodeEvent
			pl, err := New(Config{Store: pst, Name: "Speaker", PairingCode: CodeDynamic, Log: testLog(t, "player"),
				OnPairingCode: func(ev CodeEvent) { shown = append(shown, ev) }})
			if err != nil {
				t.Fatal(err)
			}
			var psk *keys.PSK
			if tc.token {
				tok, err := pairing.ParsePSKToken(pl.Token())
				if err != nil {
					t.Fatal(err)
				}
				psk = &tok.PSK
			}
			b := newBareServer(t, psk, tc.params)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- pl.Connect(ctx, b.url) }()
			var c *securechan.Conn
			select {
			case c = <-b.conn:
			case <-time.After(10 * time.Second):
				t.Fatal("no session")
			}
			if tc.before != nil {
				tc.before(t, b, c)
			}
			if err := c.WriteMessage(tc.bad); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, errPairingClosed) {
					t.Fatalf("the session ended with %v, want a pairing protocol error", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the player did not close the session")
			}
			wait(t, "the server to see the close", b.ended)
			if recs, err := pst.ServerRecords(); err != nil || len(recs) != 0 {
				t.Fatalf("the player persisted %d records: %v", len(recs), err)
			}
			pls := pl.Status().Pairing
			if tc.attempt && pls.Last != flow.OutcomeProtocolError || pls.Active {
				t.Fatalf("player: %+v", pls)
			}
			if n := len(shown); n > 0 && !shown[n-1].Stop {
				t.Fatal("the code is still shown")
			}
		})
	}

	// The control: the same server completing the token flow makes the
	// player persist exactly the PSK it sent.
	t.Run("token/pair-finalize persists", func(t *testing.T) {
		pst, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pst.Close() })
		pl, err := New(Config{Store: pst, Name: "Speaker", Log: testLog(t, "player")})
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := pairing.ParsePSKToken(pl.Token())
		b := newBareServer(t, &tok.PSK, token)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = pl.Connect(ctx, b.url) }()
		c := <-b.conn
		recv[*wire.ClientPairInit](t, b)
		fin := recv[*wire.ClientPairFinalize](t, b)
		if err := c.WriteMessage(&wire.ServerPairFinalize{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the record", func() bool {
			recs, _ := pst.ServerRecords()
			return len(recs) == 1
		})
		recs, _ := pst.ServerRecords()
		if fin.LongTermPSK == nil || !recs[0].PSK.Equal(*fin.LongTermPSK) || recs[0].Server != b.id.Public() {
			t.Fatal("the record is not the PSK the player sent, for this server")
		}
	})
}
