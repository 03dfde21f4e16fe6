package pairing

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/cpace"
	"github.com/tonearm-audio/tonearm/internal/keys"
)

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}

type pairingCase struct {
	Format        string
	Suite         keys.Suite
	SID           hexBytes
	CommitB       hexBytes `json:"commit_B"`
	Digest        hexBytes
	Code          string
	PakeMsg1      hexBytes `json:"pake_msg_1"`
	PakeMsg2      hexBytes `json:"pake_msg_2"`
	ISK           hexBytes
	ServerKC      hexBytes `json:"server_kc"`
	ClientKC      hexBytes `json:"client_kc"`
	WrappedNonceB hexBytes `json:"wrapped_nonce_B"`
	WrappedPSK    hexBytes `json:"wrapped_psk"`
	PairingIndex  uint32   `json:"pairing_index"`
	Round         uint32
	QRToken       string   `json:"qr_token"`
	QRCodeBytes   hexBytes `json:"qr_code_bytes"`
	DigitsCode    string   `json:"digits_code"`
}

type pairingInputs struct {
	H           hexBytes
	NonceA      hexBytes `json:"nonce_A"`
	NonceB      hexBytes `json:"nonce_B"`
	ScalarA     hexBytes `json:"scalar_A"`
	ScalarB     hexBytes `json:"scalar_B"`
	LongTermPSK hexBytes `json:"long_term_psk"`
}

// Every case of cpace-pairing-current-sid.json: both formats, both
// suites, (pairing_index, round) = (1, 1) and (2, 3), run end to end
// through ClientRound and ServerRound with the scalars injected.
func TestCurrentSIDTranscripts(t *testing.T) {
	var v struct {
		Inputs pairingInputs
		Cases  []pairingCase
	}
	loadJSON(t, "testdata/cpace-pairing-current-sid.json", &v)
	if len(v.Cases) != 8 {
		t.Fatalf("want 8 cases, have %d", len(v.Cases))
	}
	in := v.Inputs
	h, nA, nB := HandshakeHash(in.H), Nonce(in.NonceA), Nonce(in.NonceB)
	for _, c := range v.Cases {
		name := c.Format + "/" + string(c.Suite) + "/" + string(rune('0'+c.PairingIndex)) + "-" + string(rune('0'+c.Round))
		t.Run(name, func(t *testing.T) {
			commit := nB.Commit()
			eq(t, "commit_B", commit[:], c.CommitB)
			d := codeDigest(h, nA, nB)
			eq(t, "digest", d[:], c.Digest)
			var code Code
			switch c.Format {
			case "digits":
				dc := DeriveDynamicCode(h, nA, nB)
				if dc.Digits() != c.Code {
					t.Fatalf("digits code %q, want %q", dc.Digits(), c.Code)
				}
				code = dc
			case "qr_code":
				qc := DeriveQRCode(h, nA, nB)
				eq(t, "qr code", qc[:], mustHex(c.Code))
				code = qc
			default:
				t.Fatalf("unknown format %q", c.Format)
			}
			eq(t, "sid", sessionID(h, c.PairingIndex, c.Round), c.SID)

			p := RoundParams{Suite: c.Suite, H: h, PairingIndex: c.PairingIndex, Round: c.Round, Code: code}
			srv, err := NewServerRound(p, bytes.NewReader(in.ScalarA))
			if err != nil {
				t.Fatal(err)
			}
			cli, err := NewClientRound(p, bytes.NewReader(in.ScalarB))
			if err != nil {
				t.Fatal(err)
			}
			ya := srv.Share()
			eq(t, "pake_msg_1", ya[:], c.PakeMsg1)
			yb, err := cli.Respond(ya)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "pake_msg_2", yb[:], c.PakeMsg2)
			ta, err := srv.Receive(yb)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "server_kc", ta[:], c.ServerKC)
			tb, ck, err := cli.Confirm(ta)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "client_kc", tb[:], c.ClientKC)
			sk, err := srv.Confirm(tb)
			if err != nil {
				t.Fatal(err)
			}

			// K_wrap from the published ISK must match what both rounds hold.
			isk := cpace.ISK(c.ISK)
			wantPSKKey := wrapKey(pskWrapLabel, c.SID, &isk)
			wantNonceKey := wrapKey(nonceWrapLabel, c.SID, &isk)
			for _, k := range []*WrapKeys{ck, sk} {
				eq(t, "K_wrap psk", k.psk[:], wantPSKKey[:])
				eq(t, "K_wrap nonce", k.nonce[:], wantNonceKey[:])
			}

			// Client wraps, server unwraps and verifies in spec order.
			wn, err := ck.WrapNonce(nB)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "wrapped_nonce_B", wn[:], c.WrappedNonceB)
			wp, err := ck.WrapPSK(keys.PSK(in.LongTermPSK))
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "wrapped_psk", wp[:], c.WrappedPSK)

			gotNB, err := sk.UnwrapNonce(Wrapped(c.WrappedNonceB))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyReveal(Commit(c.CommitB), gotNB, h, nA, code); err != nil {
				t.Fatal(err)
			}
			psk, err := sk.UnwrapPSK(Wrapped(c.WrappedPSK))
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "unwrapped psk", psk[:], in.LongTermPSK)
		})
	}
}

