package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/salesos/portal/store"
)

// TestRun_Migrate copies a demo database file to a new file: the copy
// checks clean and holds what the source does; a copy into a file with
// data, onto the source itself, or without both stores is refused.
func TestRun_Migrate(t *testing.T) {
	t.Parallel()
	src := newDemoDB(t)
	dst := filepath.Join(t.TempDir(), "copy.db")
	out, stderr, err := runCmd(t, "migrate", "--from", src, "--to", "bolt://"+dst)
	if err != nil {
		t.Fatalf("migrate: got %v (%s%s), want nil", err, out, stderr)
	}
	if !strings.Contains(out, "OK:") || !strings.Contains(out, "migrated "+src+" to "+dst) {
		t.Errorf("got output %q, want the check's OK and the migrated line", out)
	}
	a, err := store.Check(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.Check(dst)
	if err != nil || !b.OK() {
		t.Fatalf("check of the copy: got %v, %+v", err, b.Breaches)
	}
	for name, n := range a.Records {
		if b.Records[name] != n {
			t.Errorf("%s: the copy holds %d, the source %d", name, b.Records[name], n)
		}
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"into a file with data", []string{"--from", src, "--to", dst}, "not empty"},
		{"onto itself", []string{"--from", src, "--to", "bolt://" + src}, "same file"},
		{"no target", []string{"--from", src}, "--from and --to are required"},
		{"an unknown scheme", []string{"--from", src, "--to", "postgres://db/portal"}, "want a file, bolt:///path or etcd://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"migrate"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestRun_StoreURL: serve, check and migrate take a bbolt file as a store
// URL; an etcd URL in a binary built without etcd says how to build one.
func TestRun_StoreURL(t *testing.T) {
	t.Parallel()
	path := newDemoDB(t)
	if out, stderr, err := runCmd(t, "check", "--store", "bolt://"+path); err != nil || !strings.Contains(out, "OK:") {
		t.Errorf("check --store bolt://: got %v (%s%s), want OK", err, out, stderr)
	}
	if etcdBuilt {
		return
	}
	_, _, err := runCmd(t, "migrate", "--from", path, "--to", "etcd://127.0.0.1:1/portal/")
	if err == nil || !strings.Contains(err.Error(), "-tags etcd") {
		t.Errorf("migrate to etcd without the etcd build: got %v, want how to build with -tags etcd", err)
	}
	_, _, err = runCmd(t, "check", "--store", "etcd://user:secret@127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "-tags etcd") || strings.Contains(err.Error(), "secret") {
		t.Errorf("check on etcd without the etcd build: got %v, want how to build, without the password", err)
	}
}
