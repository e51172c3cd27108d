package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// envMap is a getenv over a fixed map, so tests never see the real
// environment.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseServeConfig(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr string // substring of the error; "" means no error
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			want := config{Addr: ":8080", DBPath: "portal.db", MailFrom: "portal@localhost", TenantClaim: "org",
				LogFormat: "json", LogLevel: "info", ShutdownTimeout: 10 * time.Second, MetricsAddr: "127.0.0.1:9090"}
			if !configEqual(c, want) {
				t.Errorf("got %+v, want %+v", c, want)
			}
			if got := c.publicURL(); got != "http://localhost:8080" {
				t.Errorf("publicURL: got %q, want http://localhost:8080", got)
			}
		}},
		{name: "environment overrides defaults", env: map[string]string{
			"PORTAL_ADDR": "127.0.0.1:9090", "PORTAL_DB": "/var/lib/portal/p.db", "PORTAL_PUBLIC_URL": "https://portal.example.com/",
			"PORTAL_SMTP_URL": "smtp://mail.example.com:587", "PORTAL_MAIL_FROM": "noreply@example.com", "PORTAL_JWT_SECRET": secret,
			"PORTAL_JWKS_FILE": "/etc/portal/jwks.json", "PORTAL_JWT_ISSUER": "https://idp.example.com", "PORTAL_JWT_AUDIENCE": "portal",
			"PORTAL_JWT_TENANT_CLAIM": "tenant_id", "PORTAL_LOG_FORMAT": "text", "PORTAL_LOG_LEVEL": "debug",
			"PORTAL_CORS_ORIGINS": "https://app.example.com, http://localhost:3000", "PORTAL_SHUTDOWN_TIMEOUT": "30s",
		}, check: func(t *testing.T, c config) {
			want := config{Addr: "127.0.0.1:9090", DBPath: "/var/lib/portal/p.db", PublicURL: "https://portal.example.com",
				SMTPURL: "smtp://mail.example.com:587", MailFrom: "noreply@example.com", JWTSecret: secret,
				JWKSPath: "/etc/portal/jwks.json", Issuer: "https://idp.example.com", Audience: "portal", TenantClaim: "tenant_id",
				LogFormat: "text", LogLevel: "debug", CORSOrigins: []string{"https://app.example.com", "http://localhost:3000"},
				ShutdownTimeout: 30 * time.Second, MetricsAddr: "127.0.0.1:9090"}
			if !configEqual(c, want) {
				t.Errorf("got %+v, want %+v", c, want)
			}
			if got := c.publicURL(); got != "https://portal.example.com" {
				t.Errorf("publicURL: got %q, want https://portal.example.com", got)
			}
		}},
		{name: "flags beat environment",
			args: []string{"--addr", ":7070", "--db", "flag.db", "--log-level", "warn", "--log-format", "json",
				"--cors-origins", "https://flag.example.com", "--shutdown-timeout", "5s", "--jwt-tenant-claim", "org_id"},
			env: map[string]string{"PORTAL_ADDR": ":9090", "PORTAL_DB": "env.db", "PORTAL_LOG_LEVEL": "debug", "PORTAL_LOG_FORMAT": "text",
				"PORTAL_CORS_ORIGINS": "https://env.example.com", "PORTAL_SHUTDOWN_TIMEOUT": "30s", "PORTAL_JWT_TENANT_CLAIM": "tenant_id"},
			check: func(t *testing.T, c config) {
				if c.Addr != ":7070" || c.DBPath != "flag.db" || c.LogLevel != "warn" || c.LogFormat != "json" ||
					!slices.Equal(c.CORSOrigins, []string{"https://flag.example.com"}) || c.ShutdownTimeout != 5*time.Second || c.TenantClaim != "org_id" {
					t.Errorf("got %+v, want the flag values", c)
				}
			}},
		{name: "flag=value form", args: []string{"--addr=:6060", "-db=x.db"}, check: func(t *testing.T, c config) {
			if c.Addr != ":6060" || c.DBPath != "x.db" {
				t.Errorf("got addr %q db %q, want :6060 x.db", c.Addr, c.DBPath)
			}
		}},
		{name: "log level is case-insensitive", args: []string{"--log-level", "DEBUG"}, check: func(t *testing.T, c config) {}},
		{name: "public url without host port", args: []string{"--addr", "0.0.0.0:8081"}, check: func(t *testing.T, c config) {
			if got := c.publicURL(); got != "http://0.0.0.0:8081" {
				t.Errorf("publicURL: got %q, want http://0.0.0.0:8081", got)
			}
		}},

		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "log-level"},
		{name: "bad log level from env", env: map[string]string{"PORTAL_LOG_LEVEL": "verbose"}, wantErr: "log-level"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "log-format"},
		{name: "public url not http", args: []string{"--public-url", "ftp://portal.example.com"}, wantErr: "public-url"},
		{name: "public url without host", args: []string{"--public-url", "https://"}, wantErr: "public-url"},
		{name: "public url relative", args: []string{"--public-url", "portal.example.com"}, wantErr: "public-url"},
		{name: "short secret", args: []string{"--jwt-secret", strings.Repeat("s", 31)}, wantErr: "jwt-secret"},
		{name: "short secret from env", env: map[string]string{"PORTAL_JWT_SECRET": "short"}, wantErr: "jwt-secret"},
		{name: "cors origin not a url", args: []string{"--cors-origins", "not-an-origin"}, wantErr: "cors-origins"},
		{name: "cors origin with path", args: []string{"--cors-origins", "https://app.example.com/path"}, wantErr: "cors-origins"},
		{name: "cors origin bad scheme", env: map[string]string{"PORTAL_CORS_ORIGINS": "https://ok.example.com,ftp://x.example.com"}, wantErr: "cors-origins"},
		{name: "shutdown timeout zero", args: []string{"--shutdown-timeout", "0s"}, wantErr: "shutdown-timeout"},
		{name: "shutdown timeout garbage", env: map[string]string{"PORTAL_SHUTDOWN_TIMEOUT": "soon"}, wantErr: "shutdown-timeout"},
		{name: "empty db", args: []string{"--db", ""}, wantErr: "db"},
		{name: "empty tenant claim", args: []string{"--jwt-tenant-claim", ""}, wantErr: "jwt-tenant-claim"},
		{name: "mail connections and imports", args: []string{"--smtp-connections", "8"}, env: map[string]string{"PORTAL_MAX_IMPORTS": "2"},
			check: func(t *testing.T, c config) {
				if c.SMTPConnections != 8 || c.MaxImports != 2 {
					t.Errorf("got smtp-connections %d max-imports %d, want 8 and 2", c.SMTPConnections, c.MaxImports)
				}
			}},
		{name: "mail connections and imports default", check: func(t *testing.T, c config) {
			if c.SMTPConnections != 4 || c.MaxImports != 4 {
				t.Errorf("got smtp-connections %d max-imports %d, want 4 and 4", c.SMTPConnections, c.MaxImports)
			}
		}},
		{name: "no mail connections", args: []string{"--smtp-connections", "0"}, wantErr: "smtp-connections"},
		{name: "too many mail connections", env: map[string]string{"PORTAL_SMTP_CONNECTIONS": "65"}, wantErr: "smtp-connections"},
		{name: "imports not a number", args: []string{"--max-imports", "many"}, wantErr: "max-imports"},
		{name: "document limits default", check: func(t *testing.T, c config) {
			if c.DocumentQuota != 1<<30 || c.DocumentMaxSize != 100<<20 {
				t.Errorf("got document quota %d, max %d, want 1 GiB and 100 MiB", c.DocumentQuota, c.DocumentMaxSize)
			}
		}},
		{name: "document limits", args: []string{"--document-max-bytes", "5MiB"}, env: map[string]string{"PORTAL_DOCUMENT_QUOTA_BYTES": "20971520"},
			check: func(t *testing.T, c config) {
				if c.DocumentQuota != 20<<20 || c.DocumentMaxSize != 5<<20 {
					t.Errorf("got document quota %d, max %d, want 20 MiB and 5 MiB", c.DocumentQuota, c.DocumentMaxSize)
				}
			}},
		{name: "attachment limit", env: map[string]string{"PORTAL_MAX_ATTACHMENT_BYTES": "2MiB"}, check: func(t *testing.T, c config) {
			if c.AttachmentMaxSize != 2<<20 {
				t.Errorf("got attachment max %d, want 2 MiB", c.AttachmentMaxSize)
			}
		}},
		{name: "attachment limit default", check: func(t *testing.T, c config) {
			if c.AttachmentMaxSize != 10<<20 {
				t.Errorf("got attachment max %d, want 10 MiB", c.AttachmentMaxSize)
			}
		}},
		{name: "attachment limit not a size", args: []string{"--attachment-max-bytes", "big"}, wantErr: "attachment-max-bytes"},
		{name: "document quota not a size", env: map[string]string{"PORTAL_DOCUMENT_QUOTA_BYTES": "lots"}, wantErr: "document-quota-bytes"},
		{name: "document file over the quota", args: []string{"--document-quota-bytes", "10MiB", "--document-max-bytes", "11MiB"}, wantErr: "document-max-bytes"},
		{name: "metrics off", env: map[string]string{"PORTAL_METRICS_ADDR": "off"}, check: func(t *testing.T, c config) {
			if c.MetricsAddr != "" {
				t.Errorf("got metrics address %q, want none", c.MetricsAddr)
			}
		}},
		{name: "metrics off by flag", args: []string{"--metrics-addr="}, env: map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:9191"}, check: func(t *testing.T, c config) {
			if c.MetricsAddr != "" {
				t.Errorf("got metrics address %q, want none", c.MetricsAddr)
			}
		}},
		{name: "metrics address", env: map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:9191"}, check: func(t *testing.T, c config) {
			if c.MetricsAddr != "127.0.0.1:9191" {
				t.Errorf("got metrics address %q, want 127.0.0.1:9191", c.MetricsAddr)
			}
		}},
		{name: "metrics address without port", args: []string{"--metrics-addr", "localhost"}, wantErr: "metrics-addr"},
		{name: "trusted proxies", env: map[string]string{"PORTAL_TRUSTED_PROXIES": " 127.0.0.1, 10.1.2.3/8,::1,fd00::/8 , ::ffff:192.0.2.1"},
			check: func(t *testing.T, c config) {
				want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
					netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.1/32")}
				if !slices.Equal(c.TrustedProxies, want) {
					t.Errorf("got %v, want %v", c.TrustedProxies, want)
				}
			}},
		{name: "trusted proxy not an address", args: []string{"--trusted-proxies", "10.0.0.0/8,proxy.internal"}, wantErr: "proxy.internal"},
		{name: "trusted proxy bad prefix", args: []string{"--trusted-proxies", "10.0.0.0/33"}, wantErr: "trusted-proxies"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "nope"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "extra"},
		{name: "several errors at once", args: []string{"--log-level", "loud", "--log-format", "xml"}, wantErr: "log-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			c, err := parseServeConfig(append([]string{"portal serve"}, tt.args...), envMap(tt.env), &stderr)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got config %+v, want an error mentioning %q", c, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %q, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			tt.check(t, c)
		})
	}
}