// The 4-byte-sid transcript of VECTORS.md section 3: derivation values
// are unchanged by the sid form, and the wraps check K_wrap and the AEAD
// against the published ISK.
func TestSID4Wraps(t *testing.T) {
	var v struct {
		Dyn struct {
			H             hexBytes `json:"handshake_hash"`
			SID           hexBytes
			NonceA        hexBytes `json:"nonce_A"`
			NonceB        hexBytes `json:"nonce_B"`
			CommitB       hexBytes `json:"commit_B"`
			Digest        hexBytes
			DigitsCode    string   `json:"digits_code"`
			QRCodeBytes   hexBytes `json:"qr_code_bytes"`
			QRToken       string   `json:"qr_token"`
			ISK           hexBytes
			WrappedNonceB hexBytes `json:"wrapped_nonce_B"`
			WrappedPSK    hexBytes `json:"wrapped_psk"`
		} `json:"dynamic_transcript"`
	}
	loadJSON(t, "testdata/cpace-kat-sid4.json", &v)
	d := v.Dyn
	// VECTORS.md section 3: "long-term PSK wrapped" (not in the JSON file).
	longTermPSK := mustHex("909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
	h, nA, nB := HandshakeHash(d.H), Nonce(d.NonceA), Nonce(d.NonceB)
	c := nB.Commit()
	eq(t, "commit_B", c[:], d.CommitB)
	dg := codeDigest(h, nA, nB)
	eq(t, "digest", dg[:], d.Digest)
	if got := DeriveDynamicCode(h, nA, nB).Digits(); got != d.DigitsCode {
		t.Errorf("digits %q, want %q", got, d.DigitsCode)
	}
	qc := DeriveQRCode(h, nA, nB)
	eq(t, "qr_code", qc[:], d.QRCodeBytes)
	if qc.Encode() != d.QRToken {
		t.Errorf("qr token %s, want %s", qc.Encode(), d.QRToken)
	}
	isk := cpace.ISK(d.ISK)
	nk := wrapKey(nonceWrapLabel, d.SID, &isk)
	pk := wrapKey(pskWrapLabel, d.SID, &isk)
	pt := [32]byte(d.NonceB)
	w, err := seal(keys.SuiteChaChaPoly, &nk, &pt)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "wrapped_nonce_B", w[:], d.WrappedNonceB)
	pt = [32]byte(longTermPSK)
	w, err = seal(keys.SuiteChaChaPoly, &pk, &pt)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "wrapped_psk", w[:], d.WrappedPSK)
}

