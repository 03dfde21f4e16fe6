package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tonearm-audio/tonearm/internal/console"
	"github.com/tonearm-audio/tonearm/internal/daemon"
)

// ctlTimeout bounds one console request.
const ctlTimeout = 15 * time.Second

var ctlCommand = command{
	name:    "ctl",
	summary: "operator actions on a running server, through its console API",
	usage:   "status | clients | client ID | approve ID [--source] | revoke ID | pair [ID] --token TOKEN | pair ID [--method dynamic|static] [--format digits|qr_code] [--code CODE] | code ID CODE | cancel ID | unpair ID | groups | group create NAME | group rename GROUP NAME | join ID GROUP | leave ID | play SRC [--group G] | next [--group G] | stop [--group G] | volume N [--group G|--client ID] | mute on|off [--group G|--client ID]",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		state := fs.String("state", defaultState("server"), "the server's state directory: where to find its console and token")
		consoleURL := fs.String("console", "", "the console's URL (default: what the running server wrote in its state directory, else http://"+daemon.DefaultConsole+")")
		token := fs.String("token", "", "the console token (default: read from the state directory)")
		asJSON := fs.Bool("json", false, "print the API's JSON answer")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) == 0 {
				return errors.New("ctl: give an action: status, clients, client, approve, revoke, pair, code, cancel, unpair, groups, group, join, leave, play, next, stop, volume or mute")
			}
			c := &ctlClient{state: *state, url: *consoleURL, token: *token}
			return c.run(ctx, e, args, *asJSON)
		}
	},
}

type ctlClient struct {
	state, url, token string
}

