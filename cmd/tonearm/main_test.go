package main

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The command line is tested with testscript scripts in testdata/script,
// each running the real binary (age cmd/age/testdata).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tonearm": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
