package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/salesos/portal/data"
)

// config is the service's settings: flags beat PORTAL_* environment
// variables beat defaults.
type config struct {
	Addr   string
	DBPath string
	// Store, when set, names the database instead of DBPath: a bbolt file
	// (bolt:///path) or an etcd cluster (etcd://host:port,...).
	Store           string
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
	// MaxConnections caps the connections open at once, below the
	// open-files limit; MaxConnectionsPerClient caps those of one client
	// address (0: no cap).
	MaxConnections          int
	MaxConnectionsPerClient int
	// MetricsAddr is where GET /metrics is served, apart from the public
	// listener; empty serves no metrics.
	MetricsAddr string
	// TrustedProxies are the reverse proxies whose forwarding headers name
	// the client; they have no per-client connection cap.
	TrustedProxies []netip.Prefix
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (runtime/debug.SetMemoryLimit, as GOMEMLIMIT); 0 leaves it alone.
	MemoryLimit int64
	// Procs is the GOMAXPROCS serve runs with; 0 is auto (see
	// servingProcs).
	Procs int
	// SMTPConnections is how many connections the mail sender keeps open
	// to the relay at once.
	SMTPConnections int
	// MaxImports caps the contact imports in flight at once.
	MaxImports int
	// DocumentQuota is each organization's storage for document files, in
	// bytes; DocumentMaxSize the largest file one upload takes.
	DocumentQuota, DocumentMaxSize int64
	// AttachmentMaxSize is the largest file a ticket message takes.
	AttachmentMaxSize int64
	// WebhookPolicy is what webhooks may reach beyond public HTTPS
	// endpoints.
	WebhookPolicy data.WebhookPolicy
}

// setting describes one flag and its environment variable.
type setting struct {
	flag, env, def, help string
	dst                  *string
}

// rawSettings holds the serve settings that are parsed after the flags.
type rawSettings struct {
	cors, shutdown, readHeader, logFlush string
	maxConns, maxConnsPerClient          string
	metricsAddr, trustedProxies          string
	memoryLimit, procs                   string
	smtpConns, maxImports                string
	documentQuota, documentMax           string
	attachmentMax                        string
	webhookPrivate, webhookNets          string
	webhookHTTPHosts                     string
}

