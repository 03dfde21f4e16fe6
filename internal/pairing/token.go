package pairing

import (
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// TokenVersion is the version character of a pairing token
// (pairing.md "Pairing Token").
type TokenVersion byte

// The versions pairing.md defines.
const (
	TokenVersionPSK  TokenVersion = '0' // client_key || pairing_psk
	TokenVersionCode TokenVersion = '1' // 24-byte dynamic pairing code (qr_code format)
)

// payloadLen is the payload length a known version defines, or 0.
func (v TokenVersion) payloadLen() int {
	switch v {
	case TokenVersionPSK:
		return pskTokenPayloadLen
	case TokenVersionCode:
		return QRCodeSize
	}
	return 0
}

// Token is a decoded pairing token: a PSKToken or a QRCode. Tokens carry
// secrets, so their String methods are redacted; Encode returns the text.
type Token interface {
	Version() TokenVersion
	// Encode returns the canonical token text, "SP:" || version || body.
	Encode() string
}

// b32 is RFC 4648 base32 (A-Z, 2-7) with '=' padding.
var b32 = base32.StdEncoding

// encodeToken builds "SP:" || version || body where body is the base32 of
// the payload with '=' stripped and every '2' turned into '9'
// (pairing.md "Pairing Token").
func encodeToken(v TokenVersion, payload []byte) string {
	body := strings.TrimRight(b32.EncodeToString(payload), "=")
	return tokenPrefix + string(rune(v)) + strings.ReplaceAll(body, "2", "9")
}

// decodeToken applies the lenient decoding of pairing.md "Pairing Token":
//
//  1. trim surrounding whitespace, upper-case;
//  2. strip an optional "SP:", take the version, reject unknown versions;
//  3. turn every '9' back into '2', re-pad with '=', base32-decode.
//
// It rejects non-ASCII input before upper-casing (so that, for example,
// U+017F 'ſ' cannot upper-case into 'S'), characters outside the base32
// alphabet (including '=' and inner whitespace), impossible body lengths,
// and payloads shorter than the version defines. Payload bytes beyond the
// version's length are reserved and returned to the caller to ignore.
func decodeToken(s string) (TokenVersion, []byte, error) {
	if len(s) > MaxTokenLen {
		return 0, nil, ErrTokenMalformed
	}
	s = strings.Trim(s, " \t\r\n\v\f")
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return 0, nil, ErrTokenMalformed
		}
	}
	s = strings.ToUpper(s) // ASCII only by now
	s = strings.TrimPrefix(s, tokenPrefix)
	if s == "" {
		return 0, nil, ErrTokenMalformed
	}
	v := TokenVersion(s[0])
	if !isAlnum(s[0]) {
		return 0, nil, ErrTokenMalformed
	}
	want := v.payloadLen()
	if want == 0 {
		return 0, nil, ErrTokenVersion
	}
	body := []byte(s[1:])
	for i, c := range body {
		switch {
		case c == '9':
			body[i] = '2'
		case c >= 'A' && c <= 'Z', c >= '2' && c <= '7':
		default:
			return 0, nil, ErrTokenMalformed
		}
	}
	if pad := len(body) % 8; pad != 0 {
		body = append(body, "========"[pad:]...)
	}
	payload := make([]byte, b32.DecodedLen(len(body)))
	n, err := b32.Decode(payload, body)
	if err != nil || n < want {
		return 0, nil, ErrTokenMalformed
	}
	return v, payload[:n], nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'
}

// ParseToken decodes a token of any version this package defines.
func ParseToken(s string) (Token, error) {
	v, payload, err := decodeToken(s)
	if err != nil {
		return nil, err
	}
	defer clear(payload)
	switch v {
	case TokenVersionPSK:
		return pskTokenFrom(payload), nil
	default: // TokenVersionCode; decodeToken rejects the rest
		return QRCode(payload[:QRCodeSize]), nil
	}
}

// parseVersion decodes a token and insists on one version.
func parseVersion(s string, want TokenVersion) ([]byte, error) {
	v, payload, err := decodeToken(s)
	if err != nil {
		return nil, err
	}
	if v != want {
		clear(payload)
		return nil, ErrTokenWrongVersion
	}
	return payload, nil
}

// PSKToken is a version-0 pairing token: the client's static public key
// and its pairing PSK (pairing.md "Pairing PSK Flow", "Pairing Token").
type PSKToken struct {
	ClientKey keys.PublicKey
	PSK       keys.PSK
}

// ParsePSKToken decodes a version-0 token; any other version is rejected.
// The caller must still check ClientKey against the connection's client_id
// (pairing.md "Pairing Token").
func ParsePSKToken(s string) (PSKToken, error) {
	payload, err := parseVersion(s, TokenVersionPSK)
	if err != nil {
		return PSKToken{}, err
	}
	defer clear(payload)
	return pskTokenFrom(payload), nil
}

func pskTokenFrom(payload []byte) PSKToken {
	var t PSKToken
	copy(t.ClientKey[:], payload[:keys.Size])
	copy(t.PSK[:], payload[keys.Size:2*keys.Size])
	return t
}

// Version is TokenVersionPSK.
func (PSKToken) Version() TokenVersion { return TokenVersionPSK }

// Encode returns the "SP:0" token text. It contains the pairing PSK: the
// caller decides where it goes (a QR code, the device's own display).
func (t PSKToken) Encode() string {
	var payload [pskTokenPayloadLen]byte
	copy(payload[:], t.ClientKey[:])
	copy(payload[keys.Size:], t.PSK[:])
	defer clear(payload[:])
	return encodeToken(TokenVersionPSK, payload[:])
}

// String is redacted except for the public client key.
func (t PSKToken) String() string { return "PSKToken(client " + t.ClientKey.String() + ", redacted)" }

// GoString is redacted too.
func (t PSKToken) GoString() string { return t.String() }

// Format makes every fmt verb print the redacted form.
func (t PSKToken) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.String())) }

// ParseCodeToken decodes a version-1 token into the 24-byte qr_code pairing
// code ("QR-code emission"); any other version is rejected.
func ParseCodeToken(s string) (QRCode, error) {
	payload, err := parseVersion(s, TokenVersionCode)
	if err != nil {
		return QRCode{}, err
	}
	defer clear(payload)
	return QRCode(payload[:QRCodeSize]), nil
}
