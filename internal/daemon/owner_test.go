package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// ownerRig is a running player (RunPlayer, listening on loopback) and an
// in-process server that dials it (connection.md "Server Initiated
// Connections"), so a test sees how each connection ends.
type ownerRig struct {
	state string
	pinfo PlayerInfo
	pid   keys.PublicKey
	srv   *server.Server
}

func newOwnerRig(t *testing.T, o PlayerOptions) *ownerRig {
	t.Helper()
	r := &ownerRig{state: filepath.Join(t.TempDir(), "p")}
	o.Listen = "127.0.0.1:0"
	r.pinfo = startPlayer(t, r.state, o)
	var err error
	if r.pid, err = keys.ParsePublicKey(r.pinfo.ID); err != nil {
		t.Fatal(err)
	}
	sst, err := store.Open(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	r.srv, err = server.New(server.Config{Store: sst, Name: "Hub"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Shutdown(context.Background()); sst.Close() })
	return r
}

// dial connects the server to the player; the channel gets how the
// session ended.
func (r *ownerRig) dial(t *testing.T) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.srv.Dial(ctx, r.pinfo.URL) }()
	t.Cleanup(cancel)
	waitFor(t, "the server to hold the player", func() bool { _, ok := r.client(); return ok })
	return done
}

// released waits until the player has let go of its closed connection:
// until then it would refuse the next one as an idle newcomer next to an
// idle holder (connection.md "Multiple servers").
func (r *ownerRig) released(t *testing.T) {
	t.Helper()
	waitFor(t, "the player to let go of the closed connection", func() bool { return !r.status(t).Connected })
}

func (r *ownerRig) client() (server.ClientInfo, bool) {
	for _, c := range r.srv.Clients() {
		if c.ID == r.pid {
			return c, true
		}
	}
	return server.ClientInfo{}, false
}

