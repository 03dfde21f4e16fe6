package console

import (
	"net/http"
	"strings"
	"testing"
)

// TestGroupCreateRenameErrors: the console refuses bad and taken group
// names, and unknown groups, with the reason and a fitting status.
func TestGroupCreateRenameErrors(t *testing.T) {
	r := newRig(t, true)
	code, m := r.call(t, "POST", "/api/groups", `{"name":"Kitchen"}`, nil)
	if code != http.StatusOK || m["name"] != "Kitchen" || m["playing"] != false {
		t.Fatalf("create: %d %v", code, m)
	}
	cases := []struct {
		path, body string
		code       int
		says       string
	}{
		{"/api/groups", `{"name":"kitchen"}`, http.StatusConflict, `is already named "Kitchen"`},
		{"/api/groups", `{"name":"   "}`, http.StatusBadRequest, "give a name"},
		{"/api/groups", `{}`, http.StatusBadRequest, "give a name"},
		{"/api/groups", `{"name":"` + strings.Repeat("x", 65) + `"}`, http.StatusBadRequest, "65 characters, at most 64"},
		{"/api/groups", `{"name":"a\u0007b"}`, http.StatusBadRequest, "no control characters"},
		{"/api/groups", `{"nom":"x"}`, http.StatusBadRequest, "unknown field"},
		{"/api/groups/nowhere/rename", `{"name":"x"}`, http.StatusNotFound, `no group "nowhere"`},
		{"/api/groups/Kitchen/rename", `{"name":"tonearm"}`, http.StatusConflict, "already named"},
		{"/api/groups/Kitchen/rename", `{"name":""}`, http.StatusBadRequest, "give a name"},
	}
	for _, c := range cases {
		code, m := r.call(t, "POST", c.path, c.body, nil)
		if code != c.code || !strings.Contains(m["error"].(string), c.says) {
			t.Errorf("POST %s %s: %d %v, want %d %q", c.path, c.body, code, m, c.code, c.says)
		}
	}
	code, m = r.call(t, "POST", "/api/groups/main/rename", `{"name":"House"}`, nil)
	if code != http.StatusOK || m["id"] != "main" || m["name"] != "House" {
		t.Fatalf("rename the default group: %d %v", code, m)
	}
	// A foreign page cannot create groups.
	code, _ = r.call(t, "POST", "/api/groups", `{"name":"Evil"}`, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if code != http.StatusForbidden {
		t.Fatalf("cross-site create: %d", code)
	}
}
