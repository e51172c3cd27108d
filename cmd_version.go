package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/salesos/portal/metrics"
)

// buildOf describes the running binary from the build information the Go
// toolchain embeds: the module version ("(devel)" for a source build), the
// Go version, and the VCS revision when the build recorded one.
func buildOf() metrics.Build {
	b := metrics.Build{Version: "(unknown)", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Version = info.Main.Version
	if info.GoVersion != "" {
		b.GoVersion = info.GoVersion
	}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if b.Revision != "" && modified {
		b.Revision += "+modified"
	}
	return b
}

func cmdVersion(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nPrints the module version, the Go version and the VCS revision the binary was built from.\n", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("version: unexpected argument %q", fs.Arg(0))
	}
	b := buildOf()
	path := "github.com/salesos/portal"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Path != "" {
		path = info.Main.Path
	}
	rev := b.Revision
	if rev == "" {
		rev = "(not recorded; build with -buildvcs=true from a git checkout)"
	}
	fmt.Fprintf(stdout, "portal %s\nmodule   %s\ngo       %s\nrevision %s\nplatform %s/%s\n",
		b.Version, path, b.GoVersion, rev, runtime.GOOS, runtime.GOARCH)
	return nil
}
