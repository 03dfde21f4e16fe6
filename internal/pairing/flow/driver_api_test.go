package flow

import (
	"errors"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// A pairing activation the session layer refused still counts toward the
// pairing_index, abandons the running attempt and answers
// method_not_supported; the next activation's client/pair-init carries
// the server's count.
func TestClientRefused(t *testing.T) {
	h := newHarness(t, hcfg{})
	p := digitsParams
	acts, err := h.cli.Activate(&wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPairing}, Pairing: &p}, t0)
	if err != nil || len(acts) != 1 {
		t.Fatalf("%v %v", acts, err)
	}
	acts, err = h.cli.Refused()
	if err != nil {
		t.Fatal(err)
	}
	var aborted, ended bool
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			ab, ok := a.Msg.(*wire.PairAbort)
			aborted = ok && ab.Reason == wire.AbortMethodNotSupported
		case AttemptEnded:
			ended = a.Outcome == OutcomeCancelled || ended
		}
	}
	if !aborted || !ended || h.cli.PairingIndex() != 2 || h.cli.State() != ClientAborted {
		t.Fatalf("acts %#v, index %d, state %s", acts, h.cli.PairingIndex(), h.cli.State())
	}
	// Stale server messages are discarded until the next activation.
	if acts, err := h.cli.Receive(&wire.ServerPairInit{NonceA: &[wire.NonceSize]byte{1}}, t0); err != nil || len(acts) != 0 {
		t.Fatalf("stale message: %v %v", acts, err)
	}
	acts, err = h.cli.Activate(&wire.ServerActivate{Activities: []wire.Activity{wire.ActivityPairing}, Pairing: &p}, t0)
	if err != nil || len(acts) != 1 {
		t.Fatalf("%v %v", acts, err)
	}
	if init, ok := acts[0].(Send).Msg.(*wire.ClientPairInit); !ok || init.PairingIndex != 3 {
		t.Fatalf("%#v", acts[0])
	}
	h.cli.Dropped()
	if _, err := h.cli.Refused(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// CanActivate vets an activation for the PSK a re-handshake switches to,
// without changing anything.
func TestServerCanActivate(t *testing.T) {
	h := newHarness(t, hcfg{cat: wire.PSKLongTerm})
	for _, c := range []struct {
		cat  wire.PSKCategory
		p    *wire.PairingParams
		want error
	}{
		{wire.PSKSentinel, &digitsParams, nil},
		{wire.PSKSentinel, &staticParams, nil},
		{wire.PSKPairing, &pskParams, nil},
		{wire.PSKLongTerm, nil, nil},
		{wire.PSKLongTerm, &staticParams, ErrActivation},
		{wire.PSKPairing, &digitsParams, ErrActivation},
		{wire.PSKSentinel, &pskParams, ErrActivation},
		{"other", nil, ErrConfig},
	} {
		if err := h.srv.CanActivate(c.cat, c.p); !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("%s %v: %v, want %v", c.cat, c.p, err, c.want)
		}
	}
	if h.srv.State() != ServerIdle || h.srv.PairingIndex() != 0 {
		t.Fatal("CanActivate changed the state")
	}
	// Persisting: a re-handshake cannot start.
	s, _ := NewServer(ServerConfig{ClientID: testClientID, Suite: keys.SuiteChaChaPoly, H: hashOf("h"), Category: wire.PSKSentinel})
	s.state = ServerPersisting
	if err := s.CanActivate(wire.PSKLongTerm, nil); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
	s.state = ServerClosed
	if err := s.CanActivate(wire.PSKSentinel, &digitsParams); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}