func settings(c *config, r *rawSettings) []setting {
	return []setting{
		{"addr", "PORTAL_ADDR", ":8080", "address to listen on", &c.Addr},
		{"db", "PORTAL_DB", "portal.db", "bbolt database file", &c.DBPath},
		{"store", "PORTAL_STORE", "", "the database as a URL, instead of --db: bolt:///path/portal.db, or etcd://host1:2379,host2:2379[/prefix][?ca=&cert=&key=] (etcds:// for TLS, user:password@ for etcd auth) to share an etcd cluster among several portal processes (a binary built with -tags etcd)", &c.Store},
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
		{"cors-origins", "PORTAL_CORS_ORIGINS", "", "comma-separated origins allowed to call the API from a browser", &r.cors},
		{"shutdown-timeout", "PORTAL_SHUTDOWN_TIMEOUT", "10s", "how long SIGTERM waits for requests in flight", &r.shutdown},
		{"read-header-timeout", "PORTAL_READ_HEADER_TIMEOUT", "5s", "how long a client may take to send a request's headers", &r.readHeader},
		{"log-flush-interval", "PORTAL_LOG_FLUSH_INTERVAL", "100ms", "how long log lines may wait in a buffer before they are written; 0 writes each line at once", &r.logFlush},
		{"metrics-addr", "PORTAL_METRICS_ADDR", "127.0.0.1:9090", "address of the Prometheus /metrics listener, apart from the public one; off serves no metrics", &r.metricsAddr},
		{"trusted-proxies", "PORTAL_TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For (or Forwarded) names the client, such as 127.0.0.1,10.0.0.0/8; empty believes no such header", &r.trustedProxies},
		{"memory-limit", "PORTAL_MEMORY_LIMIT", "", "soft memory limit of the Go runtime, as GOMEMLIMIT, such as 64MiB (units B, KiB, MiB, GiB); the garbage collector works harder near it; empty leaves GOMEMLIMIT or no limit", &r.memoryLimit},
		{"procs", "PORTAL_PROCS", "auto", "processors the Go runtime runs the service on at once (its GOMAXPROCS), 1 to 1024; auto: on a bbolt file twice the runtime's own choice (the CPUs, or the container's CPU limit), so that reads waiting for database pages from disk do not stop the others, unless GOMAXPROCS is set; on etcd the runtime's choice", &r.procs},
		{"max-connections", "PORTAL_MAX_CONNECTIONS", "0", "connections open at once, at most 80% of the open-files limit (ulimit -n, LimitNOFILE); 0 takes that 80%", &r.maxConns},
		{"max-connections-per-client", "PORTAL_MAX_CONNECTIONS_PER_CLIENT", "256", "connections open at once from one client address, over which new ones are closed; 0 for no cap", &r.maxConnsPerClient},
		{"smtp-connections", "PORTAL_SMTP_CONNECTIONS", "4", "connections the mail sender keeps open to the SMTP server at once, each sending many messages (1 to 64)", &r.smtpConns},
		{"max-imports", "PORTAL_MAX_IMPORTS", "4", "contact imports in flight at once; one more is answered 503 with Retry-After (1 to 64)", &r.maxImports},
		{"document-quota-bytes", "PORTAL_DOCUMENT_QUOTA_BYTES", "1GiB", "storage for the document files of each organization (units B, KiB, MiB, GiB); an upload past it is answered 507", &r.documentQuota},
		{"document-max-bytes", "PORTAL_DOCUMENT_MAX_BYTES", "100MiB", "largest document file one upload takes, at most the quota (units B, KiB, MiB, GiB); a larger one is answered 413", &r.documentMax},
		{"attachment-max-bytes", "PORTAL_MAX_ATTACHMENT_BYTES", "10MiB", "largest file a ticket message takes (units B, KiB, MiB, GiB); files count in the document quota; a larger one is answered 413", &r.attachmentMax},
		{"webhook-allow-private", "PORTAL_WEBHOOK_ALLOW_PRIVATE", "false", "let webhooks reach loopback, private, link-local and other non-public addresses (true or false); only for a receiver on the operator's own network", &r.webhookPrivate},
		{"webhook-allow-nets", "PORTAL_WEBHOOK_ALLOW_NETS", "", "comma-separated addresses or CIDRs of non-public networks webhooks may reach, such as 10.1.2.0/24, where webhook-allow-private would open them all", &r.webhookNets},
		{"webhook-http-hosts", "PORTAL_WEBHOOK_HTTP_HOSTS", "", "comma-separated hosts webhooks may reach over plain http (others need https); * allows every host", &r.webhookHTTPHosts},
	}
}

