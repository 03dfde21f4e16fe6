package flow

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testRand(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

func hashOf(s string) pairing.HandshakeHash { return pairing.HandshakeHash(sha256.Sum256([]byte(s))) }

var (
	testClientID = keys.PublicKey(sha256.Sum256([]byte("client")))
	testServerID = keys.PublicKey(sha256.Sum256([]byte("server")))
	testStatic   = mustStatic("12345678")
)

func mustStatic(s string) pairing.StaticCode {
	c, err := pairing.ParseStaticCode(s)
	if err != nil {
		panic(err)
	}
	return c
}

// operator decides what the server's operator enters when asked: the
// code the client emitted (honest) or something else.
type operator func(h *harness, a AwaitCode) pairing.Code

func honest(h *harness, a AwaitCode) pairing.Code {
	if a.Method == wire.MethodStaticCode {
		return testStatic
	}
	return h.lastEmitted // nil when the client emitted nothing
}

// wrongFor enters a wrong code in the first n rounds, then the right one.
func wrongFor(n uint32) operator {
	return func(h *harness, a AwaitCode) pairing.Code {
		if a.Round > n {
			return honest(h, a)
		}
		return wrongCode(h, a)
	}
}

func wrongCode(h *harness, a AwaitCode) pairing.Code {
	if a.Method == wire.MethodStaticCode {
		return mustStatic("87654321")
	}
	switch c := h.lastEmitted.(type) {
	case pairing.QRCode:
		c[0] ^= 1
		return c
	case pairing.DynamicCode:
		c[5] = '0' + (c[5]-'0'+1)%10
		return c
	}
	return nil // nothing emitted yet
}

// harness runs a Server against a Client in memory. Every message goes
// through wire.Marshal and wire.Decode, so what crosses is what the spec
// allows on the wire.
type harness struct {
	t   testing.TB
	now time.Time
	srv *Server
	cli *Client

	toCli, toSrv []wire.Message
	log          []string
	trace        []wire.Message // every message as decoded by its receiver

	op          operator
	manualCode  bool // leave AwaitCode to the test
	awaitCode   *AwaitCode
	lastEmitted pairing.Code
	emitted     []string // text of every EmitCode
	emitting    bool
	onEmit      func() // runs after each EmitCode (tests that subvert the client)

	manualPersist bool       // leave ServerPersistRecord to the test
	persistAsked  []keys.PSK // every PSK of a ServerPersistRecord
	srvRecord     *keys.PSK
	cliRecord     *keys.PSK
	cliSent       []keys.PSK // every PSK the client put in client/pair-finalize
	srvClose      error
	cliClose      error
	srvClosed     bool
	cliClosed     bool
	ends          []string // "S:outcome/reason", "C:outcome/reason"
	rehandshakes  int
}

type hcfg struct {
	suite    keys.Suite
	srvH     pairing.HandshakeHash
	cliH     pairing.HandshakeHash
	cat      wire.PSKCategory
	srvRand  *bytes.Reader
	cliRand  *bytes.Reader
	seed     uint64
	window   *Window
	rounds   *Rounds
	formats  []wire.CodeFormat
	noStatic bool
}

func newHarness(t testing.TB, c hcfg) *harness {
	t.Helper()
	if c.suite == "" {
		c.suite = keys.SuiteChaChaPoly
	}
	if c.cat == "" {
		c.cat = wire.PSKSentinel
	}
	if c.srvH == (pairing.HandshakeHash{}) {
		c.srvH = hashOf("h")
	}
	if c.cliH == (pairing.HandshakeHash{}) {
		c.cliH = c.srvH
	}
	if c.window == nil {
		c.window = NewWindow(0)
		c.window.Open(t0)
	}
	if c.rounds == nil {
		c.rounds = NewRounds(0)
	}
	if c.formats == nil {
		c.formats = []wire.CodeFormat{wire.FormatDigits, wire.FormatQRCode}
	}
	scfg := ServerConfig{ClientID: testClientID, Suite: c.suite, H: c.srvH, Category: c.cat}
	ccfg := ClientConfig{ServerID: testServerID, Suite: c.suite, H: c.cliH, Category: c.cat,
		Window: c.window, Rounds: c.rounds, DynamicFormats: c.formats}
	if !c.noStatic {
		sc := testStatic
		ccfg.StaticCode = &sc
	}
	if c.srvRand != nil {
		scfg.Rand = c.srvRand
	} else {
		scfg.Rand = testRand(c.seed*2 + 1)
	}
	if c.cliRand != nil {
		ccfg.Rand = c.cliRand
	} else {
		ccfg.Rand = testRand(c.seed*2 + 2)
	}
	srv, err := NewServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, now: t0, srv: srv, cli: cli, op: honest}
}

func (h *harness) logf(format string, args ...any) {
	h.log = append(h.log, fmt.Sprintf(format, args...))
}

