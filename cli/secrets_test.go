package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Secret values the tests put in the environment; none may ever be printed.
const (
	leakJWTSecret = "jwt-secret-never-printed-0123456789abcdef"
	leakSMTPPass  = "smtp-password-never-printed"
	leakToken     = "operator-token-never-printed"
	leakURLPass   = "url-password-never-printed"
)

func leakEnv() map[string]string {
	return map[string]string{
		"PORTAL_JWT_SECRET": leakJWTSecret,
		"PORTAL_SMTP_URL":   "smtp://mailer:" + leakSMTPPass + "@mail.example.com:587",
		"PORTAL_TOKEN":      leakToken,
		"PORTAL_PUBLIC_URL": "https://admin:" + leakURLPass + "@portal.example.com",
	}
}

// assertNoSecret fails when out holds any of the secrets of leakEnv.
func assertNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range []string{leakJWTSecret, leakSMTPPass, leakToken, leakURLPass} {
		if strings.Contains(out, s) {
			t.Errorf("%s: got output containing the secret %q:\n%s", what, s, out)
		}
	}
}

// TestRun_HelpHidesSecrets: --help, a mistyped flag and a bad value print
// usage or an error to stderr, which lands in the journal; with the secrets
// in the environment, none of them may show one.
func TestRun_HelpHidesSecrets(t *testing.T) {
	t.Parallel()
	for name := range commands() {
		for _, args := range [][]string{{"--help"}, {"--nope"}, {"-h"}} {
			t.Run(name+" "+args[0], func(t *testing.T) {
				t.Parallel()
				var stdout, stderr bytes.Buffer
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // nothing here may start serving
				Main(ctx, append([]string{"portal", name}, args...), envMap(leakEnv()), &stdout, &stderr)
				if args[0] != "--nope" && !strings.Contains(stderr.String(), "Usage:") {
					t.Errorf("got %q, want the usage", stderr.String())
				}
				assertNoSecret(t, "stdout", stdout.String())
				assertNoSecret(t, "stderr", stderr.String())
			})
		}
	}
	// The default command is serve, so a mistyped flag alone prints serve's
	// usage.
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"portal", "--jwt-secert", "x"}, envMap(leakEnv()), &stdout, &stderr); code != 1 {
		t.Errorf("got exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "--jwt-secert") && !strings.Contains(stderr.String(), "-jwt-secert") {
		t.Errorf("got %q, want it to name the mistyped flag", stderr.String())
	}
	assertNoSecret(t, "default command", stdout.String()+stderr.String())
}

// TestParseServeConfig_ErrorsHideURLPasswords: an invalid URL is named in
// the error without its user and password.
func TestParseServeConfig_ErrorsHideURLPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"public url flag", []string{"--public-url", "ftp://admin:" + leakURLPass + "@portal.example.com"}, nil},
		{"public url env", nil, map[string]string{"PORTAL_PUBLIC_URL": "ftp://admin:" + leakURLPass + "@portal.example.com"}},
		{"unparsable public url", []string{"--public-url", "https://admin:" + leakURLPass + "@portal.example.com:port/"}, nil},
		{"cors origin", []string{"--cors-origins", "https://admin:" + leakURLPass + "@app.example.com/path"}, nil},
		{"smtp url", []string{"--smtp-url", "smtp://mailer:" + leakSMTPPass + "@mail.example.com:99999"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			env := map[string]string{"PORTAL_ADDR": "127.0.0.1:0", "PORTAL_DB": t.TempDir() + "/portal.db"}
			for k, v := range tt.env {
				env[k] = v
			}
			code := Main(context.Background(), append([]string{"portal", "serve"}, tt.args...), envMap(env), &stdout, &stderr)
			if code != 1 {
				t.Fatalf("got exit code %d, want 1 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "xxxxx") {
				t.Errorf("got %q, want the URL named with its user info redacted", stderr.String())
			}
			assertNoSecret(t, "stderr", stdout.String()+stderr.String())
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"smtp://user:pass@mail.example.com:587", "smtp://xxxxx@mail.example.com:587"},
		{"smtps://user@mail.example.com", "smtps://xxxxx@mail.example.com"},
		{"https://portal.example.com/x", "https://portal.example.com/x"},
		{"https://u:p@host:port/path", "https://xxxxx@host:port/path"},
		{"https://u:p@host:port", "https://xxxxx@host:port"},
		{"not a url", "not a url"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestServe_LogHidesURLPassword: the serving line names the public URL
// without a password.
func TestServe_LogHidesURLPassword(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"PORTAL_PUBLIC_URL": "https://admin:" + leakURLPass + "@portal.example.com"})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	out := s.out.String()
	if !strings.Contains(out, "https://xxxxx@portal.example.com") {
		t.Errorf("got %s, want the serving line to name the redacted public URL", out)
	}
	assertNoSecret(t, "log", out)
}
