package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
)

var helpCommand = command{
	name:    "help",
	summary: "show the commands, or one command's flags",
	usage:   "[command]",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		return func(_ context.Context, e *env, args []string) error {
			switch len(args) {
			case 0:
				fmt.Fprint(e.stdout, usageText())
				return nil
			case 1:
				cmd, ok := lookup(args[0])
				if !ok {
					return fmt.Errorf("help: unknown command %q", args[0])
				}
				sub := flag.NewFlagSet("tonearm "+cmd.name, flag.ContinueOnError)
				sub.String("log-format", "text", "log output: text or json")
				sub.String("log-level", "info", "the least severe log lines shown: debug, info or warn")
				cmd.setup(sub)
				fmt.Fprint(e.stdout, commandHelp(cmd, sub))
				return nil
			}
			return fmt.Errorf("help: expected at most one command name")
		}
	},
}

func usageText() string {
	var b strings.Builder
	b.WriteString("Tonearm: synchronized multi-room audio over the Sendspin protocol.\n\n")
	b.WriteString("Usage: tonearm <command> [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'tonearm help <command>' for a command's flags.\n")
	return b.String()
}

func commandHelp(cmd command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n\n%s.\n\nFlags:\n", strings.TrimSpace("tonearm "+cmd.name+" [flags] "+cmd.usage), upperFirst(cmd.summary))
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(&b, "  --%s\n        %s", f.Name, f.Usage)
		if f.DefValue != "" {
			fmt.Fprintf(&b, " (default %q)", f.DefValue)
		}
		b.WriteString("\n")
	})
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