// wireTrip marshals m and decodes it as sent by from.
func (h *harness) wireTrip(m wire.Message, from wire.Sender) wire.Message {
	h.t.Helper()
	b, err := wire.Marshal(m)
	if err != nil {
		h.t.Fatalf("marshal %s: %v", m.Type(), err)
	}
	out, err := wire.Decode(b, from)
	if err != nil {
		h.t.Fatalf("decode %s: %v", m.Type(), err)
	}
	h.trace = append(h.trace, out)
	return out
}

// activate has the server send a server/activate.
func (h *harness) activate(p *wire.PairingParams) {
	h.t.Helper()
	acts, err := h.srv.Activated(p, h.now)
	if err != nil {
		h.t.Fatalf("Activated: %v", err)
	}
	h.sendActivate(p)
	h.srvActs(acts)
}

func (h *harness) sendActivate(p *wire.PairingParams) {
	act := &wire.ServerActivate{HasActiveRoles: true}
	if p != nil {
		act.Activities = []wire.Activity{wire.ActivityPairing}
		act.Pairing = p
	}
	if p == nil {
		h.logf("S> server/activate []")
	} else {
		h.logf("S> server/activate %s%s", p.Method, fmtFormat(p.Format))
	}
	h.toCli = append(h.toCli, h.wireTrip(act, wire.FromServer))
}

func fmtFormat(f wire.CodeFormat) string {
	if f == "" {
		return ""
	}
	return "/" + string(f)
}

func (h *harness) srvActs(acts []Action) {
	h.t.Helper()
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			h.logf("S> %s", describe(a.Msg))
			h.toCli = append(h.toCli, h.wireTrip(a.Msg, wire.FromServer))
		case Close:
			h.logf("S: close %v", a.Err)
			h.srvClose, h.srvClosed = a.Err, true
			h.awaitCode = nil
		case ServerPersistRecord:
			h.logf("S: persist")
			h.persistAsked = append(h.persistAsked, a.PSK)
			if !a.ClientID.Equal(testClientID) {
				h.t.Fatalf("persist for the wrong client")
			}
			if h.manualPersist {
				continue
			}
			psk := a.PSK
			h.srvRecord = &psk
			more, err := h.srv.Persisted()
			if err != nil {
				h.t.Fatalf("Persisted: %v", err)
			}
			h.srvActs(more)
		case DiscardApproval:
			h.logf("S: discard approval")
		case RequestRehandshake:
			h.logf("S: rehandshake")
			// The client first takes everything sent before. What it
			// sent under the old keys before seeing Noise message 1 the
			// secure channel discards (connection.md "Re-handshake": the
			// server MAY); it never reaches the new session's machine.
			h.pumpCli()
			for _, m := range h.toSrv {
				h.logf("S: old-key %s discarded by the channel", m.Type())
			}
			h.toSrv = nil
			h.rehandshakes++
			nh := hashOf(fmt.Sprintf("rehandshake %d", h.rehandshakes))
			if _, err := h.srv.Rehandshaked(nh, wire.PSKLongTerm); err != nil {
				h.t.Fatalf("server Rehandshaked: %v", err)
			}
			if !h.cliClosed {
				cacts, err := h.cli.Rehandshaked(nh, wire.PSKLongTerm)
				if err != nil {
					h.t.Fatalf("client Rehandshaked: %v", err)
				}
				h.cliActs(cacts)
			}
			h.activate(nil)
		case LeavePairing:
			h.logf("S: leave")
			more, err := h.srv.Activated(nil, h.now)
			if err != nil {
				h.t.Fatalf("Activated(nil): %v", err)
			}
			h.sendActivate(nil)
			h.srvActs(more)
		case ClientPending:
			h.logf("S: pending %q", a.Message)
		case AwaitCode:
			h.logf("S: await code %d", a.Round)
			ac := a
			h.awaitCode = &ac
		case AttemptEnded:
			h.awaitCode = nil // the operator's code prompt goes away
			h.ends = append(h.ends, "S:"+endText(a))
			h.logf("S: ended %s", endText(a))
		default:
			h.t.Fatalf("server returned a client action %T", a)
		}
	}
}

func endText(a AttemptEnded) string {
	if a.Reason != "" {
		return a.Outcome.String() + "/" + string(a.Reason)
	}
	return a.Outcome.String()
}

func (h *harness) cliActs(acts []Action) {
	h.t.Helper()
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			h.logf("C> %s", describe(a.Msg))
			if _, ok := a.Msg.(*wire.ClientPairFinalize); ok {
				h.cliSent = append(h.cliSent, h.cli.psk)
			}
			h.toSrv = append(h.toSrv, h.wireTrip(a.Msg, wire.FromClient))
		case Close:
			h.logf("C: close %v", a.Err)
			h.cliClose, h.cliClosed = a.Err, true
		case ClientPersistRecord:
			h.logf("C: persist")
			if !a.ServerID.Equal(testServerID) {
				h.t.Fatalf("persist for the wrong server")
			}
			psk := a.PSK
			h.cliRecord = &psk
		case EmitCode:
			h.lastEmitted = a.Code
			h.emitting = true
			txt := ""
			switch c := a.Code.(type) {
			case pairing.DynamicCode:
				txt = c.Grouped()
			case pairing.QRCode:
				txt = c.Encode()
			}
			h.emitted = append(h.emitted, txt)
			h.logf("C: emit %d", a.Round)
			if h.onEmit != nil {
				h.onEmit()
			}
		case StopEmitting:
			h.emitting = false
			h.logf("C: stop emitting")
		case HeldBack:
			h.logf("C: held back (%s)", a.Why)
		case AttemptEnded:
			h.ends = append(h.ends, "C:"+endText(a))
			h.logf("C: ended %s", endText(a))
		default:
			h.t.Fatalf("client returned a server action %T", a)
		}
	}
}

