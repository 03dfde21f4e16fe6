package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// specRevision is the pinned specification this build implements
// (../shared/spec/SOURCE.md).
const specRevision = "033dddb2054c3720b48292f24eb1bae2932815f9"

var versionCommand = command{
	name:    "version",
	summary: "print the version, the Go version and the protocol revision",
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		return noArgs("version", func(_ context.Context, e *env) error {
			fmt.Fprintf(e.stdout, "tonearm %s\n", buildVersion())
			fmt.Fprintf(e.stdout, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(e.stdout, "sendspin core version %d, spec %s\n", wire.CoreVersion, specRevision[:12])
			return nil
		})
	},
}

// buildVersion is the module version, or "devel" for a source build.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return "devel"
	}
	return bi.Main.Version
}
