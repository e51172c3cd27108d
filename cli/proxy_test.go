package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// forgotFrom asks for a password reset through a proxy that says the client
// is forwardedFor, and returns the status. Reset requests spend the same
// per-address limit as logins, without a password hash each.
func forgotFrom(t *testing.T, s *served, forwardedFor string, i int) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/v1/portal/password/forgot",
		strings.NewReader(fmt.Sprintf(`{"portal":"acme","email":"victim%d@example.com"}`, i)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", forwardedFor)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// exhaust spends client's per-address limit until the service answers 429.
func exhaust(t *testing.T, s *served, client string) {
	t.Helper()
	for i := 0; ; i++ {
		status := forgotFrom(t, s, client, i)
		if status == http.StatusTooManyRequests {
			return
		}
		if status >= 300 || i > 1000 {
			t.Fatalf("request %d: got %d, want 2xx until the address limit answers 429", i, status)
		}
	}
}

// TestServe_TrustedProxy: behind a trusted proxy, one client spending its
// attempts is limited alone and the others behind the same proxy go on;
// without the setting, the header is not believed and the proxy is one
// client.
func TestServe_TrustedProxy(t *testing.T) {
	t.Parallel()
	const attacker, other = "203.0.113.66", "198.51.100.7"

	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, map[string]string{"PORTAL_TRUSTED_PROXIES": "127.0.0.1/32,::1"})
		exhaust(t, s, attacker)
		if got := forgotFrom(t, s, other, 0); got == http.StatusTooManyRequests {
			t.Errorf("another client behind the proxy: got %d, want it not limited", got)
		}
	})
	t.Run("not trusted", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, nil)
		// The limit refills one attempt every 2 s: on a machine slow enough
		// to let one in between, spend it again.
		for round := 0; ; round++ {
			exhaust(t, s, attacker)
			got := forgotFrom(t, s, other, 0)
			if got == http.StatusTooManyRequests {
				break
			}
			if round == 4 {
				t.Fatalf("a forged X-Forwarded-For from an untrusted peer: got %d, want 429 (the header ignored)", got)
			}
		}
	})
	t.Run("exempt from the per-client cap", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, map[string]string{"PORTAL_TRUSTED_PROXIES": "127.0.0.1", "PORTAL_MAX_CONNECTIONS_PER_CLIENT": "1"})
		for range 3 {
			idleConn(t, s.addr)
		}
	})
}
