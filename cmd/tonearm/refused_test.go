package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/console"
	"github.com/tonearm-audio/tonearm/internal/daemon"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// sendspinJSHello is a client/hello as sendspin-js 4.0.0 sends it:
// supported_pair_methods as an array, where pairing.md "client/hello
// pair-method descriptor" defines an object keyed by method.
const sendspinJSHello = `{"type":"client/hello","payload":{"name":"Browser","supported_roles":["player@v1"],` +
	`"player@v1_support":{"supported_formats":[{"codec":"pcm","channels":2,"sample_rate":48000,"bit_depth":16}],"buffer_capacity":100000},` +
	`"supported_pair_methods":["pairing_psk"],"unpaired_access":{"enabled":true}}}`

// TestRefusedCommand: a client whose hello is invalid is closed silently,
// and the operator finds it with `ctl refused`: when, which client, from
// where and why.
func TestRefusedCommand(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "server")
	start(t, "server", "--state", state, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--no-mdns", "--play", "none")
	var info daemon.ServerInfo
	waitFor(t, "the server", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, daemon.ServerInfoFile))
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	ctl := func(args ...string) string {
		t.Helper()
		out, err := tonearm(t, append([]string{"ctl", "--state", state}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := ctl("refused"); out != "no refused connections\n" {
		t.Fatalf("refused before any: %q", out)
	}

	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := securechan.Dial(context.Background(), info.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := securechan.ClientHandshake(context.Background(), tr, securechan.ClientConfig{Identity: id, PairingPSK: keys.PSK{1}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if in, err := c.Read(); err != nil || in.JSON == nil || in.JSON.Type() != wire.TypeServerHello {
		t.Fatalf("server/hello: %v", err)
	}
	if err := c.Send(func(dst []byte) ([]byte, error) { return append(append(dst, wire.IDJSON), sendspinJSHello...), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(); err == nil {
		t.Fatal("the server answered an invalid client/hello")
	}

	var l console.RefusalList
	waitFor(t, "the refusal", 10*time.Second, func() bool {
		return json.Unmarshal([]byte(ctl("--json", "refused")), &l) == nil && len(l.Refusals) == 1
	})
	r := l.Refusals[0]
	when, err := time.Parse(time.RFC3339, r.Time)
	if err != nil || time.Since(when) > time.Minute || r.Client != id.Public().String() || r.Name != "" ||
		!strings.HasPrefix(r.Address, "127.0.0.1:") ||
		!strings.HasPrefix(r.Reason, `invalid client/hello: field "supported_pair_methods" is not a JSON object`) {
		t.Fatalf("refusal: %+v", r)
	}
	out := ctl("refused")
	row := regexp.MustCompile(`(?m)^(\d\d:\d\d:\d\d) +` + regexp.QuoteMeta(r.Client[:8]) + ` +- +` + regexp.QuoteMeta(r.Address) +
		` +invalid client/hello: field "supported_pair_methods" is not a JSON object; closed silently$`)
	if !strings.HasPrefix(out, "TIME") || !strings.Contains(out, "REASON") || !row.MatchString(out) {
		t.Fatalf("ctl refused:\n%s", out)
	}
	if got := row.FindStringSubmatch(out)[1]; got != when.Local().Format("15:04:05") {
		t.Fatalf("time %s, want local %s", got, when.Local().Format("15:04:05"))
	}
	// Nothing of it is listed as a client.
	if out := ctl("clients", "-v"); strings.Contains(out, r.Client) {
		t.Fatalf("the refused client is listed:\n%s", out)
	}
}