type tokenVectors struct {
	PSKTokens []struct {
		Name       string
		ClientKey  hexBytes `json:"client_key"`
		PairingPSK hexBytes `json:"pairing_psk"`
		Token      string
	} `json:"psk_tokens"`
	CodeTokens []struct {
		Name  string
		Code  hexBytes
		Token string
	} `json:"code_tokens"`
	Wraps struct {
		Plaintext hexBytes
		Label     string
		SIDByte   hexBytes `json:"sid_byte"`
		SIDLen    int      `json:"sid_len"`
		ISKByte   hexBytes `json:"isk_byte"`
		ISKLen    int      `json:"isk_len"`
		ChaCha    hexBytes `json:"25519_ChaChaPoly_SHA256"`
		AESGCM    hexBytes `json:"25519_AESGCM_SHA256"`
	}
}

func loadTokens(t testing.TB) *tokenVectors {
	var v tokenVectors
	loadJSON(t, "testdata/tokens.json", &v)
	return &v
}

// VECTORS.md section 5: the SendspinKit wrap fixtures, both suites.
func TestWrapFixtures(t *testing.T) {
	w := loadTokens(t).Wraps
	sid := bytes.Repeat(w.SIDByte, w.SIDLen)
	isk := cpace.ISK(bytes.Repeat(w.ISKByte, w.ISKLen))
	if w.Label != pskWrapLabel {
		t.Fatalf("fixture label %q", w.Label)
	}
	key := wrapKey(pskWrapLabel, sid, &isk)
	for suite, want := range map[keys.Suite][]byte{keys.SuiteChaChaPoly: w.ChaCha, keys.SuiteAESGCM: w.AESGCM} {
		pt := [32]byte(w.Plaintext)
		got, err := seal(suite, &key, &pt)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, string(suite), got[:], want)
		back, err := open(suite, &key, &got)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, string(suite)+" open", back[:], w.Plaintext)
		// Every flipped bit must fail to open.
		for bit := 0; bit < WrappedSize*8; bit++ {
			bad := got
			bad[bit/8] ^= 1 << (bit % 8)
			if _, err := open(suite, &key, &bad); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("%s: bit %d flipped still opens", suite, bit)
			}
		}
		// The other label's key must not open it.
		other := wrapKey(nonceWrapLabel, sid, &isk)
		if _, err := open(suite, &other, &got); !errors.Is(err, ErrUnwrap) {
			t.Fatalf("%s: nonce key opened a PSK wrap", suite)
		}
	}
}

