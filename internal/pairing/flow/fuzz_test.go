package flow

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// fuzzBytes hands out the fuzz input; past its end it returns zeros.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzBytes) arr32() (a [32]byte) {
	for i := range a {
		a[i] = f.byte()
	}
	return a
}

func (f *fuzzBytes) arr48() (a [48]byte) {
	for i := range a {
		a[i] = f.byte()
	}
	return a
}

func (f *fuzzBytes) arr64() (a [64]byte) {
	for i := range a {
		a[i] = f.byte()
	}
	return a
}

var fuzzMethods = []*wire.PairingParams{nil, &pskParams, &staticParams, &digitsParams, &qrParams}

var fuzzReasons = []wire.AbortReason{wire.AbortAttemptTimeout, wire.AbortConcurrentAttempt,
	wire.AbortMethodNotSupported, wire.AbortPairingCodeMismatch, wire.AbortUserCancelled, "bogus"}

// A client message built from fuzz bytes, valid on the wire or not.
func (f *fuzzBytes) clientMsg(idx uint32) wire.Message {
	switch f.byte() % 10 {
	case 0:
		m := &wire.ClientPairPending{PairingIndex: idx + uint32(f.byte()%3) - 1}
		want := int(f.byte())
		n := min(len(f.b), want)
		m.Message, f.b = string(f.b[:n]), f.b[n:]
		return m
	case 1:
		m := &wire.ClientPairInit{PairingIndex: idx + uint32(f.byte()%3) - 1}
		if f.byte()&1 == 1 {
			c := f.arr32()
			m.CommitB = &c
		}
		return m
	case 2:
		return &wire.ClientPairAuth{PakeMsg2: f.arr32()}
	case 3:
		return &wire.ClientPairRetry{}
	case 4:
		m := &wire.ClientPairConfirm{ClientKC: f.arr64()}
		if f.byte()&1 == 1 {
			w := f.arr48()
			m.WrappedNonceB = &w
		}
		return m
	case 5, 6:
		m := &wire.ClientPairFinalize{}
		sel := f.byte()
		if sel&1 == 1 {
			p := keys.PSK(f.arr32())
			m.LongTermPSK = &p
		}
		if sel&2 == 2 {
			w := f.arr48()
			m.WrappedPSK = &w
		}
		return m
	case 7:
		return &wire.ServerPairFinalize{} // wrong direction
	default:
		return &wire.PairAbort{Reason: fuzzReasons[int(f.byte())%len(fuzzReasons)]}
	}
}

func (f *fuzzBytes) serverMsg() wire.Message {
	switch f.byte() % 8 {
	case 0:
		m := &wire.ServerPairInit{}
		if f.byte()&1 == 1 {
			n := f.arr32()
			m.NonceA = &n
		}
		return m
	case 1:
		return &wire.ServerPairAuth{PakeMsg1: f.arr32()}
	case 2:
		return &wire.ServerPairConfirm{ServerKC: f.arr64()}
	case 3:
		return &wire.ServerPairFinalize{}
	case 4:
		return &wire.ClientPairRetry{} // wrong direction
	case 5:
		p := fuzzMethods[int(f.byte())%len(fuzzMethods)]
		a := &wire.ServerActivate{}
		if p != nil || f.byte()&1 == 1 {
			a.Activities = []wire.Activity{wire.ActivityPairing}
			a.Pairing = p
		}
		return a
	default:
		return &wire.PairAbort{Reason: fuzzReasons[int(f.byte())%len(fuzzReasons)]}
	}
}

