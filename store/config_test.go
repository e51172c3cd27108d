package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

func changeSlug(slug string) func(data.Config) (data.Config, error) {
	return func(c data.Config) (data.Config, error) {
		c.Slug = slug
		return c, nil
	}
}

func TestDB_Config_Defaults(t *testing.T) {
	t.Parallel()
	db := openConfigDB(t)
	ctx := context.Background()
	c, err := db.Config(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 1 || c.Slug != "acme" || c.PortalName != "Customer Portal" || len(c.Features) != 7 {
		t.Errorf("got version %d slug %q name %q features %d, want 1 acme Customer Portal 7", c.Version, c.Slug, c.PortalName, len(c.Features))
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: got Validate() = %v, want nil", err)
	}
	// Reading never writes: the slug is not claimed yet.
	if tenant, err := db.TenantBySlug(ctx, "acme"); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("TenantBySlug after a read: got %q, %v, want ErrNotFound", tenant, err)
	}
}

func TestDB_Config_DefaultSlugIsUnique(t *testing.T) {
	t.Parallel()
	db := openConfigDB(t)
	ctx := context.Background()
	// "acme", "ACME" and "Acme!" all derive the slug "acme".
	tenants := []data.TenantID{"acme", "ACME", "Acme!"}
	want := []string{"acme", "acme-2", "acme-3"}
	for i, tenant := range tenants {
		c, err := db.UpdateConfig(ctx, tenant, "system", func(c data.Config) (data.Config, error) { return c, nil })
		if err != nil {
			t.Fatal(err)
		}
		if c.Slug != want[i] {
			t.Errorf("tenant %q: got slug %q, want %q", tenant, c.Slug, want[i])
		}
		owner, err := db.TenantBySlug(ctx, c.Slug)
		if err != nil || owner != tenant {
			t.Errorf("TenantBySlug(%q): got %q, %v, want %q", c.Slug, owner, err, tenant)
		}
	}
}

