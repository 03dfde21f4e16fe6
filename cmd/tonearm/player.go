package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/tonearm-audio/tonearm/internal/daemon"
	"github.com/tonearm-audio/tonearm/internal/device"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/qr"
)

var playerCommand = command{
	name:    "player",
	summary: "play in sync on this machine; or run an operator action on the player",
	usage:   "[status | devices | token [--qr] | rotate-psk | static-code [CODE|regenerate] | pair-window [open|close] | cancel-pairing | reset-pairing-rounds | unpaired-access [on|off] | name [NAME] | records | forget SERVER_ID | factory-reset]",
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
				return playerOp(e, *state, args)
			}
			routeStdLog(e.log)
			return daemon.RunPlayer(ctx, daemon.PlayerOptions{State: *state, Name: *name, Listen: *listen, Server: *srv,
				Out: *out, UnpairedAccess: *unpaired, MDNS: !*noMDNS, Log: e.log, PairingCode: *code, Display: e.stdout})
		}
	},
}

// playerOp runs an operator action: `tonearm player OP [ARG] [--qr]`.
func playerOp(e *env, state string, args []string) error {
	op, rest := args[0], args[1:]
	if op == "devices" {
		if len(rest) > 0 {
			return fmt.Errorf("player devices: unexpected argument %q", rest[0])
		}
		return listDevices(e)
	}
	fs := flag.NewFlagSet("tonearm player "+op, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	showQR := false
	if op == daemon.OpToken {
		fs.BoolVar(&showQR, "qr", false, "also print the token as a QR code")
	}
	rest, err := parseInterleaved(fs, rest)
	if err != nil {
		return fmt.Errorf("player %s: %v", op, err)
	}
	want := map[string]int{daemon.OpStatus: 0, daemon.OpToken: 0, daemon.OpRotatePSK: 0, daemon.OpStaticCode: 1,
		daemon.OpUnpairedAccess: 1, daemon.OpName: 1, daemon.OpRecords: 0, daemon.OpForget: -1, daemon.OpFactoryReset: 0,
		daemon.OpPairWindow: 1, daemon.OpCancelPairing: 0, daemon.OpResetRounds: 0}
	n, ok := want[op]
	switch {
	case !ok:
		return fmt.Errorf("player: unknown action %q; run 'tonearm help player'", op)
	case n == -1 && len(rest) != 1:
		return fmt.Errorf("player %s: give one server ID", op)
	case n >= 0 && len(rest) > n:
		return fmt.Errorf("player %s: unexpected argument %q", op, rest[n])
	}
	req := daemon.ControlRequest{Op: op}
	if len(rest) == 1 {
		req.Arg = rest[0]
	}
	reply, err := daemon.Control(state, req)
	if err != nil {
		return fmt.Errorf("player %s: %w", op, err)
	}
	if reply.Error != "" {
		return fmt.Errorf("player %s: %s", op, reply.Error)
	}
	return printPlayerResult(e, op, reply, showQR)
}

func printPlayerResult(e *env, op string, reply daemon.ControlReply, showQR bool) error {
	var m map[string]any
	switch op {
	case daemon.OpStatus:
		var s daemon.PlayerStatus
		if err := json.Unmarshal(reply.Result, &s); err != nil {
			return err
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "id\t%s\nname\t%s\nrunning\t%v\nunpaired access\t%s\npairing records\t%d\n", s.ID, s.Name, reply.Running, onOff(s.UnpairedAccess), s.Records)
		if reply.Running {
			if s.Connected {
				fmt.Fprintf(w, "server\t%s (%s)\npaired\t%v\navailable\t%v\n", s.ServerName, s.Server, s.Paired, s.Available)
				if s.Group != "" {
					state := "stopped"
					if s.GroupPlaying {
						state = "playing"
					}
					fmt.Fprintf(w, "group\t%s (%s), %s\n", s.GroupName, s.Group, state)
				}
				mute := ""
				if s.Muted {
					mute = ", muted"
				}
				fmt.Fprintf(w, "volume\t%d%s\n", s.Volume, mute)
			} else {
				fmt.Fprintf(w, "server\tnone connected\n")
			}
			if s.Pairing != "" {
				fmt.Fprintf(w, "pairing\t%s\n", s.Pairing)
			}
			if s.PairingWindowCloses != nil {
				fmt.Fprintf(w, "pairing window\topen until %s\n", s.PairingWindowCloses.Local().Format("15:04:05"))
			}
		}
		return w.Flush()
	case daemon.OpRecords:
		var recs []daemon.RecordInfo
		if err := json.Unmarshal(reply.Result, &recs); err != nil {
			return err
		}
		if len(recs) == 0 {
			fmt.Fprintln(e.stdout, "no pairing records")
			return nil
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "SERVER\tLAST USED\tLAST PLAYBACK")
		for _, r := range recs {
			last := ""
			if r.LastPlayback {
				last = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", r.Server, r.LastUsed.Local().Format("2006-01-02 15:04"), last)
		}
		return w.Flush()
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
		fmt.Fprintf(e.stdout, "unpaired access %s\n", onOff(m["unpaired_access"] == true))
	case daemon.OpName:
		fmt.Fprintln(e.stdout, m["name"])
	case daemon.OpForget:
		fmt.Fprintf(e.stdout, "forgot server %s\n", m["forgot"])
	case daemon.OpPairWindow:
		if m["open"] == true {
			fmt.Fprintf(e.stdout, "pairing window open until %v\n", m["closes"])
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
