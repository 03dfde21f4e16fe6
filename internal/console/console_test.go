package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789a"

type rig struct {
	st  *store.Store
	ts  *httptest.Server
	con *Console
}

func newRig(t testing.TB, loopback bool) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	var mu sync.Mutex
	played := map[string]string{}
	con, err := New(Config{Server: srv, Store: st, Name: "Test", Token: testToken, Loopback: loopback,
		Play: func(group, src string) error {
			if src == "bad" {
				return io.ErrUnexpectedEOF
			}
			tone, err := audio.NewTone(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16})
			if err != nil {
				return err
			}
			if err := srv.PlayGroup(group, tone); err != nil {
				tone.Close()
				return err
			}
			mu.Lock()
			played[group] = src
			mu.Unlock()
			return nil
		}, Source: func(group string) string { mu.Lock(); defer mu.Unlock(); return played[group] }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(con)
	t.Cleanup(ts.Close)
	return &rig{st: st, ts: ts, con: con}
}

// call sends a request and returns the status and decoded body.
func (r *rig) call(t testing.TB, method, path, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, m
}

func key(b byte) keys.PublicKey {
	var k keys.PublicKey
	for i := range k {
		k[i] = b
	}
	return k
}

func TestNewRefusesOpenConsoleWithoutToken(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, _ := server.New(server.Config{Store: st})
	if _, err := New(Config{Server: srv, Store: st, Loopback: false}); err == nil {
		t.Fatal("a console off loopback without a token was accepted")
	}
}

func TestAuthorization(t *testing.T) {
	lo := newRig(t, true)
	open := newRig(t, false)
	cases := []struct {
		name   string
		r      *rig
		method string
		path   string
		hdr    map[string]string
		want   int
	}{
		{"loopback, no token", lo, "GET", "/api/status", nil, 200},
		{"loopback, right token", lo, "GET", "/api/status", map[string]string{"Authorization": "Bearer " + testToken}, 200},
		{"loopback, wrong token", lo, "GET", "/api/status", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"loopback, not bearer", lo, "GET", "/api/status", map[string]string{"Authorization": "Basic " + testToken}, 401},
		{"loopback, rebinding host", lo, "GET", "/api/clients", map[string]string{"Host": "evil.example:8929"}, 403},
		{"loopback, localhost host", lo, "GET", "/api/clients", map[string]string{"Host": "localhost:8929"}, 200},
		{"loopback, ipv6 host", lo, "GET", "/api/clients", map[string]string{"Host": "[::1]:8929"}, 200},
		{"loopback, cross-origin post", lo, "POST", "/api/stop", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"loopback, same-origin post", lo, "POST", "/api/stop", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"open, no token", open, "GET", "/api/status", nil, 401},
		{"open, wrong token", open, "GET", "/api/status", map[string]string{"Authorization": "Bearer " + strings.Repeat("x", 43)}, 401},
		{"open, right token", open, "GET", "/api/status", map[string]string{"Authorization": "Bearer " + testToken}, 200},
		{"open, right token, any host", open, "GET", "/api/status", map[string]string{"Authorization": "Bearer " + testToken, "Host": "speaker-hub.lan"}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := c.r.call(t, c.method, c.path, "", c.hdr)
			if code != c.want {
				t.Fatalf("status %d (%v), want %d", code, body, c.want)
			}
			if code != 200 && body["error"] == "" {
				t.Fatal("an error without a message")
			}
		})
	}
}

func TestClientsListsOfflineRecordsAndApprovals(t *testing.T) {
	r := newRig(t, true)
	if err := r.st.PutClientRecord(key(1), keys.PSK(key(9))); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Approve(store.Approval{Client: key(2), Name: "Kitchen", Approved: time.Now()}); err != nil {
		t.Fatal(err)
	}
	code, body := r.call(t, "GET", "/api/clients", "", nil)
	if code != 200 {
		t.Fatal(code, body)
	}
	raw, _ := json.Marshal(body)
	var l ClientList
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	got := map[string]Client{}
	for _, c := range l.Clients {
		got[c.ID] = c
	}
	if c := got[key(1).String()]; c.Status != "paired" || c.Connected {
		t.Fatalf("paired record: %+v", c)
	}
	if c := got[key(2).String()]; c.Status != "approved" || c.Name != "Kitchen" || c.Connected {
		t.Fatalf("approval: %+v", c)
	}
	if strings.Contains(string(raw), key(9).String()) {
		t.Fatal("the client list carries a PSK")
	}
}