func configEqual(a, b config) bool {
	return a.Addr == b.Addr && a.DBPath == b.DBPath && a.PublicURL == b.PublicURL && a.SMTPURL == b.SMTPURL &&
		a.MailFrom == b.MailFrom && a.JWTSecret == b.JWTSecret && a.JWKSPath == b.JWKSPath && a.Issuer == b.Issuer &&
		a.Audience == b.Audience && a.TenantClaim == b.TenantClaim && a.LogFormat == b.LogFormat && a.LogLevel == b.LogLevel &&
		a.ShutdownTimeout == b.ShutdownTimeout && a.MetricsAddr == b.MetricsAddr && slices.Equal(a.CORSOrigins, b.CORSOrigins)
}

// syncBuffer is an io.Writer safe for the server's logger and the test to
// share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLine returns the first JSON log line whose msg is msg.
func logLine(out, msg string) (map[string]any, bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			return m, true
		}
	}
	return nil, false
}

// waitFor polls cond until it holds or the deadline passes. It bounds a
// wait; no assertion depends on how long anything took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mintToken runs the token command and returns the token it printed.
func mintToken(t *testing.T, getenv func(string) string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), append([]string{"portal", "token"}, args...), getenv, &stdout, &stderr)
	if err != nil {
		t.Fatalf("token %v: got %v (stderr %q), want nil", args, err, stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	if parts := strings.Split(tok, "."); len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		t.Fatalf("token %v: got %q, want a compact JWT of three parts", args, tok)
	}
	return tok
}

