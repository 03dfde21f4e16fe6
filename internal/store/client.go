package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
)

// The client's (player's) state: its pairing PSK and static code, its
// pairing records (pairing.md "Pairing Records"), the last-playback server
// (connection.md "Multiple servers") and its local settings.

var (
	bucketClientSecrets = []byte("client_secrets")
	bucketServerRecords = []byte("server_records")
	bucketClientState   = []byte("client_state")
	// bucketServerNames holds each pairing record's server name
	// (server/hello "name"), keyed like server_records. It is a bucket of
	// its own so records written before names were kept, and binaries
	// from before then, read the records unchanged.
	bucketServerNames = []byte("server_names")

	keyPairingPSK     = []byte("pairing_psk")
	keyStaticCode     = []byte("static_code")
	keyLastPlayback   = []byte("last_playback_server")
	settingsKeyPrefix = "setting:"
)

// MinRecordCapacity is the fewest pairing records a client MUST be able to
// store (pairing.md "Pairing Records").
const MinRecordCapacity = 5

// ErrNoEvictable reports a full record store whose every record backs an
// open connection; the caller's cap on paired connections prevents it.
var ErrNoEvictable = errors.New("store: every pairing record backs an open connection")

// getOrCreate returns the value under key, creating it with make on first
// use, in one transaction.
func (s *Store) getOrCreate(bucket, key []byte, size int, make func() ([]byte, error)) ([]byte, error) {
	var out []byte
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		if v := b.Get(key); v != nil {
			if len(v) != size {
				return fmt.Errorf("store: the stored %s is corrupt", key)
			}
			out = append([]byte(nil), v...)
			return nil
		}
		v, err := make()
		if err != nil {
			return err
		}
		out = v
		return b.Put(key, append([]byte(nil), v...))
	})
	return out, err
}

// PairingPSK returns the client's pairing PSK, drawing it from rnd
// (crypto/rand when nil) on first use (pairing.md "Pairing PSK Flow":
// per device, from a CSPRNG, long-lived).
func (s *Store) PairingPSK(rnd io.Reader) (keys.PSK, error) {
	v, err := s.getOrCreate(bucketClientSecrets, keyPairingPSK, keys.Size, func() ([]byte, error) {
		p, err := pairing.GeneratePSK(rnd)
		return p[:], err
	})
	var p keys.PSK
	copy(p[:], v)
	clear(v)
	return p, err
}

// RotatePairingPSK replaces the pairing PSK. Tokens printed before stop
// working; existing pairing records are unaffected.
func (s *Store) RotatePairingPSK(rnd io.Reader) (keys.PSK, error) {
	p, err := pairing.GeneratePSK(rnd)
	if err != nil {
		return keys.PSK{}, err
	}
	err = s.put(bucketClientSecrets, keyPairingPSK, append([]byte(nil), p[:]...))
	return p, err
}

// StaticCode returns the static pairing code, drawing a random one on
// first use (pairing.md "Static Pairing Code Flow": never a shared default).
func (s *Store) StaticCode(rnd io.Reader) (pairing.StaticCode, error) {
	v, err := s.getOrCreate(bucketClientSecrets, keyStaticCode, pairing.StaticCodeDigits, func() ([]byte, error) {
		c, err := pairing.GenerateStaticCode(rnd)
		return []byte(c.Digits()), err
	})
	if err != nil {
		return pairing.StaticCode{}, err
	}
	return pairing.ParseStaticCode(string(v))
}

// SetStaticCode replaces the static pairing code.
func (s *Store) SetStaticCode(c pairing.StaticCode) error {
	return s.put(bucketClientSecrets, keyStaticCode, []byte(c.Digits()))
}

func (s *Store) put(bucket, key, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
}

// ServerRecord is a client's pairing record for one server.
type ServerRecord struct {
	Server   keys.PublicKey
	PSK      keys.PSK
	LastUsed time.Time
	// Name is the server's name when it paired (server/hello); empty for
	// records kept before names were.
	Name string
}

// maxServerName bounds a stored server name; a longer entry is damage.
const maxServerName = 1024

const serverRecordSize = keys.Size + 8

func encodeServerRecord(r ServerRecord) []byte {
	v := make([]byte, 0, serverRecordSize)
	v = append(v, r.PSK[:]...)
	return binary.BigEndian.AppendUint64(v, uint64(r.LastUsed.UnixNano()))
}

func decodeServerRecord(k, v []byte) (ServerRecord, error) {
	if len(k) != keys.Size || len(v) != serverRecordSize {
		return ServerRecord{}, errors.New("store: a stored pairing record is corrupt")
	}
	var r ServerRecord
	copy(r.Server[:], k)
	copy(r.PSK[:], v)
	r.LastUsed = time.Unix(0, int64(binary.BigEndian.Uint64(v[keys.Size:])))
	return r, nil
}

