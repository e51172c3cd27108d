package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/salesos/portal/account"
	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// runCmd runs the binary's run with args and an empty environment.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = Run(context.Background(), append([]string{"portal"}, args...), envMap(nil), &out, &errOut)
	return out.String(), errOut.String(), err
}

// newDemoDB runs portal demo into a fresh file and returns its path.
func newDemoDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portal.db")
	if out, stderr, err := runCmd(t, "demo", "--db", path); err != nil {
		t.Fatalf("demo: got %v (%s%s), want nil", err, out, stderr)
	}
	return path
}

func TestRun_Help(t *testing.T) {
	t.Parallel()
	for name, cmd := range commands() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, err := runCmd(t, name, "--help")
			if err != nil {
				t.Errorf("got %v, want nil: --help is not an error", err)
			}
			if stdout != "" {
				t.Errorf("got stdout %q, want help on stderr only", stdout)
			}
			if !strings.Contains(stderr, "Usage:") || len(stderr) < 60 {
				t.Errorf("got help %q, want a usage line and what the command does", stderr)
			}
			if cmd.summary == "" {
				t.Errorf("got no summary for %s in the command list", name)
			}
		})
	}
	_, stderr, err := runCmd(t, "no-such-command")
	if err == nil {
		t.Fatal("unknown command: got nil, want an error")
	}
	for name := range commands() {
		if !strings.Contains(stderr, name) {
			t.Errorf("usage %q does not list %s", stderr, name)
		}
	}
}

