package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/discovery"
)

// post sends a console request and returns the status and decoded body.
func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func clientEntry(t *testing.T, consoleURL, id string) map[string]any {
	t.Helper()
	for _, c := range consoleClients(t, consoleURL) {
		if c["id"] == id {
			return c
		}
	}
	return nil
}

// Issue 11 case 2, server side: a player the server found by mDNS is
// unpaired by the operator; it closes with goodbye 'unpaired' and is not
// redialed (messaging.md "client/goodbye"), but it stays listed with why,
// and pairing it again from the console dials it again.
func TestUnpairedPlayerListedAndPairedAgain(t *testing.T) {
	mem := discovery.NewMemory()
	pstate := filepath.Join(t.TempDir(), "p")
	display := &lockedBuf{}
	pinfo := startPlayer(t, pstate, PlayerOptions{Name: "Porch", Listen: "127.0.0.1:0", Advertiser: mem, Browser: mem,
		PairingCode: "dynamic", Display: display})
	sinfo := startServer(t, mem, mem)
	waitFor(t, "the server to connect to the player", func() bool {
		c := clientEntry(t, sinfo.ConsoleURL, pinfo.ID)
		return c != nil && c["connected"] == true
	})
	reply, err := Control(pstate, ControlRequest{Op: OpToken})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(reply.Result, &tok); err != nil || tok.Token == "" {
		t.Fatalf("token: %s %v", reply.Result, err)
	}
	pair := func() {
		t.Helper()
		if code, m := post(t, sinfo.ConsoleURL+"/api/pair", map[string]string{"token": tok.Token}); code != http.StatusOK {
			t.Fatalf("pair: %d %v", code, m)
		}
		waitFor(t, "the pairing", func() bool {
			c := clientEntry(t, sinfo.ConsoleURL, pinfo.ID)
			return c != nil && c["connected"] == true && c["status"] == "paired"
		})
	}
	pair()

	if code, m := post(t, sinfo.ConsoleURL+"/api/clients/"+pinfo.ID+"/unpair", nil); code != http.StatusOK {
		t.Fatalf("unpair: %d %v", code, m)
	}
	var c map[string]any
	waitFor(t, "the unpaired player listed offline with a note", func() bool {
		c = clientEntry(t, sinfo.ConsoleURL, pinfo.ID)
		return c != nil && c["connected"] == false
	})
	note, _ := c["note"].(string)
	if c["name"] != "Porch" || c["status"] != "unapproved" || c["last_seen"] == nil ||
		!strings.HasPrefix(note, "unpaired by the operator at ") || !strings.Contains(note, "not reconnecting (the device closed with 'unpaired')") {
		t.Fatalf("unpaired player: %v", c)
	}
	// Pairing it again dials it again.
	pair()

	// So does a code pairing: unpaired again, the operator starts one; the
	// server dials the player, which shows its code.
	if code, m := post(t, sinfo.ConsoleURL+"/api/clients/"+pinfo.ID+"/unpair", nil); code != http.StatusOK {
		t.Fatalf("unpair: %d %v", code, m)
	}
	waitFor(t, "the player gone again", func() bool {
		c := clientEntry(t, sinfo.ConsoleURL, pinfo.ID)
		return c != nil && c["connected"] == false
	})
	if code, m := post(t, sinfo.ConsoleURL+"/api/clients/"+pinfo.ID+"/pair", map[string]string{"method": "dynamic_pairing_code"}); code != http.StatusOK {
		t.Fatalf("code pairing: %d %v", code, m)
	}
	codeRE := regexp.MustCompile(`pairing code for [^:]+: (\d{3}-\d{3})\n`)
	var shown string
	waitFor(t, "the code on the player's display", func() bool {
		m := codeRE.FindAllStringSubmatch(display.String(), -1)
		if len(m) > 0 {
			shown = m[len(m)-1][1]
		}
		return len(m) > 0
	})
	if code, m := post(t, sinfo.ConsoleURL+"/api/clients/"+pinfo.ID+"/code", map[string]string{"code": shown}); code != http.StatusOK {
		t.Fatalf("code: %d %v", code, m)
	}
	waitFor(t, "the code pairing", func() bool {
		c := clientEntry(t, sinfo.ConsoleURL, pinfo.ID)
		return c != nil && c["connected"] == true && c["status"] == "paired"
	})
}

// lockedBuf is a goroutine-safe buffer.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
