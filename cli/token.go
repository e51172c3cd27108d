package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

func cmdToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet(args[0], "--org ORG [flags] | --operator [--db FILE]", "Prints a staff token signed with PORTAL_JWT_SECRET, or with the secret\n"+
		"the service generated in its database on first start.\n\n"+
		"With --operator it prints the installation's operator token instead: the only\n"+
		"credential that takes a backup through a running server (portal backup --url).\n"+
		"It is kept in the database, made on the server's first start (or here, for a new\n"+
		"database), and does not expire: keep it as you keep the backups.", stderr)
	org := fs.String("org", "", "organization the token acts for (required without --operator)")
	operator := fs.Bool("operator", false, "print the operator token, for backups, instead of a staff token")
	sub := fs.String("sub", "admin", "subject: who the token names")
	scope := fs.String("scope", "portal:read portal:write", "space-separated scopes: portal:read, portal:write")
	role := fs.String("role", "", "role claim (admin or owner imply read and write)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	dbPath := fs.envString("db", "PORTAL_DB", "portal.db", "database holding the generated secret")
	console := fs.Bool("console", false, "print a link that opens the admin console signed in with the token")
	publicURL := fs.envString("public-url", "PORTAL_PUBLIC_URL", "", "public base URL of the service, for --console (default http://localhost<$PORTAL_ADDR>)")
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("token: unexpected argument %q", pos[0])
	}
	if *operator {
		if *org != "" || *console {
			return errors.New("token: --operator is installation-wide: it takes no --org or --console")
		}
		secret, err := generatedSecret(*dbPath, operatorSecretName, auth.MinOperatorSecret)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		fmt.Fprintln(stdout, auth.OperatorToken(secret))
		return nil
	}
	if *org == "" {
		return errors.New("token: --org is required")
	}
	if !data.ValidTenantID(*org) {
		// The service refuses such a token (401), so printing one would only
		// mislead.
		return fmt.Errorf("token: --org %s: must match %s", escapeControl(*org), data.TenantPattern)
	}
	if *ttl <= 0 || *ttl > 366*24*time.Hour {
		return errors.New("token: --ttl must be between 1s and 366 days")
	}
	secret := []byte(getenv("PORTAL_JWT_SECRET"))
	if len(secret) == 0 {
		if getenv("PORTAL_JWKS_FILE") != "" {
			return errors.New("token: with PORTAL_JWKS_FILE and no PORTAL_JWT_SECRET, mint tokens with your identity provider")
		}
		if secret, err = generatedSecret(*dbPath, "jwt_hs256", generatedSecretBytes); err != nil {
			return fmt.Errorf("token: %w", err)
		}
	}
	tok, err := auth.Mint(secret, auth.Claims{Subject: *sub, Tenant: *org, Scope: *scope, Role: *role,
		Issuer: getenv("PORTAL_JWT_ISSUER"), Audience: getenv("PORTAL_JWT_AUDIENCE"),
		TenantClaim: envOr(getenv, "PORTAL_JWT_TENANT_CLAIM", "org"), TTL: *ttl}, time.Now())
	if err != nil {
		return err
	}
	if *console {
		// The token goes in the fragment, which browsers never send to the
		// server; the console moves it to sessionStorage and drops it from
		// the address bar.
		base := config{Addr: envOr(getenv, "PORTAL_ADDR", ":8080"), PublicURL: strings.TrimRight(*publicURL, "/")}.publicURL()
		fmt.Fprintln(stdout, base+"/admin/#token="+tok)
		return nil
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// generatedSecret returns the database's generated secret name (of n random
// bytes), creating the database and the secret when there is none yet.
// While a server holds the database open, the secret is read from a
// snapshot of the file.
func generatedSecret(path, name string, n int) (secret []byte, err error) {
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, err
		}
		return store.PeekSecret(path, name)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	return db.Secret(name, n)
}
