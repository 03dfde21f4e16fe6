package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Suite is a Noise cipher suite name as carried in client/init `suite`
// (connection.md "Cipher Suites").
type Suite string

// The two suites the spec defines. Servers support both; a client picks one.
const (
	SuiteChaChaPoly Suite = "25519_ChaChaPoly_SHA256"
	SuiteAESGCM     Suite = "25519_AESGCM_SHA256"
)

// Known reports whether s is one of the suites the spec defines.
func (s Suite) Known() bool { return s == SuiteChaChaPoly || s == SuiteAESGCM }

// NoiseProtocolName is the full Noise protocol name for the Sendspin pattern
// under this suite, e.g. "Noise_KKpsk2_25519_ChaChaPoly_SHA256".
func (s Suite) NoiseProtocolName() string { return "Noise_KKpsk2_" + string(s) }

// NewAEAD returns the suite's AEAD (ChaCha20-Poly1305 or AES-256-GCM) keyed
// with a 32-byte key, as used for pairing.md "Wrapping".
func (s Suite) NewAEAD(key [Size]byte) (cipher.AEAD, error) {
	switch s {
	case SuiteChaChaPoly:
		return chacha20poly1305.New(key[:])
	case SuiteAESGCM:
		b, err := aes.NewCipher(key[:])
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	default:
		return nil, fmt.Errorf("keys: unknown cipher suite %q", string(s))
	}
}
