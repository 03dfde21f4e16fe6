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
	usage:   "status | clients [-v] | client ID | approve ID [--source] | revoke ID | pair [ID] --token TOKEN | pair ID [--method dynamic|static] [--format digits|qr_code] [--code CODE] | code ID CODE | cancel ID | unpair ID | groups | group create NAME | group rename GROUP NAME | join ID GROUP | leave ID | play SRC [--group G] | next [--group G] | stop [--group G] | volume N [--group G|--client ID] | mute on|off [--group G|--client ID] | refused",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		state := fs.String("state", defaultState("server"), "the server's state directory: where to find its console and token")
		consoleURL := fs.String("console", "", "the console's URL (default: what the running server wrote in its state directory, else http://"+daemon.DefaultConsole+")")
		token := fs.String("token", "", "the console token (default: read from the state directory)")
		asJSON := fs.Bool("json", false, "print the API's JSON answer")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) == 0 {
				return errors.New("ctl: give an action: status, clients, client, approve, revoke, pair, code, cancel, unpair, groups, group, join, leave, play, next, stop, volume, mute or refused")
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
	wait := fs.Duration("wait", pairWait, "pair --token: how long to wait for a client that is not connected")
	long := fs.Bool("v", false, "clients: whole client IDs (default: their first 8 characters, which every action takes)")
	// ctl's own flags may come after the action too (GUIDE.md section 5);
	// --token after an action is the pairing token, before it the
	// console's.
	jsonAfter := fs.Bool("json", false, "print the API's JSON answer")
	stateAfter := fs.String("state", "", "the server's state directory")
	consoleAfter := fs.String("console", "", "the console's URL")
	logFormat := fs.String("log-format", "", "log output: text or json")
	logLevel := fs.String("log-level", "", "the least severe log lines shown: debug, info or warn")
	rest, err := parseInterleaved(fs, rest)
	if err != nil {
		return fmt.Errorf("ctl %s: %v", op, err)
	}
	asJSON = asJSON || *jsonAfter
	if *stateAfter != "" {
		c.state = *stateAfter
	}
	if *consoleAfter != "" {
		c.url = *consoleAfter
	}
	if *logFormat != "" || *logLevel != "" {
		f, l := *logFormat, *logLevel
		if f == "" {
			f = "text"
		}
		if l == "" {
			l = "info"
		}
		lg, err := newLogger(f, l, e.stderr)
		if err != nil {
			return err
		}
		e.log = lg
	}
	nargs := map[string]int{"status": 0, "clients": 0, "client": 1, "approve": 1, "revoke": 1, "pair": 1, "code": 2,
		"cancel": 1, "unpair": 1, "play": 1, "stop": 0, "groups": 0, "group": 0, "join": 2, "leave": 1, "next": 0, "volume": 1, "mute": 1, "refused": 0}
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
				path, body = "/api/pair", console.PairRequest{Token: *token}
			} else {
				path, body = "/api/clients/"+rest[0]+"/pair", console.ClientPairRequest{Token: *token}
			}
			return c.pairByToken(ctx, e, path, body, *wait)
		}
		m, err := methodName(*pairMethod)
		if err != nil {
			return err
		}
		return c.pairByCode(ctx, e, rest[0], console.ClientPairRequest{Method: m, Format: *format, Code: *code})
	case "code":
		return c.enterCode(ctx, e, rest[0], strings.Join(rest[1:], ""), asJSON)
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
	case "refused":
		method, path = http.MethodGet, "/api/refusals"
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
	return printCtl(e, op, raw, *long)
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

func printCtl(e *env, op string, raw []byte, long bool) error {
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
		if cl.Note != "" {
			fmt.Fprintf(w, "note\t%s\n", cl.Note)
		}
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
		fmt.Fprintln(w, "ID\tSTATUS\tCONNECTED\tNAME\tGROUP\tACTIVITIES\tNOTE")
		for _, c := range l.Clients {
			status := statusText(c)
			conn := "no"
			if c.Connected {
				conn = "yes"
				if c.Available {
					conn = "available"
				}
			}
			// IDs short, as people read them (GUIDE.md section 5); every
			// action takes a unique prefix.
			id := shortIDOf(c.ID)
			if long {
				id = c.ID
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, status, conn, c.Name, orDash(c.GroupName),
				strings.Join(c.Activities, ","), c.Note)
		}
		return w.Flush()
	case "refused":
		return printRefusals(e, raw)
	case "groups":
		var l console.GroupList
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "GROUP\tNAME\tSTATE\tVOLUME\tMEMBERS")
		for _, g := range l.Groups {
			state := "stopped"
			listening := 0
			var members []string
			for _, m := range g.Members {
				name := m.Name
				if name == "" {
					name = "unnamed"
				}
				name += " " + m.ID[:8]
				if m.Note != "" {
					name += " (" + m.Note + ")"
				}
				if m.Playing {
					listening++
				}
				members = append(members, name)
			}
			if g.Playing {
				state = "playing"
				if t := playingText(g.NowPlaying, g.Source); t != "" {
					state += " " + t
				}
				if listening == 0 {
					state += " (no member playing)"
				}
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
		case "approve", "revoke", "cancel", "unpair", "play", "stop", "volume", "mute", "next", "join", "leave":
			// The server's own words for the outcome (the console shows
			// the same).
			fmt.Fprintln(e.stdout, m["message"])
		}
	}
	return nil
}

