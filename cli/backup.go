package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/store"
)

func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], "--out FILE [--db FILE] [--url URL --token TOKEN]",
		"Writes a consistent backup of the whole database (every organization, the generated\n"+
			"secrets) to FILE. With --url it asks the running server at URL, which streams a\n"+
			"snapshot through GET /v1/admin/backup while it keeps serving; --token is the\n"+
			"installation's operator token (portal token --operator), as no organization's staff\n"+
			"token may read every organization. Without --url it reads the database file, which\n"+
			"no server may hold.\n\n"+
			"FILE is written beside itself and renamed into place once it is synced and has passed\n"+
			"bbolt's own check, so it is either absent or whole. It is created mode 0600: a backup\n"+
			"holds every organization's data and the secret staff tokens are signed with.", stderr)
	out := fs.String("out", "", "file to write the backup to (required)")
	dbPath := fs.envString("db", "PORTAL_DB", "portal.db", "database file to back up when --url is not given")
	server := fs.String("url", "", "base URL of a running server, such as http://127.0.0.1:8080")
	token := fs.envString("token", "PORTAL_TOKEN", "", "the operator token (portal token --operator), for --url")
	pos, err := fs.parse(args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("backup: unexpected argument %q", pos[0])
	}
	if *out == "" {
		return errors.New("backup: --out is required")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop() // an interrupted backup removes its temporary file

	var fill func(io.Writer) error
	var from string
	if *server != "" {
		if *token == "" {
			return errors.New("backup: --url needs --token (or $PORTAL_TOKEN): the operator token that portal token --operator prints")
		}
		if !strings.HasPrefix(*token, auth.OperatorTokenPrefix) {
			return errors.New("backup: --token is not an operator token; backups take the one that portal token --operator prints, not a staff token")
		}
		u, err := url.Parse(*server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("backup: --url %q is not an http(s) URL", redactURL(*server))
		}
		from = redactURL(*server)
		fill = func(w io.Writer) error { return fetchBackup(ctx, strings.TrimRight(*server, "/"), *token, w) }
	} else {
		if sameFile(*out, *dbPath) {
			return errors.New("backup: --out must not be the database file")
		}
		db, err := store.Open(*dbPath, time.Now, store.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("backup: %w (while a server runs, back up through it: --url http://HOST:PORT --token TOKEN)", err)
		}
		defer db.Close()
		from = *dbPath
		fill = func(w io.Writer) error {
			_, err := db.WriteTo(w)
			return err
		}
	}
	var report store.Report
	err = store.WriteFileAtomic(*out, fill, func(tmp string) error {
		var err error
		report, err = store.Check(tmp)
		if err != nil {
			return fmt.Errorf("backup is not a database: %w", err)
		}
		if report.Corrupt() {
			report.Path = *out
			_, _ = printableReport(report).WriteTo(stderr)
			return errors.New("backup is damaged")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	report.Path = *out
	info, err := os.Stat(*out)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d bytes, schema %d, %d organizations\n",
		from, *out, info.Size(), report.Schema, report.Orgs)
	if !report.OK() {
		// A backup of a database with broken indexes is still the best copy
		// there is; say so rather than throw it away.
		fmt.Fprintf(stderr, "warning: the backed-up database has %d breaches of its invariants:\n", len(report.Breaches))
		_, _ = printableReport(report).WriteTo(stderr)
	}
	return nil
}

// fetchBackup streams GET base/v1/admin/backup into w. A body shorter than
// its Content-Length fails the copy, so a broken stream is never taken for
// a backup.
func fetchBackup(ctx context.Context, base, token string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/admin/backup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ResponseHeaderTimeout: 30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var p struct{ Title, Detail string }
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &p) == nil && p.Title != "" {
			return fmt.Errorf("server answered %s: %s %s", escapeControl(resp.Status), escapeControl(p.Title), escapeControl(p.Detail))
		}
		return fmt.Errorf("server answered %s", escapeControl(resp.Status))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("stream broken after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("stream ended after %d of %d bytes", n, resp.ContentLength)
	}
	return nil
}

// sameFile reports whether a and b name one file (or one path, when they
// do not exist yet).
func sameFile(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(ia, ib)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}
