package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/store"
)

// TestRun_HelpCommands: portal --help, -h and help list the commands; help
// COMMAND is COMMAND --help; all exit 0.
func TestRun_HelpCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"--help", []string{"--help"}, []string{"Commands:", "import-contacts", "go run .", "portal help COMMAND"}},
		{"-h", []string{"-h"}, []string{"Commands:", "demo"}},
		{"help", []string{"help"}, []string{"Commands:", "restore"}},
		{"help COMMAND", []string{"help", "check"}, []string{"Usage: portal check", "--db file"}},
		{"help serve", []string{"help", "serve"}, []string{"Usage: portal serve", "--shutdown-timeout duration", "(default 10s)", "--addr host:port"}},
		{"help token", []string{"help", "token"}, []string{"--ttl duration", "(default 1h)", "--operator\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			// go run . names a binary in a temporary directory.
			args := append([]string{"/tmp/go-build123/b001/exe/portal"}, tt.args...)
			if code := Main(context.Background(), args, envMap(nil), &stdout, &stderr); code != 0 {
				t.Fatalf("got exit code %d, want 0 (%s)", code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("got %q, want it to contain %q", stderr.String(), w)
				}
			}
			if strings.Contains(stderr.String(), "go-build123") {
				t.Errorf("got %q, want the program named portal, not its temporary path", stderr.String())
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"portal", "help", "frobnicate"}, envMap(nil), &stdout, &stderr); code != 1 {
		t.Errorf("help of an unknown command: got exit code %d, want 1", code)
	}
}

// TestRun_HelpFlagStyle: every command's flags print as the README writes
// them, with a double dash, and durations as durations.
func TestRun_HelpFlagStyle(t *testing.T) {
	t.Parallel()
	for name := range commands() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, stderr, _ := runCmd(t, name, "--help")
			for _, line := range strings.Split(stderr, "\n") {
				if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") {
					t.Errorf("flag line %q: want a double dash", line)
				}
				if strings.Contains(line, "0m0s") || strings.Contains(line, `(default "`) && strings.Contains(line, `s")`) {
					t.Errorf("line %q: want durations as typed (1h, 10s)", line)
				}
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s",
		100 * time.Millisecond: "100ms", 2*time.Minute + 5*time.Second: "2m5s", 3 * time.Minute: "3m", 0: "0s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v): got %q, want %q", d, got, want)
		}
	}
}

// TestRun_DemoOnHeldDatabase: demo on a file a server holds says to stop
// the server, as check does.
func TestRun_DemoOnHeldDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, args := range [][]string{{"demo", "--db", path}, {"import-contacts", "--org", "acme", "--db", path, writeFile(t, "c.csv", "email\na@example.com\n")}} {
		_, _, err := runCmd(t, args...)
		if err == nil || !strings.Contains(err.Error(), "stop the server") {
			t.Errorf("%s on a held file: got %v, want an error saying to stop the server", args[0], err)
		}
	}
}

// writeFile writes content to a new file named name and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := osWriteFile(path, content); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServe_LogMailNotSent: without SMTP a message is written to the log,
// and the log does not claim it was sent.
func TestServe_LogMailNotSent(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"PORTAL_LOG_FLUSH_INTERVAL": "0"})
	if _, err := s.invite(s.token("acme", "portal:read portal:write"), "jane@example.com"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the outbox to go out", func() bool { return strings.Contains(s.out.String(), `"mail written to the log, not sent"`) })
	if strings.Contains(s.out.String(), `"msg":"mail sent"`) {
		t.Errorf("log says mail sent for a message only written to the log:\n%s", s.out.String())
	}
}

func osWriteFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
