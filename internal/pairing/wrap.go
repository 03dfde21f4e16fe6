package pairing

import (
	"crypto/sha256"
	"fmt"

	"github.com/tonearm-audio/tonearm/internal/cpace"
	"github.com/tonearm-audio/tonearm/internal/keys"
)

// Wrapped is a 32-byte value sealed under K_wrap: 32 bytes of ciphertext
// and the 16-byte AEAD tag, carried as wrapped_psk or wrapped_nonce_B
// (pairing.md "Wrapping").
type Wrapped [WrappedSize]byte

// String returns the 64-character base64url wire form.
func (w Wrapped) String() string { return b64.EncodeToString(w[:]) }

// MarshalText implements encoding.TextMarshaler.
func (w Wrapped) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (w *Wrapped) UnmarshalText(b []byte) error {
	v, err := ParseWrapped(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}

// ParseWrapped parses the 64-character base64url form of a wrapped value.
func ParseWrapped(s string) (Wrapped, error) {
	var w Wrapped
	err := decodeFixed(w[:], s, encodedWrapLen)
	return w, err
}

// WrapKeys holds the two K_wrap keys of one confirmed CPace round and the
// session's cipher suite. It exists only after key confirmation: ServerRound
// and ClientRound hand it out from Confirm and nowhere else. Call Wipe when
// done.
type WrapKeys struct {
	suite keys.Suite
	psk   [32]byte // K_wrap for wrapped_psk
	nonce [32]byte // K_wrap for wrapped_nonce_B
}

func newWrapKeys(suite keys.Suite, out *cpace.Output) *WrapKeys {
	sid, isk := out.SID(), out.ISK()
	k := &WrapKeys{
		suite: suite,
		psk:   wrapKey(pskWrapLabel, sid, &isk),
		nonce: wrapKey(nonceWrapLabel, sid, &isk),
	}
	clear(isk[:])
	out.Wipe()
	return k
}

// wrapKey is K_wrap = SHA-256(label || sid || ISK) (pairing.md "Wrapping").
func wrapKey(label string, sid []byte, isk *cpace.ISK) [32]byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write(sid)
	h.Write(isk[:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// zeroNonce is the 12-byte all-zero AEAD nonce. Each K_wrap seals exactly
// one value, so the nonce never repeats under a key.
var zeroNonce [12]byte

// seal encrypts a 32-byte value with the suite's AEAD, key K_wrap, the zero
// nonce and empty associated data.
func seal(suite keys.Suite, key *[32]byte, pt *[32]byte) (Wrapped, error) {
	aead, err := suite.NewAEAD(*key)
	if err != nil {
		return Wrapped{}, fmt.Errorf("pairing: wrap: %w", err)
	}
	var w Wrapped
	aead.Seal(w[:0], zeroNonce[:], pt[:], nil)
	return w, nil
}

// open reverses seal; any failure is ErrUnwrap.
func open(suite keys.Suite, key *[32]byte, w *Wrapped) ([32]byte, error) {
	aead, err := suite.NewAEAD(*key)
	if err != nil {
		return [32]byte{}, fmt.Errorf("pairing: unwrap: %w", err)
	}
	var pt [32]byte
	if _, err := aead.Open(pt[:0], zeroNonce[:], w[:], nil); err != nil {
		clear(pt[:])
		return [32]byte{}, ErrUnwrap
	}
	return pt, nil
}

// WrapPSK seals the new long-term PSK for client/pair-finalize wrapped_psk.
func (k *WrapKeys) WrapPSK(psk keys.PSK) (Wrapped, error) {
	pt := [32]byte(psk)
	defer clear(pt[:])
	return seal(k.suite, &k.psk, &pt)
}

// UnwrapPSK opens wrapped_psk. A failure is a protocol error (ErrUnwrap).
func (k *WrapKeys) UnwrapPSK(w Wrapped) (keys.PSK, error) {
	pt, err := open(k.suite, &k.psk, &w)
	return keys.PSK(pt), err
}

// WrapNonce seals nonce_B for client/pair-confirm wrapped_nonce_B.
func (k *WrapKeys) WrapNonce(n Nonce) (Wrapped, error) {
	pt := [32]byte(n)
	defer clear(pt[:])
	return seal(k.suite, &k.nonce, &pt)
}

// UnwrapNonce opens wrapped_nonce_B. A failure is a protocol error
// (ErrUnwrap); the caller then checks the result with VerifyReveal.
func (k *WrapKeys) UnwrapNonce(w Wrapped) (Nonce, error) {
	pt, err := open(k.suite, &k.nonce, &w)
	return Nonce(pt), err
}

// Wipe zeroes both keys; the WrapKeys cannot be used afterwards.
func (k *WrapKeys) Wipe() {
	clear(k.psk[:])
	clear(k.nonce[:])
	k.suite = ""
}