func TestApproveRevokeByPrefix(t *testing.T) {
	r := newRig(t, true)
	id := key(3)
	if err := r.st.PutClientRecord(id, keys.PSK(key(9))); err != nil {
		t.Fatal(err)
	}
	prefix := id.String()[:6]
	code, body := r.call(t, "POST", "/api/clients/"+prefix+"/approve", `{"source":true}`, nil)
	if code != 200 || body["approved"] != id.String() {
		t.Fatal(code, body)
	}
	a, ok, err := r.st.ApprovalOf(id)
	if err != nil || !ok || !a.Source {
		t.Fatalf("approval not persisted: %+v %v %v", a, ok, err)
	}
	code, body = r.call(t, "POST", "/api/clients/"+id.String()+"/revoke", "", nil)
	if code != 200 || body["revoked"] != id.String() {
		t.Fatal(code, body)
	}
	if _, ok, _ := r.st.ApprovalOf(id); ok {
		t.Fatal("revoke did not persist")
	}
}

func TestBadRequests(t *testing.T) {
	r := newRig(t, true)
	// Two known clients sharing a prefix.
	a, b := key(4), key(4)
	b[31] = 5
	for _, k := range []keys.PublicKey{a, b} {
		if err := r.st.PutClientRecord(k, keys.PSK(key(9))); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"short prefix", "POST", "/api/clients/BA/approve", "", 400, "at least 4"},
		{"unknown prefix", "POST", "/api/clients/zzzzzz/approve", "", 404, "no known client"},
		{"ambiguous prefix", "POST", "/api/clients/" + a.String()[:10] + "/approve", "", 409, "give more of it"},
		{"unknown field", "POST", "/api/clients/" + a.String() + "/approve", `{"sauce":true}`, 400, "unknown field"},
		{"not json", "POST", "/api/clients/" + a.String() + "/approve", `{`, 400, "request body"},
		{"too large", "POST", "/api/pair", `{"token":"` + strings.Repeat("A", maxBody) + `"}`, 413, "over"},
		{"no token", "POST", "/api/pair", `{}`, 400, "pairing token"},
		{"bad token", "POST", "/api/pair", `{"token":"SP:0NOTATOKEN"}`, 400, "SP:0"},
		{"bad source", "POST", "/api/play", `{"source":"bad"}`, 400, "unexpected EOF"},
		{"wrong method", "GET", "/api/stop", "", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, r.ts.URL+c.path, strings.NewReader(c.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.want || !strings.Contains(string(raw), c.msg) {
				t.Fatalf("status %d %s, want %d with %q", resp.StatusCode, raw, c.want, c.msg)
			}
		})
	}
	// Nothing was approved by any of it.
	if all, _ := r.st.Approvals(); len(all) != 0 {
		t.Fatalf("approvals after bad requests: %v", all)
	}
}

func TestPlayAndStatus(t *testing.T) {
	r := newRig(t, true)
	code, body := r.call(t, "POST", "/api/play", `{"source":"tone"}`, nil)
	if code != 200 || body["playing"] != "tone" {
		t.Fatal(code, body)
	}
	code, body = r.call(t, "GET", "/api/status", "", nil)
	if code != 200 || body["name"] != "Test" {
		t.Fatal(code, body)
	}
}