// ServerRecords lists the pairing records, most recently used first.
func (s *Store) ServerRecords() ([]ServerRecord, error) {
	var out []ServerRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketServerRecords)
		if b == nil {
			return nil
		}
		names := tx.Bucket(bucketServerNames)
		return b.ForEach(func(k, v []byte) error {
			r, err := decodeServerRecord(k, v)
			if names != nil {
				r.Name = string(names.Get(k))
			}
			out = append(out, r)
			return err
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, err
}

// ServerRecordByPSKID finds the record whose PSK has the given psk_id: the
// client's long-term candidates (connection.md "Pre-Shared Key").
func (s *Store) ServerRecordByPSKID(id keys.PSKID) (ServerRecord, bool, error) {
	recs, err := s.ServerRecords()
	if err != nil {
		return ServerRecord{}, false, err
	}
	for _, r := range recs {
		if r.PSK.ID().Equal(id) {
			return r, true, nil
		}
	}
	return ServerRecord{}, false, nil
}

// PutServerRecord persists a new pairing record, replacing any record for
// the same server. At capacity it evicts the least recently used record
// that inUse does not protect (a record backing an open connection is never
// evicted); a pairing never fails for lack of room unless every record is
// in use. It returns the evicted record with its server's name, if any.
// All in one transaction.
func (s *Store) PutServerRecord(r ServerRecord, capacity int, inUse func(keys.PublicKey) bool) (evicted *ServerRecord, err error) {
	if capacity < MinRecordCapacity {
		return nil, fmt.Errorf("store: record capacity %d is below the spec's minimum of %d", capacity, MinRecordCapacity)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketServerRecords)
		if err != nil {
			return err
		}
		if b.Get(r.Server[:]) == nil && countKeys(b) >= capacity {
			var victim *ServerRecord
			if err := b.ForEach(func(k, v []byte) error {
				c, err := decodeServerRecord(k, v)
				if err != nil {
					return err
				}
				if inUse != nil && inUse(c.Server) {
					return nil
				}
				if victim == nil || c.LastUsed.Before(victim.LastUsed) {
					victim = &c
				}
				return nil
			}); err != nil {
				return err
			}
			if victim == nil {
				return ErrNoEvictable
			}
			if nb := tx.Bucket(bucketServerNames); nb != nil {
				victim.Name = string(nb.Get(victim.Server[:]))
			}
			if err := b.Delete(victim.Server[:]); err != nil {
				return err
			}
			if err := deleteServerName(tx, victim.Server); err != nil {
				return err
			}
			evicted = victim
		}
		if err := b.Put(append([]byte(nil), r.Server[:]...), encodeServerRecord(r)); err != nil {
			return err
		}
		// A new record for a server replaces its name too: no name kept
		// from an earlier pairing passes for this one's.
		if err := deleteServerName(tx, r.Server); err != nil || r.Name == "" {
			return err
		}
		if len(r.Name) > maxServerName {
			return fmt.Errorf("store: a server name of %d bytes is over %d", len(r.Name), maxServerName)
		}
		nb, err := tx.CreateBucketIfNotExists(bucketServerNames)
		if err != nil {
			return err
		}
		return nb.Put(append([]byte(nil), r.Server[:]...), []byte(r.Name))
	})
	if err != nil {
		evicted = nil
	}
	return evicted, err
}

// TouchServerRecord marks a record used at t (a paired connection to it).
func (s *Store) TouchServerRecord(server keys.PublicKey, t time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketServerRecords)
		if b == nil {
			return nil
		}
		v := b.Get(server[:])
		if v == nil {
			return nil
		}
		r, err := decodeServerRecord(server[:], v)
		if err != nil {
			return err
		}
		r.LastUsed = t
		return b.Put(append([]byte(nil), server[:]...), encodeServerRecord(r))
	})
}

// DeleteServerRecord removes the record for server (server/unpair, or an
// operator's removal). Removing a record that does not exist is not an error.
func (s *Store) DeleteServerRecord(server keys.PublicKey) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := deleteServerName(tx, server); err != nil {
			return err
		}
		b := tx.Bucket(bucketServerRecords)
		if b == nil {
			return nil
		}
		return b.Delete(server[:])
	})
}

// deleteServerName drops a server's stored name, within tx.
func deleteServerName(tx *bolt.Tx, server keys.PublicKey) error {
	if b := tx.Bucket(bucketServerNames); b != nil {
		return b.Delete(server[:])
	}
	return nil
}

// LastPlaybackServer returns the persisted last-playback server, if any.
func (s *Store) LastPlaybackServer() (keys.PublicKey, bool, error) {
	var k keys.PublicKey
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClientState)
		if b == nil {
			return nil
		}
		v := b.Get(keyLastPlayback)
		if v == nil {
			return nil
		}
		if len(v) != keys.Size {
			return errors.New("store: the stored last-playback server is corrupt")
		}
		copy(k[:], v)
		found = true
		return nil
	})
	return k, found, err
}

// SetLastPlaybackServer persists the last-playback server.
func (s *Store) SetLastPlaybackServer(k keys.PublicKey) error {
	return s.put(bucketClientState, keyLastPlayback, append([]byte(nil), k[:]...))
}

// Setting returns a local setting's stored text, if set.
func (s *Store) Setting(name string) (string, bool, error) {
	var out string
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClientState)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(settingsKeyPrefix + name)); v != nil {
			out, found = string(v), true
		}
		return nil
	})
	return out, found, err
}

// SetSetting stores a local setting (name, unpaired access, output delay).
func (s *Store) SetSetting(name, value string) error {
	return s.put(bucketClientState, []byte(settingsKeyPrefix+name), []byte(value))
}

// FactoryReset returns the client to its provisioned state (README.md
// "Definitions"): the identity, pairing PSK and static code stay; pairing
// records, the last-playback server and settings are cleared.
func (s *Store) FactoryReset() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketServerRecords, bucketServerNames, bucketClientState} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
}

func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
