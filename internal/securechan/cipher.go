package securechan

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"

	"github.com/flynn/noise"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// cipherState is one direction of Noise transport mode. It replaces flynn/noise's
// CipherState for transport messages so that sealing allocates nothing: the
// nonce lives in the struct instead of escaping to the heap on every call.
type cipherState struct {
	aead      cipher.AEAD
	bigEndian bool // AESGCM encodes the counter big-endian, ChaChaPoly little-endian
	n         uint64
	nonce     [12]byte
}

var errNonceExhausted = errors.New("securechan: transport nonce exhausted")

// newCipherState takes over the key of a just-split flynn/noise CipherState,
// whose nonce is 0.
func newCipherState(s keys.Suite, cs *noise.CipherState) (*cipherState, error) {
	c, err := newCipherStateFromKey(s, cs.UnsafeKey())
	if err != nil {
		return nil, err
	}
	c.n = cs.Nonce()
	return c, nil
}

// newCipherStateFromKey keys a transport cipher state with nonce 0.
func newCipherStateFromKey(s keys.Suite, k [32]byte) (*cipherState, error) {
	aead, err := s.NewAEAD(k)
	clear(k[:])
	if err != nil {
		return nil, err
	}
	return &cipherState{aead: aead, bigEndian: s == keys.SuiteAESGCM}, nil
}

func (c *cipherState) setNonce() error {
	if c.n == maxNonce {
		return errNonceExhausted
	}
	if c.bigEndian {
		binary.BigEndian.PutUint64(c.nonce[4:], c.n)
	} else {
		binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	}
	return nil
}

// seal appends the encryption of plaintext to dst (Noise EncryptWithAd with
// empty associated data).
func (c *cipherState) seal(dst, plaintext []byte) ([]byte, error) {
	if err := c.setNonce(); err != nil {
		return dst, err
	}
	c.n++
	return c.aead.Seal(dst, c.nonce[:], plaintext, nil), nil
}

// open appends the decryption of ciphertext to dst. A failure leaves the
// nonce unchanged; the caller ends the session anyway.
func (c *cipherState) open(dst, ciphertext []byte) ([]byte, error) {
	if err := c.setNonce(); err != nil {
		return dst, err
	}
	out, err := c.aead.Open(dst, c.nonce[:], ciphertext, nil)
	if err != nil {
		return dst, err
	}
	c.n++
	return out, nil
}