// FuzzMachines drives a Server and a Client, connected in memory, with an
// arbitrary mix of conformant steps (activations, deliveries, operator
// codes, cancels, time, persistence, gestures) and arbitrary pairing
// messages injected on either side in any order. Neither machine may
// panic, a closed machine takes no more input, and nothing is persisted
// except a PSK the client itself sent in client/pair-finalize (or, on a
// connection keyed with the pairing PSK, one delivered in the clear by
// the authenticated peer); server/pair-finalize never precedes a
// confirmed persist.
func FuzzMachines(f *testing.F) {
	// Seeds: every method run honestly on both suites (config bytes:
	// category, suite, round limit, seed; then ops), a wrong code first,
	// and a few hostile orders.
	honestRun := func(cat, suite, method, wrong byte) []byte {
		b := []byte{cat, suite, 0, 1, 0, method}
		for range 12 {
			b = append(b, 2, 1, 2, 1, 2, 1, 3, wrong, 9, 0)
			wrong = 0
		}
		return b
	}
	for suite := byte(0); suite < 2; suite++ {
		f.Add(honestRun(1, suite, 1, 0)) // pairing_psk
		f.Add(honestRun(0, suite, 2, 0)) // static
		f.Add(honestRun(0, suite, 3, 1)) // digits, a wrong code first
		f.Add(honestRun(0, suite, 4, 0)) // qr_code
	}
	f.Add([]byte{0, 0, 0, 0, 0, 3, 7, 4, 1, 8, 2, 1, 6, 200, 5, 1, 2, 4})
	f.Add([]byte{0, 1, 2, 3, 10, 1, 0, 2, 1, 2, 6, 255, 10, 0, 1, 2, 11, 0, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzBytes{b: data}
		cat := wire.PSKSentinel
		if in.byte()&1 == 1 {
			cat = wire.PSKPairing
		}
		suite := suites[in.byte()%2]
		w := NewWindow(0)
		rounds := NewRounds(int(in.byte() % 4)) // 0 means the spec's 20
		h := newHarness(t, hcfg{cat: cat, suite: suite, window: w, rounds: rounds, seed: uint64(in.byte())})
		h.manualPersist = true
		h.manualCode = true
		var injectedClear []keys.PSK
		persistedOK := 0

		for steps := 0; len(in.b) > 0 && steps < 400; steps++ {
			switch in.byte() % 14 {
			case 0:
				p := fuzzMethods[int(in.byte())%len(fuzzMethods)]
				if h.srvClosed {
					continue
				}
				acts, err := h.srv.Activated(p, h.now)
				if err != nil {
					continue
				}
				h.sendActivate(p)
				h.srvActs(acts)
			case 1:
				if len(h.toCli) > 0 {
					h.deliverCli()
				}
			case 2:
				if len(h.toSrv) > 0 {
					h.deliverSrv()
				}
			case 3:
				wrong := in.byte()&1 == 1
				if h.awaitCode == nil || h.srvClosed {
					continue
				}
				a := *h.awaitCode
				code := honest(h, a)
				if wrong {
					code = wrongCode(h, a)
				}
				if code == nil {
					continue
				}
				acts, err := h.srv.EnterCode(code)
				if err == nil {
					h.awaitCode = nil
					h.srvActs(acts)
				}
			case 4:
				if acts, err := h.srv.Cancel(); err == nil {
					h.srvActs(acts)
				}
			case 5:
				if acts, err := h.cli.Cancel(); err == nil {
					h.cliActs(acts)
				}
			case 6:
				h.now = h.now.Add(time.Duration(in.byte()) * 5 * time.Second)
				if !h.srvClosed {
					h.srvActs(h.srv.Tick(h.now))
				}
				if !h.cliClosed {
					h.cliActs(h.cli.Tick(h.now))
				}
			case 7:
				m := in.clientMsg(h.srv.PairingIndex())
				if fin, ok := m.(*wire.ClientPairFinalize); ok && fin.LongTermPSK != nil {
					injectedClear = append(injectedClear, *fin.LongTermPSK)
				}
				acts, err := h.srv.Receive(m, h.now)
				checkErr(t, err, h.srvClosed)
				h.srvActs(acts)
			case 8:
				m := in.serverMsg()
				var acts []Action
				var err error
				if a, ok := m.(*wire.ServerActivate); ok {
					acts, err = h.cli.Activate(a, h.now)
				} else {
					acts, err = h.cli.Receive(m, h.now)
				}
				checkErr(t, err, h.cliClosed)
				h.cliActs(acts)
			case 9:
				fail := in.byte()&1 == 1
				if h.srv.State() != ServerPersisting {
					if _, err := h.srv.Persisted(); err == nil {
						t.Fatal("Persisted outside ServerPersisting")
					}
					continue
				}
				var acts []Action
				var err error
				if !fail {
					acts, err = h.srv.Persisted()
					persistedOK++
				} else {
					acts, err = h.srv.PersistFailed()
				}
				if err != nil {
					t.Fatal(err)
				}
				h.srvActs(acts)
			case 10:
				if in.byte()&1 == 0 {
					w.Open(h.now)
				} else {
					w.Cancel()
				}
				if !h.cliClosed {
					h.cliActs(h.cli.Tick(h.now))
				}
			case 11:
				rounds.Reset()
				if !h.cliClosed {
					h.cliActs(h.cli.Tick(h.now))
				}
			case 12:
				if in.byte() == 0xcc && !h.cliClosed {
					acts, err := h.cli.RejectConcurrent()
					if err != nil {
						t.Fatal(err)
					}
					h.cliActs(acts)
				}
			case 13:
				if in.byte() == 0xdd && !h.cliClosed {
					h.cliActs(h.cli.Dropped())
					h.cliClosed = true
				}
			}
		}

		for _, psk := range h.persistAsked {
			ok := slices.ContainsFunc(h.cliSent, psk.Equal)
			if cat == wire.PSKPairing && slices.ContainsFunc(injectedClear, psk.Equal) {
				ok = true
			}
			if !ok {
				t.Fatalf("server asked to persist a PSK the client never sent:\n%s", h.dump())
			}
		}
		if h.cliRecord != nil && !slices.ContainsFunc(h.cliSent, h.cliRecord.Equal) {
			t.Fatalf("client persisted a PSK it did not send:\n%s", h.dump())
		}
		if n := count(h.log, "S> server/pair-finalize"); n > persistedOK {
			t.Fatalf("%d server/pair-finalize for %d persists:\n%s", n, persistedOK, h.dump())
		}
	})
}

func checkErr(t *testing.T, err error, closed bool) {
	t.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed):
		if !closed {
			t.Fatal("ErrClosed from a machine that did not close")
		}
	case errors.Is(err, ErrNotPairing):
	default:
		t.Fatalf("unexpected error %v", err)
	}
}
