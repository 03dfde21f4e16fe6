package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// populated makes a state directory whose store holds what a server and a
// player keep, and returns the directory and the file's bytes.
func populated(t *testing.T) (string, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsoleToken(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PairingPSK(nil); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := s.PutClientRecord(pub(byte(i)), psk(byte(i))); err != nil {
			t.Fatal(err)
		}
		if err := s.Approve(Approval{Client: pub(byte(100 + i)), Name: strings.Repeat("n", 60), Approved: time.Unix(1, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutServerRecord(ServerRecord{Server: pub(200), PSK: psk(200), LastUsed: time.Unix(5, 0)}, 5, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return dir, b
}

// refused checks that Open refuses dir as corrupt, in one line naming the
// file and the way out, and leaves the file and the directory as they were.
func refused(t *testing.T, dir string, want []byte, reason string) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	before, _ := os.ReadDir(dir)
	// Twice: a failed open must not leave the file locked or changed.
	for range 2 {
		s, err := Open(dir)
		if err == nil {
			s.Close()
			t.Fatal("a damaged store opened")
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "store: "+path+": ") ||
			!strings.Contains(msg, reason) || !strings.Contains(msg, "left untouched") {
			t.Fatalf("message %q: want one line naming %s and %q", msg, path, reason)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the store file changed (%d bytes, was %d): %v", len(got), len(want), err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Fatalf("directory changed: %v -> %v", before, after)
	}
}

// A damaged file is never initialized afresh (a new identity) and never
// crashes the process: bbolt maps the file and a truncated one faults.
func TestOpenRefusesDamagedFile(t *testing.T) {
	_, orig := populated(t)
	if len(orig) < 6*4096 {
		t.Fatalf("the populated store is only %d bytes", len(orig))
	}
	garbage := make([]byte, len(orig))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	scrambled := bytes.Clone(orig)
	copy(scrambled[2*4096:], garbage)
	zeroMetas := bytes.Clone(orig)
	clear(zeroMetas[:2*4096])
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"empty", nil, "the file is empty"},
		{"garbage", garbage, "invalid database"},
		{"short garbage", garbage[:100], "invalid database"},
		{"meta pages only", orig[:2*4096], "truncated"},
		{"cut after the freelist", orig[:3*4096], "truncated"},
		{"cut in a page", orig[:len(orig)/2+100], "truncated"},
		{"pages scrambled", scrambled, "store is corrupt"},
		{"meta pages zeroed", zeroMetas, "invalid database"},
		{"under two pages", orig[:4096], "file size too small"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			refused(t, dir, c.data, c.reason)
		})
	}
}

// Entries that would fail on first use fail the open, whichever bucket.
func TestOpenRefusesCorruptEntries(t *testing.T) {
	cases := []struct {
		name       string
		bucket     string
		key, value []byte
		reason     string
	}{
		{"identity", "identity", keyStatic, []byte("short"), "identity key"},
		{"client record value", "client_records", pubB(1), []byte{1, 2, 3}, "pairing record"},
		{"client record key", "client_records", []byte("k"), pskB(1), "pairing record"},
		{"approval", "approvals", pubB(2), []byte("{not json"), "approval"},
		{"server record", "server_records", pubB(3), pskB(3), "pairing record"},
		{"console token", "server_state", keyConsoleToken, []byte("abc"), "console token"},
		{"pairing PSK", "client_secrets", keyPairingPSK, make([]byte, 31), "pairing PSK"},
		{"static code", "client_secrets", keyStaticCode, []byte("12ab5678"), "static code"},
		{"last playback", "client_state", keyLastPlayback, []byte{1}, "last-playback server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := populated(t)
			path := filepath.Join(dir, FileName)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte(c.bucket))
				if err != nil {
					return err
				}
				return b.Put(c.key, c.value)
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			data, _ := os.ReadFile(path)
			refused(t, dir, data, "a stored "+c.reason+" is corrupt")
		})
	}
	// Unknown buckets and keys are not Tonearm's to judge.
	dir, _ := populated(t)
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("future"))
		_ = b.Put([]byte("x"), []byte("y"))
		b, _ = tx.CreateBucketIfNotExists(bucketClientState)
		return b.Put([]byte("setting:future"), []byte{0xff})
	})
	db.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("unknown entries refused: %v", err)
	}
	s.Close()
}

// A state directory that is a file, or that cannot be written, is an
// error, and nothing is created or changed.
func TestOpenUnusableStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("state dir is a file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "not a directory" {
		t.Fatal("the file was changed")
	}
	// The store's name taken by a directory.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("store file is a directory: %v", err)
	}

	if os.Geteuid() == 0 {
		t.Log("running as root: a read-only directory is writable; that case is skipped")
		return
	}
	ro := t.TempDir()
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	if _, err := Open(ro); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("read-only state dir: %v", err)
	}
	if ents, _ := os.ReadDir(ro); len(ents) != 0 {
		t.Fatalf("files created in a read-only directory: %v", ents)
	}
}

// A new store is created whole: no empty file under the store's name, no
// temporary file left behind, and a second open finds the same identity.
func TestCreateIsWhole(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.Identity(nil)
	s.Close()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != FileName {
		t.Fatalf("state directory holds %v", ents)
	}
	if fi, _ := os.Stat(filepath.Join(dir, FileName)); fi.Size() == 0 {
		t.Fatal("empty store file")
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again, _ := s.Identity(nil); again.Public() != id.Public() {
		t.Fatal("identity changed")
	}
}

func pubB(b byte) []byte { k := pub(b); return k[:] }
func pskB(b byte) []byte { p := psk(b); return p[:] }
