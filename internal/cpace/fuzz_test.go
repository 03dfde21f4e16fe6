package cpace

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"
)

// FuzzShare feeds hostile shares to both roles: text through ParseShare
// (the wire form) and raw 32-byte values straight into Respond / Receive.
// Properties: nothing panics; a parsed share re-encodes to the same text;
// a share is rejected as low-order exactly when crypto/ecdh X25519 rejects
// it, and otherwise both sides still agree only through the tags.
func FuzzShare(f *testing.F) {
	v := loadB1(f)
	f.Add(Share(v.YaShare).String(), []byte(v.YbShare))
	for _, c := range v.LowOrder {
		f.Add(Share(c.U).String(), []byte(c.U))
	}
	f.Add("", []byte{})
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_", []byte("short"))

	scalar := [ScalarSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	priv, err := ecdh.X25519().NewPrivateKey(scalar[:])
	if err != nil {
		f.Fatal(err)
	}
	p := Params{PRS: []byte("268386"), SID: []byte("fuzz-sid"), ADa: []byte("server"), ADb: []byte("client")}

	f.Fuzz(func(t *testing.T, text string, raw []byte) {
		var shares []Share
		if s, err := ParseShare(text); err == nil {
			if s.String() != text {
				t.Fatalf("ParseShare(%q) re-encodes as %q", text, s.String())
			}
			shares = append(shares, s)
		} else if !errors.Is(err, ErrEncoding) {
			t.Fatalf("ParseShare error %v is not ErrEncoding", err)
		}
		if len(raw) == ShareSize {
			shares = append(shares, Share(raw))
		}
		for _, s := range shares {
			pub, err := ecdh.X25519().NewPublicKey(s[:])
			if err != nil {
				t.Fatal(err)
			}
			_, stdErr := priv.ECDH(pub)

			b, err := NewResponder(p, bytes.NewReader(scalar[:]))
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Respond(s)
			if (stdErr != nil) != errors.Is(err, ErrLowOrder) || (stdErr == nil && err != nil) {
				t.Fatalf("share %x: Respond err %v, crypto/ecdh err %v", s[:], err, stdErr)
			}

			a, err := NewInitiator(p, bytes.NewReader(scalar[:]))
			if err != nil {
				t.Fatal(err)
			}
			ta, err := a.Receive(s)
			if (stdErr != nil) != errors.Is(err, ErrLowOrder) {
				t.Fatalf("share %x: Receive err %v, crypto/ecdh err %v", s[:], err, stdErr)
			}
			if err == nil {
				// An arbitrary share cannot confirm: the attacker does not
				// know the discrete log, and a zero tag never verifies.
				if _, err := a.Confirm(Tag{}); !errors.Is(err, ErrTagMismatch) {
					t.Fatalf("zero tag: %v", err)
				}
				_ = ta
			}
		}
	})
}