func TestDB_UpdateConfig(t *testing.T) {
	t.Parallel()
	clk := configT0
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clk }
	db, err := store.Open(filepath.Join(t.TempDir(), "portal.db"), now, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	mu.Lock()
	clk = configT0.Add(90 * time.Minute)
	mu.Unlock()
	c, err := db.UpdateConfig(ctx, "acme", "alice", func(c data.Config) (data.Config, error) {
		c.PortalName, c.Slug = "Acme", "acme-portal"
		c.Version, c.UpdatedBy = 1000, "mallory" // the store owns these
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 2 || c.UpdatedBy != "alice" || !c.UpdatedAt.Equal(configT0.Add(90*time.Minute)) {
		t.Errorf("got version %d by %q at %v, want 2 by alice at %v", c.Version, c.UpdatedBy, c.UpdatedAt, configT0.Add(90*time.Minute))
	}
	got, err := db.Config(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.PortalName != "Acme" || got.Version != 2 {
		t.Errorf("stored: got %q v%d, want Acme v2", got.PortalName, got.Version)
	}
	if owner, err := db.TenantBySlug(ctx, "acme-portal"); err != nil || owner != "acme" {
		t.Errorf("TenantBySlug(new): got %q, %v, want acme", owner, err)
	}
	if _, err := db.TenantBySlug(ctx, "acme"); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("TenantBySlug(old): got %v, want ErrNotFound (slug released)", err)
	}
	for i := int64(3); i <= 5; i++ {
		c, err := db.UpdateConfig(ctx, "acme", "alice", func(c data.Config) (data.Config, error) { return c, nil })
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != i {
			t.Errorf("got version %d, want %d", c.Version, i)
		}
	}
	audit, err := db.AuditTrail(ctx, "acme", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Items) != 4 || audit.Items[0].Action != "config.update" || audit.Items[0].Actor != "alice" {
		t.Errorf("got %d audit entries (first %+v), want 4 config.update by alice", len(audit.Items), audit.Items)
	}
}

func TestDB_UpdateConfig_Refused(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		change func(data.Config) (data.Config, error)
		is     func(error) bool
	}{
		{"precondition", context.Background(), func(c data.Config) (data.Config, error) {
			c.PortalName = "changed"
			return c, data.ErrPreconditionFailed
		}, func(err error) bool { return errors.Is(err, data.ErrPreconditionFailed) }},
		{"invalid result", context.Background(), func(c data.Config) (data.Config, error) {
			c.PortalName, c.Slug = "", "X"
			return c, nil
		}, func(err error) bool {
			var ve *data.ValidationError
			return errors.As(err, &ve) && ve.Fields["portalName"] != "" && ve.Fields["slug"] != ""
		}},
		{"canceled context", canceled, func(c data.Config) (data.Config, error) {
			c.PortalName = "changed"
			return c, nil
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := openConfigDB(t)
			ctx := context.Background()
			before, err := db.UpdateConfig(ctx, "acme", "u", changeSlug("acme-x"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.UpdateConfig(tt.ctx, "acme", "u", tt.change)
			if !tt.is(err) {
				t.Fatalf("got error %v, want the refusal", err)
			}
			after, err := db.Config(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if after.Version != before.Version || after.PortalName != before.PortalName || after.Slug != before.Slug {
				t.Errorf("got v%d %q %q, want nothing written (v%d %q %q)", after.Version, after.PortalName, after.Slug, before.Version, before.PortalName, before.Slug)
			}
		})
	}
}

func TestDB_UpdateConfig_SlugConflict(t *testing.T) {
	t.Parallel()
	db := openConfigDB(t)
	ctx := context.Background()
	if _, err := db.UpdateConfig(ctx, "acme", "a", changeSlug("shared")); err != nil {
		t.Fatal(err)
	}
	_, err := db.UpdateConfig(ctx, "globex", "g", changeSlug("shared"))
	if !errors.Is(err, data.ErrConflict) {
		t.Fatalf("taken slug: got %v, want ErrConflict", err)
	}
	// The holder may keep writing with its own slug.
	if _, err := db.UpdateConfig(ctx, "acme", "a", changeSlug("shared")); err != nil {
		t.Errorf("holder rewrites its slug: got %v, want nil", err)
	}
	// Once released, the slug can be taken.
	if _, err := db.UpdateConfig(ctx, "acme", "a", changeSlug("acme-new")); err != nil {
		t.Fatal(err)
	}
	if c, err := db.UpdateConfig(ctx, "globex", "g", changeSlug("shared")); err != nil || c.Slug != "shared" {
		t.Errorf("released slug: got %q, %v, want shared, nil", c.Slug, err)
	}

	// Concurrent claims: exactly one of two organizations wins, every round.
	for round := 0; round < 20; round++ {
		slug := fmt.Sprintf("race-%d", round)
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, tenant := range []data.TenantID{"acme", "globex"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = db.UpdateConfig(ctx, tenant, "u", changeSlug(slug))
			}()
		}
		close(start)
		wg.Wait()
		wins, conflicts := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, data.ErrConflict):
				conflicts++
			default:
				t.Fatalf("round %d: got error %v, want nil or ErrConflict", round, err)
			}
		}
		if wins != 1 || conflicts != 1 {
			t.Fatalf("round %d: got %d wins and %d conflicts, want 1 and 1", round, wins, conflicts)
		}
		owner, err := db.TenantBySlug(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		c, err := db.Config(ctx, owner)
		if err != nil || c.Slug != slug {
			t.Fatalf("round %d: owner %q has slug %q (%v), want %q", round, owner, c.Slug, err, slug)
		}
	}
}

func TestDB_SetFeature(t *testing.T) {
	t.Parallel()
	db := openConfigDB(t)
	ctx := context.Background()
	on, off := true, false
	steps := []struct {
		name        string
		tenant      data.TenantID
		id          string
		enabled     *bool
		wantEnabled bool
		wantVersion int64
	}{
		{"flip chat on", "acme", "chat", nil, true, 2},
		{"flip chat off", "acme", "chat", nil, false, 3},
		{"set tickets off", "acme", "tickets", &off, false, 4},
		{"set tickets off again", "acme", "tickets", &off, false, 5},
		{"set invoices on", "acme", "invoices", &on, true, 6},
		{"other org flips chat", "globex", "chat", nil, true, 2},
	}
	for _, s := range steps {
		f, err := db.SetFeature(ctx, s.tenant, "u", s.id, s.enabled)
		if err != nil {
			t.Fatalf("%s: got %v, want nil", s.name, err)
		}
		if f.ID != s.id || f.Enabled != s.wantEnabled {
			t.Errorf("%s: got %s enabled=%t, want %s enabled=%t", s.name, f.ID, f.Enabled, s.id, s.wantEnabled)
		}
		c, err := db.Config(ctx, s.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != s.wantVersion {
			t.Errorf("%s: got config version %d, want %d", s.name, c.Version, s.wantVersion)
		}
	}
	acme, _ := db.Config(ctx, "acme")
	globex, _ := db.Config(ctx, "globex")
	state := func(c data.Config) map[string]bool {
		m := map[string]bool{}
		for _, f := range c.Features {
			m[f.ID] = f.Enabled
		}
		return m
	}
	if a := state(acme); a["chat"] || a["tickets"] || !a["invoices"] || !a["knowledge_base"] {
		t.Errorf("acme: got %v, want chat off, tickets off, invoices on, knowledge_base on", a)
	}
	if g := state(globex); !g["chat"] || !g["tickets"] || g["invoices"] {
		t.Errorf("globex: got %v, want chat on, tickets on, invoices off", g)
	}
	if _, err := db.SetFeature(ctx, "acme", "u", "teleport", nil); !errors.Is(err, data.ErrNotFound) {
		t.Errorf("unknown feature: got %v, want ErrNotFound", err)
	}
	audit, err := db.AuditTrail(ctx, "acme", "", 1)
	if err != nil || len(audit.Items) != 1 || audit.Items[0].Action != "feature.toggle" || audit.Items[0].TargetID != "invoices" {
		t.Errorf("latest audit entry: got %+v, %v, want feature.toggle of invoices", audit.Items, err)
	}
}

func ExampleDB_UpdateConfig() {
	dir, err := os.MkdirTemp("", "portal-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "portal.db"), configNow, store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	c, err := db.UpdateConfig(context.Background(), "acme", "alice", func(c data.Config) (data.Config, error) {
		c.PortalName = "Acme Help Center"
		return c, nil
	})
	fmt.Println(c.PortalName, c.Slug, c.Version, c.UpdatedBy, err)
	// Output: Acme Help Center acme 2 alice <nil>
}

// TestDB_ConfigJSON checks the shared encoded body against an encoding of
// Config, for an unwritten organization and across changes.
func TestDB_ConfigJSON(t *testing.T) {
	t.Parallel()
	db := openConfigDB(t)
	ctx := context.Background()
	same := func(step string) {
		t.Helper()
		c, err := db.Config(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(c)
		tag, body, err := db.ConfigJSON(ctx, "acme")
		if err != nil || tag != c.ETag() || !bytes.Equal(body, want) {
			t.Errorf("%s: got ETag %s body %s (%v), want %s and %s", step, tag, body, err, c.ETag(), want)
		}
	}
	same("unwritten")
	for i, name := range []string{"First", "Second", "Third"} {
		if _, err := db.UpdateConfig(ctx, "acme", "u", func(c data.Config) (data.Config, error) {
			c.PortalName = name
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("after update %d", i+1))
		same(fmt.Sprintf("after update %d, cached", i+1))
	}
}