func TestRun_Smoke(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	getenv := envMap(nil)
	// A token minted before the first start creates the database and its secret.
	before := mintToken(t, getenv, "--org", "acme", "--db", dbPath)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &syncBuffer{}
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"portal", "serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--db", dbPath}, getenv, stdout, &stderr)
	}()

	var addr string
	waitFor(t, "the serving log line", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v (stdout %q, stderr %q)", err, stdout.String(), stderr.String())
		default:
		}
		line, ok := logLine(stdout.String(), "serving")
		if ok {
			addr, _ = line["addr"].(string)
		}
		return ok
	})
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("got addr %q in the serving line, want the bound address", addr)
	}
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, "/healthz", func() bool {
		res, err := client.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})

	get := func(path, token string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	if status, body := get("/readyz", ""); status != http.StatusOK {
		t.Errorf("readyz: got %d %s, want 200", status, body)
	}
	if status, _ := get("/v1/customer-portal/config", ""); status != http.StatusUnauthorized {
		t.Errorf("config without token: got %d, want 401", status)
	}
	// The server verifies with the secret it found in the database.
	if status, body := get("/v1/customer-portal/config", before); status != http.StatusOK {
		t.Errorf("config with the token minted before start: got %d %s, want 200", status, body)
	}
	// While the server holds the database, token reads the secret from a copy.
	during := mintToken(t, getenv, "--org", "globex", "--db", dbPath, "--scope", "portal:read")
	status, body := get("/v1/customer-portal/config", during)
	if status != http.StatusOK {
		t.Fatalf("config with the token minted while serving: got %d %s, want 200", status, body)
	}
	var cfg map[string]any
	_ = json.Unmarshal(body, &cfg)
	if cfg["slug"] != "globex" {
		t.Errorf("got slug %v, want globex (the token's organization)", cfg["slug"])
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: got %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not return after its context was cancelled")
	}
	if _, ok := logLine(stdout.String(), "shutting down"); !ok {
		t.Errorf("got no shutting down log line, want one")
	}
	// The database was closed: it opens again at once.
	db, err := store.Open(dbPath, time.Now, store.Options{})
	if err != nil {
		t.Fatalf("reopen after shutdown: got %v, want nil", err)
	}
	_ = db.Close()
}

