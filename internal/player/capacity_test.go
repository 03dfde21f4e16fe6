package player

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

type capServer struct {
	srv *server.Server
	st  *store.Store
	url string
}

func newCapServer(t *testing.T, name string) *capServer {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Shutdown(context.Background()); h.Close(); st.Close() })
	return &capServer{srv: srv, st: st, url: "ws" + strings.TrimPrefix(h.URL, "http") + "/sendspin"}
}

// TestRecordCapacityOverTheWire: a player keeping 5 records pairs with 6
// servers by token over real connections. The sixth pairing evicts the
// least recently used record, never the one backing the connection held
// open meanwhile (pairing.md "Pairing Records"); the evicted server then
// meets a player without its record: a credential mismatch, no roles.
func TestRecordCapacityOverTheWire(t *testing.T) {
	pst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pst.Close()
	pl, err := New(Config{Store: pst, Name: "Cap", RecordCapacity: 5, Log: testLog(t, "player")})
	if err != nil {
		t.Fatal(err)
	}
	var servers []*capServer
	for i := range 6 {
		servers = append(servers, newCapServer(t, "S"+string(rune('0'+i))))
	}
	// connect runs a client-initiated session to s until the returned stop.
	connect := func(s *capServer) func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- pl.Connect(ctx, s.url) }()
		waitFor(t, "the connection", func() bool { _, ok := serverView(s.srv, pl.ID()); return ok })
		return func() {
			cancel()
			<-done
			waitFor(t, "the disconnection", func() bool { _, ok := serverView(s.srv, pl.ID()); return !ok })
		}
	}
	pair := func(s *capServer) {
		if _, err := s.srv.PairWithToken(pl.Token()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the pairing", func() bool {
			info, _ := serverView(s.srv, pl.ID())
			return info.Status == server.StatusPaired
		})
	}
	// Servers 0..4 in turn: 5 records. Server 0 is paired first (least
	// recently used) and its connection stays open.
	hold := connect(servers[0])
	pair(servers[0])
	for _, s := range servers[1:5] {
		stop := connect(s)
		pair(s)
		stop()
	}
	if recs, _ := pst.ServerRecords(); len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	// The sixth: server 0 is the oldest but backs an open connection, so
	// server 1 goes.
	stop := connect(servers[5])
	pair(servers[5])
	stop()
	has := func(s *capServer) bool {
		recs, _ := pst.ServerRecords()
		for _, r := range recs {
			if r.Server == s.srv.ID() {
				return true
			}
		}
		return false
	}
	if recs, _ := pst.ServerRecords(); len(recs) != 5 || !has(servers[0]) || has(servers[1]) || !has(servers[5]) {
		t.Fatalf("records after the sixth pairing: %d, server 0 kept %v, server 1 kept %v", len(recs), has(servers[0]), has(servers[1]))
	}
	// The player says which record went, and for whom, with the names
	// the servers gave when they paired.
	ev := pl.Status().LastEviction
	if ev == nil || ev.Server != servers[1].srv.ID() || ev.Name != "S1" || ev.For != servers[5].srv.ID() || ev.ForName != "S5" {
		t.Fatalf("status eviction %+v", ev)
	}
	if recs, _ := pst.ServerRecords(); recs[0].Server != servers[5].srv.ID() || recs[0].Name != "S5" {
		t.Fatalf("the newest record %+v", recs[0])
	}
	hold()
	// Server 1 still holds its record; the player does not: mismatch.
	stop = connect(servers[1])
	waitFor(t, "the mismatch", func() bool {
		info, ok := serverView(servers[1].srv, pl.ID())
		return ok && info.Mismatch && info.Status != server.StatusPaired && len(info.Roles) == 0
	})
	stop()
	if _, ok, _ := servers[1].st.ClientRecord(pl.ID()); !ok {
		t.Fatal("the server lost its record")
	}
}

// TestTokenForAnotherClient: the operator enters client B's token while A
// and B are connected; the token's key names B, so only B pairs, and A
// sees no pairing activity (pairing.md "Pairing PSK Flow": the server
// checks the token's key against the connection's client_id).
func TestTokenForAnotherClient(t *testing.T) {
	r := newRig(t, false)
	bst, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bst.Close()
	b, err := New(Config{Store: bst, Name: "B", Log: testLog(t, "player-b")})
	if err != nil {
		t.Fatal(err)
	}
	r.connect()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Connect(ctx, r.url) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "both players", func() bool {
		_, a := serverView(r.srv, r.pl.ID())
		_, bb := serverView(r.srv, b.ID())
		return a && bb
	})
	got, err := r.srv.PairWithToken(b.Token())
	if err != nil || got != b.ID() {
		t.Fatalf("PairWithToken = %v, %v", got, err)
	}
	waitFor(t, "B to pair", func() bool { return b.Status().Paired })
	if info, _ := serverView(r.srv, r.pl.ID()); info.Status == server.StatusPaired || r.pl.Status().Paired ||
		r.pl.Status().Pairing.Active || r.pl.Status().Pairing.Last != 0 {
		t.Fatalf("A was touched: %+v / %+v", info, r.pl.Status())
	}
	if _, ok, _ := r.sst.ClientRecord(r.pl.ID()); ok {
		t.Fatal("a record for A")
	}
	if recs, _ := r.pst.ServerRecords(); len(recs) != 0 {
		t.Fatal("A stored a record")
	}
}