// parseServeConfig reads the serve command's flags over the environment.
// Errors show a URL without its user and password.
func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	var r rawSettings
	fs := newFlagSet(args[0], "[flags]", "Serves the admin API, the customer API and pages.", stderr)
	for _, s := range settings(&c, &r) {
		fs.envStringVar(s.dst, s.flag, s.env, s.def, s.help)
	}
	for kind, names := range map[string][]string{
		"duration":  {"shutdown-timeout", "read-header-timeout", "log-flush-interval"},
		"number":    {"max-connections", "max-connections-per-client", "smtp-connections", "max-imports", "procs"},
		"size":      {"memory-limit", "document-quota-bytes", "document-max-bytes", "attachment-max-bytes"},
		"host:port": {"addr", "metrics-addr"},
		"URL":       {"public-url", "smtp-url", "store"},
		"file":      {"db", "jwks-file"},
		"list":      {"cors-origins", "trusted-proxies", "webhook-allow-nets", "webhook-http-hosts"},
		"boolean":   {"webhook-allow-private"},
	} {
		for _, n := range names {
			fs.kinds[n] = kind
		}
	}
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return c, err
	}
	if len(pos) > 0 {
		return c, fmt.Errorf("unexpected argument %q", pos[0])
	}
	if c.ShutdownTimeout, err = time.ParseDuration(r.shutdown); err != nil || c.ShutdownTimeout <= 0 {
		return c, fmt.Errorf("shutdown-timeout %q: must be a positive duration such as 10s", r.shutdown)
	}
	if c.ReadHeaderTimeout, err = time.ParseDuration(r.readHeader); err != nil || c.ReadHeaderTimeout <= 0 || c.ReadHeaderTimeout > time.Minute {
		return c, fmt.Errorf("read-header-timeout %q: must be a duration from 1ms to 1m such as 5s", r.readHeader)
	}
	if c.LogFlushInterval, err = time.ParseDuration(r.logFlush); err != nil || c.LogFlushInterval < 0 || c.LogFlushInterval > 10*time.Second {
		return c, fmt.Errorf("log-flush-interval %q: must be a duration from 0 to 10s such as 100ms", r.logFlush)
	}
	if c.MaxConnections, err = maxConnections(r.maxConns, openFilesLimit()); err != nil {
		return c, err
	}
	if c.MaxConnectionsPerClient, err = strconv.Atoi(r.maxConnsPerClient); err != nil || c.MaxConnectionsPerClient < 0 {
		return c, fmt.Errorf("max-connections-per-client %q: must be a whole number, 0 for no cap", r.maxConnsPerClient)
	}
	if c.SMTPConnections, err = strconv.Atoi(r.smtpConns); err != nil || c.SMTPConnections < 1 || c.SMTPConnections > 64 {
		return c, fmt.Errorf("smtp-connections %q: must be a whole number from 1 to 64", r.smtpConns)
	}
	if c.MaxImports, err = strconv.Atoi(r.maxImports); err != nil || c.MaxImports < 1 || c.MaxImports > 64 {
		return c, fmt.Errorf("max-imports %q: must be a whole number from 1 to 64", r.maxImports)
	}
	if c.DocumentQuota, err = parseByteSize(r.documentQuota); err != nil || c.DocumentQuota < 1 {
		return c, fmt.Errorf("document-quota-bytes %q: must be a size of at least 1 byte such as 1GiB or 500MiB", r.documentQuota)
	}
	if c.DocumentMaxSize, err = parseByteSize(r.documentMax); err != nil || c.DocumentMaxSize < 1 || c.DocumentMaxSize > c.DocumentQuota {
		return c, fmt.Errorf("document-max-bytes %q: must be a size from 1 byte to the document quota (%d bytes) such as 100MiB", r.documentMax, c.DocumentQuota)
	}
	if c.AttachmentMaxSize, err = parseByteSize(r.attachmentMax); err != nil || c.AttachmentMaxSize < 1 {
		return c, fmt.Errorf("attachment-max-bytes %q: must be a size of at least 1 byte such as 10MiB", r.attachmentMax)
	}
	switch r.metricsAddr {
	case "", "off":
	default:
		if _, _, err := net.SplitHostPort(r.metricsAddr); err != nil {
			return c, fmt.Errorf("metrics-addr %q: must be host:port such as 127.0.0.1:9090, or off", r.metricsAddr)
		}
		c.MetricsAddr = r.metricsAddr
	}
	if r.memoryLimit != "" {
		if c.MemoryLimit, err = parseByteSize(r.memoryLimit); err != nil || c.MemoryLimit < minMemoryLimit {
			return c, fmt.Errorf("memory-limit %q: must be a size of at least 16MiB such as 64MiB or 1GiB", r.memoryLimit)
		}
	}
	if c.Procs, err = parseProcs(r.procs); err != nil {
		return c, err
	}
	if c.TrustedProxies, err = parsePrefixes(r.trustedProxies); err != nil {
		return c, fmt.Errorf("trusted-proxies: %w", err)
	}
	if c.WebhookPolicy.AllowPrivate, err = strconv.ParseBool(r.webhookPrivate); err != nil {
		return c, fmt.Errorf("webhook-allow-private %q: must be true or false", r.webhookPrivate)
	}
	if c.WebhookPolicy.AllowedNets, err = parsePrefixes(r.webhookNets); err != nil {
		return c, fmt.Errorf("webhook-allow-nets: %w", err)
	}
	for _, h := range strings.Split(r.webhookHTTPHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.WebhookPolicy.HTTPHosts = append(c.WebhookPolicy.HTTPHosts, h)
		}
	}
	for _, o := range strings.Split(r.cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
				return c, fmt.Errorf("cors-origins: %q is not an origin such as https://app.example.com", redactURL(o))
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	return c, c.check()
}

