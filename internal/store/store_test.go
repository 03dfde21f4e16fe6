package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestIdentityPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Identity(nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Identity(nil)
	if err != nil || again.Public() != id.Public() {
		t.Fatal("identity changed within a session")
	}
	// A second process cannot open the same state directory.
	if _, err := Open(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	back, err := s.Identity(nil)
	if err != nil || back.Public() != id.Public() {
		t.Fatal("identity not persisted")
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, want %v (%v)", path, fi.Mode().Perm(), want, err)
		}
	}
}

func TestLooseDirectoryIsTightened(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
}

func TestCorruptIdentity(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketIdentity)
		if err != nil {
			return err
		}
		return b.Put(keyStatic, []byte("short"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity(nil); err == nil {
		t.Fatal("corrupt identity accepted")
	}
	s.Close()
	if _, err := Open(""); err == nil {
		t.Fatal("empty directory accepted")
	}
}
