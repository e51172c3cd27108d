package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"
)

// config is the service's settings: flags beat PORTAL_* environment
// variables beat defaults.
type config struct {
	Addr            string
	DBPath          string
	PublicURL       string
	SMTPURL         string
	MailFrom        string
	JWTSecret       string
	JWKSPath        string
	Issuer          string
	Audience        string
	TenantClaim     string
	LogFormat       string
	LogLevel        string
	CORSOrigins     []string
	ShutdownTimeout time.Duration
	// LogFlushInterval is how long log lines may wait in a buffer; 0
	// writes each line at once.
	LogFlushInterval time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers (slow-loris protection).
	ReadHeaderTimeout time.Duration
}

// setting describes one flag and its environment variable.
type setting struct {
	flag, env, def, help string
	dst                  *string
}

func settings(c *config) []setting {
	return []setting{
		{"addr", "PORTAL_ADDR", ":8080", "address to listen on", &c.Addr},
		{"db", "PORTAL_DB", "portal.db", "bbolt database file", &c.DBPath},
		{"public-url", "PORTAL_PUBLIC_URL", "", "public base URL used in emailed links (default http://localhost<addr>)", &c.PublicURL},
		{"smtp-url", "PORTAL_SMTP_URL", "", "SMTP server for outgoing mail, smtp://user:pass@host:587 or smtps://...; empty writes mail to the log", &c.SMTPURL},
		{"mail-from", "PORTAL_MAIL_FROM", "portal@localhost", "sender address of outgoing mail", &c.MailFrom},
		{"jwt-secret", "PORTAL_JWT_SECRET", "", "HS256 secret for staff tokens (at least 32 bytes); empty with no JWKS: generated and kept in the database", &c.JWTSecret},
		{"jwks-file", "PORTAL_JWKS_FILE", "", "JWK set file of RS256, ES256 and EdDSA public keys for staff tokens (picked by kid)", &c.JWKSPath},
		{"jwt-issuer", "PORTAL_JWT_ISSUER", "", "required iss claim of staff tokens (unchecked when empty)", &c.Issuer},
		{"jwt-audience", "PORTAL_JWT_AUDIENCE", "", "required aud claim of staff tokens (unchecked when empty)", &c.Audience},
		{"jwt-tenant-claim", "PORTAL_JWT_TENANT_CLAIM", "org", "claim that names the organization", &c.TenantClaim},
		{"log-format", "PORTAL_LOG_FORMAT", "json", "log format: json or text", &c.LogFormat},
		{"log-level", "PORTAL_LOG_LEVEL", "info", "log level: debug, info, warn or error", &c.LogLevel},
	}
}

// parseServeConfig reads the serve command's flags over the environment.
func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, s := range settings(&c) {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		fs.StringVar(s.dst, s.flag, def, s.help+" ($"+s.env+")")
	}
	cors := getenv("PORTAL_CORS_ORIGINS")
	fs.StringVar(&cors, "cors-origins", cors, "comma-separated origins allowed to call the API from a browser ($PORTAL_CORS_ORIGINS)")
	shutdown := "10s"
	if v := getenv("PORTAL_SHUTDOWN_TIMEOUT"); v != "" {
		shutdown = v
	}
	fs.StringVar(&shutdown, "shutdown-timeout", shutdown, "how long SIGTERM waits for requests in flight ($PORTAL_SHUTDOWN_TIMEOUT)")
	readHeader := envOr(getenv, "PORTAL_READ_HEADER_TIMEOUT", "5s")
	fs.StringVar(&readHeader, "read-header-timeout", readHeader, "how long a client may take to send a request's headers ($PORTAL_READ_HEADER_TIMEOUT)")
	logFlush := envOr(getenv, "PORTAL_LOG_FLUSH_INTERVAL", "100ms")
	fs.StringVar(&logFlush, "log-flush-interval", logFlush, "how long log lines may wait in a buffer before they are written; 0 writes each line at once ($PORTAL_LOG_FLUSH_INTERVAL)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nServes the admin API, the customer API and pages.\n\nFlags:\n", args[0])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.ShutdownTimeout, err = time.ParseDuration(shutdown); err != nil || c.ShutdownTimeout <= 0 {
		return c, fmt.Errorf("shutdown-timeout %q: must be a positive duration such as 10s", shutdown)
	}
	if c.ReadHeaderTimeout, err = time.ParseDuration(readHeader); err != nil || c.ReadHeaderTimeout <= 0 || c.ReadHeaderTimeout > time.Minute {
		return c, fmt.Errorf("read-header-timeout %q: must be a duration from 1ms to 1m such as 5s", readHeader)
	}
	if c.LogFlushInterval, err = time.ParseDuration(logFlush); err != nil || c.LogFlushInterval < 0 || c.LogFlushInterval > 10*time.Second {
		return c, fmt.Errorf("log-flush-interval %q: must be a duration from 0 to 10s such as 100ms", logFlush)
	}
	for _, o := range strings.Split(cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
				return c, fmt.Errorf("cors-origins: %q is not an origin such as https://app.example.com", o)
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	return c, c.check()
}

func (c *config) check() error {
	var errs []error
	if c.DBPath == "" {
		errs = append(errs, errors.New("db: must not be empty"))
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("jwt-secret: must be at least 32 bytes"))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public-url: %q is not an http(s) URL", c.PublicURL))
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("log-format: %q must be json or text", c.LogFormat))
	}
	if _, ok := logLevels[strings.ToLower(c.LogLevel)]; !ok {
		keys := make([]string, 0, len(logLevels))
		for k := range logLevels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		errs = append(errs, fmt.Errorf("log-level: %q must be one of %s", c.LogLevel, strings.Join(keys, ", ")))
	}
	if c.TenantClaim == "" {
		errs = append(errs, errors.New("jwt-tenant-claim: must not be empty"))
	}
	return errors.Join(errs...)
}

// publicURL is where emailed links point.
func (c config) publicURL() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	host := c.Addr
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	return "http://" + host
}
