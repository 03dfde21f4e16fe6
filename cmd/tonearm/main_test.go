package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The command line is tested with testscript scripts in testdata/script,
// each running the real binary (age cmd/age/testdata).
func TestMain(m *testing.M) {
	// A child process of a test (the kill -9 test) runs as tonearm.
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"tonearm": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Cmds: scriptCmds})
}

// An ID that begins with '-' (one in 64 do) is an argument, not a flag;
// flags still work before, between and after the arguments.
func TestParseInterleavedDashID(t *testing.T) {
	const id = "-w7cIZaIZtoU5APsS3iC32--kE06jX7vWcvwxW9_Fzg"
	const id2 = "--kE06jX7vWcvwxW9_FzgIZaIZtoU5APsS3iC32w7cI"
	cases := []struct {
		args []string
		pos  []string
		code string
		json bool
	}{
		{[]string{id, "--code", "1234 5678"}, []string{id}, "1234 5678", false},
		{[]string{"--code", "1", id}, []string{id}, "1", false},
		{[]string{"-code=2", id2, "-json"}, []string{id2}, "2", true},
		{[]string{"a", "--json", "b"}, []string{"a", "b"}, "", true},
		{[]string{"--", "-x", "--code"}, []string{"-x", "--code"}, "", false},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		code := fs.String("code", "", "")
		asJSON := fs.Bool("json", false, "")
		pos, err := parseInterleaved(fs, c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !slices.Equal(pos, c.pos) || *code != c.code || *asJSON != c.json {
			t.Errorf("%q: got %q code %q json %v, want %q %q %v", c.args, pos, *code, *asJSON, c.pos, c.code, c.json)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterleaved(fs, []string{"--nope"}); err == nil {
		t.Error("an unknown flag was accepted")
	} else if !strings.Contains(err.Error(), "goes after --") {
		t.Errorf("the error does not say how to give an ID that starts with '-': %v", err)
	}
}
