package flow

import (
	"slices"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

var suites = []keys.Suite{keys.SuiteChaChaPoly, keys.SuiteAESGCM}

type flowCase struct {
	name   string
	params wire.PairingParams
	cat    wire.PSKCategory
	want   []string // messages exchanged, in order
}

var pskParams = wire.PairingParams{Method: wire.MethodPairingPSK}
var staticParams = wire.PairingParams{Method: wire.MethodStaticCode}
var digitsParams = wire.PairingParams{Method: wire.MethodDynamicCode, Format: wire.FormatDigits}
var qrParams = wire.PairingParams{Method: wire.MethodDynamicCode, Format: wire.FormatQRCode}

// The tail every successful flow shares: finalize, re-handshake, activate.
var successTail = []string{"S> server/pair-finalize", "S> server/activate []"}

var flowCases = []flowCase{
	{
		name: "pairing_psk", params: pskParams, cat: wire.PSKPairing,
		want: append([]string{
			"S> server/activate pairing_psk",
			"C> client/pair-init 1",
			"C> client/pair-finalize long_term_psk",
		}, successTail...),
	},
	{
		name: "static", params: staticParams, cat: wire.PSKSentinel,
		want: append([]string{
			"S> server/activate static_pairing_code",
			"C> client/pair-init 1",
			"S> server/pair-auth",
			"C> client/pair-auth",
			"S> server/pair-confirm",
			"C> client/pair-confirm",
			"C> client/pair-finalize wrapped_psk",
		}, successTail...),
	},
	{
		name: "dynamic/digits", params: digitsParams, cat: wire.PSKSentinel,
		want: append([]string{
			"S> server/activate dynamic_pairing_code/digits",
			"C> client/pair-init 1 commit_B",
			"S> server/pair-init nonce_A",
			"S> server/pair-auth",
			"C> client/pair-auth",
			"S> server/pair-confirm",
			"C> client/pair-confirm wrapped_nonce_B",
			"C> client/pair-finalize wrapped_psk",
		}, successTail...),
	},
	{
		name: "dynamic/qr_code", params: qrParams, cat: wire.PSKSentinel,
		want: append([]string{
			"S> server/activate dynamic_pairing_code/qr_code",
			"C> client/pair-init 1 commit_B",
			"S> server/pair-init nonce_A",
			"S> server/pair-auth",
			"C> client/pair-auth",
			"S> server/pair-confirm",
			"C> client/pair-confirm wrapped_nonce_B",
			"C> client/pair-finalize wrapped_psk",
		}, successTail...),
	},
}

// Every method, format and suite end to end: the messages exchanged, both
// records equal, the server's persist before server/pair-finalize and the
// client's after it, then the re-handshake and activation.
func TestFlowsEndToEnd(t *testing.T) {
	for _, fc := range flowCases {
		for i, suite := range suites {
			t.Run(fc.name+"/"+string(suite), func(t *testing.T) {
				h := newHarness(t, hcfg{suite: suite, cat: fc.cat, seed: uint64(i)})
				p := fc.params
				h.activate(&p)
				h.run()
				if got := h.messages(); !slices.Equal(got, fc.want) {
					t.Fatalf("messages:\n%v\nwant\n%v\nlog:\n%s", got, fc.want, h.dump())
				}
				if h.srvRecord == nil || h.cliRecord == nil || !h.srvRecord.Equal(*h.cliRecord) {
					t.Fatalf("records differ or missing:\n%s", h.dump())
				}
				if h.srvRecord.Equal(keys.Sentinel) || h.srvRecord.Equal(keys.PSK{}) {
					t.Fatal("weak PSK")
				}
				sp, fin, cp := h.indexOf("S: persist"), h.indexOf("S> server/pair-finalize"), h.indexOf("C: persist")
				if sp < 0 || fin < 0 || cp < 0 || !(sp < fin && fin < cp) {
					t.Fatalf("persist order: server %d, finalize %d, client %d\n%s", sp, fin, cp, h.dump())
				}
				rh := h.indexOf("S: rehandshake")
				if rh < fin || h.indexOf("S: discard approval") < 0 {
					t.Fatalf("re-handshake or approval discard missing:\n%s", h.dump())
				}
				if h.srv.State() != ServerIdle || h.cli.State() != ClientIdle || h.srv.PairingIndex() != 0 || h.cli.PairingIndex() != 0 {
					t.Fatalf("after pairing: server %s/%d client %s/%d", h.srv.State(), h.srv.PairingIndex(), h.cli.State(), h.cli.PairingIndex())
				}
				if want := []string{"C:paired", "S:paired"}; !sameSet(h.ends, want) {
					t.Fatalf("ends %v", h.ends)
				}
				if h.emitting {
					t.Fatal("client still emitting after the attempt")
				}
			})
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// The code is derived once, on the first round's server/pair-init, and
// emitted unchanged in every round; the operator's wrong entries make the
// client retry, and the next right one pairs. Both formats, both suites.
func TestDynamicRetryRounds(t *testing.T) {
	for _, p := range []wire.PairingParams{digitsParams, qrParams} {
		for i, suite := range suites {
			t.Run(string(p.Format)+"/"+string(suite), func(t *testing.T) {
				rounds := NewRounds(0)
				h := newHarness(t, hcfg{suite: suite, seed: 10 + uint64(i), rounds: rounds})
				h.op = wrongFor(3)
				pp := p
				h.activate(&pp)
				h.run()
				if h.srvRecord == nil || h.cliRecord == nil || !h.srvRecord.Equal(*h.cliRecord) {
					t.Fatalf("not paired:\n%s", h.dump())
				}
				if len(h.emitted) != 4 {
					t.Fatalf("emitted %d times, want 4", len(h.emitted))
				}
				for _, e := range h.emitted {
					if e != h.emitted[0] {
						t.Fatalf("code changed across rounds: %v", h.emitted)
					}
				}
				retries, inits := 0, 0
				for _, m := range h.messages() {
					switch m {
					case "C> client/pair-retry":
						retries++
					case "S> server/pair-init":
						inits++ // without nonce_A
					}
				}
				if retries != 3 || inits != 3 {
					t.Fatalf("retries %d, nonce-less server/pair-init %d\n%s", retries, inits, h.dump())
				}
				if rounds.Count() != 0 {
					t.Fatalf("verified server_kc must reset the round count, have %d", rounds.Count())
				}
			})
		}
	}
}

// The PSK flow's client/pair-init and client/pair-finalize go
// back-to-back, before any server response.
func TestPSKFlowBackToBack(t *testing.T) {
	h := newHarness(t, hcfg{cat: wire.PSKPairing})
	p := pskParams
	if _, err := h.srv.Activated(&p, h.now); err != nil {
		t.Fatal(err)
	}
	h.sendActivate(&p)
	h.deliverCli()
	if len(h.toSrv) != 2 {
		t.Fatalf("client sent %d messages, want pair-init and pair-finalize", len(h.toSrv))
	}
	if _, ok := h.toSrv[1].(*wire.ClientPairFinalize); !ok {
		t.Fatalf("second message %s", h.toSrv[1].Type())
	}
}

// Codes the operator sees: 3-3 digits, or an SP:1 token.
func TestEmittedCodeForms(t *testing.T) {
	h := newHarness(t, hcfg{})
	p := digitsParams
	h.activate(&p)
	h.run()
	if len(h.emitted) != 1 || len(h.emitted[0]) != 7 || h.emitted[0][3] != '-' {
		t.Fatalf("digits emission %q", h.emitted)
	}
	h = newHarness(t, hcfg{})
	p = qrParams
	h.activate(&p)
	h.run()
	if len(h.emitted) != 1 {
		t.Fatal("no emission")
	}
	if _, err := pairing.ParseCodeToken(h.emitted[0]); err != nil || h.emitted[0][:3] != "SP:" {
		t.Fatalf("qr emission %q: %v", h.emitted[0], err)
	}
}
