// Package cpace implements the CPACE-X25519-SHA512 balanced PAKE of
// draft-irtf-cfrg-cpace-21 in initiator-responder mode with the explicit
// Mutual Confirmation Flow (MCF) tags of its section 10.4.
//
// It owns the draft's algorithm and nothing else: the generator (section
// 8.1, Elligator 2 on Curve25519), scalar_mult_vfy with its abort on
// low-order points (sections 7.2, 8.2, B.1.10), the ISK (section 7.2) and
// the MCF tags. How an application fills PRS, CI, sid, ADa and ADb, and what
// it derives from the ISK, belongs to the caller (for Sendspin:
// internal/pairing). It must not do I/O, read clocks, start goroutines or
// print secrets; randomness comes from an injected io.Reader.
//
// Each Initiator and Responder runs exactly one CPace exchange and refuses
// reuse: steps must be called in order, each once, and the first failure
// is final. The ISK is released only after the peer's MCF tag has been
// verified, so no caller can use an unconfirmed key.
package cpace

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// Errors. None carries secret material.
var (
	// ErrLowOrder reports that scalar_mult_vfy returned the neutral element
	// G.I: the peer's share encodes a low-order point (or the result is
	// otherwise all-zero). The draft requires the exchange to abort
	// (draft-21 section 7.2).
	ErrLowOrder = errors.New("cpace: peer share is a low-order point")

	// ErrTagMismatch reports that the peer's MCF tag did not verify: the
	// peer used a different PRS, sid, CI or transcript (draft-21 section 10.4).
	ErrTagMismatch = errors.New("cpace: key confirmation failed")

	// ErrState reports a step called out of order, twice, or after a
	// failure. Each Initiator and Responder is single use.
	ErrState = errors.New("cpace: exchange already used or step out of order")

	// ErrInput reports an input longer than MaxInputLen or an empty PRS.
	ErrInput = errors.New("cpace: invalid input length")

	// ErrEncoding reports a share or tag text form that is not canonical
	// base64url of the right length.
	ErrEncoding = errors.New("cpace: malformed share or tag encoding")
)

// Share is a public share Ya or Yb: an X25519 u-coordinate (draft-21
// section 7.2).
type Share [ShareSize]byte

// Tag is an MCF tag Ta or Tb (draft-21 section 10.4).
type Tag [TagSize]byte

// ISK is the intermediate session key (draft-21 section 7.2). It is a
// secret: its String method is redacted.
type ISK [ISKSize]byte

// String is redacted: an ISK must never reach logs or error text.
func (ISK) String() string { return "cpace.ISK(redacted)" }

// GoString is redacted too.
func (ISK) GoString() string { return "cpace.ISK(redacted)" }

