// Package keys holds the typed key material and identifiers every layer of
// Tonearm passes around: Curve25519 public keys (client_id / server_id),
// pre-shared keys and their psk_id, and the Noise cipher suites.
//
// It owns the text forms (base64url without padding, connection.md
// "Identities") and the derivations the spec publishes (connection.md
// "Pre-Shared Key"). It must not do I/O, keep state, or print secrets: a PSK's
// String method is redacted on purpose, so a key can never reach a log line by
// accident; Encode is the explicit way to get its wire form.
package keys

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
)

// Size is the length in bytes of every key and identifier in this package.
const Size = 32

// EncodedLen is the length of the base64url (no padding) text form of a
// 32-byte value: 43 characters.
const EncodedLen = 43

var b64 = base64.RawURLEncoding

// ErrEncoding reports a text form that is not 43 characters of canonical
// base64url without padding.
var ErrEncoding = errors.New("not a 43-character base64url value")

// decode32 parses the canonical 43-character base64url form of 32 bytes.
// Non-canonical encodings (trailing bits set) are rejected so that every value
// has exactly one text form.
func decode32(s string) ([Size]byte, error) {
	var out [Size]byte
	if len(s) != EncodedLen {
		return out, ErrEncoding
	}
	n, err := b64.Strict().Decode(out[:], []byte(s))
	if err != nil || n != Size {
		return [Size]byte{}, ErrEncoding
	}
	return out, nil
}

// PublicKey is a Curve25519 static public key. Its text form is the
// client_id / server_id of connection.md "Identities".
type PublicKey [Size]byte

// ParsePublicKey parses a client_id or server_id.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := decode32(s)
	return PublicKey(b), err
}

// String returns the 43-character base64url form (the client_id/server_id).
func (k PublicKey) String() string { return b64.EncodeToString(k[:]) }

// MarshalText implements encoding.TextMarshaler.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PublicKey) UnmarshalText(b []byte) error {
	v, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// IsZero reports whether k is all zeros (an unset key).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// Equal compares two public keys in constant time.
func (k PublicKey) Equal(o PublicKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// PSK is a 32-byte pre-shared key: a long-term PSK, a pairing PSK, or the
// Sentinel. It is a secret; String never reveals it.
type PSK [Size]byte

// String is redacted: PSKs must never reach logs or error text.
func (PSK) String() string { return "PSK(redacted)" }

// GoString is redacted too, so %#v cannot leak the key either.
func (PSK) GoString() string { return "keys.PSK(redacted)" }

// Format makes every fmt verb print the redacted form.
func (p PSK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.String())) }

// Encode returns the key's base64url wire form, as carried in
// client/pair-finalize long_term_psk (pairing.md). Callers that use it take
// responsibility for where the text goes.
func (p PSK) Encode() string { return b64.EncodeToString(p[:]) }

// ParsePSK parses the base64url wire form of a PSK.
func ParsePSK(s string) (PSK, error) {
	b, err := decode32(s)
	return PSK(b), err
}

// Equal compares two PSKs in constant time.
func (p PSK) Equal(o PSK) bool { return subtle.ConstantTimeCompare(p[:], o[:]) == 1 }

// ID derives the psk_id of connection.md "Pre-Shared Key":
// SHA-256("sendspin-psk-id-v1" || PSK).
func (p PSK) ID() PSKID {
	h := sha256.New()
	h.Write([]byte(pskIDLabel))
	h.Write(p[:])
	var id PSKID
	h.Sum(id[:0])
	return id
}

// PSKID is the public identifier of a PSK carried in Noise message 1.
type PSKID [Size]byte

// ParsePSKID parses the 43-character base64url psk_id.
func ParsePSKID(s string) (PSKID, error) {
	b, err := decode32(s)
	return PSKID(b), err
}

// String returns the 43-character base64url form.
func (id PSKID) String() string { return b64.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler.
func (id PSKID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *PSKID) UnmarshalText(b []byte) error {
	v, err := ParsePSKID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Equal compares two identifiers in constant time.
func (id PSKID) Equal(o PSKID) bool { return subtle.ConstantTimeCompare(id[:], o[:]) == 1 }

const (
	pskIDLabel    = "sendspin-psk-id-v1"
	sentinelLabel = "sendspin-sentinel-psk-v1"
)

// Sentinel is the published Sentinel PSK, SHA-256("sendspin-sentinel-psk-v1")
// (connection.md "Pre-Shared Key"). It authenticates nothing.
var Sentinel = PSK(sha256.Sum256([]byte(sentinelLabel)))

// SentinelID is the Sentinel's psk_id, GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo.
var SentinelID = Sentinel.ID()
