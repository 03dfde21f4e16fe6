package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
)

// A store file is created whole, opened under a guard and read through
// once before use, so that damage stops startup with one clear line
// instead of a silent new identity or a crash (issue 4: "a store that fails
// to open or is corrupt stops startup with a clear message, never a silent
// reset of keys"). Nothing here writes to an existing file.

// errDamaged marks a failure that shows the file itself is unreadable.
var errDamaged = errors.New("unreadable")

// corrupt is the one-line report of a damaged store file.
func corrupt(path string, why error) error {
	return fmt.Errorf("store: %s: %w (%v); it was left untouched: restore it from a backup, "+
		"or move it aside to start afresh with a new identity and no pairings", path, ErrCorrupt, why)
}

// create makes a new, empty store at path if there is no file there. The
// database is initialized under a temporary name and linked into place,
// so an empty file under the store's name is never ours: bbolt would
// initialize one silently (a new identity), so Open refuses it.
func create(path string) error {
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return nil // there is a file (or an error Open reports next)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new.*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Close(); err != nil {
		return err
	}
	db, err := bolt.Open(name, fileMode, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	// A link fails if another process created the store meanwhile: theirs
	// is kept. A rename is the fallback on file systems without links.
	if err := os.Link(name, path); err != nil && !errors.Is(err, os.ErrExist) {
		if err := os.Rename(name, path); err != nil {
			return err
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// openGuarded opens the bbolt file at path. bbolt reads it through a
// memory map and trusts its page numbers, so a damaged file can fault
// (SIGBUS past the end of a truncated file) or panic inside bolt.Open;
// both become errDamaged. Open calls it read-only first, which reads no
// page but the two meta pages, and verifies the file before the
// read-write open loads the freelist: a fault there would leave the
// mapping, and with it the file's lock, in place until the process ends.
func openGuarded(path string, readOnly bool) (*bolt.DB, error) {
	var db *bolt.DB
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, fileMode, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, errDamaged):
		return nil, err
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch),
		strings.Contains(err.Error(), "file size too small"):
		return nil, fmt.Errorf("%w: %v", errDamaged, err)
	}
	return nil, err
}

// guard runs f with memory faults turned into panics, and recovers those
// and bbolt's own panics on inconsistent pages as errDamaged.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errDamaged, r)
		}
	}()
	return f()
}

// verify reads the whole store once: every page the high-water mark
// claims must be in the file, and every entry Tonearm reads later must
// decode. A record that would fail on first use fails now, before any
// connection relies on it. The file's size is taken with db's lock held:
// before it, another process (a player action just finishing) may still
// be growing the file.
func verify(db *bolt.DB) error {
	return guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			fi, err := os.Stat(db.Path())
			if err != nil {
				return err
			}
			if want, size := tx.Size(), fi.Size(); want > size {
				return fmt.Errorf("truncated: %d of %d bytes", size, want)
			}
			return tx.ForEach(func(bucket []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					if v == nil {
						return nil // a nested bucket: not ours
					}
					return checkEntry(string(bucket), k, v)
				})
			})
		})
	})
}

// checkEntry checks one stored entry against what the accessors expect.
// Entries Tonearm does not know are left alone.
func checkEntry(bucket string, k, v []byte) error {
	bad := func(what string) error { return fmt.Errorf("a stored %s is corrupt", what) }
	switch bucket {
	case string(bucketIdentity):
		if string(k) == string(keyStatic) && len(v) != keys.Size {
			return bad("identity key")
		}
	case string(bucketClientRecords):
		if len(k) != keys.Size || len(v) != keys.Size {
			return bad("pairing record")
		}
	case string(bucketServerRecords):
		if _, err := decodeServerRecord(k, v); err != nil {
			return bad("pairing record")
		}
	case string(bucketServerNames):
		if len(k) != keys.Size || len(v) > maxServerName || !utf8.Valid(v) {
			return bad("server name")
		}
	case string(bucketApprovals):
		var a Approval
		if len(k) != keys.Size || json.Unmarshal(v, &a) != nil {
			return bad("approval")
		}
	case string(bucketClientNotes):
		var n ClientNote
		if len(k) != keys.Size || json.Unmarshal(v, &n) != nil {
			return bad("client note")
		}
	case string(bucketServerState):
		if string(k) == string(keyConsoleToken) && len(v) != consoleTokenSize {
			return bad("console token")
		}
	case string(bucketClientSecrets):
		switch string(k) {
		case string(keyPairingPSK):
			if len(v) != keys.Size {
				return bad("pairing PSK")
			}
		case string(keyStaticCode):
			if _, err := pairing.ParseStaticCode(string(v)); err != nil || len(v) != pairing.StaticCodeDigits {
				return bad("static code")
			}
		}
	case string(bucketClientState):
		if string(k) == string(keyLastPlayback) && len(v) != keys.Size {
			return bad("last-playback server")
		}
	}
	return nil
}
