package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	pathpkg "path"
	"strings"
	"testing"
	"time"
)

// FuzzConsole sends arbitrary requests to the console: every answer is
// JSON with a status the API documents, never a crash, and nothing a
// refused request carried is persisted.
func FuzzConsole(f *testing.F) {
	f.Add("POST", "/api/clients/AAAA/approve", `{"source":true}`)
	f.Add("POST", "/api/pair", `{"token":"SP:0ABC"}`)
	f.Add("POST", "/api/play", `{"source":"tone"}`)
	f.Add("GET", "/api/clients", "")
	f.Add("POST", "/api/clients/%2e%2e/revoke", `[]`)
	f.Add("POST", "/api/groups", `{"name":"Living room"}`)
	f.Add("POST", "/api/groups/main/rename", `{"name":"\u0000"}`)
	f.Add("GET", "/api/refusals", "")
	f.Add("GET", "/api/events", "")
	r := newRig(f, true)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		// The event stream runs until its request ends: end every
		// request soon, as a client that goes away would.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		w := httptest.NewRecorder()
		r.con.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 401, 403, 404, 405, 409, 413, 501:
		case 301, 307, 308:
			// The mux's redirect of an unclean path to its clean form.
			if cleaned := pathpkg.Clean(req.URL.Path); cleaned == req.URL.Path {
				t.Fatalf("%s %q: redirect of a clean path", method, path)
			}
			return
		default:
			t.Fatalf("%s %q: status %d", method, path, w.Code)
		}
		// The mux answers unknown paths and methods in text; the API's own
		// answers are JSON.
		ct := w.Header().Get("Content-Type")
		if strings.HasPrefix(ct, "text/event-stream") {
			if w.Code != 200 || !strings.HasPrefix(w.Body.String(), "retry: ") {
				t.Fatalf("%s %q: an event stream answered %d: %q", method, path, w.Code, w.Body.String())
			}
			return
		}
		if strings.HasPrefix(req.URL.Path, "/api/") && (strings.HasPrefix(ct, "application/json") || w.Code == 200) {
			var v any
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s %q: status %d, body not JSON: %q", method, path, w.Code, w.Body.String())
			}
		}
		if method == "POST" && strings.Contains(path, "/approve") && w.Code != 200 {
			if all, _ := r.st.Approvals(); len(all) != 0 {
				t.Fatalf("a refused approval was persisted")
			}
		}
	})
}
