// Package cli is the portal binary's command-line interface: the serve
// command and the operator commands (token, check, backup, restore,
// import-contacts, demo, version), each in its own file. main calls Main
// with the process's arguments, environment and standard streams; tests call
// Run the same way, in process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Main runs the command args names and returns the process's exit code: 0
// on success (and for --help), 1 on any error, which it prints to stderr.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if err := Run(ctx, args, getenv, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "portal:", escapeLines(err.Error()))
		return 1
	}
	return 0
}

// Run dispatches to a subcommand; serve is the default. args[0] is the
// program name, as in os.Args.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// "go run ." names a binary in a temporary directory: usage lines name
	// the program by its base name.
	prog := filepath.Base(args[0])
	name, rest := "serve", args[1:]
	if len(rest) > 0 {
		switch rest[0] {
		case "-h", "-help", "--help":
			usage(stderr)
			return nil
		case "help":
			if len(rest) == 1 {
				usage(stderr)
				return nil
			}
			if len(rest) > 2 {
				return fmt.Errorf("help: name one command, not %d", len(rest)-1)
			}
			name, rest = rest[1], []string{"--help"}
		default:
			if len(rest[0]) > 0 && rest[0][0] != '-' {
				name, rest = rest[0], rest[1:]
			}
		}
	}
	cmd, ok := commands()[name]
	if !ok {
		usage(stderr)
		return fmt.Errorf("unknown command %q", escapeControl(name))
	}
	err := cmd.run(ctx, append([]string{prog + " " + name}, rest...), getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command printed its usage, as asked
	}
	return err
}

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
		"migrate":         {"copy an installation between stores: a bbolt file, an etcd cluster", cmdMigrate},
		"import-contacts": {"import contacts from a CSV or JSON file into an organization", cmdImportContacts},
		"demo":            {"create a demo organization with users, invitations and sessions", cmdDemo},
		"version":         {"print the version, Go version and VCS revision", cmdVersion},
	}
}

// usage lists the commands, for portal --help and portal help.
func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: portal [command] [flags]")
	fmt.Fprintln(w, "\nThe SalesOS customer portal: the admin API, the customer API and pages, from one")
	fmt.Fprintln(w, "binary and one database file (or, built with -tags etcd, an etcd cluster shared by")
	fmt.Fprintln(w, "several processes: --store). From a source checkout, 'go run . COMMAND' runs the same")
	fmt.Fprintln(w, "as a built 'portal COMMAND'.")
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
	fmt.Fprintln(w, "\nRun 'portal help COMMAND' (or 'portal COMMAND --help') for a command's flags. Flags")
	fmt.Fprintln(w, "also read PORTAL_* environment variables, such as PORTAL_DB for --db; a flag given")
	fmt.Fprintln(w, "on the command line wins.")
}

// flagSet is a command's flags. A flag that an environment variable also
// sets keeps its built-in default while the command line is parsed and takes
// the variable's value only afterwards, when the command line did not set
// it: --help and a mistyped flag print the defaults to stderr, which ends up
// in the journal or docker logs, and a value from the environment may be a
// secret (PORTAL_JWT_SECRET, the password in PORTAL_SMTP_URL, PORTAL_TOKEN).
type flagSet struct {
	*flag.FlagSet
	env [][2]string // flag name and its variable, in the order defined
	// kinds names what a flag's value is in the usage ("duration" for a
	// string read as one), where its type alone would say "string".
	kinds map[string]string
}

// newFlagSet is a subcommand's flag set: errors and usage go to stderr, and
// the usage starts with synopsis and what the command does.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), kinds: map[string]string{
		"db": "file", "out": "file", "from": "file", "url": "URL", "public-url": "URL", "org": "org", "token": "token"}}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s %s\n\n%s\n", name, synopsis, about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.printDefaults(stderr)
		}
	}
	return fs
}

// printDefaults is flag's PrintDefaults as the README writes flags: with a
// double dash, the kind of value, and defaults as they are typed (10s, not
// "10s"; 1h, not 1h0m0s).
func (fs *flagSet) printDefaults(w io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, help := flag.UnquoteUsage(f)
		if k, ok := fs.kinds[f.Name]; ok {
			kind = k
		}
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		def := f.DefValue
		if _, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && def == "false" {
			def = ""
		}
		if d, err := time.ParseDuration(def); err == nil && kind == "duration" {
			def = shortDuration(d)
		}
		if def != "" && def != "0" {
			if strings.ContainsAny(def, " \t") {
				def = strconv.Quote(def)
			}
			help += " (default " + def + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(help, "\n", "\n    \t"))
	})
}

// shortDuration writes d without zero units: 1h, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// envString defines a string flag that the environment variable env sets
// when the command line does not. The help names the variable, never its
// value.
func (fs *flagSet) envString(name, env, def, help string) *string {
	p := new(string)
	fs.envStringVar(p, name, env, def, help)
	return p
}

// envStringVar is envString storing into dst.
func (fs *flagSet) envStringVar(dst *string, name, env, def, help string) {
	fs.env = append(fs.env, [2]string{name, env})
	fs.StringVar(dst, name, def, help+" ($"+env+")")
}

// parse parses args[1:], allowing flags after positional arguments (portal
// import-contacts FILE --org acme), then applies the environment to the
// flags the command line left unset, and returns the positional arguments.
// With --help it returns flag.ErrHelp after printing the usage; Run returns
// nil for it, so help exits 0.
func (fs *flagSet) parse(args []string, getenv func(string) string) ([]string, error) {
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, e := range fs.env {
		if v := getenv(e[1]); v != "" && !set[e[0]] {
			if err := fs.Set(e[0], v); err != nil {
				return nil, fmt.Errorf("$%s: %w", e[1], err)
			}
		}
	}
	return pos, nil
}

// redactURL hides the user and password of a URL (smtp://user:pass@host)
// before it is printed or logged; anything else is returned as it is.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		if u.User == nil {
			return s
		}
		u.User = url.User("xxxxx")
		return u.String()
	}
	// Unparsable: cut whatever sits between the scheme and an @ before the
	// path by hand.
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	auth := s[i+3:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		return s[:i+3] + "xxxxx" + s[i+3+at:]
	}
	return s
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[strings.ToLower(level)]}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
