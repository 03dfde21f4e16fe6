package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tonearm-audio/tonearm/internal/daemon"
)

var serverCommand = command{
	name:    "server",
	summary: "stream a file, the test signal or stdin to the players on the network",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		state := fs.String("state", defaultState("server"), "state directory: identity, pairing records, approvals")
		name := fs.String("name", "Tonearm", "friendly name shown to players")
		listen := fs.String("listen", daemon.DefaultServerListen, "address for player connections (path /sendspin)")
		console := fs.String("console", daemon.DefaultConsole, "operator console address; off loopback it needs the console token")
		play := fs.String("play", daemon.SourceTone, `what to play: a WAV, FLAC or MP3 file, a folder of them (gapless, in name order), "tone" (test signal), "-" (raw 48 kHz stereo s16le on stdin) or "none"`)
		var connect stringList
		fs.Var(&connect, "connect", "a player's ws:// URL to connect to (repeatable), for networks without mDNS")
		noMDNS := fs.Bool("no-mdns", false, "do not advertise or browse with mDNS")
		return noArgs("server", func(ctx context.Context, e *env) error {
			for _, u := range connect {
				if !strings.HasPrefix(u, "ws://") {
					return errors.New("server: --connect takes ws:// URLs, as a player prints them")
				}
			}
			routeStdLog(e.log)
			return daemon.RunServer(ctx, daemon.ServerOptions{State: *state, Name: *name, Listen: *listen, Console: *console,
				Play: *play, Connect: connect, MDNS: !*noMDNS, Log: e.log, Stdin: e.stdin})
		})
	},
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// defaultState is the state directory under the user's config directory.
func defaultState(role string) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "tonearm", role)
}

// routeStdLog sends what libraries write to the standard logger (the
// FLAC decoder on odd headers) to the structured log at debug level, so a
// peer or a file cannot flood the terminal.
func routeStdLog(l *slog.Logger) {
	log.SetFlags(0)
	log.SetOutput(slog.NewLogLogger(l.Handler(), slog.LevelDebug).Writer())
}
