package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/store"
)

func cmdToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	org := fs.String("org", "", "organization the token acts for (required)")
	sub := fs.String("sub", "admin", "subject: who the token names")
	scope := fs.String("scope", "portal:read portal:write", "space-separated scopes (portal:read, portal:write, portal:operator)")
	role := fs.String("role", "", "role claim (admin or owner imply read and write)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	dbPath := fs.String("db", envOr(getenv, "PORTAL_DB", "portal.db"), "database holding the generated secret ($PORTAL_DB)")
	console := fs.Bool("console", false, "print a link that opens the admin console signed in with the token")
	publicURL := fs.String("public-url", getenv("PORTAL_PUBLIC_URL"), "public base URL of the service, for --console (default http://localhost<$PORTAL_ADDR>)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s --org ORG [flags]\n\nPrints a staff token signed with PORTAL_JWT_SECRET, or with the secret\nthe service generated in its database on first start.\n\nFlags:\n", args[0])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *org == "" {
		return errors.New("token: --org is required")
	}
	if *ttl <= 0 || *ttl > 366*24*time.Hour {
		return errors.New("token: --ttl must be between 1s and 366 days")
	}
	secret := []byte(getenv("PORTAL_JWT_SECRET"))
	if len(secret) == 0 {
		if getenv("PORTAL_JWKS_FILE") != "" {
			return errors.New("token: with PORTAL_JWKS_FILE and no PORTAL_JWT_SECRET, mint tokens with your identity provider")
		}
		if secret, err = generatedSecret(*dbPath); err != nil {
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

// generatedSecret returns the database's generated HS256 secret, creating
// the database and the secret when there is none yet. While a server holds
// the database open, the secret is read from a snapshot of the file.
func generatedSecret(path string) (secret []byte, err error) {
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, err
		}
		return store.PeekSecret(path, "jwt_hs256")
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	return db.Secret("jwt_hs256", generatedSecretBytes)
}
