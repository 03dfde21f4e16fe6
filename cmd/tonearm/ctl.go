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
	usage:   "status | clients | approve ID [--source] | revoke ID | pair --token TOKEN | play SRC | stop",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		state := fs.String("state", defaultState("server"), "the server's state directory: where to find its console and token")
		consoleURL := fs.String("console", "", "the console's URL (default: what the running server wrote in its state directory, else http://"+daemon.DefaultConsole+")")
		token := fs.String("token", "", "the console token (default: read from the state directory)")
		asJSON := fs.Bool("json", false, "print the API's JSON answer")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) == 0 {
				return errors.New("ctl: give an action: status, clients, approve, revoke, pair, play or stop")
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
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("ctl %s: %v", op, err)
	}
	rest = fs.Args()
	nargs := map[string]int{"status": 0, "clients": 0, "approve": 1, "revoke": 1, "pair": 0, "play": 1, "stop": 0}
	n, ok := nargs[op]
	if !ok {
		return fmt.Errorf("ctl: unknown action %q; run 'tonearm help ctl'", op)
	}
	if len(rest) != n {
		if n == 0 {
			return fmt.Errorf("ctl %s: unexpected argument %q", op, rest[0])
		}
		return fmt.Errorf("ctl %s: give one %s", op, map[string]string{"approve": "client ID", "revoke": "client ID", "play": "source"}[op])
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
	case "pair":
		if *token == "" {
			return errors.New("ctl pair: give --token, the client's SP:0 pairing token (tonearm player token)")
		}
		method, path, body = http.MethodPost, "/api/pair", console.PairRequest{Token: *token}
	case "play":
		src := rest[0]
		if src != daemon.SourceTone && src != daemon.SourceNone && src != daemon.SourceStdin {
			// The server opens the file: name it absolutely.
			if abs, err := filepath.Abs(src); err == nil {
				src = abs
			}
		}
		method, path, body = http.MethodPost, "/api/play", console.PlayRequest{Source: src}
	case "stop":
		method, path = http.MethodPost, "/api/stop"
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
			playing = s.Source
		}
		fmt.Fprintf(e.stdout, "server %q (%s)\nplaying: %s\n", s.Name, s.ID, playing)
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
		fmt.Fprintln(w, "ID\tSTATUS\tCONNECTED\tNAME\tACTIVITIES")
		for _, c := range l.Clients {
			status := c.Status
			if c.NeedsRepairing {
				status += " (needs re-pairing)"
			}
			conn := "no"
			if c.Connected {
				conn = "yes"
				if c.Available {
					conn = "available"
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.ID, status, conn, c.Name, strings.Join(c.Activities, ","))
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
		case "play":
			fmt.Fprintf(e.stdout, "playing %s\n", m["playing"])
		case "stop":
			fmt.Fprintln(e.stdout, "stopped")
		}
	}
	return nil
}