func (c *ctlClient) run(ctx context.Context, e *env, args []string, asJSON bool) error {
	op, rest := args[0], args[1:]
	fs := flag.NewFlagSet("tonearm ctl "+op, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	source := fs.Bool("source", false, "approve the source role too")
	token := fs.String("token", "", "the client's SP:0 pairing token")
	pairMethod := fs.String("method", "", "pairing method: dynamic or static (default: what the client offers, dynamic first)")
	format := fs.String("format", "", "dynamic code format: digits (default) or qr_code")
	code := fs.String("code", "", "the client's static pairing code, entered up front")
	groupArg := fs.String("group", "", "the group to play to, skip, stop or set the volume of, by ID or name (default: the default group; stop: every group)")
	clientArg := fs.String("client", "", "volume, mute: the client (ID or prefix) instead of a group")
	rest, err := parseInterleaved(fs, rest)
	if err != nil {
		return fmt.Errorf("ctl %s: %v", op, err)
	}
	nargs := map[string]int{"status": 0, "clients": 0, "client": 1, "approve": 1, "revoke": 1, "pair": 1, "code": 2,
		"cancel": 1, "unpair": 1, "play": 1, "stop": 0, "groups": 0, "group": 0, "join": 2, "leave": 1, "next": 0, "volume": 1, "mute": 1}
	n, ok := nargs[op]
	if !ok {
		return fmt.Errorf("ctl: unknown action %q; run 'tonearm help ctl'", op)
	}
	if op == "pair" && len(rest) == 0 {
		if *token == "" {
			return errors.New("ctl pair: give --token TOKEN, or the client ID with --method or --code")
		}
		n = 0 // the token names the client
	}
	if op == "code" && len(rest) < 2 {
		return errors.New("ctl code: give the client ID and the code it shows")
	}
	if op == "join" && len(rest) != 2 {
		return errors.New("ctl join: give the client ID and the group (ID or name)")
	}
	if *groupArg != "" && op != "play" && op != "stop" && op != "next" && op != "volume" && op != "mute" {
		return fmt.Errorf("ctl %s: --group is for play, next, stop, volume and mute", op)
	}
	if *clientArg != "" && op != "volume" && op != "mute" {
		return fmt.Errorf("ctl %s: --client is for volume and mute", op)
	}
	if op == "group" {
		return c.groupCmd(ctx, e, rest, asJSON)
	}
	if len(rest) != n {
		if n == 0 {
			return fmt.Errorf("ctl %s: unexpected argument %q", op, rest[0])
		}
		if op == "play" {
			return errors.New("ctl play: give one source")
		}
		return fmt.Errorf("ctl %s: give one client ID", op)
	}
	var (
		method, path string
		body         any
	)
	switch op {
	case "status":
		method, path = http.MethodGet, "/api/status"
	case "clients":
		method, path = http.MethodGet, "/api/clients"
	case "approve":
		method, path, body = http.MethodPost, "/api/clients/"+rest[0]+"/approve", console.ApproveRequest{Source: *source}
	case "revoke":
		method, path = http.MethodPost, "/api/clients/"+rest[0]+"/revoke"
	case "client":
		method, path = http.MethodGet, "/api/clients/"+rest[0]
	case "pair":
		if *token != "" {
			if *pairMethod != "" || *format != "" || *code != "" {
				return errors.New("ctl pair: give --token or a code method, not both")
			}
			if len(rest) == 0 {
				method, path, body = http.MethodPost, "/api/pair", console.PairRequest{Token: *token}
			} else {
				method, path, body = http.MethodPost, "/api/clients/"+rest[0]+"/pair", console.ClientPairRequest{Token: *token}
			}
			break
		}
		m, err := methodName(*pairMethod)
		if err != nil {
			return err
		}
		return c.pairByCode(ctx, e, rest[0], console.ClientPairRequest{Method: m, Format: *format, Code: *code})
	case "code":
		method, path, body = http.MethodPost, "/api/clients/"+rest[0]+"/code", console.CodeRequest{Code: strings.Join(rest[1:], "")}
	case "cancel":
		method, path = http.MethodPost, "/api/clients/"+rest[0]+"/cancel"
	case "unpair":
		method, path = http.MethodPost, "/api/clients/"+rest[0]+"/unpair"
	case "play":
		src := rest[0]
		if src != daemon.SourceTone && src != daemon.SourceNone && src != daemon.SourceStdin {
			// The server opens the file: name it absolutely.
			if abs, err := filepath.Abs(src); err == nil {
				src = abs
			}
		}
		method, path, body = http.MethodPost, "/api/play", console.PlayRequest{Source: src, Group: *groupArg}
	case "stop":
		method, path, body = http.MethodPost, "/api/stop", console.StopRequest{Group: *groupArg}
	case "next":
		method, path, body = http.MethodPost, "/api/next", console.NextRequest{Group: *groupArg}
	case "volume":
		v, err := strconv.Atoi(rest[0])
		if err != nil || v < 0 || v > 100 {
			return fmt.Errorf("ctl volume: give a volume from 0 to 100, not %q", rest[0])
		}
		method, path, body = http.MethodPost, "/api/volume", console.VolumeRequest{Volume: &v, Group: *groupArg, Client: *clientArg}
	case "mute":
		var m bool
		switch rest[0] {
		case "on":
			m = true
		case "off":
		default:
			return fmt.Errorf("ctl mute: give on or off, not %q", rest[0])
		}
		method, path, body = http.MethodPost, "/api/volume", console.VolumeRequest{Muted: &m, Group: *groupArg, Client: *clientArg}
	case "groups":
		method, path = http.MethodGet, "/api/groups"
	case "join":
		method, path, body = http.MethodPost, "/api/clients/"+rest[0]+"/join", console.JoinRequest{Group: rest[1]}
	case "leave":
		method, path = http.MethodPost, "/api/clients/"+rest[0]+"/leave"
	}
	raw, err := c.do(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("ctl %s: %w", op, err)
	}
	if asJSON {
		_, err := e.stdout.Write(raw)
		return err
	}
	return printCtl(e, op, raw)
}

// endpoint finds the console and its token: flags first, then what the
// running server wrote in its state directory.
func (c *ctlClient) endpoint() (string, string) {
	url, token := c.url, c.token
	if url == "" {
		url = "http://" + daemon.DefaultConsole
		if b, err := os.ReadFile(filepath.Join(c.state, daemon.ServerInfoFile)); err == nil {
			var info daemon.ServerInfo
			if json.Unmarshal(b, &info) == nil && info.ConsoleURL != "" {
				url = info.ConsoleURL
			}
		}
	}
	if token == "" {
		if b, err := os.ReadFile(filepath.Join(c.state, console.TokenFile)); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	return strings.TrimSuffix(url, "/"), token
}

func (c *ctlClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	url, token := c.endpoint()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url+path, rd)
	if err != nil {
		return nil, fmt.Errorf("console URL %q: %v", url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no server console at %s (is tonearm server running? see --console and --state)", url)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("console answered %s", resp.Status)
	}
	return raw, nil
}

func printCtl(e *env, op string, raw []byte) error {
	switch op {
	case "status":
		var s console.Status
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		playing := "nothing"
		if s.Playing {
			playing = playingText(s.NowPlaying, s.Source)
			if playing == "" {
				playing = "in other groups (tonearm ctl groups)"
			}
		}
		fmt.Fprintf(e.stdout, "server %q (%s)\nplaying: %s\n", s.Name, s.ID, playing)
	case "client":
		var cl console.Client
		if err := json.Unmarshal(raw, &cl); err != nil {
			return err
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "id\t%s\nname\t%s\nstatus\t%s\nconnected\t%v\n", cl.ID, cl.Name, statusText(cl), cl.Connected)
		if len(cl.Activities) > 0 {
			fmt.Fprintf(w, "activities\t%s\n", strings.Join(cl.Activities, ","))
		}
		if len(cl.PairMethods) > 0 {
			fmt.Fprintf(w, "pair methods\t%s\n", strings.Join(cl.PairMethods, ","))
		}
		if p := cl.Pairing; p != nil {
			fmt.Fprintf(w, "pairing\t%s\n", pairingText(p))
		}
		return w.Flush()
	case "clients":
		var l console.ClientList
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		if len(l.Clients) == 0 {
			fmt.Fprintln(e.stdout, "no clients")
			return nil
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tSTATUS\tCONNECTED\tNAME\tGROUP\tACTIVITIES")
		for _, c := range l.Clients {
			status := statusText(c)
			conn := "no"
			if c.Connected {
				conn = "yes"
				if c.Available {
					conn = "available"
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, status, conn, c.Name, orDash(c.GroupName), strings.Join(c.Activities, ","))
		}
		return w.Flush()
	case "groups":
		var l console.GroupList
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "GROUP\tNAME\tSTATE\tVOLUME\tMEMBERS")
		for _, g := range l.Groups {
			state := "stopped"
			if g.Playing {
				state = "playing"
				if t := playingText(g.NowPlaying, g.Source); t != "" {
					state += " " + t
				}
			}
			var members []string
			for _, m := range g.Members {
				name := m.Name
				if name == "" {
					name = "unnamed"
				}
				if !m.Connected {
					name += " (offline)"
				}
				members = append(members, name+" "+m.ID[:8])
			}
			vol := strconv.Itoa(g.Volume)
			if g.Muted {
				vol += " muted"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", g.ID, g.Name, state, vol, orDash(strings.Join(members, ", ")))
		}
		return w.Flush()
	default:
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		switch op {
		case "approve":
			fmt.Fprintf(e.stdout, "approved %s\n", m["approved"])
		case "revoke":
			fmt.Fprintf(e.stdout, "revoked %s\n", m["revoked"])
		case "pair":
			fmt.Fprintf(e.stdout, "pairing with %s\n", m["pairing"])
		case "code":
			fmt.Fprintf(e.stdout, "code entered for %s\n", m["pairing"])
		case "cancel":
			fmt.Fprintf(e.stdout, "cancelled pairing with %s\n", m["cancelled"])
		case "unpair":
			fmt.Fprintf(e.stdout, "unpaired %s\n", m["unpaired"])
		case "play":
			fmt.Fprintf(e.stdout, "playing %s\n", m["playing"])
		case "stop":
			if g, ok := m["stopped"]; ok {
				fmt.Fprintf(e.stdout, "stopped group %s\n", g)
			} else {
				fmt.Fprintln(e.stdout, "stopped")
			}
		case "volume", "mute":
			who := "group " + fmt.Sprint(m["group"])
			if c, ok := m["client"]; ok {
				who = fmt.Sprint(c)
			}
			if v, ok := m["volume"]; ok {
				fmt.Fprintf(e.stdout, "volume of %s set to %v\n", who, v)
			} else if m["muted"] == true {
				fmt.Fprintf(e.stdout, "%s muted\n", who)
			} else {
				fmt.Fprintf(e.stdout, "%s unmuted\n", who)
			}
		case "next":
			fmt.Fprintf(e.stdout, "skipped to the next track in group %s\n", m["skipped"])
		case "join":
			fmt.Fprintf(e.stdout, "%s joined group %s (%s)\n", m["client"], m["group_name"], m["group"])
		case "leave":
			fmt.Fprintf(e.stdout, "%s left its group; now alone in %s, stopped\n", m["client"], m["group"])
		}
	}
	return nil
}

func statusText(c console.Client) string {
	s := c.Status
	if c.NeedsRepairing {
		s += " (needs re-pairing)"
	}
	if p := c.Pairing; p != nil && p.Phase != "none" {
		s += ", pairing: " + p.Phase
	}
	return s
}

func pairingText(p *console.Pairing) string {
	s := p.Phase
	if p.Method != "" && p.Phase != "none" {
		s += " (" + p.Method
		if p.Round > 0 {
			s += fmt.Sprintf(", round %d", p.Round)
		}
		s += ")"
	}
	if p.Message != "" {
		s += fmt.Sprintf("; the device says: %q", p.Message)
	}
	if p.Last != "" {
		s += "; last attempt: " + p.Last
	}
	return s
}

// methodName accepts the short method names.
func methodName(m string) (string, error) {
	switch m {
	case "":
		return "", nil
	case "dynamic", "dynamic_pairing_code":
		return "dynamic_pairing_code", nil
	case "static", "static_pairing_code":
		return "static_pairing_code", nil
	}
	return "", fmt.Errorf("ctl pair: --method is dynamic or static, not %q (for a token use --token)", m)
}

// pairByCode starts a code pairing and sees it through: it asks on the
// terminal for each code the client shows, and returns when the attempt
// ends. Ctrl-C cancels the attempt.
func (c *ctlClient) pairByCode(ctx context.Context, e *env, id string, req console.ClientPairRequest) error {
	raw, err := c.do(ctx, http.MethodPost, "/api/clients/"+id+"/pair", req)
	if err != nil {
		return fmt.Errorf("ctl pair: %w", err)
	}
	var started struct {
		Pairing string `json:"pairing"`
	}
	if err := json.Unmarshal(raw, &started); err != nil {
		return err
	}
	id = started.Pairing
	fmt.Fprintf(e.stdout, "pairing with %s\n", id)
	lines := make(chan string)
	go func() {
		defer close(lines)
		buf := make([]byte, 0, 256)
		one := make([]byte, 1)
		for {
			n, err := e.stdin.Read(one)
			if n == 1 && one[0] != '\n' && len(buf) < 1024 {
				buf = append(buf, one[0])
			}
			if (n == 1 && one[0] == '\n') || (err != nil && len(buf) > 0) {
				select {
				case lines <- strings.TrimSpace(string(buf)):
				case <-ctx.Done():
					return
				}
				buf = buf[:0]
			}
			if err != nil {
				return
			}
		}
	}()
	var (
		asked   uint32
		said    string
		noInput bool
	)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		raw, err := c.do(context.WithoutCancel(ctx), http.MethodGet, "/api/clients/"+id, nil)
		if err != nil {
			return fmt.Errorf("ctl pair: %w", err)
		}
		var cl console.Client
		if err := json.Unmarshal(raw, &cl); err != nil {
			return err
		}
		p := cl.Pairing
		if p == nil || p.Phase == "none" {
			last := "unknown"
			if p != nil && p.Last != "" {
				last = p.Last
			}
			if last == "paired" {
				fmt.Fprintf(e.stdout, "paired with %s\n", id)
				return nil
			}
			return fmt.Errorf("ctl pair: the attempt ended: %s", last)
		}
		if p.Message != "" && p.Message != said {
			said = p.Message
			fmt.Fprintf(e.stdout, "the device holds the attempt back: %q\n", p.Message)
		}
		if p.Phase == "waiting for code" && p.Round != asked && !noInput {
			fmt.Fprintf(e.stdout, "enter the code %s shows (round %d): ", orName(cl.Name), p.Round)
			select {
			case line, ok := <-lines:
				if !ok {
					noInput = true
					fmt.Fprintf(e.stdout, "\nno input: the attempt goes on; enter the code with: tonearm ctl code %s CODE\n", id)
					return nil
				}
				asked = p.Round
				if _, err := c.do(ctx, http.MethodPost, "/api/clients/"+id+"/code", console.CodeRequest{Code: line}); err != nil {
					fmt.Fprintf(e.stdout, "%v\n", err)
					asked = 0 // ask again
				}
			case <-ctx.Done():
				return c.cancelAttempt(e, id)
			}
			continue
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return c.cancelAttempt(e, id)
		}
	}
}

func (c *ctlClient) cancelAttempt(e *env, id string) error {
	if _, err := c.do(context.Background(), http.MethodPost, "/api/clients/"+id+"/cancel", nil); err != nil {
		return fmt.Errorf("ctl pair: interrupted; cancelling failed: %w", err)
	}
	return errors.New("ctl pair: interrupted; the attempt was cancelled")
}

func orName(n string) string {
	if n == "" {
		return "the client"
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