// TestMain_ExitCodes runs the binary's entry point as main calls it: the
// exit code is what a shell or systemd sees.
func TestMain_ExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"help", []string{"portal", "check", "--help"}, 0, "Usage:"},
		{"version", []string{"portal", "version"}, 0, ""},
		{"unknown command", []string{"portal", "frobnicate"}, 1, `portal: unknown command "frobnicate"`},
		{"mistyped flag", []string{"portal", "check", "--nope"}, 1, "flag provided but not defined: -nope"},
		{"failing command", []string{"portal", "restore"}, 1, "portal: restore: --from is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if got := Main(context.Background(), tt.args, envMap(nil), &stdout, &stderr); got != tt.wantCode {
				t.Errorf("got exit code %d, want %d (stderr %q)", got, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("got stderr %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestRun_Version(t *testing.T) {
	t.Parallel()
	stdout, _, err := runCmd(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"portal ", "module", runtime.Version(), "revision", runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(stdout, want) {
			t.Errorf("got %q, want it to contain %q", stdout, want)
		}
	}
	if _, _, err := runCmd(t, "version", "extra"); err == nil {
		t.Error("version with an argument: got nil, want an error")
	}
}

func TestRun_Demo(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portal.db")
	stdout, _, err := runCmd(t, "demo", "--db", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alice@example.com", demoPassword, "/v1/portal/login", "portal token --org demo",
		"accept?token=", "1 pending, 3 accepted, 1 expired, 1 cancelled", "3 invited, 2 active, 1 revoked"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if r, err := store.Check(path); err != nil || !r.OK() {
		t.Fatalf("check of the demo database: got %v, %v, want OK", err, r.Breaches)
	}

	ctx := context.Background()
	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.Stats(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if s.Users.Invited == 0 || s.Users.Active == 0 || s.Users.Revoked == 0 {
		t.Errorf("got users %+v, want some in every state", s.Users)
	}
	if s.Invitations.Pending == 0 || s.Invitations.Accepted == 0 || s.Invitations.Expired == 0 || s.Invitations.Cancelled == 0 {
		t.Errorf("got invitations %+v, want some in every state", s.Invitations)
	}
	if s.Sessions.Active == 0 || s.Logins.Last24h == 0 {
		t.Errorf("got sessions %+v and logins %+v, want some", s.Sessions, s.Logins)
	}
	cfg, err := db.Config(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PortalName == data.DefaultConfig("demo", time.Now()).PortalName {
		t.Errorf("got portal name %q, want the demo's branding", cfg.PortalName)
	}
	contacts, err := db.Contacts(ctx, "demo", store.ContactFilter{}, "", 100)
	if err != nil || len(contacts.Items) < 5 {
		t.Errorf("got %d contacts, %v, want the demo's directory", len(contacts.Items), err)
	}
	acc := account.New(db, slog.New(slog.DiscardHandler), account.Options{})
	if _, err := acc.Login(ctx, cfg.Slug, "alice@example.com", demoPassword, store.Client{IP: "127.0.0.2"}); err != nil {
		t.Errorf("login with the printed password: got %v, want a session", err)
	}
	if _, err := acc.Login(ctx, cfg.Slug, "carol@example.com", demoPassword, store.Client{IP: "127.0.0.2"}); err == nil {
		t.Error("login of the revoked user: got a session, want refused")
	}
	db.Close()

	if _, _, err := runCmd(t, "demo", "--db", path); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second demo into the same organization: got %v, want a refusal", err)
	}
	if _, _, err := runCmd(t, "demo", "--db", path, "--org", "other"); err != nil {
		t.Errorf("demo into another organization of the same file: got %v, want nil", err)
	}
	if r, err := store.Check(path); err != nil || !r.OK() {
		t.Errorf("check after two demos: got %v, %v, want OK", err, r.Breaches)
	}
}

func TestRun_Check(t *testing.T) {
	t.Parallel()
	path := newDemoDB(t)
	stdout, _, err := runCmd(t, "check", "--db", path)
	if err != nil {
		t.Fatalf("check of a sound database: got %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "OK") {
		t.Errorf("got %q, want an OK report", stdout)
	}

	// Corrupt an index the way only a bug or a bad disk could: an email
	// entry that points at no contact, and a counter off by one.
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bbolt.Tx) error {
		org := tx.Bucket([]byte("orgs")).Bucket([]byte("demo"))
		if err := org.Bucket([]byte("contact_emails")).Put([]byte("ghost@example.com"), []byte("01JDQ2X3Y4Z5A6B7C8D9E0F1G2")); err != nil {
			return err
		}
		return org.Bucket([]byte("counters")).Put([]byte("users.active"), []byte{0, 0, 0, 0, 0, 0, 0, 9})
	})
	_ = b.Close()
	if err != nil {
		t.Fatal(err)
	}
	stdout, _, err = runCmd(t, "check", "--db", path)
	if err == nil {
		t.Fatalf("check of a corrupted database: got nil, want a non-zero exit\n%s", stdout)
	}
	for _, want := range []string{"FAILED: 2 breaches", "orgs/demo/contact_emails/g***@example.com", "points at missing contact",
		"counters/users.active: is 9, a recount finds 2"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}

	env := map[string]string{"PORTAL_DB": filepath.Join(t.TempDir(), "missing.db")}
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"portal", "check"}, envMap(env), &out, &errOut); err == nil {
		t.Error("check of a missing file ($PORTAL_DB): got nil, want an error")
	}

	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := runCmd(t, "check", "--db", path); err == nil || !strings.Contains(err.Error(), "running server") {
		t.Errorf("check of a held file: got %v, want a locked error naming the way out", err)
	}
}

func TestRun_BackupRestore_File(t *testing.T) {
	t.Parallel()
	path := newDemoDB(t)
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	stdout, stderr, err := runCmd(t, "backup", "--db", path, "--out", backup)
	if err != nil {
		t.Fatalf("backup: got %v (%s)", err, stderr)
	}
	if !strings.Contains(stdout, "written to "+backup) {
		t.Errorf("got %q, want it to say where the backup went", stdout)
	}
	info, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("got mode %v, want 0600 (a backup holds secrets)", info.Mode().Perm())
	}
	if r, err := store.Check(backup); err != nil || !r.OK() {
		t.Fatalf("check of the backup: got %v, %v", err, r.Breaches)
	}

	target := filepath.Join(dir, "restored.db")
	if _, stderr, err := runCmd(t, "restore", "--from", backup, "--db", target); err != nil {
		t.Fatalf("restore to a new file: got %v (%s)", err, stderr)
	}
	if _, _, err := runCmd(t, "restore", "--from", backup, "--db", target); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over an existing file: got %v, want a refusal naming --force", err)
	}
	if _, _, err := runCmd(t, "restore", "--from", backup, "--db", target, "--force"); err != nil {
		t.Errorf("restore --force over an existing file: got %v, want nil", err)
	}
	db, err := store.Open(target, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.Stats(context.Background(), "demo")
	if err != nil || s.Users.Active != 2 {
		t.Errorf("got %+v, %v in the restored database, want the demo's 2 active users", s.Users, err)
	}
	// A server holds the target: restore refuses, backup from the file too.
	if _, _, err := runCmd(t, "restore", "--from", backup, "--db", target, "--force"); err == nil || !strings.Contains(err.Error(), "running server") {
		t.Errorf("restore over a held file: got %v, want a refusal", err)
	}
	if _, _, err := runCmd(t, "backup", "--db", target, "--out", filepath.Join(dir, "b2.db")); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("backup of a held file: got %v, want a refusal pointing at --url", err)
	}
	_ = db.Close()

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("x"), 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "restore", "--from", garbage, "--db", target, "--force"); err == nil {
		t.Error("restore of a garbage file: got nil, want a refusal")
	}
	if r, err := store.Check(target); err != nil || !r.OK() {
		t.Errorf("the target after a refused restore: got %v, %v, want it untouched", err, r.Breaches)
	}

	// A backup whose indexes are broken needs --force.
	broken := filepath.Join(dir, "broken.db")
	if _, _, err := runCmd(t, "backup", "--db", path, "--out", broken); err != nil {
		t.Fatal(err)
	}
	b, err := bbolt.Open(broken, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("slugs")).Put([]byte("stray"), []byte("nobody"))
	})
	_ = b.Close()
	fresh := filepath.Join(dir, "fresh.db")
	if _, _, err := runCmd(t, "restore", "--from", broken, "--db", fresh); err == nil || !strings.Contains(err.Error(), "breaches") {
		t.Errorf("restore of a backup with breaches: got %v, want a refusal", err)
	}
	if _, _, err := runCmd(t, "restore", "--from", broken, "--db", fresh, "--force"); err != nil {
		t.Errorf("restore --force of a backup with breaches: got %v, want nil", err)
	}

	for _, args := range [][]string{
		{"backup", "--db", path},
		{"backup", "--db", path, "--out", path},
		{"backup", "--url", "http://127.0.0.1:1", "--out", filepath.Join(dir, "x.db")},
		{"backup", "--url", "ftp://x", "--token", "t", "--out", filepath.Join(dir, "x.db")},
		{"restore", "--db", target},
		{"restore", "--from", target, "--db", target},
	} {
		if _, _, err := runCmd(t, args...); err == nil {
			t.Errorf("%v: got nil, want an error", args)
		}
	}
}

