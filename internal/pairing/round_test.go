package pairing

import (
	"errors"
	"io"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/cpace"
	"github.com/tonearm-audio/tonearm/internal/keys"
)

func randRound(rnd io.Reader, suite keys.Suite) RoundParams {
	var h HandshakeHash
	var a, b Nonce
	rnd.Read(h[:])
	rnd.Read(a[:])
	rnd.Read(b[:])
	var code Code = DeriveDynamicCode(h, a, b)
	if h[0]&1 == 1 {
		code = DeriveQRCode(h, a, b)
	}
	var idx [2]byte
	rnd.Read(idx[:])
	return RoundParams{Suite: suite, H: h, PairingIndex: 1 + uint32(idx[0]%4), Round: 1 + uint32(idx[1]%20), Code: code}
}

// exchange runs one round; it returns the wrap keys of both sides or the
// first error.
func exchange(ps, pc RoundParams, rnd io.Reader) (*WrapKeys, *WrapKeys, error) {
	s, err := NewServerRound(ps, rnd)
	if err != nil {
		return nil, nil, err
	}
	c, err := NewClientRound(pc, rnd)
	if err != nil {
		return nil, nil, err
	}
	yb, err := c.Respond(s.Share())
	if err != nil {
		return nil, nil, err
	}
	ta, err := s.Receive(yb)
	if err != nil {
		return nil, nil, err
	}
	tb, ck, err := c.Confirm(ta)
	if err != nil {
		return nil, nil, err
	}
	sk, err := s.Confirm(tb)
	if err != nil {
		return nil, nil, err
	}
	return sk, ck, nil
}

func TestRoundAgreement(t *testing.T) {
	rnd := testRand(10)
	for i := range 100 {
		suite := keys.SuiteChaChaPoly
		if i%2 == 1 {
			suite = keys.SuiteAESGCM
		}
		p := randRound(rnd, suite)
		sk, ck, err := exchange(p, p, rnd)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		psk, _ := GeneratePSK(rnd)
		w, err := ck.WrapPSK(psk)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sk.UnwrapPSK(w)
		if err != nil || !got.Equal(psk) {
			t.Fatalf("case %d: unwrap: %v", i, err)
		}
		var n Nonce
		rnd.Read(n[:])
		wn, _ := ck.WrapNonce(n)
		gn, err := sk.UnwrapNonce(wn)
		if err != nil || gn != n {
			t.Fatalf("case %d: nonce unwrap: %v", i, err)
		}
		// The two labels give independent keys.
		if _, err := sk.UnwrapPSK(wn); !errors.Is(err, ErrUnwrap) {
			t.Fatalf("case %d: nonce wrap opened as a PSK", i)
		}
	}
}

// A different code, h, pairing_index, round or suite on one side makes
// key confirmation fail at the client, which then withholds client_kc.
func TestRoundMismatch(t *testing.T) {
	rnd := testRand(11)
	for i := range 30 {
		base := randRound(rnd, keys.SuiteChaChaPoly)
		muts := map[string]func(p *RoundParams){
			"code": func(p *RoundParams) {
				switch c := p.Code.(type) {
				case DynamicCode:
					c[i%6] = '0' + (c[i%6]-'0'+1)%10
					p.Code = c
				case QRCode:
					c[i%24] ^= 1
					p.Code = c
				}
			},
			"h":     func(p *RoundParams) { p.H[i%32] ^= 1 << (i % 8) },
			"index": func(p *RoundParams) { p.PairingIndex++ },
			"round": func(p *RoundParams) { p.Round++ },
			"static code": func(p *RoundParams) {
				p.Code, _ = ParseStaticCode("12345678")
			},
		}
		for name, m := range muts {
			pc := base
			m(&pc)
			s, _ := NewServerRound(base, rnd)
			c, _ := NewClientRound(pc, rnd)
			yb, err := c.Respond(s.Share())
			if err != nil {
				t.Fatal(err)
			}
			ta, err := s.Receive(yb)
			if err != nil {
				t.Fatal(err)
			}
			tb, keys, err := c.Confirm(ta)
			if !errors.Is(err, cpace.ErrTagMismatch) || keys != nil || tb != (cpace.Tag{}) {
				t.Fatalf("%s differs: client Confirm = %v", name, err)
			}
		}
	}
}

