package cpace

import (
	"crypto/sha512"
	"crypto/subtle"

	"filippo.io/edwards25519/field"
)

// This file is the group environment G_X25519 with H = SHA-512
// (draft-21 sections 8.1 and 8.2): the generator, the scalar
// multiplication and its verifying variant. Every function here runs in
// constant time with respect to PRS, scalars and points.

// appendLEB128 appends the LEB128 encoding of n (draft-21 section 6.3,
// Appendix A.1.1).
func appendLEB128(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// lenLEB128 is len(appendLEB128(nil, n)) without allocating.
func lenLEB128(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// appendLV appends prepend_len(data) (draft-21 Appendix A.1.1).
func appendLV(dst, data []byte) []byte {
	return append(appendLEB128(dst, len(data)), data...)
}

// lvCat is lv_cat(args...) (draft-21 Appendix A.1.3).
func lvCat(args ...[]byte) []byte {
	n := 0
	for _, a := range args {
		n += lenLEB128(len(a)) + len(a)
	}
	out := make([]byte, 0, n)
	for _, a := range args {
		out = appendLV(out, a)
	}
	return out
}

// generatorString is generator_string(DSI, PRS, CI, sid, s_in_bytes)
// (draft-21 section 8.1, Appendix A.2): DSI and PRS are zero-padded so that
// they fill the first SHA-512 block, which makes the work independent of
// the length of a short PRS.
func generatorString(prs, ci, sid []byte) []byte {
	zpad := hashBlockSize - 1 - (lenLEB128(len(prs)) + len(prs)) - (lenLEB128(len(dsi)) + len(dsi))
	if zpad < 0 {
		zpad = 0
	}
	return lvCat([]byte(dsi), prs, make([]byte, zpad), ci, sid)
}

// calculateGenerator is G_X25519.calculate_generator(H, PRS, CI, sid)
// (draft-21 section 8.2): hash the generator string, read the first 32
// bytes as a u-coordinate (decodeUCoordinate masks bit 255), and map it to
// the curve with Elligator 2.
func calculateGenerator(prs, ci, sid []byte) [ShareSize]byte {
	gs := generatorString(prs, ci, sid)
	h := sha512.Sum512(gs)
	clear(gs) // it holds PRS
	var r field.Element
	// SetBytes ignores bit 255 and accepts non-canonical values, exactly
	// decodeUCoordinate(gen_str_hash, 255) of draft-21 Appendix A.4.
	if _, err := r.SetBytes(h[:ShareSize]); err != nil {
		panic("cpace: 32-byte field element rejected") // cannot happen: fixed length
	}
	clear(h[:])
	u := elligator2(&r)
	var g [ShareSize]byte
	copy(g[:], u.Bytes())
	return g
}

// elligator2 maps the field element r to the u-coordinate of a point on
// Curve25519 (draft-21 Appendix A.5, RFC 9380 section 6.7.1) with the
// non-square Z = 2:
//
//	v = -A / (1 + Z r^2)
//	e = legendre(v^3 + A v^2 + v)
//	u = v if e = 1, else -v - A
//
// 1 + 2r^2 is never zero (-1/2 is a non-square mod 2^255-19) and
// v^3 + A v^2 + v is never zero (v != 0 and A^2-4 is a non-square), so the
// Legendre symbol is +1 or -1 and the square test below decides it.
func elligator2(r *field.Element) *field.Element {
	var one, a, t, v, gx, negVA field.Element
	one.One()
	a.Mult32(&one, montgomeryA)

	t.Square(r)
	t.Add(&t, &t) // 2 r^2
	t.Add(&t, &one)
	t.Invert(&t)
	v.Multiply(&a, &t)
	v.Negate(&v) // v = -A / (1 + 2 r^2)

	gx.Add(&v, &a)       // v + A
	gx.Multiply(&gx, &v) // v^2 + A v
	gx.Add(&gx, &one)    // v^2 + A v + 1
	gx.Multiply(&gx, &v) // v^3 + A v^2 + v

	_, isSquare := new(field.Element).SqrtRatio(&gx, &one)

	negVA.Add(&v, &a)
	negVA.Negate(&negVA) // -v - A
	return new(field.Element).Select(&v, &negVA, isSquare)
}

// x25519 is the X25519 function of RFC 7748 section 5: clamp the scalar
// (decodeScalar25519), decode u with bit 255 masked (decodeUCoordinate),
// run the constant-time Montgomery ladder, return the canonical encoding.
// It does not check the result; see scalarMultVfy.
func x25519(scalar, u *[ShareSize]byte) [ShareSize]byte {
	var k [ScalarSize]byte
	copy(k[:], scalar[:])
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64

	var x1, x2, z2, x3, z3 field.Element
	if _, err := x1.SetBytes(u[:]); err != nil {
		panic("cpace: 32-byte field element rejected") // cannot happen: fixed length
	}
	x2.One()
	z2.Zero()
	x3.Set(&x1)
	z3.One()

	// The ladder step, named as in RFC 7748 section 5.
	var a, aa, b, bb, e, c, d, da, cb, t field.Element
	swap := 0
	for pos := 254; pos >= 0; pos-- {
		bit := int(k[pos/8]>>uint(pos&7)) & 1
		swap ^= bit
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = bit

		a.Add(&x2, &z2)
		aa.Square(&a)
		b.Subtract(&x2, &z2)
		bb.Square(&b)
		e.Subtract(&aa, &bb)
		c.Add(&x3, &z3)
		d.Subtract(&x3, &z3)
		da.Multiply(&d, &a)
		cb.Multiply(&c, &b)
		x3.Add(&da, &cb)
		x3.Square(&x3)
		z3.Subtract(&da, &cb)
		z3.Square(&z3)
		z3.Multiply(&x1, &z3)
		x2.Multiply(&aa, &bb)
		t.Mult32(&e, a24)
		t.Add(&aa, &t)
		z2.Multiply(&e, &t)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)
	clear(k[:])

	z2.Invert(&z2)
	x2.Multiply(&x2, &z2)
	var out [ShareSize]byte
	copy(out[:], x2.Bytes())
	// The ladder state reveals the scalar; leave none of it behind.
	x2.Zero()
	z2.Zero()
	x3.Zero()
	z3.Zero()
	a.Zero()
	aa.Zero()
	b.Zero()
	bb.Zero()
	e.Zero()
	c.Zero()
	d.Zero()
	da.Zero()
	cb.Zero()
	t.Zero()
	return out
}

// scalarMultVfy is G_X25519.scalar_mult_vfy(y, X) (draft-21 section 8.2):
// X25519(y, X), reporting ok = false when the result is G.I, the all-zero
// string, which happens exactly when X encodes a low-order point on the
// curve or its twist (draft-21 sections 7.2, 10.8, B.1.10). The caller MUST
// abort then.
func scalarMultVfy(y, x *[ShareSize]byte) (k [ShareSize]byte, ok bool) {
	k = x25519(y, x)
	var identity [ShareSize]byte
	return k, subtle.ConstantTimeCompare(k[:], identity[:]) == 0
}
