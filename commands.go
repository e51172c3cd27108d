package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
)

// command is one subcommand of the binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":           {"serve the portal (the default)", cmdServe},
		"token":           {"print a staff token (JWT) for the admin API", cmdToken},
		"check":           {"check a database file: bbolt's own check, indexes and counters", cmdCheck},
		"backup":          {"write a consistent backup, from a running server or from the file", cmdBackup},
		"restore":         {"replace a database file with a checked backup", cmdRestore},
		"import-contacts": {"import contacts from a CSV or JSON file into an organization", cmdImportContacts},
		"demo":            {"create a demo organization with users, invitations and sessions", cmdDemo},
		"version":         {"print the version, Go version and VCS revision", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: portal [command] [flags]")
	fmt.Fprintln(w, "\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'portal COMMAND --help' for a command's flags. Flags also read PORTAL_*")
	fmt.Fprintln(w, "environment variables, such as PORTAL_DB for --db.")
}

// parseFlags parses args[1:] with fs, allowing flags after positional
// arguments (portal import-contacts FILE --org acme), and returns the
// positional arguments. With --help it returns flag.ErrHelp after fs has
// printed its usage; callers return nil for it, so help exits 0.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}

// newFlagSet is a subcommand's flag set: errors and usage go to stderr, and
// the usage starts with synopsis and what the command does.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s %s\n\n%s\n", name, synopsis, about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[strings.ToLower(level)]}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