// VECTORS.md section 2: every token vector and every reject.
func TestTokenVectors(t *testing.T) {
	v := loadTokens(t)
	for _, c := range v.PSKTokens {
		tok := PSKToken{ClientKey: keys.PublicKey(c.ClientKey), PSK: keys.PSK(c.PairingPSK)}
		if got := tok.Encode(); got != c.Token {
			t.Errorf("%s: Encode = %s\nwant %s", c.Name, got, c.Token)
		}
		for _, in := range []string{c.Token, strings.ToLower(c.Token), "  " + c.Token + "\n", c.Token[3:], "\t" + strings.ToLower(c.Token[3:]) + " \r\n"} {
			got, err := ParsePSKToken(in)
			if err != nil {
				t.Fatalf("%s: ParsePSKToken(%q): %v", c.Name, in, err)
			}
			if got.ClientKey != tok.ClientKey || !got.PSK.Equal(tok.PSK) {
				t.Fatalf("%s: ParsePSKToken(%q) decoded other values", c.Name, in)
			}
			any, err := ParseToken(in)
			if err != nil || any.Version() != TokenVersionPSK || any.Encode() != c.Token {
				t.Fatalf("%s: ParseToken(%q) = %v, %v", c.Name, in, any, err)
			}
		}
		if _, err := ParseCodeToken(c.Token); !errors.Is(err, ErrTokenWrongVersion) {
			t.Errorf("%s: ParseCodeToken(v0) = %v", c.Name, err)
		}
		if got := tok.ClientKey.String(); len(got) != 43 {
			t.Errorf("client_id length %d", len(got))
		}
	}
	for _, c := range v.CodeTokens {
		code := QRCode(c.Code)
		if got := code.Encode(); got != c.Token {
			t.Errorf("%s: Encode = %s, want %s", c.Name, got, c.Token)
		}
		if len(c.Token) != 3+1+39 {
			t.Errorf("%s: token has %d chars, pairing.md says 39 body chars", c.Name, len(c.Token))
		}
		for _, in := range []string{c.Token, strings.ToLower(c.Token), " " + c.Token[3:] + "\n"} {
			got, err := ParseCodeToken(in)
			if err != nil || !got.Equal(code) {
				t.Fatalf("%s: ParseCodeToken(%q) = %v", c.Name, in, err)
			}
		}
		if _, err := ParsePSKToken(c.Token); !errors.Is(err, ErrTokenWrongVersion) {
			t.Errorf("%s: ParsePSKToken(v1) = %v", c.Name, err)
		}
	}

	ref := v.PSKTokens[1].Token
	rejects := []struct {
		in   string
		want error
	}{
		{"", ErrTokenMalformed},
		{"SP:", ErrTokenMalformed},
		{"   \n", ErrTokenMalformed},
		{"SP:2" + ref[4:], ErrTokenVersion},
		{"SP:Z" + ref[4:], ErrTokenVersion},
		{"SP:0NOT!VALID", ErrTokenMalformed},
		{ref[4:40], ErrTokenVersion}, // truncated: 'A' taken as the version
		{"SP:0" + ref[4:40], ErrTokenMalformed},
		{"\u017fP:0" + ref[4:], ErrTokenMalformed}, // U+017F upper-cases to 'S'
		{ref[:50] + "\u00e9" + ref[50:], ErrTokenMalformed},
		{"SP:0", ErrTokenMalformed},
		{"SP:1", ErrTokenMalformed},
		{ref[:20] + " " + ref[20:], ErrTokenMalformed},  // inner whitespace
		{ref[:20] + "\n" + ref[20:], ErrTokenMalformed}, // Go's base32 would skip it
		{ref + "=", ErrTokenMalformed},
		{ref[:len(ref)-1] + "1", ErrTokenMalformed}, // '1' is outside the alphabet
		{ref[:len(ref)-1] + "8", ErrTokenMalformed},
		{ref[:len(ref)-1] + "0", ErrTokenMalformed},
		{"SP:0A", ErrTokenMalformed},          // impossible base32 length
		{"SP:!" + ref[4:], ErrTokenMalformed}, // version not alphanumeric
		{"SP:" + strings.Repeat("A", MaxTokenLen), ErrTokenMalformed},
	}
	for _, r := range rejects {
		if _, err := ParseToken(r.in); !errors.Is(err, r.want) {
			t.Errorf("ParseToken(%q) = %v, want %v", r.in, err, r.want)
		}
		if _, err := ParsePSKToken(r.in); err == nil {
			t.Errorf("ParsePSKToken(%q) accepted", r.in)
		}
	}
}

// Payload bytes beyond the version's length are reserved: ignored.
func TestTokenExtraPayloadIgnored(t *testing.T) {
	v := loadTokens(t)
	c := v.PSKTokens[0]
	long := append(append(bytes.Clone(c.ClientKey), c.PairingPSK...), 0xde, 0xad, 0xbe, 0xef, 0x01)
	tok := encodeToken(TokenVersionPSK, long)
	got, err := ParsePSKToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "client key", got.ClientKey[:], c.ClientKey)
	eq(t, "psk", got.PSK[:], c.PairingPSK)
	if got.Encode() != c.Token {
		t.Error("re-encoding kept reserved bytes")
	}
	code := v.CodeTokens[0]
	qt := encodeToken(TokenVersionCode, append(bytes.Clone(code.Code), 7, 7, 7))
	qc, err := ParseCodeToken(qt)
	if err != nil || !qc.Equal(QRCode(code.Code)) {
		t.Fatalf("ParseCodeToken with extension: %v", err)
	}
	// One byte short is malformed.
	if _, err := ParsePSKToken(encodeToken(TokenVersionPSK, long[:63])); !errors.Is(err, ErrTokenMalformed) {
		t.Errorf("63-byte payload: %v", err)
	}
	if _, err := ParseCodeToken(encodeToken(TokenVersionCode, code.Code[:23])); !errors.Is(err, ErrTokenMalformed) {
		t.Errorf("23-byte payload: %v", err)
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
