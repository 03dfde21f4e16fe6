package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/tonearm-audio/tonearm/internal/daemon"
	"github.com/tonearm-audio/tonearm/internal/device"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/qr"
)

var playerCommand = command{
	name:    "player",
	summary: "play in sync on this machine; or run an operator action on the player",
	usage:   "[status | devices | token [--qr] | rotate-psk | static-code [CODE|regenerate] | pair-window [open|close] | cancel-pairing | reset-pairing-rounds | unpaired-access [on|off] | name [NAME] | records [-v|--json] | forget SERVER [--yes] | factory-reset [--yes]]",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		state := fs.String("state", defaultState("player"), "state directory: identity, pairing PSK, pairing records")
		name := fs.String("name", "", "friendly name (default: the stored name, else the host name); stored")
		listen := fs.String("listen", "", "address servers connect to, path /sendspin (default "+daemon.DefaultPlayerListen+" unless --server)")
		srv := fs.String("server", "", `connect to this server's ws:// URL instead of waiting to be connected; "auto" finds one by mDNS`)
		out := fs.String("out", "", "audio output: device, device:NAME, null, or wav:PATH to record what would have played (default: the sound device if there is one, else null)")
		unpaired := fs.String("unpaired-access", "", "on or off: admit servers without pairing (stored; default off)")
		noMDNS := fs.Bool("no-mdns", false, "do not advertise or browse with mDNS")
		code := fs.String("pairing-code", "dynamic", "pairing code offered besides the token: dynamic (shown here), static, static:CODE, or off")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return playerOp(e, fs, args)
			}
			routeStdLog(e.log)
			return daemon.RunPlayer(ctx, daemon.PlayerOptions{State: *state, Name: *name, Listen: *listen, Server: *srv,
				Out: *out, UnpairedAccess: *unpaired, MDNS: !*noMDNS, Log: e.log, PairingCode: *code, Display: e.stdout})
		}
	},
}

