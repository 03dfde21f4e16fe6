package cpace

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// testRand is a deterministic randomness source for reproducible tests.
func testRand(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

func randParams(r *mrand.ChaCha8) Params {
	prs := make([]byte, 1+r.Uint64()%40)
	sid := make([]byte, r.Uint64()%80)
	ci := make([]byte, r.Uint64()%20)
	r.Read(prs)
	r.Read(sid)
	r.Read(ci)
	return Params{PRS: prs, CI: ci, SID: sid, ADa: []byte("server"), ADb: []byte("client")}
}

// run performs a full exchange and returns both outputs (nil on failure)
// and the first error.
func run(pa, pb Params, rnd *mrand.ChaCha8) (*Output, *Output, error) {
	a, err := NewInitiator(pa, rnd)
	if err != nil {
		return nil, nil, err
	}
	b, err := NewResponder(pb, rnd)
	if err != nil {
		return nil, nil, err
	}
	yb, err := b.Respond(a.Share())
	if err != nil {
		return nil, nil, err
	}
	ta, err := a.Receive(yb)
	if err != nil {
		return nil, nil, err
	}
	tb, ob, err := b.Confirm(ta)
	if err != nil {
		return nil, nil, err
	}
	oa, err := a.Confirm(tb)
	if err != nil {
		return nil, nil, err
	}
	return oa, ob, nil
}

func TestAgreementProperty(t *testing.T) {
	rnd := testRand(1)
	for i := range 200 {
		p := randParams(rnd)
		oa, ob, err := run(p, p, rnd)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if oa.ISK() != ob.ISK() {
			t.Fatalf("case %d: ISKs differ", i)
		}
		if oa.ISK() == (ISK{}) {
			t.Fatalf("case %d: zero ISK", i)
		}
	}
}

func TestMismatchFailsConfirmation(t *testing.T) {
	rnd := testRand(2)
	mutate := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		if len(c) == 0 {
			return []byte{1}
		}
		c[i%len(c)] ^= 1 << (i % 8)
		return c
	}
	for i := range 50 {
		base := randParams(rnd)
		cases := map[string]func(p *Params){
			"PRS": func(p *Params) { p.PRS = mutate(p.PRS, i) },
			"SID": func(p *Params) { p.SID = mutate(p.SID, i) },
			"CI":  func(p *Params) { p.CI = mutate(p.CI, i) },
			"ADa": func(p *Params) { p.ADa = []byte("servex") },
			"ADb": func(p *Params) { p.ADb = []byte("clienx") },
		}
		for name, m := range cases {
			pb := base
			m(&pb)
			// B's view differs: A's tag must fail at B, and B must not
			// release Tb.
			a, _ := NewInitiator(base, rnd)
			b, _ := NewResponder(pb, rnd)
			yb, err := b.Respond(a.Share())
			if err != nil {
				t.Fatal(err)
			}
			ta, err := a.Receive(yb)
			if err != nil {
				t.Fatal(err)
			}
			tb, out, err := b.Confirm(ta)
			if !errors.Is(err, ErrTagMismatch) || out != nil || tb != (Tag{}) {
				t.Fatalf("%s differs: Confirm = %v, %v, %v", name, tb, out, err)
			}
		}
	}
}

func TestInitiatorRejectsWrongTag(t *testing.T) {
	rnd := testRand(3)
	p := randParams(rnd)
	other := p
	other.PRS = append(bytes.Clone(p.PRS), '!')
	a, _ := NewInitiator(p, rnd)
	b, _ := NewResponder(other, rnd)
	yb, _ := b.Respond(a.Share())
	if _, err := a.Receive(yb); err != nil {
		t.Fatal(err)
	}
	// B with the wrong PRS cannot produce a valid Tb; simulate its best
	// effort: its own tag over (Yb, ADb).
	forged := b.x.tag(&b.x.own, b.x.adB)
	if out, err := a.Confirm(forged); !errors.Is(err, ErrTagMismatch) || out != nil {
		t.Fatalf("Confirm(wrong-PRS tag) = %v, %v", out, err)
	}
}