// TestGroupsAPI: the groups are listed with what they play; play and stop
// take a group by ID or name; unknown groups and clients are refused.
func TestGroupsAPI(t *testing.T) {
	r := newRig(t, true)
	groups := func() []any {
		t.Helper()
		code, body := r.call(t, "GET", "/api/groups", "", nil)
		if code != 200 {
			t.Fatal(code, body)
		}
		return body["groups"].([]any)
	}
	gs := groups()
	if len(gs) != 1 {
		t.Fatalf("%v", gs)
	}
	main := gs[0].(map[string]any)
	if main["id"] != server.DefaultGroup || main["name"] != "Tonearm" || main["playing"] != false || len(main["members"].([]any)) != 0 {
		t.Fatalf("%v", main)
	}
	code, body := r.call(t, "POST", "/api/play", `{"source":"tone","group":"tonearm"}`, nil)
	if code != 200 || body["group"] != server.DefaultGroup {
		t.Fatal(code, body)
	}
	main = groups()[0].(map[string]any)
	if main["playing"] != true || main["source"] != "tone" {
		t.Fatalf("%v", main)
	}
	code, body = r.call(t, "POST", "/api/next", ``, nil)
	if code != 409 || !strings.Contains(fmt.Sprint(body["error"]), "no tracks to skip") {
		t.Fatal(code, body)
	}
	code, body = r.call(t, "POST", "/api/stop", `{"group":"main"}`, nil)
	if code != 200 || body["stopped"] != server.DefaultGroup {
		t.Fatal(code, body)
	}
	if main = groups()[0].(map[string]any); main["playing"] != false {
		t.Fatalf("%v", main)
	}
	a := key(9)
	if err := r.st.Approve(store.Approval{Client: a, Name: "A", Approved: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"play to no group", "POST", "/api/play", `{"source":"tone","group":"attic"}`, 404, "no group"},
		{"next while stopped", "POST", "/api/next", ``, 409, "not playing"},
		{"next in no group", "POST", "/api/next", `{"group":"attic"}`, 404, "no group"},
		{"stop no group", "POST", "/api/stop", `{"group":"attic"}`, 404, "no group"},
		{"join no group", "POST", "/api/clients/" + a.String() + "/join", `{"group":"attic"}`, 404, "no group"},
		{"join without a group", "POST", "/api/clients/" + a.String() + "/join", ``, 400, "give a group"},
		{"join a client never connected", "POST", "/api/clients/" + a.String() + "/join", `{"group":"main"}`, 409, "no known client"},
		{"leave a client never connected", "POST", "/api/clients/" + a.String() + "/leave", ``, 409, "no known client"},
		{"join an unknown client", "POST", "/api/clients/zzzzzz/join", `{"group":"main"}`, 404, "no known client"},
	} {
		code, body := r.call(t, tc.method, tc.path, tc.body, nil)
		if code != tc.status || (tc.msg != "" && !strings.Contains(fmt.Sprint(body["error"]), tc.msg)) {
			t.Errorf("%s: %d %v, want %d %q", tc.name, code, body, tc.status, tc.msg)
		}
	}
}

// A token entered for one client that belongs to another is refused
// before the server sees it.
func TestPairTokenOfAnotherClient(t *testing.T) {
	r := newRig(t, true)
	a := key(6)
	if err := r.st.Approve(store.Approval{Client: a, Name: "A", Approved: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b, _ := keys.GenerateIdentity(nil)
	tok := pairing.PSKToken{ClientKey: b.Public(), PSK: keys.PSK{5}}.Encode()
	code, body := r.call(t, "POST", "/api/clients/"+a.String()+"/pair", `{"token":"`+tok+`"}`, nil)
	if code != 400 || !strings.Contains(body["error"].(string), "belongs to client "+b.Public().String()) {
		t.Fatal(code, body)
	}
	code, body = r.call(t, "POST", "/api/clients/"+a.String()+"/pair", `{"token":"`+tok+`","code":"12345678"}`, nil)
	if code != 400 || !strings.Contains(body["error"].(string), "not both") {
		t.Fatal(code, body)
	}
	// Code pairing with a client that is not connected is a conflict.
	code, body = r.call(t, "POST", "/api/clients/"+a.String()+"/pair", `{"method":"dynamic_pairing_code"}`, nil)
	if code != 409 || !strings.Contains(body["error"].(string), "not connected") {
		t.Fatal(code, body)
	}
	code, body = r.call(t, "POST", "/api/clients/"+a.String()+"/unpair", ``, nil)
	if code != 409 || !strings.Contains(body["error"].(string), "not paired") {
		t.Fatal(code, body)
	}
}
