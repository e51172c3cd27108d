package handlers_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/handlers"
	"github.com/salesos/portal/store"
)

// realisticContactsJSON returns n contact objects as a JSON array, the
// same contacts as realisticContactsCSV.
func realisticContactsJSON(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"email":"firstname.lastname%05d@example-company-%03d.com","firstName":"Firstname%05d","lastName":"Lastname%05d","phone":"+1 555 %04d","company":"Example Company %03d","accountId":"ACC-%05d"}`,
			i, i%300, i, i, i%10000, i%300, i%500)
	}
	b.WriteByte(']')
	return b.String()
}

// BenchmarkContactImport measures one 10,000-row import through the whole
// handler chain, in process, with its allocations: the body is decoded as
// it arrives, so an import no longer holds the whole body besides its rows.
func BenchmarkContactImport(b *testing.B) {
	for _, f := range []struct{ name, contentType, body string }{
		{"csv", "text/csv", realisticContactsCSV(10000)},
		{"json", "application/json", realisticContactsJSON(10000)},
	} {
		b.Run(f.name, func(b *testing.B) {
			h, tok := benchServer(b)
			b.SetBytes(int64(len(f.body)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				req := httptest.NewRequest(http.MethodPost, "/v1/contacts/import", strings.NewReader(f.body))
				req.Header.Set("Content-Type", f.contentType)
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("got status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// benchServer is the handler chain over a fresh database, and a write token
// for it.
func benchServer(b *testing.B) (http.Handler, string) {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "portal.db"), time.Now, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	secret := []byte(strings.Repeat("b", 40))
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := auth.Mint(secret, auth.Claims{Subject: "staff-1", Tenant: "acme", Scope: "portal:write", TTL: time.Hour}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return handlers.New(log, db, v, handlers.Options{CursorKey: []byte("bench-cursor-key-0123456789abcdef")}), tok
}
