package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddress sets r.RemoteAddr to the client's address, before anything
// else reads it (the login rate limits, the session records, the pages).
// Only a request whose peer is in trusted (a reverse proxy that terminates
// TLS) is believed about who sent it: its X-Forwarded-For, or, when it
// carries none, its Forwarded header (RFC 7239). The client is the rightmost
// hop not in trusted, since every trusted proxy appends the address it saw
// and whatever lies left of the first untrusted hop is the client's own,
// forgeable, claim. Any other peer's headers are ignored. With no trusted
// proxies this is a no-op.
func clientAddress(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		if len(trusted) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if client, ok := forwardedClient(r, isTrusted); ok {
				r = r.WithContext(r.Context()) // a copy: the caller's request stays as it was
				r.RemoteAddr = net.JoinHostPort(client.String(), "0")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// forwardedClient resolves the client of a request whose peer is trusted;
// false leaves RemoteAddr as it is.
func forwardedClient(r *http.Request, trusted func(netip.Addr) bool) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !trusted(ap.Addr().Unmap()) {
		return netip.Addr{}, false
	}
	var hops []string
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, line := range xff {
			hops = append(hops, strings.Split(line, ",")...)
		}
	} else {
		for _, line := range r.Header.Values("Forwarded") {
			hops = append(hops, forwardedFor(line)...)
		}
	}
	// From the right: skip the trusted proxies; the first other hop is the
	// client. A hop that is no address ("unknown", an obfuscated name, junk)
	// stops the walk at the last address known, as nothing left of it can
	// be placed.
	var client netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseNode(hops[i])
		if !ok {
			break
		}
		client = a
		if !trusted(a) {
			break
		}
	}
	if !client.IsValid() {
		return netip.Addr{}, false
	}
	return client, true
}

// forwardedFor returns the for= values of a Forwarded header line's
// elements, in order (RFC 7239: elements split by commas, pairs by
// semicolons, values tokens or quoted strings).
func forwardedFor(line string) []string {
	var fors []string
	for _, elem := range splitQuoted(line, ',') {
		for _, pair := range splitQuoted(elem, ';') {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
				continue
			}
			fors = append(fors, unquote(strings.TrimSpace(v)))
		}
	}
	return fors
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote undoes a quoted-string; a token is returned as it is.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// parseNode reads one hop: 192.0.2.1, 192.0.2.1:4711, 2001:db8::1,
// [2001:db8::1] or [2001:db8::1]:4711, with surrounding space.
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), a.Zone() == ""
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap(), a.Zone() == ""
		}
	}
	return netip.Addr{}, false
}