func TestTamperedShareOrTag(t *testing.T) {
	rnd := testRand(4)
	p := randParams(rnd)
	for bit := 0; bit < 256; bit += 7 {
		// Tampered Ya on the way to B.
		a, _ := NewInitiator(p, rnd)
		b, _ := NewResponder(p, rnd)
		ya := a.Share()
		ya[bit/8] ^= 1 << (bit % 8)
		yb, err := b.Respond(ya)
		if err != nil {
			continue // a low-order result is also a rejection
		}
		ta, _ := a.Receive(yb)
		if _, _, err := b.Confirm(ta); !errors.Is(err, ErrTagMismatch) {
			t.Fatalf("tampered Ya bit %d: B accepted Ta (%v)", bit, err)
		}

		// Tampered Yb on the way to A.
		a, _ = NewInitiator(p, rnd)
		b, _ = NewResponder(p, rnd)
		yb, _ = b.Respond(a.Share())
		yb[bit/8] ^= 1 << (bit % 8)
		ta, err = a.Receive(yb)
		if err != nil {
			continue
		}
		if _, _, err := b.Confirm(ta); !errors.Is(err, ErrTagMismatch) {
			t.Fatalf("tampered Yb bit %d: B accepted Ta (%v)", bit, err)
		}
	}
	for bit := 0; bit < 512; bit += 13 {
		a, _ := NewInitiator(p, rnd)
		b, _ := NewResponder(p, rnd)
		yb, _ := b.Respond(a.Share())
		ta, _ := a.Receive(yb)
		bad := ta
		bad[bit/8] ^= 1 << (bit % 8)
		if _, _, err := b.Confirm(bad); !errors.Is(err, ErrTagMismatch) {
			t.Fatalf("tampered Ta bit %d accepted", bit)
		}

		a, _ = NewInitiator(p, rnd)
		b, _ = NewResponder(p, rnd)
		yb, _ = b.Respond(a.Share())
		ta, _ = a.Receive(yb)
		tb, _, err := b.Confirm(ta)
		if err != nil {
			t.Fatal(err)
		}
		tb[bit/8] ^= 1 << (bit % 8)
		if _, err := a.Confirm(tb); !errors.Is(err, ErrTagMismatch) {
			t.Fatalf("tampered Tb bit %d accepted", bit)
		}
	}
}

func TestSingleUse(t *testing.T) {
	rnd := testRand(5)
	p := randParams(rnd)

	a, _ := NewInitiator(p, rnd)
	b, _ := NewResponder(p, rnd)
	if _, err := a.Confirm(Tag{}); !errors.Is(err, ErrState) {
		t.Fatalf("Initiator.Confirm before Receive: %v", err)
	}
	if _, err := a.Receive(b.x.own); !errors.Is(err, ErrState) {
		t.Fatalf("Initiator usable after misuse: %v", err)
	}

	a, _ = NewInitiator(p, rnd)
	b, _ = NewResponder(p, rnd)
	yb, err := b.Respond(a.Share())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Respond(a.Share()); !errors.Is(err, ErrState) {
		t.Fatalf("second Respond: %v", err)
	}
	if _, _, err := b.Confirm(Tag{}); !errors.Is(err, ErrState) {
		t.Fatalf("Responder usable after misuse: %v", err)
	}

	a, _ = NewInitiator(p, rnd)
	b, _ = NewResponder(p, rnd)
	yb, _ = b.Respond(a.Share())
	ta, _ := a.Receive(yb)
	if _, err := a.Receive(yb); !errors.Is(err, ErrState) {
		t.Fatalf("second Receive: %v", err)
	}
	if _, err := a.Confirm(Tag{}); !errors.Is(err, ErrState) {
		t.Fatalf("Initiator usable after second Receive: %v", err)
	}
	tb, _, err := b.Confirm(ta)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Confirm(ta); !errors.Is(err, ErrState) {
		t.Fatalf("second Responder.Confirm: %v", err)
	}
	_ = tb

	// A failed confirmation is final, even if the right tag follows.
	a, _ = NewInitiator(p, rnd)
	b, _ = NewResponder(p, rnd)
	yb, _ = b.Respond(a.Share())
	ta, _ = a.Receive(yb)
	tb, _, _ = b.Confirm(ta)
	if _, err := a.Confirm(Tag{}); !errors.Is(err, ErrTagMismatch) {
		t.Fatal(err)
	}
	if _, err := a.Confirm(tb); !errors.Is(err, ErrState) {
		t.Fatalf("Confirm after failure: %v", err)
	}
}

func TestSecretsWiped(t *testing.T) {
	rnd := testRand(6)
	p := randParams(rnd)
	a, _ := NewInitiator(p, rnd)
	b, _ := NewResponder(p, rnd)
	yb, _ := b.Respond(a.Share())
	if b.x.scalar != ([ScalarSize]byte{}) {
		t.Fatal("responder scalar kept after K")
	}
	ta, _ := a.Receive(yb)
	if a.x.scalar != ([ScalarSize]byte{}) {
		t.Fatal("initiator scalar kept after K")
	}
	tb, ob, _ := b.Confirm(ta)
	oa, err := a.Confirm(tb)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*exchange{a.x, b.x} {
		if x.isk != (ISK{}) || x.macKey != ([64]byte{}) {
			t.Fatal("exchange kept ISK or mac_key after confirmation")
		}
	}
	oa.Wipe()
	ob.Wipe()
	if oa.ISK() != (ISK{}) || ob.ISK() != (ISK{}) {
		t.Fatal("Wipe left the ISK")
	}
}

