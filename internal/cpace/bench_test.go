package cpace

import (
	"crypto/ecdh"
	"testing"
)

// BenchmarkExchange is one complete CPace exchange, both sides: two
// generators, four X25519 scalar multiplications, two ISKs, four tags.
func BenchmarkExchange(b *testing.B) {
	rnd := testRand(100)
	p := Params{
		PRS: []byte("268386"),
		SID: make([]byte, 57), // the size of a Sendspin sid
		ADa: []byte("server"),
		ADb: []byte("client"),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := run(p, p, rnd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkX25519Stdlib is the reference: one crypto/ecdh X25519 shared
// secret computation with keys parsed outside the loop (one ladder).
func BenchmarkX25519Stdlib(b *testing.B) {
	var s, u [32]byte
	s[0], u[0] = 7, 9
	priv, _ := ecdh.X25519().NewPrivateKey(s[:])
	pub, _ := ecdh.X25519().NewPublicKey(priv.PublicKey().Bytes())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := priv.ECDH(pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkX25519Ladder is this package's ladder on the same inputs.
func BenchmarkX25519Ladder(b *testing.B) {
	var s, u [32]byte
	s[0], u[0] = 7, 9
	y := x25519(&s, &u)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := scalarMultVfy(&s, &y); !ok {
			b.Fatal("abort")
		}
	}
}

// BenchmarkGenerator is calculate_generator alone (hash + Elligator 2).
func BenchmarkGenerator(b *testing.B) {
	sid := make([]byte, 57)
	b.ReportAllocs()
	for b.Loop() {
		calculateGenerator([]byte("268386"), nil, sid)
	}
}