func TestRoundTamper(t *testing.T) {
	rnd := testRand(12)
	p := randRound(rnd, keys.SuiteAESGCM)
	for bit := 0; bit < 512; bit += 11 {
		s, _ := NewServerRound(p, rnd)
		c, _ := NewClientRound(p, rnd)
		yb, _ := c.Respond(s.Share())
		ta, _ := s.Receive(yb)
		tb, ck, err := c.Confirm(ta)
		if err != nil {
			t.Fatal(err)
		}
		tb[bit/8] ^= 1 << (bit % 8)
		if sk, err := s.Confirm(tb); !errors.Is(err, cpace.ErrTagMismatch) || sk != nil {
			t.Fatalf("tampered client_kc bit %d accepted", bit)
		}
		// A wrapped value tampered in transit fails to unwrap.
		w, _ := ck.WrapPSK(keys.PSK{1})
		w[bit%WrappedSize] ^= 1
		if _, err := ck.UnwrapPSK(w); !errors.Is(err, ErrUnwrap) {
			t.Fatalf("tampered wrapped_psk byte %d opened", bit%WrappedSize)
		}
	}
	// A low-order share is rejected on both sides.
	s, _ := NewServerRound(p, rnd)
	if _, err := s.Receive(cpace.Share{1}); !errors.Is(err, cpace.ErrLowOrder) {
		t.Fatalf("server accepted a low-order share: %v", err)
	}
	c, _ := NewClientRound(p, rnd)
	if _, err := c.Respond(cpace.Share{}); !errors.Is(err, cpace.ErrLowOrder) {
		t.Fatalf("client accepted a low-order share: %v", err)
	}
}

func TestRoundParamsChecked(t *testing.T) {
	good := RoundParams{Suite: keys.SuiteChaChaPoly, PairingIndex: 1, Round: 1, Code: DynamicCode{'1', '2', '3', '4', '5', '6'}}
	bad := map[string]func(p *RoundParams){
		"suite": func(p *RoundParams) { p.Suite = "25519_Nope_SHA256" },
		"code":  func(p *RoundParams) { p.Code = nil },
		"index": func(p *RoundParams) { p.PairingIndex = 0 },
		"round": func(p *RoundParams) { p.Round = 0 },
	}
	for name, m := range bad {
		p := good
		m(&p)
		if _, err := NewServerRound(p, nil); !errors.Is(err, ErrParams) {
			t.Errorf("%s: NewServerRound = %v", name, err)
		}
		if _, err := NewClientRound(p, nil); !errors.Is(err, ErrParams) {
			t.Errorf("%s: NewClientRound = %v", name, err)
		}
	}
	if _, _, err := exchange(good, good, nil); err != nil {
		t.Fatal(err)
	}
}

func TestWrapKeysWipe(t *testing.T) {
	p := randRound(testRand(13), keys.SuiteChaChaPoly)
	sk, ck, err := exchange(p, p, testRand(14))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := ck.WrapPSK(keys.PSK{9})
	sk.Wipe()
	if sk.psk != ([32]byte{}) || sk.nonce != ([32]byte{}) {
		t.Fatal("Wipe left key material")
	}
	if _, err := sk.UnwrapPSK(w); err == nil {
		t.Fatal("wiped keys still unwrap")
	}
	if _, err := sk.WrapPSK(keys.PSK{9}); err == nil {
		t.Fatal("wiped keys still wrap")
	}
}

func TestWrappedText(t *testing.T) {
	var w Wrapped
	testRand(15).Read(w[:])
	s := w.String()
	if len(s) != encodedWrapLen {
		t.Fatalf("wrapped text has %d chars, pairing.md says 64", len(s))
	}
	back, err := ParseWrapped(s)
	if err != nil || back != w {
		t.Fatal("wrapped text round trip")
	}
	for _, bad := range []string{"", s[:63], s + "A", s[:63] + "=", s[:63] + "+"} {
		if _, err := ParseWrapped(bad); !errors.Is(err, ErrEncoding) {
			t.Errorf("ParseWrapped(%q) = %v", bad, err)
		}
	}
}