func TestRun_Backup_URL(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	// Backups are installation-level: a staff token is refused before any
	// request, whatever its scope, and a forged operator token by the server.
	for _, tok := range []string{s.token("acme", "portal:read portal:write"), s.token("acme", "portal:operator")} {
		_, _, err := runCmd(t, "backup", "--url", s.url, "--token", tok, "--out", out)
		if err == nil || !strings.Contains(err.Error(), "portal token --operator") {
			t.Errorf("backup with a staff token: got %v, want it refused, naming portal token --operator", err)
		}
	}
	_, _, err := runCmd(t, "backup", "--url", s.url, "--token", "portal-operator.forged0123456789abcdefghijklmnopqrstuvwxyz", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("backup with a forged operator token: got %v, want 401", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want no file after a refused backup", err)
	}
	// The operator token, read by portal token --operator while the server
	// holds the database.
	env := map[string]string{"PORTAL_TOKEN": s.operatorToken()}
	var stdout, stderr bytes.Buffer
	if err := Run(context.Background(), []string{"portal", "backup", "--url", s.url + "/", "--out", out}, envMap(env), &stdout, &stderr); err != nil {
		t.Fatalf("backup with $PORTAL_TOKEN: got %v (%s)", err, stderr.String())
	}
	if r, err := store.Check(out); err != nil || !r.OK() {
		t.Errorf("check of the backup: got %v, %v", err, r.Breaches)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("got %d files, want only the backup (no temporary files)", len(entries))
	}
}

func TestRun_ImportContacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "portal.db")
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	csvFile := write("contacts.csv", "\ufeffEmail, FirstName ,lastname,Company\n"+
		"ann@example.com,Ann,Archer,Acme\n"+
		"\"bob@example.com\",\"Bob, Jr.\",Baker,Acme\n"+
		",Nameless,Person,\n")
	stdout, stderr, err := runCmd(t, "import-contacts", "--org", "acme", "--db", path, csvFile)
	if err != nil {
		t.Fatalf("csv import: got %v (%s)", err, stderr)
	}
	if !strings.Contains(stdout, "3 created, 0 updated") {
		t.Errorf("got %q, want 3 created", stdout)
	}
	// JSON, flags after the file, a file without an extension sniffed by content.
	jsonFile := write("more", `[{"email":"ANN@example.com","phone":"+1 555 0101"},{"email":"cy@example.com","firstName":"Cy"}]`)
	stdout, stderr, err = runCmd(t, "import-contacts", jsonFile, "--org", "acme", "--db", path)
	if err != nil {
		t.Fatalf("json import: got %v (%s)", err, stderr)
	}
	if !strings.Contains(stdout, "1 created, 1 updated") {
		t.Errorf("got %q, want 1 created, 1 updated", stdout)
	}
	bad := write("bad.csv", "email,firstName\nnot-an-email,X\nok@example.com,Y\nok@example.com,Z\n")
	_, _, err = runCmd(t, "import-contacts", "--org", "acme", "--db", path, bad)
	if err == nil {
		t.Fatal("import of invalid rows: got nil, want an error")
	}
	for _, want := range []string{"nothing imported", "rows[0].email", "rows[2].email"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to name %q", err, want)
		}
	}
	for _, args := range [][]string{
		{"import-contacts", "--db", path, csvFile},
		{"import-contacts", "--org", "acme", "--db", path},
		{"import-contacts", "--org", "acme", "--db", path, write("x.csv", "name\nfoo\n")},
		{"import-contacts", "--org", "acme", "--db", path, write("x.json", `[{"email":"a@example.com","extra":1}]`)},
		{"import-contacts", "--org", "acme", "--db", path, filepath.Join(dir, "missing.csv")},
	} {
		if _, _, err := runCmd(t, args...); err == nil {
			t.Errorf("%v: got nil, want an error", args)
		}
	}

	db, err := store.Open(path, time.Now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := db.Contacts(context.Background(), "acme", store.ContactFilter{}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 4 {
		t.Errorf("got %d contacts, want 4", len(p.Items))
	}
	for _, c := range p.Items {
		if c.Email == "ann@example.com" && (c.Phone != "+1 555 0101" || c.LastName != "Archer") {
			t.Errorf("got %+v, want the JSON row merged into Ann", c)
		}
		if c.Email == "bob@example.com" && c.FirstName != "Bob, Jr." {
			t.Errorf("got first name %q, want the quoted CSV cell", c.FirstName)
		}
	}
	if _, _, err := runCmd(t, "import-contacts", "--org", "acme", "--db", path, csvFile); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("import into a held file: got %v, want a locked error", err)
	}
}

// TestRun_TokenOperator: token --operator makes the database's operator
// token once and prints the same one after; it is no staff token.
func TestRun_TokenOperator(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portal.db")
	first, _, err := runCmd(t, "token", "--operator", "--db", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, auth.OperatorTokenPrefix) || len(strings.TrimSpace(first)) < len(auth.OperatorTokenPrefix)+43 {
		t.Errorf("got %q, want an operator token of 32 random bytes", first)
	}
	if again, _, err := runCmd(t, "token", "--operator", "--db", path); err != nil || again != first {
		t.Errorf("second run: got %q, %v, want the same token %q", again, err, first)
	}
	if _, _, err := runCmd(t, "token", "--operator", "--org", "acme", "--db", path); err == nil {
		t.Error("--operator with --org: got nil, want an error")
	}
}