// describe names a message; for pair/abort and the init messages it adds
// the detail tests check.
func describe(m wire.Message) string {
	switch m := m.(type) {
	case *wire.PairAbort:
		return "pair/abort " + string(m.Reason)
	case *wire.ServerPairInit:
		if m.NonceA != nil {
			return "server/pair-init nonce_A"
		}
		return "server/pair-init"
	case *wire.ClientPairInit:
		if m.CommitB != nil {
			return fmt.Sprintf("client/pair-init %d commit_B", m.PairingIndex)
		}
		return fmt.Sprintf("client/pair-init %d", m.PairingIndex)
	case *wire.ClientPairPending:
		return fmt.Sprintf("client/pair-pending %d", m.PairingIndex)
	case *wire.ClientPairConfirm:
		if m.WrappedNonceB != nil {
			return "client/pair-confirm wrapped_nonce_B"
		}
		return "client/pair-confirm"
	case *wire.ClientPairFinalize:
		if m.LongTermPSK != nil {
			return "client/pair-finalize long_term_psk"
		}
		return "client/pair-finalize wrapped_psk"
	}
	return string(m.Type())
}

// deliverCli hands the next server message to the client.
func (h *harness) deliverCli() {
	h.t.Helper()
	m := h.toCli[0]
	h.toCli = h.toCli[1:]
	if h.cliClosed {
		return
	}
	var acts []Action
	var err error
	if a, ok := m.(*wire.ServerActivate); ok {
		acts, err = h.cli.Activate(a, h.now)
	} else {
		acts, err = h.cli.Receive(m, h.now)
	}
	if err != nil {
		h.t.Fatalf("client %s: %v", m.Type(), err)
	}
	h.cliActs(acts)
}

func (h *harness) deliverSrv() {
	h.t.Helper()
	m := h.toSrv[0]
	h.toSrv = h.toSrv[1:]
	if h.srvClosed {
		return
	}
	acts, err := h.srv.Receive(m, h.now)
	if err != nil {
		h.t.Fatalf("server %s: %v", m.Type(), err)
	}
	h.srvActs(acts)
}

func (h *harness) pumpCli() {
	for len(h.toCli) > 0 {
		h.deliverCli()
	}
}

// step takes one step: deliver a message (client to server first), or let
// the operator enter a code when the server waits for one and nothing is
// in flight. It reports false when nothing is left to do.
func (h *harness) step() bool {
	h.t.Helper()
	switch {
	case len(h.toSrv) > 0:
		h.deliverSrv()
	case len(h.toCli) > 0:
		h.deliverCli()
	case h.awaitCode != nil && !h.manualCode && !h.srvClosed:
		a := *h.awaitCode
		h.awaitCode = nil
		code := h.op(h, a)
		if code == nil {
			h.logf("S: operator has no code to enter")
			return true
		}
		h.logf("S: operator enters code")
		acts, err := h.srv.EnterCode(code)
		if err != nil {
			h.t.Fatalf("EnterCode: %v", err)
		}
		h.srvActs(acts)
	default:
		return false
	}
	return true
}

// run steps until quiet.
func (h *harness) run() {
	h.t.Helper()
	for i := 0; i < 10000; i++ {
		if !h.step() {
			return
		}
	}
	h.t.Fatal("harness did not settle")
}

// messages returns the log lines of messages sent (S> and C>).
func (h *harness) messages() []string {
	var out []string
	for _, l := range h.log {
		if strings.HasPrefix(l, "S>") || strings.HasPrefix(l, "C>") {
			out = append(out, l)
		}
	}
	return out
}

func (h *harness) dump() string { return strings.Join(h.log, "\n") }

// indexOf returns the first log index of line, or -1.
func (h *harness) indexOf(line string) int {
	for i, l := range h.log {
		if l == line {
			return i
		}
	}
	return -1
}

func (h *harness) noRecords() {
	h.t.Helper()
	if h.srvRecord != nil || h.cliRecord != nil {
		h.t.Fatalf("a record was persisted:\n%s", h.dump())
	}
	for _, l := range h.log {
		if strings.HasSuffix(l, ": persist") {
			h.t.Fatalf("a persist was requested:\n%s", h.dump())
		}
	}
}
