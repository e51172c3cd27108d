package handlers_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

func TestBackup(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	if _, err := e.db.CreateInvitation(context.Background(), "acme", "t", data.InvitationRequest{Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}

	r := e.do(http.MethodGet, "/v1/admin/backup", e.operator, nil)
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("got Content-Type %q, want application/octet-stream", ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="portal-20261126T120000Z.db"`) {
		t.Errorf("got Content-Disposition %q, want an attachment named after the time", cd)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		t.Errorf("got Content-Length %q for %d bytes, want them equal", cl, len(r.body))
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("got Cache-Control %q, want no-store", cc)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Check(path)
	if err != nil || !rep.OK() {
		t.Fatalf("check of the streamed backup: got %v, %v, want OK", err, rep.Breaches)
	}
	if rep.Records["invitations"] != 1 {
		t.Errorf("got %d invitations in the backup, want 1", rep.Records["invitations"])
	}

	// Backups are installation-level: no organization's staff token opens
	// them, whatever its scopes or role.
	tests := []struct {
		name  string
		token string
	}{
		{"no token", ""},
		{"read and write scopes", e.admin("acme")},
		{"owner role", e.tokenFor("acme", "", map[string]any{"role": "owner"})},
		{"operator scope of an organization", e.tokenFor("acme", "portal:operator")},
		{"operator token one character off", e.operator[:len(e.operator)-1] + "x"},
		{"operator token without its prefix", strings.TrimPrefix(e.operator, "portal-operator.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/v1/admin/backup", tt.token, nil)
			wantProblem(t, r, http.StatusUnauthorized)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("got no WWW-Authenticate, want the Bearer challenge")
			}
		})
	}
	// The operator token opens the backup only.
	wantProblem(t, e.do(http.MethodGet, "/v1/customer-portal/config", e.operator, nil), http.StatusUnauthorized)
	wantProblem(t, e.do(http.MethodPost, "/v1/admin/backup", e.operator, nil), http.StatusMethodNotAllowed)
}
