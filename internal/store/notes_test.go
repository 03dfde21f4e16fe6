package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// A server notes the name and last sighting of the clients it knows, and
// only of those: the note survives a restart, goes with the last of the
// client's record and approval, and a record written without one (an
// older store) still reads as before.
func TestClientNotes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	paired, approved, stranger := keys.PublicKey{1}, keys.PublicKey{2}, keys.PublicKey{3}
	if err := s.PutClientRecord(paired, keys.PSK{9}); err != nil {
		t.Fatal(err)
	}
	if err := s.Approve(Approval{Client: approved, Name: "Porch", Approved: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A record without a note: no name, no error.
	if _, ok, err := s.ClientNoteOf(paired); ok || err != nil {
		t.Fatalf("note before any: %v %v", ok, err)
	}
	seen := time.Date(2026, 12, 7, 21, 19, 0, 0, time.Local)
	for _, c := range []keys.PublicKey{paired, approved, stranger} {
		ok, err := s.NoteClient(c, "name", seen)
		if err != nil || ok != (c != stranger) {
			t.Fatalf("NoteClient(%v): %v %v", c, ok, err)
		}
	}
	// An empty name keeps the last one; a later sighting replaces the time.
	if _, err := s.NoteClient(paired, "", seen.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, ok, err := s.ClientNoteOf(paired)
	if err != nil || !ok || n.Name != "name" || !n.LastSeen.Equal(seen.Add(time.Minute)) {
		t.Fatalf("note after reopening: %+v %v %v", n, ok, err)
	}
	notes, err := s.ClientNotes()
	if err != nil || len(notes) != 2 {
		t.Fatalf("notes: %v %v", notes, err)
	}
	if err := s.DeleteClientRecord(paired); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(approved); err != nil {
		t.Fatal(err)
	}
	if notes, err := s.ClientNotes(); err != nil || len(notes) != 0 {
		t.Fatalf("notes outlived their records: %v %v", notes, err)
	}
}