func (r *ownerRig) control(t *testing.T, op, arg string) ControlReply {
	t.Helper()
	reply, err := Control(r.state, ControlRequest{Op: op, Arg: arg})
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

func (r *ownerRig) status(t *testing.T) PlayerStatus {
	t.Helper()
	reply := r.control(t, OpStatus, "")
	var s PlayerStatus
	if reply.Error != "" || json.Unmarshal(reply.Result, &s) != nil {
		t.Fatalf("status: %+v", reply)
	}
	return s
}

// goodbyeOf waits for the session to end and returns the client's
// client/goodbye reason.
func goodbyeOf(t *testing.T, done <-chan error) wire.GoodbyeReason {
	t.Helper()
	select {
	case err := <-done:
		var e *server.Ended
		if !errors.As(err, &e) {
			t.Fatalf("the session ended with %v", err)
		}
		return e.Goodbye
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
	return ""
}

// The owner turns unpaired access off on a running player: the setting is
// stored, and the connection relying on it closes with client/goodbye
// 'pairing_required' (pairing.md "Unpaired Access").
func TestLiveUnpairedAccessOff(t *testing.T) {
	r := newOwnerRig(t, PlayerOptions{Name: "Den", UnpairedAccess: "on"})
	done := r.dial(t)
	if err := r.srv.Approve(r.pid, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the player role on the unpaired connection", func() bool {
		s := r.status(t)
		return s.Connected && !s.Paired && len(s.Roles) == 1
	})
	reply := r.control(t, OpUnpairedAccess, "off")
	if reply.Error != "" || !reply.Running || !strings.Contains(string(reply.Result), `"closed":1`) {
		t.Fatalf("unpaired-access off on a running player: %+v (%s)", reply, reply.Result)
	}
	if g := goodbyeOf(t, done); g != wire.GoodbyePairingRequired {
		t.Fatalf("goodbye %q, want pairing_required", g)
	}
	if s := r.status(t); s.UnpairedAccess {
		t.Fatal("status still says unpaired access on")
	}
	// A new connection is told the new setting and gets no playback.
	r.released(t)
	r.dial(t)
	waitFor(t, "the new connection's hello", func() bool { c, ok := r.client(); return ok && c.Name == "Den" })
	// Its hello says access is off (checked before any activation could
	// arrive, so the status check after it is no proof on its own).
	if c, _ := r.client(); c.UnpairedAccess {
		t.Fatal("the new connection's hello still says unpaired access is on")
	}
	if s := r.status(t); len(s.Activities) != 0 || len(s.Roles) != 0 {
		t.Fatalf("activities %v, roles %v on an unpaired connection with access off", s.Activities, s.Roles)
	}
}

// pair pairs the rig's server with the player by its token; the player
// keeps the server's name with the record.
func (r *ownerRig) pair(t *testing.T) {
	t.Helper()
	var tok map[string]string
	if err := json.Unmarshal(r.control(t, OpToken, "").Result, &tok); err != nil {
		t.Fatal(err)
	}
	if _, err := r.srv.PairWithToken(tok["token"]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pairing", func() bool {
		c, ok := r.client()
		return ok && c.Status == server.StatusPaired && r.status(t).Paired
	})
	var recs Records
	if err := json.Unmarshal(r.control(t, OpRecords, "").Result, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != 1 || recs.Records[0].Name != "Hub" || recs.Records[0].Server != r.srv.ID().String() || recs.Capacity != 5 {
		t.Fatalf("records after pairing: %+v", recs)
	}
}

// The owner forgets the server a running player is connected to on that
// record: the record goes and the connection closes with 'user_request'
// (docs/SPEC-NOTES.md).
func TestLiveForget(t *testing.T) {
	r := newOwnerRig(t, PlayerOptions{Name: "Den"})
	done := r.dial(t)
	r.pair(t)
	reply := r.control(t, OpForget, r.srv.ID().String()[:6])
	if reply.Error != "" || !reply.Running || !strings.Contains(string(reply.Result), r.srv.ID().String()) {
		t.Fatalf("forget on a running player: %+v", reply)
	}
	if g := goodbyeOf(t, done); g != wire.GoodbyeUserRequest {
		t.Fatalf("goodbye %q, want user_request", g)
	}
	if s := r.status(t); s.Records != 0 {
		t.Fatalf("%d records after forget", s.Records)
	}
	if reply := r.control(t, OpForget, r.srv.ID().String()[:6]); !strings.HasPrefix(reply.Error, "no pairing record has a server ID starting") {
		t.Fatalf("second forget: %+v", reply)
	}
}

// The operator unpairs: the player's status names the server and what it
// did, after the connection is gone.
func TestUnpairShowsInStatus(t *testing.T) {
	r := newOwnerRig(t, PlayerOptions{Name: "Den"})
	done := r.dial(t)
	r.pair(t)
	if err := r.srv.Unpair(r.pid); err != nil {
		t.Fatal(err)
	}
	if g := goodbyeOf(t, done); g != wire.GoodbyeUnpaired {
		t.Fatalf("goodbye %q, want unpaired", g)
	}
	waitFor(t, "the status to drop the connection", func() bool { return !r.status(t).Connected })
	s := r.status(t)
	e := s.LastServerEvent
	if e == nil || e.Server != r.srv.ID().String() || e.Name != "Hub" || e.What != "unpaired this player; its pairing record was removed" ||
		time.Since(e.At) > time.Minute || s.Records != 0 {
		t.Fatalf("status after unpair: %+v, event %+v", s, e)
	}
}

// The operator revokes approval: the server re-activates with no
// activities, and the status says so rather than what the group plays.
func TestRevokeShowsInStatus(t *testing.T) {
	r := newOwnerRig(t, PlayerOptions{Name: "Den", UnpairedAccess: "on"})
	r.dial(t)
	if err := r.srv.Approve(r.pid, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the player role", func() bool { return len(r.status(t).Roles) == 1 })
	if err := r.srv.Revoke(r.pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revoke to reach the player", func() bool {
		c, _ := r.client()
		return len(c.Roles) == 0
	})
	waitFor(t, "the status to show no activities", func() bool {
		s := r.status(t)
		return s.Connected && len(s.Activities) == 0 && len(s.Roles) == 0
	})
}

// The owner turns unpaired access on while a server holds the player
// unpaired at no activities: that connection restarts (pairing.md
// "Unpaired Access" allows 'restart'), so the next client/hello tells the
// server, whose operator can then approve the player.
func TestLiveUnpairedAccessOn(t *testing.T) {
	r := newOwnerRig(t, PlayerOptions{Name: "Den"})
	done := r.dial(t)
	waitFor(t, "the unpaired connection", func() bool { s := r.status(t); return s.Connected && !s.Paired })
	reply := r.control(t, OpUnpairedAccess, "on")
	if reply.Error != "" || !strings.Contains(string(reply.Result), `"closed":1`) {
		t.Fatalf("unpaired-access on, on a running player: %+v (%s)", reply, reply.Result)
	}
	if g := goodbyeOf(t, done); g != wire.GoodbyeRestart {
		t.Fatalf("goodbye %q, want restart", g)
	}
	r.released(t)
	r.dial(t)
	if err := r.srv.Approve(r.pid, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the player role", func() bool { return len(r.status(t).Roles) == 1 })
	// Setting it to what it is closes nothing.
	if reply := r.control(t, OpUnpairedAccess, "on"); !strings.Contains(string(reply.Result), `"closed":0`) {
		t.Fatalf("unchanged setting: %s", reply.Result)
	}
}