func statusText(c console.Client) string {
	s := c.Status
	if c.NeedsRepairing {
		// The server holds a record the device no longer uses.
		s = "needs re-pairing"
	}
	if !c.Connected {
		s += ", offline"
		if t, err := time.Parse(time.RFC3339, c.LastSeen); err == nil {
			s += " since " + localTime(t, time.Now())
		}
	}
	if p := c.Pairing; p != nil && p.Phase != "none" {
		s += ", pairing: " + p.Phase
	}
	return s
}

// pairingText is the server's sentence for the attempt, with its method.
func pairingText(p *console.Pairing) string {
	switch p.Method {
	case "pairing_psk":
		return p.Text + ", by token"
	case "dynamic_pairing_code":
		return p.Text + ", by dynamic code"
	case "static_pairing_code":
		return p.Text + ", by static code"
	}
	return p.Text
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

// pairWait is how long `ctl pair --token` waits, by default, for a client
// that is not connected to connect and pair.
const pairWait = time.Minute

// pairPoll is how often ctl reads a pairing attempt's state.
const pairPoll = 200 * time.Millisecond

// pairByToken hands the client's token to the server and follows the
// attempt to its outcome: ctl exits 0 only once the client is paired.
func (c *ctlClient) pairByToken(ctx context.Context, e *env, path string, body any, wait time.Duration) error {
	raw, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return fmt.Errorf("ctl pair: %w", err)
	}
	var r console.PairingReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	return c.follow(ctx, e, r, nil, wait)
}

// pairByCode starts a code pairing and sees it through: it asks on the
// terminal for each code the client shows, and returns when the attempt
// ends. Ctrl-C cancels the attempt.
func (c *ctlClient) pairByCode(ctx context.Context, e *env, id string, req console.ClientPairRequest) error {
	raw, err := c.do(ctx, http.MethodPost, "/api/clients/"+id+"/pair", req)
	if err != nil {
		return fmt.Errorf("ctl pair: %w", err)
	}
	var r console.PairingReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
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
	return c.follow(ctx, e, r, lines, 0)
}

// attemptView is one reading of a client's pairing attempt.
type attemptView struct {
	name string
	p    *console.Pairing
	err  error
}