func TestInputLimits(t *testing.T) {
	long := make([]byte, MaxInputLen+1)
	bad := []Params{
		{},
		{PRS: long},
		{PRS: []byte("x"), SID: long},
		{PRS: []byte("x"), CI: long},
		{PRS: []byte("x"), ADa: long},
		{PRS: []byte("x"), ADb: long},
	}
	for i, p := range bad {
		if _, err := NewInitiator(p, nil); !errors.Is(err, ErrInput) {
			t.Errorf("case %d: NewInitiator: %v", i, err)
		}
		if _, err := NewResponder(p, nil); !errors.Is(err, ErrInput) {
			t.Errorf("case %d: NewResponder: %v", i, err)
		}
	}
	// A short randomness source is an error, not a weak scalar.
	if _, err := NewInitiator(Params{PRS: []byte("x")}, bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("short randomness accepted")
	}
	// Inputs longer than one LEB128 byte still work.
	p := Params{PRS: make([]byte, 300), SID: make([]byte, MaxInputLen)}
	if _, _, err := run(p, p, testRand(7)); err != nil {
		t.Fatal(err)
	}
}

// The ladder against crypto/ecdh X25519 (RFC 7748 section 5): random
// scalars and random u-coordinates, including non-canonical ones.
func TestX25519MatchesStdlib(t *testing.T) {
	rnd := testRand(8)
	curve := ecdh.X25519()
	for i := range 300 {
		var s, u [32]byte
		rnd.Read(s[:])
		rnd.Read(u[:])
		if i%10 == 0 {
			u[31] |= 0x80 // bit 255 must be ignored
		}
		priv, err := curve.NewPrivateKey(s[:])
		if err != nil {
			t.Fatal(err)
		}
		pub, err := curve.NewPublicKey(u[:])
		if err != nil {
			t.Fatal(err)
		}
		want, werr := priv.ECDH(pub)
		got, ok := scalarMultVfy(&s, &u)
		if (werr == nil) != ok {
			t.Fatalf("case %d: stdlib err %v, ours ok=%v", i, werr, ok)
		}
		if ok && !bytes.Equal(got[:], want) {
			t.Fatalf("case %d: ladder %x, stdlib %x", i, got, want)
		}
		if !bytes.Equal(priv.PublicKey().Bytes(), func() []byte { b := x25519(&s, &[32]byte{9}); return b[:] }()) {
			t.Fatalf("case %d: base point multiplication differs", i)
		}
	}
}

// RFC 7748 section 5.2 test vectors.
func TestRFC7748(t *testing.T) {
	cases := []struct{ k, u, out string }{
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	}
	for _, c := range cases {
		k, u := to32(t, mustHex(c.k)), to32(t, mustHex(c.u))
		got := x25519(&k, &u)
		if fmt.Sprintf("%x", got) != c.out {
			t.Errorf("X25519 = %x, want %s", got, c.out)
		}
	}
}

func TestShareAndTagText(t *testing.T) {
	rnd := testRand(9)
	var s Share
	var tg Tag
	rnd.Read(s[:])
	rnd.Read(tg[:])
	if len(s.String()) != encodedShareLen || len(tg.String()) != encodedTagLen {
		t.Fatal("text lengths differ from pairing.md PAKE table")
	}
	s2, err := ParseShare(s.String())
	if err != nil || s2 != s {
		t.Fatalf("share round trip: %v", err)
	}
	t2, err := ParseTag(tg.String())
	if err != nil || t2 != tg {
		t.Fatalf("tag round trip: %v", err)
	}
	var s3 Share
	if err := s3.UnmarshalText([]byte(s.String())); err != nil || s3 != s {
		t.Fatal("UnmarshalText")
	}
	enc := s.String()
	for _, bad := range []string{"", enc[:42], enc + "A", enc[:42] + "+", enc[:42] + "=",
		strings.Repeat("A", 44), "_" + enc[1:42] + "/"} {
		if _, err := ParseShare(bad); !errors.Is(err, ErrEncoding) {
			t.Errorf("ParseShare(%q) = %v", bad, err)
		}
	}
	// Non-canonical trailing bits: 43 chars carry 258 bits, the last 2 must be 0.
	last := enc[42]
	alt := "AEIMQUYcgkosw048"
	for i := 0; i < 64; i++ {
		c := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i]
		if c == last {
			continue
		}
		_, err := ParseShare(enc[:42] + string(c))
		canonical := strings.IndexByte(alt, c) >= 0
		if canonical && err != nil {
			t.Errorf("canonical last char %q rejected", c)
		}
		if !canonical && err == nil {
			t.Errorf("non-canonical last char %q accepted", c)
		}
	}
	if _, err := ParseTag(tg.String()[:85]); !errors.Is(err, ErrEncoding) {
		t.Error("short tag accepted")
	}
}

func TestISKRedacted(t *testing.T) {
	var k ISK
	for i := range k {
		k[i] = 0xcd
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if out := fmt.Sprintf(verb, k); strings.Contains(strings.ToLower(out), "cdcd") || strings.Contains(out, "205") {
			t.Errorf("%s leaked the ISK: %s", verb, out)
		}
	}
}
