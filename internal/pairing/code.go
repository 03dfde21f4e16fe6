package pairing

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
)

var b64 = base64.RawURLEncoding.Strict()

// decodeFixed decodes canonical base64url without padding into dst,
// checking the text length first.
func decodeFixed(dst []byte, s string, textLen int) error {
	if len(s) != textLen {
		return ErrEncoding
	}
	n, err := b64.Decode(dst, []byte(s))
	if err != nil || n != len(dst) {
		clear(dst)
		return ErrEncoding
	}
	return nil
}

// HandshakeHash is the Noise handshake hash h, available once transport
// mode begins (pairing.md "PAKE"). It is public to both peers but binds
// every pairing value to one handshake.
type HandshakeHash [HandshakeHashSize]byte

// NewHandshakeHash checks the length of h as returned by the Noise layer
// (flynn/noise ChannelBinding) and copies it.
func NewHandshakeHash(h []byte) (HandshakeHash, error) {
	if len(h) != HandshakeHashSize {
		return HandshakeHash{}, fmt.Errorf("%w: handshake hash must be %d bytes", ErrParams, HandshakeHashSize)
	}
	return HandshakeHash(h), nil
}

// Nonce is nonce_A or nonce_B: 32 bytes from a CSPRNG (pairing.md
// "Binding values"). nonce_B is secret until revealed, so String is
// redacted; Encode gives the wire form.
type Nonce [NonceSize]byte

// NewNonce draws a nonce from rnd (crypto/rand if nil).
func NewNonce(rnd io.Reader) (Nonce, error) {
	var n Nonce
	if _, err := io.ReadFull(randOrDefault(rnd), n[:]); err != nil {
		return Nonce{}, fmt.Errorf("pairing: reading randomness: %w", err)
	}
	return n, nil
}

// ParseNonce parses the 43-character base64url form of nonce_A.
func ParseNonce(s string) (Nonce, error) {
	var n Nonce
	err := decodeFixed(n[:], s, encodedNonceLen)
	return n, err
}

// Encode returns the base64url wire form (server/pair-init nonce_A).
func (n Nonce) Encode() string { return b64.EncodeToString(n[:]) }

// String is redacted: nonce_B must not leak before its reveal.
func (Nonce) String() string { return "Nonce(redacted)" }

// GoString is redacted too.
func (Nonce) GoString() string { return "pairing.Nonce(redacted)" }

// Format makes every fmt verb print the redacted form.
func (n Nonce) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(n.String())) }

// Commit returns commit_B = SHA-256("sendspin-pair-commit-v1" || nonce_B)
// (pairing.md "Binding values").
func (n Nonce) Commit() Commit {
	h := sha256.New()
	h.Write([]byte(commitLabel))
	h.Write(n[:])
	var c Commit
	h.Sum(c[:0])
	return c
}

// Commit is commit_B, the client's commitment to nonce_B.
type Commit [CommitSize]byte

// Opens reports, in constant time, whether nonceB is the preimage of c.
func (c Commit) Opens(nonceB Nonce) bool {
	got := nonceB.Commit()
	return subtle.ConstantTimeCompare(got[:], c[:]) == 1
}

// ParseCommit parses the 43-character base64url form of commit_B.
func ParseCommit(s string) (Commit, error) {
	var c Commit
	err := decodeFixed(c[:], s, encodedNonceLen)
	return c, err
}

// String returns the base64url wire form (client/pair-init commit_B).
func (c Commit) String() string { return b64.EncodeToString(c[:]) }

