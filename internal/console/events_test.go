package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// sse is a server-sent-events reader of GET /api/events.
type sse struct {
	resp   *http.Response
	events chan sseEvent
	ended  chan error
}

type sseEvent struct {
	name string
	data string
}

func openEvents(t *testing.T, base string, hdr map[string]string) *sse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	s := &sse{resp: resp, events: make(chan sseEvent, 1024), ended: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 1<<16), 4<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if ev.data != "" {
					s.ended <- errors.New("an event with two data lines")
					return
				}
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
		s.ended <- sc.Err()
	}()
	return s
}

// until reads events until one named name satisfies ok.
func (s *sse) until(t *testing.T, what, name string, ok func(data string) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.name == name && ok(ev.data) {
				return
			}
		case err := <-s.ended:
			t.Fatalf("the event stream ended (%v) before %s", err, what)
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func stateOf(t *testing.T, data string) EventState {
	t.Helper()
	var st EventState
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		t.Fatalf("state event: %v: %s", err, data)
	}
	return st
}

// eventRig is a real server with its console on a real http.Server (to
// shut down) and players that connect over loopback.
type eventRig struct {
	srv      *server.Server
	con      *Console
	hs       *http.Server
	base     string
	sendspin string
	dir      string
}

func newEventRig(t *testing.T) *eventRig {
	t.Helper()
	dir := t.TempDir()
	sst, err := store.Open(filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sst.Close() })
	srv, err := server.New(server.Config{Store: sst, Name: "Events"})
	if err != nil {
		t.Fatal(err)
	}
	ws := httptest.NewServer(srv)
	t.Cleanup(ws.Close)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	con, err := New(Config{Server: srv, Store: sst, Name: "Events", Loopback: true,
		Play: func(group, src string) error {
			tone, err := audio.NewTone(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16})
			if err != nil {
				return err
			}
			if err := srv.PlayGroup(group, tone); err != nil {
				tone.Close()
				return err
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: con}
	hs.RegisterOnShutdown(con.Shutdown)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return &eventRig{srv: srv, con: con, hs: hs, base: "http://" + ln.Addr().String(),
		sendspin: "ws" + strings.TrimPrefix(ws.URL, "http") + "/sendspin", dir: dir}
}

func (r *eventRig) player(t *testing.T, name string) *player.Player {
	t.Helper()
	st, err := store.Open(filepath.Join(r.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pl, err := player.New(player.Config{Store: st, Name: name, UnpairedAccess: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pl.Connect(ctx, r.sendspin) }()
	t.Cleanup(func() { cancel(); <-done })
	return pl
}

func (r *eventRig) post(t *testing.T, path, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(r.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %v", path, resp.Status, m)
	}
	return m
}

// TestEventsFollowTheServer: an event stream opens with the state, shows
// a player that connects and a change of its group as they happen, sends
// the player's live figures once it streams, and ends when the console's
// http.Server shuts down, which does not wait for it.
func TestEventsFollowTheServer(t *testing.T) {
	r := newEventRig(t)
	ev := openEvents(t, r.base, nil)
	ev.until(t, "the first state", "state", func(data string) bool {
		st := stateOf(t, data)
		return st.Status.Name == "Events" && len(st.Clients) == 0 && len(st.Groups) == 1 && st.Groups[0].ID == server.DefaultGroup
	})
	pl := r.player(t, "Kitchen")
	id := pl.ID().String()
	ev.until(t, "the player to appear", "state", func(data string) bool {
		st := stateOf(t, data)
		return len(st.Clients) == 1 && st.Clients[0].ID == id && st.Clients[0].Name == "Kitchen" && st.Clients[0].Connected
	})
	// A player leaving a group with another connected one gets a group of
	// its own.
	other := r.player(t, "Bedroom").ID().String()
	r.post(t, "/api/clients/"+id+"/approve", "")
	r.post(t, "/api/clients/"+other+"/approve", "")
	ev.until(t, "both players approved in the main group", "state", func(data string) bool {
		st := stateOf(t, data)
		return len(st.Clients) == 2 && len(st.Groups) == 1 && len(st.Groups[0].Members) == 2 &&
			st.Clients[0].Status == "approved" && st.Clients[1].Status == "approved"
	})
	r.post(t, "/api/clients/"+id+"/leave", "")
	ev.until(t, "the player in a group of its own", "state", func(data string) bool {
		for _, g := range stateOf(t, data).Groups {
			if g.ID != server.DefaultGroup && len(g.Members) == 1 && g.Members[0].ID == id {
				return true
			}
		}
		return false
	})
	// A group the operator creates, and renames, shows at once.
	made := r.post(t, "/api/groups", `{"name":" Patio "}`)
	pid, _ := made["id"].(string)
	if made["name"] != "Patio" || made["message"] != "created group Patio ("+pid+")" {
		t.Fatalf("create: %v", made)
	}
	ev.until(t, "the new group", "state", func(data string) bool {
		for _, g := range stateOf(t, data).Groups {
			if g.ID == pid && g.Name == "Patio" && !g.Playing && len(g.Members) == 0 {
				return true
			}
		}
		return false
	})
	renamed := r.post(t, "/api/groups/patio/rename", `{"name":"Terrace"}`)
	if renamed["id"] != pid || renamed["name"] != "Terrace" || renamed["message"] != "renamed group Patio ("+pid+") to Terrace" {
		t.Fatalf("rename: %v", renamed)
	}
	ev.until(t, "the renamed group", "state", func(data string) bool {
		for _, g := range stateOf(t, data).Groups {
			if g.ID == pid && g.Name == "Terrace" {
				return true
			}
		}
		return false
	})
	r.post(t, "/api/clients/"+id+"/join", `{"group":"main"}`)
	r.post(t, "/api/play", `{"source":"tone"}`)
	ev.until(t, "the main group playing with the player", "state", func(data string) bool {
		st := stateOf(t, data)
		return st.Groups[0].ID == server.DefaultGroup && st.Groups[0].Playing && len(st.Groups[0].Members) == 2 && st.Status.Playing
	})
	ev.until(t, "the player's live figures", "stats", func(data string) bool {
		var s EventStats
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			t.Fatal(err)
		}
		p, ok := s.Clients[id]
		return ok && p.Codec == "pcm" && p.BufferedMS > 100 && p.OffsetErrorUS != nil && p.RTTUS != nil &&
			*p.RTTUS > 0 && *p.OffsetErrorUS >= 0
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := r.hs.Shutdown(ctx); err != nil {
		t.Fatalf("the console's server did not shut down with an event stream open: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	for {
		select {
		case <-ev.events:
			continue
		case <-ev.ended:
		case <-time.After(10 * time.Second):
			t.Fatal("the event stream did not end on shutdown")
		}
		break
	}
}

// TestEventsBounded: the streams open at once are bounded, a cross-site
// page gets none, and a stream ends with its request.
func TestEventsBounded(t *testing.T) {
	r := newRig(t, true)
	if code, m := r.call(t, "GET", "/api/events", "", map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Fatalf("cross-site: %d %v", code, m)
	}
	if code, m := r.call(t, "GET", "/api/events", "", map[string]string{"Origin": "http://evil.example"}); code != http.StatusForbidden {
		t.Fatalf("foreign origin: %d %v", code, m)
	}
	if code, m := r.call(t, "GET", "/api/events", "", map[string]string{"Host": "evil.example"}); code != http.StatusForbidden {
		t.Fatalf("foreign host: %d %v", code, m)
	}
	open := newRig(t, false)
	if code, m := open.call(t, "GET", "/api/events", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("no token off loopback: %d %v", code, m)
	}
	var streams []*sse
	for i := 0; i < maxEventStreams; i++ {
		streams = append(streams, openEvents(t, r.ts.URL, nil))
	}
	code, m := r.call(t, "GET", "/api/events", "", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(m["error"].(string), "too many event streams") {
		t.Fatalf("stream %d: %d %v", maxEventStreams+1, code, m)
	}
	// A stream that ends frees its slot.
	streams[0].resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, r.ts.URL+"/api/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		ok := resp.StatusCode == http.StatusOK
		resp.Body.Close()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed stream's slot was not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
