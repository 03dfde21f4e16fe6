package store

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// The server's state: a pairing record per client_id (pairing.md "Pairing
// Records"), operator approvals for unpaired access (pairing.md "Unpaired
// Access") and the console token.

var (
	bucketClientRecords = []byte("client_records")
	bucketApprovals     = []byte("approvals")
	bucketServerState   = []byte("server_state")
	keyConsoleToken     = []byte("console_token")
)

// consoleTokenSize is the console token's length: 32 random bytes in
// unpadded base64url.
const consoleTokenSize = 43

// ClientRecord returns the long-term PSK paired with client, if any.
func (s *Store) ClientRecord(client keys.PublicKey) (keys.PSK, bool, error) {
	var p keys.PSK
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClientRecords)
		if b == nil {
			return nil
		}
		v := b.Get(client[:])
		if v == nil {
			return nil
		}
		if len(v) != keys.Size {
			return errors.New("store: a stored pairing record is corrupt")
		}
		copy(p[:], v)
		found = true
		return nil
	})
	return p, found, err
}

// PutClientRecord persists a pairing record and, in the same transaction,
// discards the client's approval: approval MUST be discarded on a
// successful pairing (pairing.md "Unpaired Access"). The server calls it
// before sending server/pair-finalize.
func (s *Store) PutClientRecord(client keys.PublicKey, psk keys.PSK) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketClientRecords)
		if err != nil {
			return err
		}
		if err := b.Put(append([]byte(nil), client[:]...), append([]byte(nil), psk[:]...)); err != nil {
			return err
		}
		if a := tx.Bucket(bucketApprovals); a != nil {
			return a.Delete(client[:])
		}
		return nil
	})
}

// DeleteClientRecord removes a client's pairing record (server/unpair).
func (s *Store) DeleteClientRecord(client keys.PublicKey) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClientRecords)
		if b == nil {
			return nil
		}
		if err := b.Delete(client[:]); err != nil {
			return err
		}
		return dropNoteIfUnknownLocked(tx, client)
	})
}

// PairedClients lists the clients with a pairing record.
func (s *Store) PairedClients() ([]keys.PublicKey, error) {
	var out []keys.PublicKey
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClientRecords)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) != keys.Size {
				return errors.New("store: a stored pairing record is corrupt")
			}
			out = append(out, keys.PublicKey(k))
			return nil
		})
	})
	return out, err
}

// Approval is an operator's approval of a client for unpaired access.
type Approval struct {
	Client keys.PublicKey `json:"-"`
	// Name is the client's name when it was approved, for the operator's
	// list; it proves nothing.
	Name string `json:"name"`
	// Source is true when the operator explicitly approved the source role
	// too (roles/source/v1.md "Unpaired access").
	Source   bool      `json:"source"`
	Approved time.Time `json:"approved"`
}

// Approve records an approval (replacing an earlier one).
func (s *Store) Approve(a Approval) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.put(bucketApprovals, append([]byte(nil), a.Client[:]...), v)
}

// Revoke removes an approval; revoking what is not approved is not an error.
func (s *Store) Revoke(client keys.PublicKey) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketApprovals)
		if b == nil {
			return nil
		}
		if err := b.Delete(client[:]); err != nil {
			return err
		}
		return dropNoteIfUnknownLocked(tx, client)
	})
}

// Approvals lists the approvals.
func (s *Store) Approvals() ([]Approval, error) {
	var out []Approval
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketApprovals)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var a Approval
			if len(k) != keys.Size || json.Unmarshal(v, &a) != nil {
				return errors.New("store: a stored approval is corrupt")
			}
			a.Client = keys.PublicKey(k)
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

// ApprovalOf returns a client's approval, if any. It reads the one key:
// the server asks on every activation plan and every client listing, so a
// scan of all approvals would make those quadratic in the clients.
func (s *Store) ApprovalOf(client keys.PublicKey) (Approval, bool, error) {
	var a Approval
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketApprovals)
		if b == nil {
			return nil
		}
		v := b.Get(client[:])
		if v == nil {
			return nil
		}
		if json.Unmarshal(v, &a) != nil {
			return errors.New("store: a stored approval is corrupt")
		}
		a.Client = client
		found = true
		return nil
	})
	if err != nil {
		return Approval{}, false, err
	}
	return a, found, nil
}

// ConsoleToken returns the token that authenticates console API requests
// from anywhere but loopback, creating it on first use.
func (s *Store) ConsoleToken() (string, error) {
	v, err := s.getOrCreate(bucketServerState, keyConsoleToken, consoleTokenSize, func() ([]byte, error) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		return []byte(base64.RawURLEncoding.EncodeToString(b[:])), nil
	})
	return string(v), err
}