// MarshalText implements encoding.TextMarshaler.
func (c Commit) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Commit) UnmarshalText(b []byte) error {
	v, err := ParseCommit(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Code is a pairing code as fed into CPace as PRS: a DynamicCode (digits
// format), a QRCode (qr_code format) or a StaticCode. The set is closed.
type Code interface {
	// prs returns the CPace PRS bytes (pairing.md "PAKE"); the caller
	// wipes them.
	prs() []byte
}

// codeDigest is SHA-256("sendspin-pairing-code-derive-v1" || h || nonce_A
// || nonce_B) (pairing.md "Pairing code derivation").
func codeDigest(h HandshakeHash, nonceA, nonceB Nonce) [sha256.Size]byte {
	d := sha256.New()
	d.Write([]byte(deriveLabel))
	d.Write(h[:])
	d.Write(nonceA[:])
	d.Write(nonceB[:])
	var out [sha256.Size]byte
	d.Sum(out[:0])
	return out
}

// DeriveDynamicCode derives the digits-format pairing code:
// uint256_be(digest) mod 10^6, zero-padded to 6 digits.
func DeriveDynamicCode(h HandshakeHash, nonceA, nonceB Nonce) DynamicCode {
	d := codeDigest(h, nonceA, nonceB)
	defer clear(d[:])
	// Horner's rule over the big-endian bytes keeps r < 10^6 * 256 < 2^28.
	// Division by a constant compiles to multiply-and-shift, so this runs
	// in constant time (no data-dependent DIV).
	var r uint32
	for _, b := range d {
		r = (r<<8 | uint32(b)) % dynamicCodeModulus
	}
	var c DynamicCode
	putDigits(c[:], r)
	return c
}

// putDigits writes v as len(dst) zero-padded ASCII digits without table
// lookups indexed by the secret value.
func putDigits(dst []byte, v uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = '0' + byte(v%10)
		v /= 10
	}
}

// DeriveQRCode derives the qr_code-format pairing code: digest[0..23].
func DeriveQRCode(h HandshakeHash, nonceA, nonceB Nonce) QRCode {
	d := codeDigest(h, nonceA, nonceB)
	defer clear(d[:])
	return QRCode(d[:QRCodeSize])
}

// VerifyReveal performs steps 2 and 3 of pairing.md "Server verification"
// (step 1, client_kc, is ServerRound.Confirm): nonceB must open commit, and
// the code the operator entered must equal the code derived from (h,
// nonceA, nonceB) in the entered code's format. Both failures are protocol
// errors. Comparisons are constant time.
func VerifyReveal(commit Commit, nonceB Nonce, h HandshakeHash, nonceA Nonce, entered Code) error {
	if !commit.Opens(nonceB) {
		return ErrCommitMismatch
	}
	var want []byte
	switch entered.(type) {
	case DynamicCode:
		c := DeriveDynamicCode(h, nonceA, nonceB)
		want = c[:]
	case QRCode:
		c := DeriveQRCode(h, nonceA, nonceB)
		want = c[:]
	default: // a static code or nil is never the result of a derivation
		return ErrCodeMismatch
	}
	got := entered.prs()
	ok := subtle.ConstantTimeCompare(got, want) == 1
	clear(got)
	clear(want)
	if !ok {
		return ErrCodeMismatch
	}
	return nil
}

// DynamicCode is the 6-digit pairing code of the digits emission format,
// as ASCII digits. It is a secret: String is redacted.
type DynamicCode [DynamicCodeDigits]byte

func (c DynamicCode) prs() []byte { return append([]byte{}, c[:]...) }

// Digits returns the contiguous digits, the value of the code.
func (c DynamicCode) Digits() string { return string(c[:]) }

// Grouped returns the presentation form 123-456 (pairing.md "Pairing Code
// Presentation"). Separators never enter derivation or PRS.
func (c DynamicCode) Grouped() string { return string(c[:3]) + "-" + string(c[3:]) }

// Equal compares two codes in constant time.
func (c DynamicCode) Equal(o DynamicCode) bool { return subtle.ConstantTimeCompare(c[:], o[:]) == 1 }

// String is redacted.
func (DynamicCode) String() string { return "DynamicCode(redacted)" }

// GoString is redacted too.
func (DynamicCode) GoString() string { return "pairing.DynamicCode(redacted)" }

// Format makes every fmt verb print the redacted form.
func (c DynamicCode) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// ParseDynamicCode normalizes operator input for a 6-digit code.
func ParseDynamicCode(s string) (DynamicCode, error) {
	var c DynamicCode
	err := parseDigits(c[:], s)
	return c, err
}

// StaticCode is the fixed 8-digit pairing code of the Static Pairing Code
// Flow, as ASCII digits. It is a secret: String is redacted.
type StaticCode [StaticCodeDigits]byte

func (c StaticCode) prs() []byte { return append([]byte{}, c[:]...) }

// Digits returns the contiguous digits, the value of the code.
func (c StaticCode) Digits() string { return string(c[:]) }

// Grouped returns the presentation form 1234-5678.
func (c StaticCode) Grouped() string { return string(c[:4]) + "-" + string(c[4:]) }

// Equal compares two codes in constant time.
func (c StaticCode) Equal(o StaticCode) bool { return subtle.ConstantTimeCompare(c[:], o[:]) == 1 }

// String is redacted.
func (StaticCode) String() string { return "StaticCode(redacted)" }

// GoString is redacted too.
func (StaticCode) GoString() string { return "pairing.StaticCode(redacted)" }

// Format makes every fmt verb print the redacted form.
func (c StaticCode) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// ParseStaticCode normalizes operator input for an 8-digit code.
func ParseStaticCode(s string) (StaticCode, error) {
	var c StaticCode
	err := parseDigits(c[:], s)
	return c, err
}

// GenerateStaticCode draws a static pairing code uniformly from the 10^8
// 8-digit values (pairing.md "Static Pairing Code Flow": drawn uniformly at
// random from a CSPRNG per device). It rejection-samples 27-bit values, so
// there is no modulo bias.
func GenerateStaticCode(rnd io.Reader) (StaticCode, error) {
	rnd = randOrDefault(rnd)
	var buf [4]byte
	defer clear(buf[:])
	for {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return StaticCode{}, fmt.Errorf("pairing: reading randomness: %w", err)
		}
		v := binary.BigEndian.Uint32(buf[:]) & (1<<27 - 1) // 2^27 > 10^8
		if v < staticCodeModulus {
			var c StaticCode
			putDigits(c[:], v)
			return c, nil
		}
	}
}

// parseDigits implements the entry rules of pairing.md "Pairing Code
// Presentation": separators (spaces, hyphens) are stripped, anything else
// that is not an ASCII digit is rejected, and the digit count must match.
// Errors never echo the input.
func parseDigits(dst []byte, s string) error {
	if len(s) > MaxCodeInputLen {
		return fmt.Errorf("%w: expected %d digits", ErrCodeFormat, len(dst))
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n < len(dst) {
				dst[n] = c
			}
			n++
		case c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			clear(dst)
			return fmt.Errorf("%w: only digits, spaces and hyphens are allowed", ErrCodeFormat)
		}
	}
	if n != len(dst) {
		clear(dst)
		return fmt.Errorf("%w: expected %d digits", ErrCodeFormat, len(dst))
	}
	return nil
}

// QRCode is the 24-byte pairing code of the qr_code emission format. It is
// also a Token: Encode gives its "SP:1" text. It is a secret: String is
// redacted.
type QRCode [QRCodeSize]byte

func (c QRCode) prs() []byte { return append([]byte{}, c[:]...) }

// Version is TokenVersionCode.
func (QRCode) Version() TokenVersion { return TokenVersionCode }

// Encode returns the version-1 pairing token carrying the code (pairing.md
// "QR-code emission"), 42 characters.
func (c QRCode) Encode() string { return encodeToken(TokenVersionCode, c[:]) }

// Equal compares two codes in constant time.
func (c QRCode) Equal(o QRCode) bool { return subtle.ConstantTimeCompare(c[:], o[:]) == 1 }

// String is redacted.
func (QRCode) String() string { return "QRCode(redacted)" }

// GoString is redacted too.
func (QRCode) GoString() string { return "pairing.QRCode(redacted)" }

// Format makes every fmt verb print the redacted form.
func (c QRCode) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }
