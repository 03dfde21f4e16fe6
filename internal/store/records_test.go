package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pub(b byte) keys.PublicKey { return keys.PublicKey{b, 1, 2} }
func psk(b byte) keys.PSK       { return keys.PSK{b, 9, 9} }

func TestClientSecretsPersist(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	p1, err := s.PairingPSK(nil)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := s.StaticCode(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _ = Open(dir)
	defer s.Close()
	if p2, _ := s.PairingPSK(nil); !p2.Equal(p1) {
		t.Fatal("pairing PSK not persisted")
	}
	if c2, _ := s.StaticCode(nil); !c2.Equal(c1) {
		t.Fatal("static code not persisted")
	}
	p3, err := s.RotatePairingPSK(nil)
	if err != nil || p3.Equal(p1) {
		t.Fatal("rotate")
	}
	if p4, _ := s.PairingPSK(nil); !p4.Equal(p3) {
		t.Fatal("rotated PSK not persisted")
	}
	code, _ := pairing.ParseStaticCode("1234-5678")
	if err := s.SetStaticCode(code); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.StaticCode(nil); c.Digits() != "12345678" {
		t.Fatal("set static code")
	}
}

func TestServerRecordEviction(t *testing.T) {
	s := openTemp(t)
	base := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		if ev, err := s.PutServerRecord(ServerRecord{Server: pub(byte(i)), PSK: psk(byte(i)), LastUsed: base.Add(time.Duration(i) * time.Hour)}, 5, nil); err != nil || ev != nil {
			t.Fatalf("put %d: %v %v", i, ev, err)
		}
	}
	// Replacing a server's record does not evict anything.
	if ev, err := s.PutServerRecord(ServerRecord{Server: pub(2), PSK: psk(42), LastUsed: base.Add(10 * time.Hour)}, 5, nil); err != nil || ev != nil {
		t.Fatalf("replace: %v %v", ev, err)
	}
	// A sixth evicts the least recently used (server 0), unless it is in use.
	inUse := func(k keys.PublicKey) bool { return k == pub(0) }
	ev, err := s.PutServerRecord(ServerRecord{Server: pub(6), PSK: psk(6), LastUsed: base.Add(11 * time.Hour)}, 5, inUse)
	if err != nil || ev == nil || ev.Server != pub(1) {
		t.Fatalf("evicted %v %v, want server 1 (server 0 is in use)", ev, err)
	}
	recs, _ := s.ServerRecords()
	if len(recs) != 5 || recs[0].Server != pub(6) {
		t.Fatalf("records %v", recs)
	}
	// Every record in use: refuse rather than evict one.
	if _, err := s.PutServerRecord(ServerRecord{Server: pub(7)}, 5, func(keys.PublicKey) bool { return true }); !errors.Is(err, ErrNoEvictable) {
		t.Fatalf("got %v", err)
	}
	if recs2, _ := s.ServerRecords(); len(recs2) != 5 {
		t.Fatal("a refused put changed the records")
	}
	if _, err := s.PutServerRecord(ServerRecord{Server: pub(8)}, 4, nil); err == nil {
		t.Fatal("capacity below 5 accepted")
	}
	r, ok, err := s.ServerRecordByPSKID(psk(42).ID())
	if err != nil || !ok || r.Server != pub(2) {
		t.Fatal("lookup by psk_id")
	}
	if err := s.TouchServerRecord(pub(0), base.Add(20*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.ServerRecords(); recs[0].Server != pub(0) {
		t.Fatal("touch did not update LastUsed")
	}
	if err := s.DeleteServerRecord(pub(0)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ServerRecordByPSKID(psk(0).ID()); ok {
		t.Fatal("deleted record still found")
	}
}

func TestClientStateAndReset(t *testing.T) {
	s := openTemp(t)
	if _, ok, _ := s.LastPlaybackServer(); ok {
		t.Fatal("fresh store has a last-playback server")
	}
	_ = s.SetLastPlaybackServer(pub(3))
	if k, ok, _ := s.LastPlaybackServer(); !ok || k != pub(3) {
		t.Fatal("last-playback server")
	}
	_ = s.SetSetting("name", "Kitchen")
	if v, ok, _ := s.Setting("name"); !ok || v != "Kitchen" {
		t.Fatal("setting")
	}
	id, _ := s.Identity(nil)
	p, _ := s.PairingPSK(nil)
	_, _ = s.PutServerRecord(ServerRecord{Server: pub(1), PSK: psk(1)}, 5, nil)
	if err := s.FactoryReset(); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.ServerRecords(); len(recs) != 0 {
		t.Fatal("records survived a factory reset")
	}
	if _, ok, _ := s.Setting("name"); ok {
		t.Fatal("settings survived a factory reset")
	}
	if id2, _ := s.Identity(nil); id2.Public() != id.Public() {
		t.Fatal("factory reset changed the provisioned identity")
	}
	if p2, _ := s.PairingPSK(nil); !p2.Equal(p) {
		t.Fatal("factory reset changed the provisioned pairing PSK")
	}
}

func TestServerRecordsAndApprovals(t *testing.T) {
	s := openTemp(t)
	if err := s.Approve(Approval{Client: pub(1), Name: "Kitchen", Approved: time.Unix(5, 0)}); err != nil {
		t.Fatal(err)
	}
	if a, ok, _ := s.ApprovalOf(pub(1)); !ok || a.Name != "Kitchen" || a.Source {
		t.Fatalf("approval %+v", a)
	}
	// Pairing discards the approval in the same transaction.
	if err := s.PutClientRecord(pub(1), psk(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ApprovalOf(pub(1)); ok {
		t.Fatal("approval kept after pairing")
	}
	if p, ok, _ := s.ClientRecord(pub(1)); !ok || !p.Equal(psk(1)) {
		t.Fatal("client record")
	}
	if ks, _ := s.PairedClients(); len(ks) != 1 || ks[0] != pub(1) {
		t.Fatal("paired clients")
	}
	_ = s.DeleteClientRecord(pub(1))
	if _, ok, _ := s.ClientRecord(pub(1)); ok {
		t.Fatal("record not deleted")
	}
	_ = s.Approve(Approval{Client: pub(2)})
	_ = s.Revoke(pub(2))
	if as, _ := s.Approvals(); len(as) != 0 {
		t.Fatal("revoke")
	}
	tok, err := s.ConsoleToken()
	if err != nil || len(tok) != 43 {
		t.Fatal(err)
	}
	if tok2, _ := s.ConsoleToken(); tok2 != tok {
		t.Fatal("console token not stable")
	}
	if bytes.Equal([]byte(tok), make([]byte, 43)) {
		t.Fatal("empty token")
	}
}