func TestRun_Token(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	tok := mintToken(t, envMap(nil), "--org", "acme", "--db", dbPath)

	db, err := store.Open(dbPath, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := db.Secret("jwt_hs256", 32)
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: got %v, want the token accepted", err)
	}
	if p.Tenant != "acme" || p.Subject != "admin" || !slices.Equal(p.Scopes, []string{"portal:read", "portal:write"}) {
		t.Errorf("got %+v, want sub admin of acme with portal:read portal:write", p)
	}

	// Later tokens use the same stored secret; flags shape the claims.
	tok2 := mintToken(t, envMap(map[string]string{"PORTAL_DB": dbPath}), "--org", "globex", "--sub", "ops", "--scope", "portal:read", "--role", "owner", "--ttl", "10m")
	p, err = v.Verify(tok2)
	if err != nil {
		t.Fatalf("second token: got %v, want accepted", err)
	}
	if p.Tenant != "globex" || p.Subject != "ops" || p.Role != "owner" || !slices.Equal(p.Scopes, []string{"portal:read"}) {
		t.Errorf("got %+v, want ops of globex, role owner, scope portal:read", p)
	}
}

func TestRun_TokenWithConfiguredSecret(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("e", 40)
	env := map[string]string{"PORTAL_JWT_SECRET": secret, "PORTAL_JWT_ISSUER": "https://idp.example", "PORTAL_JWT_AUDIENCE": "portal",
		"PORTAL_JWT_TENANT_CLAIM": "tenant_id"}
	tok := mintToken(t, envMap(env), "--org", "acme", "--db", filepath.Join(t.TempDir(), "unused.db"))
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(secret), Issuer: "https://idp.example", Audience: "portal", TenantClaim: "tenant_id"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(tok); err != nil || p.Tenant != "acme" {
		t.Errorf("got %+v, %v, want acme accepted with the configured secret, issuer, audience and claim", p, err)
	}
}