// parsePrefixes reads a comma-separated list of CIDRs and addresses (an
// address is a prefix of its full length).
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			ps = append(ps, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR such as 10.0.0.0/8", f)
		}
		a = a.Unmap()
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	return ps, nil
}

// minMemoryLimit is the lowest memory limit taken: below it the garbage
// collector would run all the time for the service's own working set.
const minMemoryLimit = 16 << 20

// parseByteSize reads a size as GOMEMLIMIT writes it: a whole number of
// bytes with an optional unit B, KiB, MiB, GiB or TiB.
func parseByteSize(s string) (int64, error) {
	num := strings.TrimRight(s, "BKMGTi")
	unit := s[len(num):]
	shift, ok := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[unit]
	if !ok {
		return 0, fmt.Errorf("unit %q: want B, KiB, MiB, GiB or TiB", unit)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n << shift, nil
}

// Bounds of the connection cap: the share of the open-files limit that
// connections may take (the rest is for the database, the log, outgoing
// mail and the listeners), the cap when the limit is unknown, and a ceiling
// for an unlimited limit.
const (
	connShareOfFiles    = 80 // percent
	unknownLimitConns   = 10000
	unlimitedLimitConns = 1 << 20
)

// maxConnections parses --max-connections against the open-files limit
// nofile (0 when unknown): 0 takes 80% of the limit, and more than that is
// refused, since a server out of file descriptors can open neither its
// database nor a new connection.
func maxConnections(raw string, nofile uint64) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("max-connections %q: must be a whole number, 0 for %d%% of the open-files limit", raw, connShareOfFiles)
	}
	ceiling := unknownLimitConns
	if nofile > 0 {
		ceiling = int(min(nofile/100*connShareOfFiles+nofile%100*connShareOfFiles/100, unlimitedLimitConns))
	}
	switch {
	case n == 0:
		return max(ceiling, 1), nil
	case nofile > 0 && n > ceiling:
		return 0, fmt.Errorf("max-connections %d: above %d, %d%% of the open-files limit %d; raise the limit (LimitNOFILE=, ulimit -n) or lower the cap",
			n, ceiling, connShareOfFiles, nofile)
	}
	return n, nil
}

func (c *config) check() error {
	var errs []error
	if c.DBPath == "" && c.Store == "" {
		errs = append(errs, errors.New("db: must not be empty"))
	}
	if c.Store != "" && !isEtcdURL(c.Store) {
		if _, err := boltPath(c.Store); err != nil {
			errs = append(errs, err)
		}
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("jwt-secret: must be at least 32 bytes"))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public-url: %q is not an http(s) URL", redactURL(c.PublicURL)))
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

// storeURL is the database the service runs on: --store, else --db.
func (c config) storeURL() string {
	if c.Store != "" {
		return c.Store
	}
	return c.DBPath
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
