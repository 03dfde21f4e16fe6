package pairing

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// FuzzParseToken: decoding never panics; whatever decodes re-encodes to a
// canonical token that decodes to the same value (so canonical input is
// reproduced exactly), and so do its lenient forms; the version-specific
// parsers agree with ParseToken.
func FuzzParseToken(f *testing.F) {
	v := loadTokens(f)
	for _, c := range v.PSKTokens {
		f.Add(c.Token)
		f.Add(strings.ToLower(c.Token[3:]))
	}
	for _, c := range v.CodeTokens {
		f.Add(c.Token)
		f.Add(" " + c.Token + "\n")
	}
	f.Add("SP:0NOT!VALID")
	f.Add("\u017fP:0AAAA")
	f.Add("SP:")

	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		psk, errPSK := ParsePSKToken(s)
		code, errCode := ParseCodeToken(s)
		if err != nil {
			if !errors.Is(err, ErrTokenMalformed) && !errors.Is(err, ErrTokenVersion) {
				t.Fatalf("unexpected error kind %v", err)
			}
			if errPSK == nil || errCode == nil {
				t.Fatalf("ParseToken failed (%v) but a version parser accepted", err)
			}
			return
		}
		enc := tok.Encode()
		if len(enc) < 4 || enc[:3] != tokenPrefix || enc[3] != byte(tok.Version()) {
			t.Fatalf("Encode %q lacks prefix/version", enc)
		}
		for _, c := range enc[4:] {
			if !(c >= 'A' && c <= 'Z' || c >= '3' && c <= '7' || c == '9') {
				t.Fatalf("Encode %q has %q outside the token alphabet", enc, c)
			}
		}
		again, err := ParseToken(enc)
		if err != nil || again.Encode() != enc {
			t.Fatalf("re-encoded token %q does not round trip: %v", enc, err)
		}
		// The lenient forms of the canonical token decode to the same value.
		for _, form := range []string{strings.ToLower(enc), " \t" + enc + "\r\n", enc[3:]} {
			if v, err := ParseToken(form); err != nil || v.Encode() != enc {
				t.Fatalf("lenient form %q of %q: %v", form, enc, err)
			}
		}
		switch tv := tok.(type) {
		case PSKToken:
			if errPSK != nil || psk.ClientKey != tv.ClientKey || !psk.PSK.Equal(tv.PSK) {
				t.Fatalf("ParsePSKToken disagrees: %v", errPSK)
			}
			if !errors.Is(errCode, ErrTokenWrongVersion) {
				t.Fatalf("ParseCodeToken accepted a v0 token: %v", errCode)
			}
		case QRCode:
			if errCode != nil || !code.Equal(tv) {
				t.Fatalf("ParseCodeToken disagrees: %v", errCode)
			}
			if !errors.Is(errPSK, ErrTokenWrongVersion) {
				t.Fatalf("ParsePSKToken accepted a v1 token: %v", errPSK)
			}
		default:
			t.Fatalf("unexpected token type %T", tok)
		}
	})
}

// FuzzUnwrap: hostile wrapped values never panic, parse back to their own
// text, and never unwrap unless they are exactly the wrapping of the
// recovered value (the AEAD with a fixed nonce is deterministic, so a
// successful open that does not re-seal to the input would be a forgery).
func FuzzUnwrap(f *testing.F) {
	p := RoundParams{Suite: keys.SuiteChaChaPoly, PairingIndex: 1, Round: 1, Code: DynamicCode{'2', '6', '8', '3', '8', '6'}}
	chachaS, chachaC, err := exchange(p, p, testRand(20))
	if err != nil {
		f.Fatal(err)
	}
	p.Suite = keys.SuiteAESGCM
	gcmS, gcmC, err := exchange(p, p, testRand(21))
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []*WrapKeys{chachaC, gcmC} {
		w, _ := c.WrapPSK(keys.PSK{1, 2, 3})
		f.Add(w.String(), w[:])
		n, _ := c.WrapNonce(Nonce{4, 5, 6})
		f.Add(n.String(), n[:])
	}
	f.Add("", []byte{})
	f.Add(strings.Repeat("A", 64), make([]byte, 48))

	f.Fuzz(func(t *testing.T, text string, raw []byte) {
		var ws []Wrapped
		if w, err := ParseWrapped(text); err == nil {
			if w.String() != text {
				t.Fatalf("ParseWrapped(%q) re-encodes as %q", text, w.String())
			}
			ws = append(ws, w)
		} else if !errors.Is(err, ErrEncoding) {
			t.Fatalf("ParseWrapped error kind %v", err)
		}
		if len(raw) == WrappedSize {
			ws = append(ws, Wrapped(raw))
		}
		for _, w := range ws {
			for _, k := range []*WrapKeys{chachaS, gcmS} {
				if psk, err := k.UnwrapPSK(w); err == nil {
					again, _ := k.WrapPSK(psk)
					if !bytes.Equal(again[:], w[:]) {
						t.Fatalf("UnwrapPSK accepted %x that is not a wrapping", w[:])
					}
				} else if !errors.Is(err, ErrUnwrap) {
					t.Fatalf("UnwrapPSK error kind %v", err)
				}
				if n, err := k.UnwrapNonce(w); err == nil {
					again, _ := k.WrapNonce(n)
					if !bytes.Equal(again[:], w[:]) {
						t.Fatalf("UnwrapNonce accepted %x that is not a wrapping", w[:])
					}
				} else if !errors.Is(err, ErrUnwrap) {
					t.Fatalf("UnwrapNonce error kind %v", err)
				}
			}
		}
	})
}