func TestRun_Errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"unknown command", []string{"portal", "frobnicate"}, nil, "frobnicate"},
		{"token without org", []string{"portal", "token", "--db", filepath.Join(dir, "a.db")}, nil, "org"},
		{"token with zero ttl", []string{"portal", "token", "--org", "acme", "--ttl", "0s", "--db", filepath.Join(dir, "b.db")}, nil, "ttl"},
		{"token with jwks and no secret", []string{"portal", "token", "--org", "acme", "--db", filepath.Join(dir, "c.db")},
			map[string]string{"PORTAL_JWKS_FILE": "/etc/jwks.json"}, "JWKS"},
		{"token with a short secret", []string{"portal", "token", "--org", "acme"}, map[string]string{"PORTAL_JWT_SECRET": "short"}, "secret"},
		{"serve is the default command", []string{"portal", "--log-level", "loud"}, nil, "log-level"},
		{"serve with a bad flag", []string{"portal", "serve", "--nope"}, nil, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // nothing here may start serving
			err := Run(ctx, tt.args, envMap(tt.env), &stdout, &stderr)
			if err == nil {
				t.Fatalf("got nil error (stdout %q), want one mentioning %q", stdout.String(), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	var stderr bytes.Buffer
	_ = Run(context.Background(), []string{"portal", "frobnicate"}, envMap(nil), io.Discard, &stderr)
	if !strings.Contains(stderr.String(), "serve") || !strings.Contains(stderr.String(), "token") {
		t.Errorf("unknown command: got usage %q, want it to list serve and token", stderr.String())
	}
}

// TestRun_Token_OrganizationPattern: token refuses an organization the
// service would refuse (401), naming the pattern, and prints no token.
func TestRun_Token_OrganizationPattern(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	for _, org := range []string{"Acme", "../acme", "acme ", "ａｃｍｅ", "-acme", "acme\x1b[32m"} {
		stdout, _, err := runCmd(t, "token", "--org", org, "--db", dbPath)
		if err == nil || !strings.Contains(err.Error(), data.TenantPattern) {
			t.Errorf("token --org %q: got %v, want an error naming %s", org, err, data.TenantPattern)
		}
		if stdout != "" {
			t.Errorf("token --org %q: printed %q, want nothing", org, stdout)
		}
		if err != nil && strings.ContainsRune(err.Error(), 0x1b) {
			t.Errorf("token --org %q: the error holds an escape code: %q", org, err)
		}
	}
}
