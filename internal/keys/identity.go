package keys

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"io"
)

// Identity is a Curve25519 static key pair: a client's or server's
// identity (connection.md "Identities"). The private half is a secret:
// String and every fmt verb print only the public key.
type Identity struct {
	private [Size]byte
	public  PublicKey
	ecdh    *ecdh.PrivateKey
}

// GenerateIdentity draws a new identity from r, or from crypto/rand when r
// is nil. Identities MUST come from a CSPRNG; r exists for tests.
func GenerateIdentity(r io.Reader) (*Identity, error) {
	if r == nil {
		r = rand.Reader
	}
	var priv [Size]byte
	if _, err := io.ReadFull(r, priv[:]); err != nil {
		return nil, fmt.Errorf("keys: reading randomness: %w", err)
	}
	return IdentityFromPrivate(priv)
}

// IdentityFromPrivate rebuilds an identity from its 32-byte private key.
func IdentityFromPrivate(priv [Size]byte) (*Identity, error) {
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return nil, fmt.Errorf("keys: invalid private key")
	}
	id := &Identity{private: priv, ecdh: k}
	copy(id.public[:], k.PublicKey().Bytes())
	return id, nil
}

// Public returns the public key: the client_id or server_id.
func (id *Identity) Public() PublicKey { return id.public }

// Private returns the private key bytes, for persisting it and for the
// Noise handshake. Callers must not log or share them.
func (id *Identity) Private() [Size]byte { return id.private }

// ECDH returns the key as a crypto/ecdh key, whose public half is already
// computed, so a Diffie-Hellman with it costs one scalar multiplication.
func (id *Identity) ECDH() *ecdh.PrivateKey { return id.ecdh }

// String prints the public key only. It has a value receiver so that an
// Identity printed by value is redacted too.
func (id Identity) String() string { return "Identity(" + id.public.String() + ")" }

// Format makes every fmt verb print the public key only.
func (id Identity) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, id.String()) }
