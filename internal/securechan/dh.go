package securechan

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"io"

	"github.com/flynn/noise"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// dh25519 is the Noise DH function on crypto/ecdh, which costs half of
// golang.org/x/crypto/curve25519 per operation here (GUIDE.md section 7).
// crypto/ecdh computes a private key's public half when the key is built,
// so a handshake's two private keys (static and ephemeral) are built once
// and remembered: every DH is then one scalar multiplication.
type dh25519 struct {
	keys [2]*ecdh.PrivateKey // static, ephemeral
}

var _ noise.DHFunc = (*dh25519)(nil)

func newDH(static *keys.Identity) *dh25519 { return &dh25519{keys: [2]*ecdh.PrivateKey{static.ECDH()}} }

func (d *dh25519) GenerateKeypair(r io.Reader) (noise.DHKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var priv [32]byte
	if _, err := io.ReadFull(r, priv[:]); err != nil {
		return noise.DHKey{}, err
	}
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return noise.DHKey{}, err
	}
	d.keys[1] = k
	return noise.DHKey{Private: priv[:], Public: k.PublicKey().Bytes()}, nil
}

var errLowOrder = errors.New("securechan: low-order public key")

func (d *dh25519) DH(priv, pub []byte) ([]byte, error) {
	var k *ecdh.PrivateKey
	for _, c := range d.keys {
		if c != nil && subtle.ConstantTimeCompare(c.Bytes(), priv) == 1 {
			k = c
			break
		}
	}
	if k == nil {
		var err error
		if k, err = ecdh.X25519().NewPrivateKey(priv); err != nil {
			return nil, err
		}
	}
	p, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	out, err := k.ECDH(p)
	if err != nil {
		// An all-zero result: the peer sent a low-order point.
		return nil, errLowOrder
	}
	return out, nil
}

func (d *dh25519) DHLen() int     { return 32 }
func (d *dh25519) DHName() string { return "25519" }

// noiseSuite returns the Noise cipher suite for a Sendspin suite.
func noiseSuite(s keys.Suite, dh noise.DHFunc) (noise.CipherSuite, error) {
	switch s {
	case keys.SuiteChaChaPoly:
		return noise.NewCipherSuite(dh, noise.CipherChaChaPoly, noise.HashSHA256), nil
	case keys.SuiteAESGCM:
		return noise.NewCipherSuite(dh, noise.CipherAESGCM, noise.HashSHA256), nil
	}
	return nil, errors.New("securechan: unknown cipher suite")
}
