// Package store is Tonearm's embedded, crash-safe state: identity keys now,
// pairing records and approvals as they arrive. It keeps everything in one
// bbolt file in the state directory (dir 0700, file 0600), and every change
// is one transaction: a crash leaves the old value or the new one, never
// half of one (GUIDE.md section 5).
//
// It must not log or return secrets in errors.
package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// FileName is the database file inside the state directory.
const FileName = "tonearm.db"

const (
	dirMode  = 0o700
	fileMode = 0o600
	// lockTimeout bounds the wait for another process holding the store.
	lockTimeout = time.Second
)

var (
	bucketIdentity = []byte("identity")
	keyStatic      = []byte("static_private")
)

// ErrCorrupt reports a store file that cannot be read as a whole. Open
// leaves such a file exactly as it found it: starting afresh would replace
// the identity and drop every pairing, which only the operator may decide.
var ErrCorrupt = errors.New("the store is corrupt")

// ErrInUse reports a state directory another process has open.
var ErrInUse = errors.New("the state directory is in use by another tonearm process")

// Store is an open state directory.
type Store struct {
	db  *bolt.DB
	dir string
}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: no state directory given")
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("store: creating state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// Secrets live here: tighten a directory others can read.
		if err := os.Chmod(dir, dirMode); err != nil {
			return nil, fmt.Errorf("store: securing state directory: %w", err)
		}
	}
	path := filepath.Join(dir, FileName)
	if err := create(path); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", path, err)
	}
	fi, err = os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store: %s is not a regular file", path)
	}
	if fi.Size() == 0 {
		// bbolt would initialize an empty file: a new identity in place
		// of the lost one. create never leaves an empty file here, so it
		// is damage.
		return nil, corrupt(path, errors.New("the file is empty"))
	}
	// Read it through once, read-only, before bbolt writes to it.
	opened := func(readOnly bool) (*bolt.DB, error) {
		db, err := openGuarded(path, readOnly)
		switch {
		case errors.Is(err, bolt.ErrTimeout):
			return nil, fmt.Errorf("store: %s: %w", dir, ErrInUse)
		case errors.Is(err, errDamaged):
			return nil, corrupt(path, err)
		case err != nil:
			return nil, fmt.Errorf("store: opening %s: %w", path, err)
		}
		return db, nil
	}
	ro, err := opened(true)
	if err != nil {
		return nil, err
	}
	err = verify(ro)
	ro.Close()
	if err != nil {
		return nil, corrupt(path, err)
	}
	db, err := opened(false)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, fileMode); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: securing %s: %w", path, err)
	}
	return &Store{db: db, dir: dir}, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Identity returns the static identity, generating and persisting one from
// rnd (crypto/rand when nil) on first use.
func (s *Store) Identity(rnd io.Reader) (*keys.Identity, error) {
	var id *keys.Identity
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketIdentity)
		if err != nil {
			return err
		}
		if v := b.Get(keyStatic); v != nil {
			if len(v) != keys.Size {
				return errors.New("store: the stored identity key is corrupt")
			}
			var priv [keys.Size]byte
			copy(priv[:], v)
			id, err = keys.IdentityFromPrivate(priv)
			clear(priv[:])
			return err
		}
		id, err = keys.GenerateIdentity(rnd)
		if err != nil {
			return err
		}
		// bbolt needs the value until the transaction commits, so it is a
		// fresh slice rather than a buffer wiped on return.
		priv := id.Private()
		return b.Put(keyStatic, priv[:])
	})
	if err != nil {
		return nil, err
	}
	return id, nil
}