// Format makes every fmt verb print the redacted form.
func (k ISK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// Params are the CPace inputs other than the scalar (draft-21 section 4.1).
// Both parties must use identical values. The byte slices are copied by
// NewInitiator / NewResponder, so the caller may reuse or wipe them.
type Params struct {
	PRS []byte // password-related string; secret, non-empty
	CI  []byte // channel identifier; may be empty
	SID []byte // session identifier; may be empty, should be unique
	ADa []byte // initiator's associated data
	ADb []byte // responder's associated data
}

func (p *Params) check() error {
	if len(p.PRS) == 0 {
		return ErrInput
	}
	for _, b := range [][]byte{p.PRS, p.CI, p.SID, p.ADa, p.ADb} {
		if len(b) > MaxInputLen {
			return ErrInput
		}
	}
	return nil
}

// state is the life cycle shared by both roles.
type state uint8

const (
	stateShared    state = iota // own share computed, waiting for the peer's
	stateKeyed                  // ISK derived, waiting to verify the peer's tag
	stateConfirmed              // peer tag verified, Output released
	stateFailed                 // any failure or misuse; final
)

func (s state) String() string {
	switch s {
	case stateShared:
		return "shared"
	case stateKeyed:
		return "keyed"
	case stateConfirmed:
		return "confirmed"
	case stateFailed:
		return "failed"
	}
	return "invalid"
}

// exchange is the data both roles carry.
type exchange struct {
	state    state
	scalar   [ScalarSize]byte // wiped as soon as K is computed
	own      Share
	peer     Share
	sid      []byte
	adA, adB []byte
	isk      ISK
	macKey   [sha512.Size]byte
}

func newExchange(p Params, rnd io.Reader) (*exchange, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	x := &exchange{
		sid: clone(p.SID),
		adA: clone(p.ADa),
		adB: clone(p.ADb),
	}
	// G.sample_scalar() = sample_random_bytes(32) (draft-21 section 8.2);
	// X25519 clamps it (RFC 7748 decodeScalar25519).
	if _, err := io.ReadFull(rnd, x.scalar[:]); err != nil {
		return nil, fmt.Errorf("cpace: reading randomness: %w", err)
	}
	// g = calculate_generator(H, PRS, CI, sid); Y = scalar_mult(y, g)
	// (draft-21 section 7.2).
	g := calculateGenerator(p.PRS, p.CI, p.SID)
	x.own = Share(x25519(&x.scalar, &g))
	clear(g[:]) // g is a function of PRS
	return x, nil
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

// deriveISK computes K = scalar_mult_vfy(y, peer), aborting on G.I, then
// ISK = H(lv_cat(DSI||"_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb))
// and mac_key = H("CPaceMac" || sid || ISK) (draft-21 sections 7.2, 10.4).
// The scalar is wiped either way.
func (x *exchange) deriveISK(peer Share, ya, yb *Share) error {
	k, ok := scalarMultVfy(&x.scalar, (*[ShareSize]byte)(&peer))
	clear(x.scalar[:])
	if !ok {
		x.fail()
		return ErrLowOrder
	}
	h := sha512.New()
	h.Write(lvCat([]byte(dsiISK), x.sid, k[:]))
	clear(k[:]) // K must never be exposed (draft-21 section 10.3)
	h.Write(transcriptIR(ya, x.adA, yb, x.adB))
	h.Sum(x.isk[:0])

	m := sha512.New()
	m.Write([]byte(macLabel))
	m.Write(x.sid)
	m.Write(x.isk[:])
	m.Sum(x.macKey[:0])
	x.state = stateKeyed
	return nil
}

// transcriptIR is transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) ||
// lv_cat(Yb, ADb) (draft-21 Appendix A.3.4).
func transcriptIR(ya *Share, adA []byte, yb *Share, adB []byte) []byte {
	return append(lvCat(ya[:], adA), lvCat(yb[:], adB)...)
}

// tag computes MAC(mac_key, lv_cat(Y, AD)) with HMAC-SHA-512 (draft-21
// section 10.4).
func (x *exchange) tag(y *Share, ad []byte) Tag {
	m := hmac.New(sha512.New, x.macKey[:])
	m.Write(lvCat(y[:], ad))
	var t Tag
	m.Sum(t[:0])
	return t
}

// verify checks the peer's tag in constant time and, on success, releases
// the Output. The MAC key is wiped either way.
func (x *exchange) verify(got Tag, peerY *Share, peerAD []byte) (*Output, error) {
	want := x.tag(peerY, peerAD)
	clear(x.macKey[:])
	if !hmac.Equal(got[:], want[:]) {
		x.fail()
		return nil, ErrTagMismatch
	}
	out := &Output{isk: x.isk, sid: x.sid}
	clear(x.isk[:])
	x.state = stateConfirmed
	return out, nil
}

// fail makes the exchange unusable and wipes every secret it holds.
func (x *exchange) fail() {
	x.state = stateFailed
	clear(x.scalar[:])
	clear(x.isk[:])
	clear(x.macKey[:])
}

// Initiator is party A (draft-21 section 7.1): it sends Ya first, receives
// Yb, sends Ta, and verifies Tb. It is single use and not safe for
// concurrent use.
type Initiator struct{ x *exchange }

// NewInitiator samples ya from rnd (crypto/rand if nil) and computes Ya.
func NewInitiator(p Params, rnd io.Reader) (*Initiator, error) {
	x, err := newExchange(p, rnd)
	if err != nil {
		return nil, err
	}
	return &Initiator{x: x}, nil
}

// Share returns Ya, the share to send to B.
func (a *Initiator) Share() Share { return a.x.own }

// Receive takes B's share Yb, derives the ISK and returns Ta, the tag to
// send to B. It fails with ErrLowOrder if Yb is a low-order point, and
// with ErrState if called twice or after a failure.
func (a *Initiator) Receive(yb Share) (Tag, error) {
	x := a.x
	if x.state != stateShared {
		x.fail()
		return Tag{}, ErrState
	}
	if err := x.deriveISK(yb, &x.own, &yb); err != nil {
		return Tag{}, err
	}
	x.peer = yb
	return x.tag(&x.own, x.adA), nil
}

// Confirm verifies B's tag Tb and only then returns the Output. A wrong
// tag yields ErrTagMismatch and ends the exchange.
func (a *Initiator) Confirm(tb Tag) (*Output, error) {
	x := a.x
	if x.state != stateKeyed {
		x.fail()
		return nil, ErrState
	}
	return x.verify(tb, &x.peer, x.adB)
}

// Responder is party B (draft-21 section 7.1): it receives Ya, answers
// with Yb, verifies Ta and only then releases Tb and the Output. It is
// single use and not safe for concurrent use.
type Responder struct{ x *exchange }

// NewResponder samples yb from rnd (crypto/rand if nil) and computes Yb.
func NewResponder(p Params, rnd io.Reader) (*Responder, error) {
	x, err := newExchange(p, rnd)
	if err != nil {
		return nil, err
	}
	return &Responder{x: x}, nil
}

// Respond takes A's share Ya, derives the ISK and returns Yb, the share to
// send to A. It fails with ErrLowOrder if Ya is a low-order point.
func (b *Responder) Respond(ya Share) (Share, error) {
	x := b.x
	if x.state != stateShared {
		x.fail()
		return Share{}, ErrState
	}
	if err := x.deriveISK(ya, &ya, &x.own); err != nil {
		return Share{}, err
	}
	x.peer = ya
	return x.own, nil
}

// Confirm verifies A's tag Ta and only then returns Tb, the tag to send to
// A, and the Output. Tb is withheld on failure, so a peer that guessed the
// wrong PRS learns nothing more.
func (b *Responder) Confirm(ta Tag) (Tag, *Output, error) {
	x := b.x
	if x.state != stateKeyed {
		x.fail()
		return Tag{}, nil, ErrState
	}
	tb := x.tag(&x.own, x.adB)
	out, err := x.verify(ta, &x.peer, x.adA)
	if err != nil {
		clear(tb[:])
		return Tag{}, nil, err
	}
	return tb, out, nil
}

// Output is what a confirmed exchange yields: the ISK and the sid it was
// bound to. The caller derives its keys from it and then calls Wipe.
type Output struct {
	isk ISK
	sid []byte
}

// ISK returns the intermediate session key. K itself is never exposed
// (draft-21 section 10.3).
func (o *Output) ISK() ISK { return o.isk }

// SID returns a copy of the session identifier the exchange used.
func (o *Output) SID() []byte { return clone(o.sid) }

// Wipe zeroes the ISK held by o.
func (o *Output) Wipe() { clear(o.isk[:]) }

var b64 = base64.RawURLEncoding.Strict()

// String returns the base64url (no padding) form carried in pake_msg_1 /
// pake_msg_2 (pairing.md "PAKE").
func (s Share) String() string { return b64.EncodeToString(s[:]) }

// MarshalText implements encoding.TextMarshaler.
func (s Share) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Share) UnmarshalText(b []byte) error {
	v, err := ParseShare(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseShare parses the 43-character canonical base64url form of a share.
// It checks the encoding only; a low-order point is caught when the share
// is used (Respond / Receive).
func ParseShare(s string) (Share, error) {
	var out Share
	if err := decodeFixed(out[:], s, encodedShareLen); err != nil {
		return Share{}, err
	}
	return out, nil
}

// String returns the base64url (no padding) form carried in server_kc /
// client_kc (pairing.md "PAKE").
func (t Tag) String() string { return b64.EncodeToString(t[:]) }

// MarshalText implements encoding.TextMarshaler.
func (t Tag) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Tag) UnmarshalText(b []byte) error {
	v, err := ParseTag(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTag parses the 86-character canonical base64url form of a tag.
func ParseTag(s string) (Tag, error) {
	var out Tag
	if err := decodeFixed(out[:], s, encodedTagLen); err != nil {
		return Tag{}, err
	}
	return out, nil
}

// decodeFixed decodes canonical base64url without padding into dst,
// checking the text length before decoding.
func decodeFixed(dst []byte, s string, textLen int) error {
	if len(s) != textLen {
		return ErrEncoding
	}
	n, err := b64.Decode(dst, []byte(s))
	if err != nil || n != len(dst) {
		return ErrEncoding
	}
	return nil
}
