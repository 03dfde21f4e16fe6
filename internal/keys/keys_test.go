package keys

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// Values from connection.md "Pre-Shared Key" and vectors/VECTORS.md section 1.
func TestSentinel(t *testing.T) {
	const wantPSK = "1b5e24dbc1aed95fc2a5a338a90c05df44bd10f5ec1f4cd66cbf86272767b9d3"
	const wantID = "185b15f6d2da4909bd1dc156a4ab206103abef0153bcd52d926170b95cf7ce8a"
	if got := hex.EncodeToString(Sentinel[:]); got != wantPSK {
		t.Fatalf("Sentinel = %s, want %s", got, wantPSK)
	}
	if got := hex.EncodeToString(SentinelID[:]); got != wantID {
		t.Fatalf("Sentinel psk_id = %s, want %s", got, wantID)
	}
	if got := SentinelID.String(); got != "GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo" {
		t.Fatalf("Sentinel psk_id text = %s", got)
	}
}

func TestPSKNeverPrinted(t *testing.T) {
	var p PSK
	for i := range p {
		p[i] = 0xab
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
		out := fmt.Sprintf(verb, p)
		if strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, p.Encode()) {
			t.Errorf("%s leaked the PSK: %s", verb, out)
		}
	}
	out := fmt.Sprintf("%v", struct{ K PSK }{p})
	if strings.Contains(out, "171") || strings.Contains(out, "abab") {
		t.Errorf("struct formatting leaked the PSK: %s", out)
	}
}

func TestPublicKeyText(t *testing.T) {
	var k PublicKey
	for i := range k {
		k[i] = byte(i)
	}
	s := k.String()
	if len(s) != EncodedLen {
		t.Fatalf("len %d", len(s))
	}
	back, err := ParsePublicKey(s)
	if err != nil || back != k {
		t.Fatalf("round trip: %v %v", back, err)
	}
	bad := []string{
		"", "short", s + "A", s[:42] + "=", s[:42] + "+", s[:42] + "/",
		s[:42] + "B", // non-canonical: last char carries nonzero trailing bits
		strings.Repeat("A", 44),
	}
	for _, b := range bad {
		if _, err := ParsePublicKey(b); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", b)
		}
	}
}

func TestSuiteAEAD(t *testing.T) {
	var key [Size]byte
	for _, s := range []Suite{SuiteChaChaPoly, SuiteAESGCM} {
		if !s.Known() {
			t.Fatalf("%s not known", s)
		}
		a, err := s.NewAEAD(key)
		if err != nil {
			t.Fatal(err)
		}
		if a.NonceSize() != 12 || a.Overhead() != 16 {
			t.Fatalf("%s: nonce %d overhead %d", s, a.NonceSize(), a.Overhead())
		}
	}
	if _, err := Suite("25519_Foo_SHA256").NewAEAD(key); err == nil {
		t.Fatal("unknown suite accepted")
	}
	if Suite("x").Known() {
		t.Fatal("unknown suite known")
	}
}

func TestIdentity(t *testing.T) {
	id, err := GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := IdentityFromPrivate(id.Private())
	if err != nil || back.Public() != id.Public() {
		t.Fatal("identity does not rebuild from its private key")
	}
	priv := id.Private()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		// By pointer, by value, and nested by value.
		out := fmt.Sprintf(verb, id) + fmt.Sprintf(verb, *id) + fmt.Sprintf(verb, struct{ I Identity }{*id})
		if strings.Contains(out, hex.EncodeToString(priv[:4])) || !strings.Contains(out, id.Public().String()) {
			t.Errorf("%s: %s", verb, out)
		}
	}
	// RFC 7748 section 6.1: Alice's key pair.
	a, _ := hex.DecodeString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	var ap [Size]byte
	copy(ap[:], a)
	alice, err := IdentityFromPrivate(ap)
	if err != nil {
		t.Fatal(err)
	}
	if got := alice.Public(); hex.EncodeToString(got[:]) != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Fatalf("alice public %x", got)
	}
	if _, err := GenerateIdentity(strings.NewReader("short")); err == nil {
		t.Fatal("short randomness accepted")
	}
}
