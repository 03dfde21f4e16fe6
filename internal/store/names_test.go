package store

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// names maps each record's server to its stored name.
func names(t *testing.T, s *Store) map[byte]string {
	t.Helper()
	recs, err := s.ServerRecords()
	if err != nil {
		t.Fatal(err)
	}
	out := map[byte]string{}
	for _, r := range recs {
		out[r.Server[0]] = r.Name
	}
	return out
}

// A pairing record keeps its server's name (issue 11: records show
// names). The record's own encoding is unchanged, so records written
// before names were kept load as nameless, and older binaries read the new
// ones; a name lives and dies with its record, in the same transaction.
func TestServerRecordNames(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	// Server 0 as a binary from before names would have written it.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketServerRecords)
		if err != nil {
			return err
		}
		k := pub(0)
		return b.Put(k[:], encodeServerRecord(ServerRecord{Server: pub(0), PSK: psk(0), LastUsed: base}))
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		if _, err := s.PutServerRecord(ServerRecord{Server: pub(byte(i)), PSK: psk(byte(i)), LastUsed: base.Add(time.Duration(i) * time.Hour),
			Name: "Hub " + string(rune('0'+i))}, 5, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, s); len(got) != 5 || got[0] != "" || got[1] != "Hub 1" || got[4] != "Hub 4" {
		t.Fatalf("names %v", got)
	}
	// The record's value is still the old 40 bytes.
	if err := s.db.View(func(tx *bolt.Tx) error {
		k := pub(1)
		if v := tx.Bucket(bucketServerRecords).Get(k[:]); len(v) != serverRecordSize {
			return errors.New("the record's encoding changed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A new pairing with a server replaces its name, even with none.
	if _, err := s.PutServerRecord(ServerRecord{Server: pub(2), PSK: psk(22), LastUsed: base.Add(9 * time.Hour)}, 5, nil); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s); got[2] != "" {
		t.Fatalf("an old name outlived its record: %q", got[2])
	}
	// Eviction (server 0, the oldest) and deletion drop no one else's name.
	ev, err := s.PutServerRecord(ServerRecord{Server: pub(6), PSK: psk(6), LastUsed: base.Add(10 * time.Hour), Name: "New"}, 5, nil)
	if err != nil || ev == nil || ev.Server != pub(0) {
		t.Fatalf("evicted %v %v", ev, err)
	}
	if err := s.DeleteServerRecord(pub(1)); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s); len(got) != 4 || got[6] != "New" || got[3] != "Hub 3" {
		t.Fatalf("names after evict and delete: %v", got)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		if n := countKeys(tx.Bucket(bucketServerNames)); n != 3 {
			return errors.New("a name outlived its record")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A name too long is refused, and the record with it.
	if _, err := s.PutServerRecord(ServerRecord{Server: pub(7), PSK: psk(7), Name: string(make([]byte, maxServerName+1))}, 5, nil); err == nil {
		t.Fatal("an oversized name was stored")
	}
	if got := names(t, s); len(got) != 4 {
		t.Fatalf("a refused put left a record: %v", got)
	}
	// Reopened: the names are checked and load.
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s); got[6] != "New" {
		t.Fatalf("names after reopening: %v", got)
	}
	// An evicted record comes back with its server's name, read in the
	// same transaction that drops it.
	if _, err := s.PutServerRecord(ServerRecord{Server: pub(9), PSK: psk(9), LastUsed: base.Add(11 * time.Hour)}, 5, nil); err != nil {
		t.Fatal(err)
	}
	if ev, err := s.PutServerRecord(ServerRecord{Server: pub(10), PSK: psk(10), LastUsed: base.Add(12 * time.Hour)}, 5, nil); err != nil || ev == nil ||
		ev.Server != pub(3) || ev.Name != "Hub 3" {
		t.Fatalf("evicted %+v %v, want server 3, Hub 3", ev, err)
	}
	if err := s.FactoryReset(); err != nil {
		t.Fatal(err)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketServerNames) != nil {
			return errors.New("a factory reset kept the names")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// A damaged name stops the store from opening, like any damaged entry.
func TestServerNameDamage(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketServerNames)
		if err != nil {
			return err
		}
		k := pub(1)
		return b.Put(k[:], []byte{0xff, 0xfe})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a damaged name: %v", err)
	}
}
