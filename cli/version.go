package cli

import (
	"context"
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

func cmdVersion(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], "", "Prints the module version, the Go version and the VCS revision the binary was built from.", stderr)
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("version: unexpected argument %q", pos[0])
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
	engines := "bbolt (etcd: build with -tags etcd)"
	if etcdBuilt {
		engines = "bbolt, etcd"
	}
	fmt.Fprintf(stdout, "portal %s\nmodule   %s\ngo       %s\nrevision %s\nplatform %s/%s\nstores   %s\n",
		b.Version, path, b.GoVersion, rev, runtime.GOOS, runtime.GOARCH, engines)
	return nil
}