// playerOp runs an operator action: `tonearm player OP [ARG] [FLAGS]`,
// with the flags before or after the action (GUIDE.md section 5).
func playerOp(e *env, outer *flag.FlagSet, args []string) error {
	op, rest := args[0], args[1:]
	want := map[string]int{daemon.OpStatus: 0, daemon.OpToken: 0, daemon.OpRotatePSK: 0, daemon.OpStaticCode: 1,
		daemon.OpUnpairedAccess: 1, daemon.OpName: 1, daemon.OpRecords: 0, daemon.OpForget: -1, daemon.OpFactoryReset: 0,
		daemon.OpPairWindow: 1, daemon.OpCancelPairing: 0, daemon.OpResetRounds: 0, "devices": 0}
	n, ok := want[op]
	if !ok {
		return fmt.Errorf("player: unknown action %q; run 'tonearm help player'", op)
	}
	fs := flag.NewFlagSet("tonearm player "+op, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The command's own flags (--state, the logging flags) are taken
	// after the action too, into the same variables. The logger is built
	// before the action runs, so a logging flag after it does not change
	// it; the actions barely log.
	outer.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	var showQR, yes, asJSON, verbose bool
	switch op {
	case daemon.OpToken:
		fs.BoolVar(&showQR, "qr", false, "also print the token as a QR code")
	case daemon.OpForget, daemon.OpFactoryReset:
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	case daemon.OpRecords:
		fs.BoolVar(&asJSON, "json", false, "print the records as JSON, with full server IDs")
		fs.BoolVar(&verbose, "v", false, "show full server IDs")
	}
	rest, err := parseInterleaved(fs, rest)
	if err != nil {
		return fmt.Errorf("player %s: %v", op, err)
	}
	switch {
	case n == -1 && len(rest) != 1:
		return fmt.Errorf("player %s: give one server ID (or a unique prefix of at least 4 characters)", op)
	case n >= 0 && len(rest) > n:
		return fmt.Errorf("player %s: unexpected argument %q", op, rest[n])
	}
	if op == "devices" {
		return listDevices(e)
	}
	state := outer.Lookup("state").Value.String()
	req := daemon.ControlRequest{Op: op}
	if len(rest) == 1 {
		req.Arg = rest[0]
	}
	control := func(req daemon.ControlRequest) (daemon.ControlReply, error) {
		reply, err := daemon.Control(state, req)
		if err != nil {
			return reply, fmt.Errorf("player %s: %w", op, err)
		}
		if reply.Error != "" {
			return reply, fmt.Errorf("player %s: %s", op, reply.Error)
		}
		return reply, nil
	}
	switch op {
	case daemon.OpForget:
		// Name the record before asking, and refuse a bad ID before any
		// question.
		reply, err := control(daemon.ControlRequest{Op: daemon.OpRecords})
		if err != nil {
			return err
		}
		var recs daemon.Records
		if err := json.Unmarshal(reply.Result, &recs); err != nil {
			return err
		}
		r, err := daemon.ResolveServer(recs.Records, req.Arg)
		if err != nil {
			return fmt.Errorf("player forget: %v", err)
		}
		req.Arg = r.Server
		q := fmt.Sprintf("forget server %s? it can use this player again only after pairing anew", label(r.Name, r.Server))
		if err := confirm(e, "forget", q, yes); err != nil {
			return err
		}
	case daemon.OpFactoryReset:
		q := "factory reset: remove every pairing record and setting? (identity, pairing PSK and static code are kept)"
		if err := confirm(e, "factory-reset", q, yes); err != nil {
			return err
		}
	}
	reply, err := control(req)
	if err != nil {
		return err
	}
	return printPlayerResult(e, op, reply, showQR, asJSON, verbose)
}

// errNoConfirm refuses a destructive action nobody confirmed.
var errNoConfirm = errors.New("not confirmed; nothing was changed")

// confirm asks a person at a terminal to confirm a destructive action
// (y/N); without a terminal, only --yes confirms (GUIDE.md section 5).
func confirm(e *env, op, question string, yes bool) error {
	if yes {
		return nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return fmt.Errorf("player %s: asks for confirmation and no terminal is there to answer: add --yes", op)
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(f).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("player %s: %w", op, errNoConfirm)
}

// label names a server for a person: "Hub (abcd1234)", or the short ID.
func label(name, id string) string {
	if name == "" {
		return shortIDOf(id)
	}
	return printable(name) + " (" + shortIDOf(id) + ")"
}

// printable keeps a name from another device from writing control
// characters to the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// localTime is a time as a person reads it: "today 21:19", or
// "2026-12-07 21:19" on another day, in local time.
func localTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return "today " + t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// until is "21:24, in 5 min": a local time soon, and how soon.
func until(t, now time.Time) string {
	d := t.Sub(now)
	in := "now"
	// Whole minutes first, then hours and minutes: rounding inside the
	// hour could say "1 h 60 min".
	mins := int((d + 30*time.Second) / time.Minute)
	switch {
	case mins >= 60:
		in = fmt.Sprintf("in %d h %d min", mins/60, mins%60)
	case d > 59*time.Second:
		in = fmt.Sprintf("in %d min", mins)
	case d > 0:
		in = "in under a minute"
	}
	return t.Local().Format("15:04") + ", " + in
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printPlayerResult(e *env, op string, reply daemon.ControlReply, showQR, asJSON, verbose bool) error {
	var m map[string]any
	now := time.Now()
	switch op {
	case daemon.OpStatus:
		var s daemon.PlayerStatus
		if err := json.Unmarshal(reply.Result, &s); err != nil {
			return err
		}
		printStatus(e.stdout, s, reply.Running, now)
		return nil
	case daemon.OpRecords:
		var recs daemon.Records
		if err := json.Unmarshal(reply.Result, &recs); err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(recs)
		}
		if len(recs.Records) == 0 {
			fmt.Fprintln(e.stdout, "no pairing records")
		} else {
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSERVER\tLAST USED\tLAST PLAYBACK")
			for _, r := range recs.Records {
				// Records kept before names were have none: say so.
				name, id := "-", r.Server
				if r.Name != "" {
					name = printable(r.Name)
				}
				if !verbose {
					id = shortIDOf(id)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, id, localTime(r.LastUsed, now), yesNo(r.LastPlayback))
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		// pairing.md "Pairing Records": a new pairing at capacity evicts
		// the least recently used record.
		fmt.Fprintf(e.stdout, "slots: %d of %d used\n", len(recs.Records), recs.Capacity)
		return nil
	}
	if err := json.Unmarshal(reply.Result, &m); err != nil {
		return err
	}
	switch op {
	case daemon.OpToken, daemon.OpRotatePSK:
		tok := m["token"].(string)
		fmt.Fprintln(e.stdout, tok)
		if showQR {
			t, err := pairing.ParsePSKToken(tok)
			if err != nil {
				return err
			}
			return qr.Terminal(e.stdout, t)
		}
	case daemon.OpStaticCode:
		fmt.Fprintln(e.stdout, m["static_code"])
	case daemon.OpUnpairedAccess:
		fmt.Fprintf(e.stdout, "unpaired access %s", onOff(m["unpaired_access"] == true))
		if n, ok := m["closed"].(float64); ok && n > 0 {
			conns := "1 connection"
			if n > 1 {
				conns = fmt.Sprintf("%d connections", int(n))
			}
			if m["unpaired_access"] == true {
				fmt.Fprintf(e.stdout, "; restarted %s so the server sees it", conns)
			} else {
				fmt.Fprintf(e.stdout, "; closed %s that relied on it", conns)
			}
		}
		fmt.Fprintln(e.stdout)
	case daemon.OpName:
		fmt.Fprintln(e.stdout, m["name"])
	case daemon.OpForget:
		name, _ := m["name"].(string)
		id, _ := m["forgot"].(string)
		fmt.Fprintf(e.stdout, "forgot server %s\n", label(name, id))
	case daemon.OpPairWindow:
		if m["open"] == true {
			closes, _ := m["closes"].(string)
			t, err := time.Parse(time.RFC3339Nano, closes)
			if err != nil {
				return fmt.Errorf("player pair-window: the player sent a bad closing time %q", closes)
			}
			fmt.Fprintf(e.stdout, "pairing window open until %s\n", until(t, now))
		} else {
			fmt.Fprintln(e.stdout, "pairing window closed")
		}
	case daemon.OpCancelPairing:
		fmt.Fprintln(e.stdout, "pairing cancelled")
	case daemon.OpResetRounds:
		fmt.Fprintln(e.stdout, "pairing rounds reset")
	case daemon.OpFactoryReset:
		fmt.Fprintln(e.stdout, "pairing records, last-playback server and settings cleared; identity, pairing PSK and static code kept")
	default:
		return errors.New("player: no printer for " + op)
	}
	return nil
}

// printStatus prints what the player is doing: the state shown is the
// state (GUIDE.md section 5), so "playing" only when the server granted
// playback to this player.
func printStatus(out io.Writer, s daemon.PlayerStatus, running bool, now time.Time) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "id\t%s\nname\t%s\nrunning\t%v\nunpaired access\t%s\npairing records\t%d of %d slots used\n",
		s.ID, printable(s.Name), running, onOff(s.UnpairedAccess), s.Records, s.RecordCapacity)
	if !running {
		return
	}
	if s.Connected {
		fmt.Fprintf(w, "server\t%s\npaired\t%v\navailable\t%v\n", label(s.ServerName, s.Server), s.Paired, s.Available)
		// What the server granted (server/activate), not what the group
		// plays: after a revoke the group may play on without this player.
		playerRole := slices.ContainsFunc(s.Roles, func(r string) bool { return strings.HasPrefix(r, "player@") })
		playback := slices.Contains(s.Activities, "playback") && playerRole
		acts := "none"
		if len(s.Activities) > 0 {
			acts = strings.Join(s.Activities, ", ")
		}
		switch {
		case len(s.Roles) > 0:
			fmt.Fprintf(w, "activities\t%s (roles: %s)\n", acts, strings.Join(s.Roles, ", "))
		case len(s.Activities) > 0:
			fmt.Fprintf(w, "activities\t%s, no roles\n", acts)
		case s.Paired:
			fmt.Fprintf(w, "activities\tnone, no roles: %s has not activated this player\n", printable(s.ServerName))
		case !s.UnpairedAccess:
			fmt.Fprintf(w, "activities\tnone, no roles: not paired, and unpaired access is off\n")
		default:
			fmt.Fprintf(w, "activities\tnone, no roles: not approved for playback\n")
		}
		if s.Group != "" {
			state := "stopped"
			switch {
			case s.GroupPlaying && playback:
				state = "playing"
			case s.GroupPlaying:
				state = "playing without this player: no playback granted"
			}
			fmt.Fprintf(w, "group\t%s (%s), %s\n", printable(s.GroupName), s.Group, state)
		}
		mute := ""
		if s.Muted {
			mute = ", muted"
		}
		fmt.Fprintf(w, "volume\t%d%s\n", s.Volume, mute)
	} else {
		fmt.Fprintf(w, "server\tnone connected\n")
	}
	if e := s.LastServerEvent; e != nil {
		fmt.Fprintf(w, "server event\t%s %s (%s)\n", label(e.Name, e.Server), e.What, localTime(e.At, now))
	}
	if e := s.LastEviction; e != nil {
		fmt.Fprintf(w, "evicted\t%s, for %s (%s)\n", label(e.Name, e.Server), label(e.ForName, e.For), localTime(e.At, now))
	}
	if s.Pairing != "" {
		fmt.Fprintf(w, "pairing\t%s\n", s.Pairing)
	}
	if s.PairingWindowCloses != nil {
		fmt.Fprintf(w, "pairing window\topen until %s\n", until(*s.PairingWindowCloses, now))
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// listDevices prints the sound devices --out device:NAME can name.
func listDevices(e *env) error {
	list, err := device.List(device.Options{})
	if err != nil {
		return fmt.Errorf("player devices: %w", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "BACKEND\tDEFAULT\tNAME\tID")
	for _, d := range list {
		def := ""
		if d.Default {
			def = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.Backend, def, d.Name, d.ID)
	}
	return w.Flush()
}