// watchAttempt reads the client's pairing state until ctx ends and sends
// each reading that differs from the one before; a failed reading (the
// server stopped) is sent and ends the watch.
func (c *ctlClient) watchAttempt(ctx context.Context, id string) <-chan attemptView {
	out := make(chan attemptView)
	go func() {
		defer close(out)
		var last []byte
		tick := time.NewTicker(pairPoll)
		defer tick.Stop()
		for {
			raw, err := c.do(ctx, http.MethodGet, "/api/clients/"+id, nil)
			var v attemptView
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				v.err = err
			} else {
				var cl console.Client
				if err := json.Unmarshal(raw, &cl); err != nil {
					v.err = err
				}
				v.name, v.p = cl.Name, cl.Pairing
				if b, _ := json.Marshal(cl.Pairing); v.err == nil && bytes.Equal(b, last) {
					v.p = nil // unchanged
				} else {
					last = b
				}
			}
			if v.err != nil || v.p != nil {
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
				if v.err != nil {
					return
				}
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// follow prints attempt r's progress in the server's words until it ends,
// asking for codes on lines when it waits for one (nil: a token attempt,
// which gives up after wait while the client is not connected). It
// returns nil only when the client is paired.
func (c *ctlClient) follow(ctx context.Context, e *env, r console.PairingReply, lines <-chan string, wait time.Duration) error {
	id := r.Pairing
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	states := c.watchAttempt(wctx, id)
	var (
		said     string // the last text printed
		asked    uint32 // the round whose code was entered
		prompt   <-chan string
		giveUp   <-chan time.Time
		cur      *console.Pairing
		awaiting bool
	)
	if r.Message != "" {
		fmt.Fprintln(e.stdout, r.Message)
		said = r.Message
	}
	for {
		select {
		case v, ok := <-states:
			if !ok {
				return errors.New("ctl pair: stopped following the attempt")
			}
			if v.err != nil {
				return fmt.Errorf("ctl pair: lost the server while pairing (%v); tonearm ctl client %s shows how the attempt ended", v.err, shortIDOf(id))
			}
			p := v.p
			if p.Attempt != r.Attempt {
				return fmt.Errorf("ctl pair: another pairing attempt with %s replaced this one: %s", orName(v.name), p.Text)
			}
			cur = p
			if p.Done {
				if p.OK {
					fmt.Fprintln(e.stdout, p.Text)
					return nil
				}
				if prompt != nil {
					fmt.Fprintln(e.stdout) // end the unanswered prompt's line
				}
				return errors.New(p.Text)
			}
			if p.Phase == "waiting for the client" && lines == nil && !awaiting {
				awaiting = true
				if wait > 0 {
					giveUp = time.After(wait)
				}
				if !c.seen(ctx, id) {
					// A token names its device: one mistyped character
					// can name a device that does not exist, whose short
					// ID may still look like the intended one's.
					fmt.Fprintf(e.stdout, "the token names %s, which has never connected to this server: if the device is on, check the token\n", id)
				}
			}
			if p.Phase == "waiting for code" && lines != nil && p.Round != asked {
				if prompt == nil || p.Text != said {
					fmt.Fprintf(e.stdout, "%s: ", p.Text)
					said = p.Text
				}
				prompt = lines
				continue
			}
			prompt = nil
			if p.Text != said && p.Phase != "waiting for code" {
				fmt.Fprintln(e.stdout, p.Text)
				said = p.Text
			}
		case line, ok := <-prompt:
			if !ok {
				fmt.Fprintln(e.stdout)
				return fmt.Errorf("ctl pair: no input: the attempt goes on; enter the code with: tonearm ctl code %s CODE", shortIDOf(id))
			}
			prompt = nil
			if _, err := c.do(ctx, http.MethodPost, "/api/clients/"+id+"/code", console.CodeRequest{Code: line}); err != nil {
				fmt.Fprintf(e.stdout, "%v\n%s: ", err, cur.Text)
				prompt = lines
				continue
			}
			asked = cur.Round
		case <-giveUp:
			return fmt.Errorf("ctl pair: not paired yet: %s has not connected in %v; the server keeps the token until it restarts and pairs the client when it connects (tonearm ctl client %s shows it)",
				shortIDOf(id), wait, shortIDOf(id))
		case <-ctx.Done():
			return c.cancelAttempt(e, id)
		}
	}
}

// enterCode enters a code for the client's attempt and waits for what
// it did: exit 0 once the client is paired, or when the code was taken
// ahead of an attempt that goes on (a static code entered before the
// device is ready); 1 for a wrong code, with the next round's prompt.
func (c *ctlClient) enterCode(ctx context.Context, e *env, id, code string, asJSON bool) error {
	raw, err := c.do(ctx, http.MethodPost, "/api/clients/"+id+"/code", console.CodeRequest{Code: code})
	if err != nil {
		return fmt.Errorf("ctl code: %w", err)
	}
	if asJSON {
		_, err := e.stdout.Write(raw)
		return err
	}
	var r console.PairingReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	if r.State == nil {
		return errors.New("ctl code: the server gave no attempt state")
	}
	round := r.State.Round
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	states := c.watchAttempt(wctx, r.Pairing)
	deadline := time.After(ctlTimeout)
	text := r.State.Text
	for {
		select {
		case v, ok := <-states:
			if !ok || v.err != nil {
				return fmt.Errorf("ctl code: lost the server (%v); tonearm ctl client %s shows how the attempt goes", v.err, shortIDOf(r.Pairing))
			}
			p := v.p
			text = p.Text
			switch {
			case p.Attempt != r.Attempt:
				return errors.New("ctl code: another pairing attempt replaced this one")
			case p.Done && p.OK:
				fmt.Fprintln(e.stdout, p.Text)
				return nil
			case p.Done:
				return errors.New(p.Text)
			case p.Phase == "waiting for code" && p.Round > round:
				return errors.New(p.Text) // wrong code: the next round's words
			case p.Phase == "starting" || p.Phase == "held back":
				// Taken ahead of the device: the attempt goes on.
				fmt.Fprintf(e.stdout, "code entered; %s\n", p.Text)
				return nil
			}
		case <-deadline:
			return fmt.Errorf("ctl code: no answer from the device yet: %s (tonearm ctl client %s shows how it goes)", text, shortIDOf(r.Pairing))
		case <-ctx.Done():
			return errors.New("ctl code: interrupted; the attempt goes on")
		}
	}
}

// seen reports whether the server knows the client from a connection
// (now or before).
func (c *ctlClient) seen(ctx context.Context, id string) bool {
	raw, err := c.do(ctx, http.MethodGet, "/api/clients/"+id, nil)
	if err != nil {
		return true // say nothing we do not know
	}
	var cl console.Client
	if json.Unmarshal(raw, &cl) != nil {
		return true
	}
	return cl.Connected || cl.LastSeen != "" || cl.Name != ""
}

// shortIDOf is the first characters of a client ID, as people read it.
func shortIDOf(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func (c *ctlClient) cancelAttempt(e *env, id string) error {
	fmt.Fprintln(e.stdout)
	if _, err := c.do(context.Background(), http.MethodPost, "/api/clients/"+id+"/cancel", nil); err != nil {
		return fmt.Errorf("ctl pair: interrupted; cancelling the attempt failed: %w", err)
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
