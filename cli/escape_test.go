package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

func TestEscapeControl(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"acme", "acme"},
		{"Zürich GmbH 東京", "Zürich GmbH 東京"},
		{`C:\path`, `C:\path`},
		{"evil\n  OK: fine", `evil\n  OK: fine`},
		{"\x1b[32mOK\x1b[0m", `\x1b[32mOK\x1b[0m`},
		{"cr\rover", `cr\rover`},
		{"tab\there", `tab\there`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202etxt.exe", `bidi\u202etxt.exe`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := escapeControl(tt.in); got != tt.want {
			t.Errorf("escapeControl(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := escapeLines("first\x1b[2J\nsecond\r"), "first\\x1b[2J\nsecond\\r"; got != want {
		t.Errorf("escapeLines: got %q, want %q", got, want)
	}
}

// TestRun_CheckHostileNames: an organization named to forge report lines
// and terminal escapes is printed escaped, on its breach's line.
func TestRun_CheckHostileNames(t *testing.T) {
	t.Parallel()
	path := newDemoDB(t)
	hostile := "x/contact_emails/a: fine\n  OK: the file is sound\x1b[32m\x1b]0;owned\x07\u202e"
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bbolt.Tx) error {
		org := tx.Bucket([]byte("orgs")).Bucket([]byte("demo"))
		return org.Bucket([]byte("contact_emails")).Put([]byte("ghost\x1b[2J@example.com"), []byte(hostile))
	})
	if err == nil {
		err = b.Update(func(tx *bbolt.Tx) error {
			ob, err := tx.Bucket([]byte("orgs")).CreateBucket([]byte(hostile))
			if err != nil {
				return err
			}
			return ob.Put([]byte("junk"), []byte("x"))
		})
	}
	_ = b.Close()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	code := Main(context.Background(), []string{"portal", "check", "--db", path}, envMap(nil), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("got exit code %d, want 1\n%s", code, stdout.String())
	}
	out := stdout.String() + stderr.String()
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "\r"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds the control character %q:\n%s", bad, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "OK") {
			t.Errorf("a failed check printed a line starting with OK: %q\n%s", line, out)
		}
	}
	if !strings.Contains(out, `\n  OK: the file is sound\x1b[32m`) {
		t.Errorf("want the hostile name shown escaped:\n%s", out)
	}
}

// TestRun_BackupServerMessageEscaped: a problem document from a hostile
// server is printed escaped.
func TestRun_BackupServerMessageEscaped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"title":"Forbidden\n\u001b[32mbackup written\u001b[0m","detail":"\r\u202e"}`))
	}))
	defer srv.Close()
	var stdout, stderr strings.Builder
	code := Main(context.Background(), []string{"portal", "backup", "--url", srv.URL, "--token", "portal-operator.x",
		"--out", filepath.Join(t.TempDir(), "b.db")}, envMap(nil), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("got exit code %d, want 1", code)
	}
	if out := stderr.String(); strings.ContainsAny(out, "\x1b\r\u202e") || strings.Count(out, "\n") != 1 || !strings.Contains(out, `\x1b[32mbackup written`) {
		t.Errorf("got %q, want one line with the server's message escaped", out)
	}
}
