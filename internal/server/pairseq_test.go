package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Out-of-sequence pairing messages over real connections (pairing.md
// "Protocol Errors", "Pairing index"): a client built on the secure
// channel sends them during a real attempt. The server closes without a
// message, persists nothing, reports the attempt failed, takes no code
// afterwards, and pairs the client on its next connection.

// connectOffering is testClient.connect with the client offering methods.
func (tc *testClient) connectOffering(t *testing.T, url string, methods wire.PairMethods) *wire.ServerActivate {
	t.Helper()
	tr, err := securechan.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := securechan.ClientHandshake(context.Background(), tr, securechan.ClientConfig{Identity: tc.id,
		PairingPSK: tc.pairing, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tc.c = c
	if _, ok := tc.read(t).(*wire.ServerHello); !ok {
		t.Fatal("no server/hello")
	}
	err = c.WriteMessage(&wire.ClientHello{Name: "Kitchen", SupportedRoles: []wire.Role{wire.RolePlayerV1},
		PlayerSupport: &wire.PlayerSupport{SupportedFormats: []wire.AudioFormat{{Codec: wire.CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}},
			BufferCapacity: 1 << 20},
		PairMethods: methods, UnpairedAccess: tc.unpaired})
	if err != nil {
		t.Fatal(err)
	}
	return tc.activation(t)
}

// pairingActivation reads until the activation with 'pairing' of method.
func (tc *testClient) pairingActivation(t *testing.T, method wire.PairMethod) {
	t.Helper()
	a := tc.activation(t)
	if !a.Has(wire.ActivityPairing) || a.Pairing == nil || a.Pairing.Method != method {
		t.Fatalf("expected a %s activation, got %+v", method, a)
	}
}

// expect reads the next message and checks its type.
func expect[M wire.Message](t *testing.T, tc *testClient) M {
	t.Helper()
	m := tc.read(t)
	got, ok := m.(M)
	if !ok {
		t.Fatalf("got %T", m)
	}
	return got
}

func send(t *testing.T, tc *testClient, ms ...wire.Message) {
	t.Helper()
	for _, m := range ms {
		if err := tc.c.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
}

// closedFailed checks the server closed the session without a further
// message after an out-of-sequence message, persisted nothing and ended
// the attempt as failed.
func closedFailed(t *testing.T, ts *testServer, tc *testClient) {
	t.Helper()
	if err := tc.readErr(); err == nil {
		t.Fatal("the server answered instead of closing")
	}
	id := tc.id.Public()
	waitFor := time.Now().Add(5 * time.Second)
	for ts.s.PairingState(id).Last != OutcomeFailed {
		if time.Now().After(waitFor) {
			t.Fatalf("pairing state %+v", ts.s.PairingState(id))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if st := ts.s.PairingState(id); st.Phase != PairingNone {
		t.Fatalf("pairing state %+v", st)
	}
	if _, ok, err := ts.st.ClientRecord(id); ok || err != nil {
		t.Fatalf("a record was persisted: %v %v", ok, err)
	}
	if err := ts.s.EnterCode(id, "123456"); !errors.Is(err, ErrNoAttempt) {
		t.Fatalf("code after the close: %v", err)
	}
	if err := ts.s.CancelPairing(id); !errors.Is(err, ErrNoAttempt) {
		t.Fatalf("cancel after the close: %v", err)
	}
}

// TestTokenPairingOutOfSequence: the Pairing PSK Flow is exactly
// client/pair-init then client/pair-finalize with long_term_psk; every
// other message, order or field is a protocol error, and a lower
// pairing_index is a leftover that is discarded.
func TestTokenPairingOutOfSequence(t *testing.T) {
	psk := keys.PSK{0xaa, 0xbb}
	init1 := &wire.ClientPairInit{PairingIndex: 1}
	var commit [wire.CommitSize]byte
	var wrapped [wire.WrappedSize]byte
	cases := []struct {
		name string
		msgs []wire.Message
	}{
		{"finalize before init", []wire.Message{&wire.ClientPairFinalize{LongTermPSK: &psk}}},
		{"init with a higher index", []wire.Message{&wire.ClientPairInit{PairingIndex: 2}}},
		{"pending", []wire.Message{&wire.ClientPairPending{PairingIndex: 1, Message: "press the button"}}},
		{"init with commit_B", []wire.Message{&wire.ClientPairInit{PairingIndex: 1, CommitB: &commit}}},
		{"init twice", []wire.Message{init1, init1}},
		{"pending after init", []wire.Message{init1, &wire.ClientPairPending{PairingIndex: 1}}},
		{"auth", []wire.Message{init1, &wire.ClientPairAuth{}}},
		{"retry", []wire.Message{init1, &wire.ClientPairRetry{}}},
		{"confirm", []wire.Message{init1, &wire.ClientPairConfirm{}}},
		{"wrapped_psk", []wire.Message{init1, &wire.ClientPairFinalize{WrappedPSK: &wrapped}}},
		{"an all-zero long_term_psk", []wire.Message{init1, &wire.ClientPairFinalize{LongTermPSK: &keys.PSK{}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t)
			tc := newClient(t, true)
			tc.connect(t, ts.url)
			token := pairing.PSKToken{ClientKey: tc.id.Public(), PSK: tc.pairing}.Encode()
			if _, err := ts.s.PairWithToken(token); err != nil {
				t.Fatal(err)
			}
			tc.pairingActivation(t, wire.MethodPairingPSK)
			if cat := tc.c.Matched().Category; cat != wire.PSKPairing {
				t.Fatalf("the attempt runs under %s", cat)
			}
			send(t, tc, c.msgs...)
			closedFailed(t, ts, tc)

			// The token went with the failed attempt (SPEC-NOTES 45): the
			// client's next connection runs under the Sentinel with no
			// attempt until the operator enters the token again; then it
			// pairs.
			again := &testClient{id: tc.id, pairing: tc.pairing, unpaired: true}
			if a := again.connect(t, ts.url); a.Has(wire.ActivityPairing) || again.c.Matched().Category != wire.PSKSentinel {
				t.Fatalf("the next connection runs under %s with %+v", again.c.Matched().Category, a)
			}
			if _, err := ts.s.PairWithToken(token); err != nil {
				t.Fatal(err)
			}
			again.pairingActivation(t, wire.MethodPairingPSK)
			send(t, again, init1, &wire.ClientPairFinalize{LongTermPSK: &psk})
			expect[*wire.ServerPairFinalize](t, again)
			if got, ok, _ := ts.st.ClientRecord(tc.id.Public()); !ok || !got.Equal(psk) {
				t.Fatalf("after a valid attempt: record %v", ok)
			}
		})
	}
	t.Run("a lower index is a leftover", func(t *testing.T) {
		ts := startServer(t)
		tc := newClient(t, true)
		tc.connect(t, ts.url)
		if _, err := ts.s.PairWithToken(pairing.PSKToken{ClientKey: tc.id.Public(), PSK: tc.pairing}.Encode()); err != nil {
			t.Fatal(err)
		}
		tc.pairingActivation(t, wire.MethodPairingPSK)
		send(t, tc, &wire.ClientPairInit{PairingIndex: 0}, init1, &wire.ClientPairFinalize{LongTermPSK: &psk})
		expect[*wire.ServerPairFinalize](t, tc)
		if got, ok, _ := ts.st.ClientRecord(tc.id.Public()); !ok || !got.Equal(psk) {
			t.Fatalf("record %v", ok)
		}
	})
}

// TestDynamicPairingOutOfSequence: messages of the Dynamic Pairing Code
// Flow out of order, at each step the server reaches with this client
// (before client/pair-init, waiting for the operator's code, after
// server/pair-auth).
func TestDynamicPairingOutOfSequence(t *testing.T) {
	methods := wire.PairMethods{PairingPSK: &wire.StaticMethod{},
		DynamicCode: &wire.DynamicMethod{OutChannels: []wire.OutChannel{wire.OutDisplay}, Formats: []wire.CodeFormat{wire.FormatDigits}}}
	var commit [wire.CommitSize]byte
	commit[0] = 1
	init1 := &wire.ClientPairInit{PairingIndex: 1, CommitB: &commit}
	var wrapped [wire.WrappedSize]byte
	const (
		atStart = iota // the pairing activation arrived
		atCode         // client/pair-init sent, server/pair-init received
		atAuth         // the operator's code entered, server/pair-auth received
	)
	cases := []struct {
		name string
		at   int
		msgs []wire.Message
	}{
		{"auth before init", atStart, []wire.Message{&wire.ClientPairAuth{}}},
		{"confirm before init", atStart, []wire.Message{&wire.ClientPairConfirm{WrappedNonceB: &wrapped}}},
		{"finalize before init", atStart, []wire.Message{&wire.ClientPairFinalize{WrappedPSK: &wrapped}}},
		{"init without commit_B", atStart, []wire.Message{&wire.ClientPairInit{PairingIndex: 1}}},
		{"init with a higher index", atStart, []wire.Message{&wire.ClientPairInit{PairingIndex: 2, CommitB: &commit}}},
		{"init twice", atCode, []wire.Message{init1}},
		{"pending after init", atCode, []wire.Message{&wire.ClientPairPending{PairingIndex: 1}}},
		{"auth before the code", atCode, []wire.Message{&wire.ClientPairAuth{}}},
		{"retry before the code", atCode, []wire.Message{&wire.ClientPairRetry{}}},
		{"confirm before the code", atCode, []wire.Message{&wire.ClientPairConfirm{WrappedNonceB: &wrapped}}},
		{"confirm instead of auth", atAuth, []wire.Message{&wire.ClientPairConfirm{WrappedNonceB: &wrapped}}},
		{"finalize instead of auth", atAuth, []wire.Message{&wire.ClientPairFinalize{WrappedPSK: &wrapped}}},
		{"retry instead of auth", atAuth, []wire.Message{&wire.ClientPairRetry{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t)
			tc := newClient(t, true)
			tc.connectOffering(t, ts.url, methods)
			id := tc.id.Public()
			if err := ts.s.StartPairing(PairRequest{Client: id}); err != nil {
				t.Fatal(err)
			}
			tc.pairingActivation(t, wire.MethodDynamicCode)
			if c.at >= atCode {
				send(t, tc, init1)
				if m := expect[*wire.ServerPairInit](t, tc); m.NonceA == nil {
					t.Fatal("server/pair-init without nonce_A in round 1")
				}
			}
			if c.at >= atAuth {
				if err := ts.s.EnterCode(id, "123456"); err != nil {
					t.Fatal(err)
				}
				expect[*wire.ServerPairAuth](t, tc)
			}
			send(t, tc, c.msgs...)
			closedFailed(t, ts, tc)
		})
	}
}

// TestStaticPairingOutOfSequence: the Static Pairing Code Flow with the
// code entered ahead: client/pair-pending may precede client/pair-init
// (the server then waits, and answers the init with server/pair-auth);
// commit_B, client/pair-retry and anything out of order are protocol
// errors.
func TestStaticPairingOutOfSequence(t *testing.T) {
	methods := wire.PairMethods{PairingPSK: &wire.StaticMethod{},
		StaticCode: &wire.StaticMethod{Locations: []wire.Location{wire.LocationOperator}}}
	var commit [wire.CommitSize]byte
	var wrapped [wire.WrappedSize]byte
	psk := keys.PSK{7}
	init1 := &wire.ClientPairInit{PairingIndex: 1}
	cases := []struct {
		name   string
		atAuth bool // client/pair-init sent, server/pair-auth received
		msgs   []wire.Message
	}{
		{"init with commit_B", false, []wire.Message{&wire.ClientPairInit{PairingIndex: 1, CommitB: &commit}}},
		{"auth before init", false, []wire.Message{&wire.ClientPairAuth{}}},
		{"pending twice", false, []wire.Message{&wire.ClientPairPending{PairingIndex: 1}, &wire.ClientPairPending{PairingIndex: 1}}},
		{"retry", true, []wire.Message{&wire.ClientPairRetry{}}},
		{"pending after init", true, []wire.Message{&wire.ClientPairPending{PairingIndex: 1}}},
		{"confirm instead of auth", true, []wire.Message{&wire.ClientPairConfirm{}}},
		{"finalize instead of auth", true, []wire.Message{&wire.ClientPairFinalize{WrappedPSK: &wrapped}}},
		{"long_term_psk in the clear", true, []wire.Message{&wire.ClientPairFinalize{LongTermPSK: &psk}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t)
			tc := newClient(t, true)
			tc.connectOffering(t, ts.url, methods)
			id := tc.id.Public()
			if err := ts.s.StartPairing(PairRequest{Client: id, StaticCode: "31415926"}); err != nil {
				t.Fatal(err)
			}
			tc.pairingActivation(t, wire.MethodStaticCode)
			if c.atAuth {
				// Held back first, as a client waiting for its window.
				send(t, tc, &wire.ClientPairPending{PairingIndex: 1, Message: "press the button"})
				deadline := time.Now().Add(5 * time.Second)
				for ts.s.PairingState(id).Phase != PairingHeldBack {
					if time.Now().After(deadline) {
						t.Fatalf("not held back: %+v", ts.s.PairingState(id))
					}
					time.Sleep(2 * time.Millisecond)
				}
				if st := ts.s.PairingState(id); st.Message != "press the button" || !st.CodeEntered {
					t.Fatalf("%+v", st)
				}
				send(t, tc, init1)
				expect[*wire.ServerPairAuth](t, tc)
			}
			send(t, tc, c.msgs...)
			closedFailed(t, ts, tc)
		})
	}
}
