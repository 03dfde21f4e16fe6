// Command tonearm is the Tonearm command line: one binary with a table of
// subcommands: the server, the player, the operator's ctl, the demo.
//
// Conventions (GUIDE.md section 4): messages for people go to stderr,
// lowercase and prefixed "tonearm:"; every command accepts
// --log-format text|json; exit status 0 on success and 1 with a one-line
// reason on failure, never a stack trace for bad input.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one entry of the subcommand table.
type command struct {
	name    string
	summary string
	usage   string // arguments after the command name
	// setup declares the command's flags; run gets the remaining
	// arguments.
	setup func(fs *flag.FlagSet) func(ctx context.Context, e *env, args []string) error
}

// env is what a command runs with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

// childEnv marks a child process tonearm started itself (bench's pinned
// sides); a test binary runs as tonearm when it is set.
const childEnv = "TONEARM_CHILD"

// commands is the subcommand table, in the order help lists it.
var commands []command

func init() {
	commands = []command{serverCommand, playerCommand, ctlCommand, demoCommand, benchCommand, versionCommand, helpCommand}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText())
		return 1
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		name = "help"
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "tonearm: unknown command %q; run 'tonearm help' for the list\n", args[0])
		return 1
	}
	fs := flag.NewFlagSet("tonearm "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	logFormat := fs.String("log-format", "text", "log output: text or json")
	logLevel := fs.String("log-level", "info", "the least severe log lines shown: debug, info or warn")
	runFn := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, commandHelp(cmd, fs))
			return 0
		}
		fmt.Fprintf(stderr, "tonearm: %s: %v; run 'tonearm help %s'\n", cmd.name, err, cmd.name)
		return 1
	}
	logger, err := newLogger(*logFormat, *logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tonearm: %v\n", err)
		return 1
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, log: logger}
	if err := runFn(ctx, e, fs.Args()); err != nil {
		fmt.Fprintf(stderr, "tonearm: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// newLogger builds the structured logger every command logs through.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{}
	switch level {
	case "debug":
		opts.Level = slog.LevelDebug
	case "info":
		opts.Level = slog.LevelInfo
	case "warn":
		opts.Level = slog.LevelWarn
	default:
		return nil, fmt.Errorf("--log-level must be debug, info or warn, not %q", level)
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// oneLine keeps a failure message to one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// noArgs wraps a command body that takes no positional arguments.
func noArgs(name string, f func(ctx context.Context, e *env) error) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%s: unexpected argument %q", name, args[0])
		}
		return f(ctx, e)
	}
}

// parseInterleaved parses fs from args with flags allowed after
// positional arguments too (`pair ID --code C`), and returns the
// positional arguments. A client or server ID is unpadded base64url and
// may begin with '-' (one in 64 does): an argument that names no flag of
// fs and has the exact form of an ID is positional, not an unknown flag.
// A negative number ("-5") names no flag either: it is positional, for
// the action to judge (`ctl volume -5`). Anything after "--" is
// positional too.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		var flags []string
		for len(args) > 0 {
			a := args[0]
			if a == "--" {
				pos = append(pos, args[1:]...)
				args = nil
				break
			}
			if strings.HasPrefix(a, "-") && !namesFlag(fs, a) && (looksLikeKeyID(a) || looksLikeNumber(a)) {
				pos = append(pos, a)
				args = args[1:]
				continue
			}
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				flags = append(flags, a)
				args = args[1:]
				// A non-boolean flag given as "-name value" takes the next
				// argument with it.
				if !strings.Contains(a, "=") && takesValue(fs, a) && len(args) > 0 {
					flags = append(flags, args[0])
					args = args[1:]
				}
				continue
			}
			break
		}
		if err := fs.Parse(flags); err != nil {
			if strings.Contains(err.Error(), "flag provided but not defined") {
				// Perhaps the prefix of an ID that starts with '-'.
				return nil, fmt.Errorf("%w (an ID or prefix that starts with '-' goes after --)", err)
			}
			return nil, err
		}
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagName is the name an argument like "-x", "--x" or "--x=v" gives.
func flagName(a string) string {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	return name
}

// namesFlag reports whether a names a flag defined in fs.
func namesFlag(fs *flag.FlagSet, a string) bool {
	n := flagName(a)
	return fs.Lookup(n) != nil || n == "h" || n == "help"
}

// takesValue reports whether the flag a names needs a value argument.
func takesValue(fs *flag.FlagSet, a string) bool {
	f := fs.Lookup(flagName(a))
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// looksLikeKeyID reports whether a has the text form of a 32-byte key:
// 43 characters of unpadded base64url.
func looksLikeKeyID(a string) bool {
	if len(a) != 43 {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// looksLikeNumber reports whether a is a negative decimal number, like
// "-5" or "-0.5".
func looksLikeNumber(a string) bool {
	digits, dot := 0, false
	for i, c := range a {
		switch {
		case i == 0:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && a[len(a)-1] != '.'
}
