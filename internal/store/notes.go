package store

import (
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// A server remembers what it last saw of each client it knows (one with a
// pairing record or an approval): its name and when it was last connected,
// so an offline client is listed by name and "offline since 21:19". The
// note lives beside the record, in its own bucket: records and approvals
// written before notes existed read as they always did, and a store
// without a note simply shows no name. A note goes with the last of the
// client's record and approval.

var bucketClientNotes = []byte("client_notes")

// ClientNote is what the server last saw of a client. The name is the
// client's own hint, never proof of identity.
type ClientNote struct {
	Name     string    `json:"name,omitempty"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// NoteClient records a client's name and when it was seen, in one
// transaction, if the client has a pairing record or an approval; it
// reports whether it did. An empty name keeps the one noted before.
func (s *Store) NoteClient(client keys.PublicKey, name string, seen time.Time) (bool, error) {
	known := false
	if err := s.db.View(func(tx *bolt.Tx) error { known = knownLocked(tx, client); return nil }); err != nil || !known {
		return false, err // no write transaction (and no sync) for a stranger
	}
	noted := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		if !knownLocked(tx, client) {
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(bucketClientNotes)
		if err != nil {
			return err
		}
		var n ClientNote
		if v := b.Get(client[:]); v != nil {
			_ = json.Unmarshal(v, &n) // a damaged note is replaced
		}
		if name != "" {
			n.Name = name
		}
		if !seen.IsZero() {
			n.LastSeen = seen
		}
		v, err := json.Marshal(n)
		if err != nil {
			return err
		}
		noted = true
		return b.Put(append([]byte(nil), client[:]...), v)
	})
	return noted, err
}

// ClientNoteOf returns the note on a client, if any.
func (s *Store) ClientNoteOf(client keys.PublicKey) (ClientNote, bool, error) {
	var n ClientNote
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClientNotes)
		if b == nil {
			return nil
		}
		v := b.Get(client[:])
		if v == nil {
			return nil
		}
		if json.Unmarshal(v, &n) != nil {
			return errors.New("store: a stored client note is corrupt")
		}
		found = true
		return nil
	})
	return n, found, err
}

// ClientNotes returns every note, by client.
func (s *Store) ClientNotes() (map[keys.PublicKey]ClientNote, error) {
	out := map[keys.PublicKey]ClientNote{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClientNotes)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var n ClientNote
			if len(k) != keys.Size || json.Unmarshal(v, &n) != nil {
				return errors.New("store: a stored client note is corrupt")
			}
			out[keys.PublicKey(k)] = n
			return nil
		})
	})
	return out, err
}

// knownLocked reports whether the client has a pairing record or an
// approval.
func knownLocked(tx *bolt.Tx, client keys.PublicKey) bool {
	for _, name := range [][]byte{bucketClientRecords, bucketApprovals} {
		if b := tx.Bucket(name); b != nil && b.Get(client[:]) != nil {
			return true
		}
	}
	return false
}

// dropNoteIfUnknownLocked deletes the client's note once it has neither a
// pairing record nor an approval.
func dropNoteIfUnknownLocked(tx *bolt.Tx, client keys.PublicKey) error {
	if knownLocked(tx, client) {
		return nil
	}
	if b := tx.Bucket(bucketClientNotes); b != nil {
		return b.Delete(client[:])
	}
	return nil
}
