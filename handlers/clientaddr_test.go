package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddress(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fd00::/8"),
	}
	tests := []struct {
		name      string
		trusted   []netip.Prefix
		peer      string
		xff       []string
		forwarded []string
		want      string
	}{
		{name: "no trusted proxies: headers ignored", peer: "127.0.0.1:5000", xff: []string{"203.0.113.9"}, want: "127.0.0.1:5000"},
		{name: "untrusted peer: spoofed X-Forwarded-For ignored", trusted: trusted, peer: "198.51.100.7:5000",
			xff: []string{"203.0.113.9"}, want: "198.51.100.7:5000"},
		{name: "untrusted peer: spoofed Forwarded ignored", trusted: trusted, peer: "198.51.100.7:5000",
			forwarded: []string{"for=203.0.113.9"}, want: "198.51.100.7:5000"},
		{name: "trusted peer without headers", trusted: trusted, peer: "127.0.0.1:5000", want: "127.0.0.1:5000"},
		{name: "one proxy", trusted: trusted, peer: "127.0.0.1:5000", xff: []string{"203.0.113.9"}, want: "203.0.113.9:0"},
		{name: "client's own claim left of the proxy's hop ignored", trusted: trusted, peer: "127.0.0.1:5000",
			xff: []string{"1.2.3.4, 203.0.113.9"}, want: "203.0.113.9:0"},
		{name: "chain of trusted proxies", trusted: trusted, peer: "127.0.0.1:5000",
			xff: []string{"1.2.3.4, 203.0.113.9, 10.1.2.3, 10.9.9.9"}, want: "203.0.113.9:0"},
		{name: "chain over several header lines", trusted: trusted, peer: "127.0.0.1:5000",
			xff: []string{"1.2.3.4", "203.0.113.9", "10.1.2.3"}, want: "203.0.113.9:0"},
		{name: "all hops trusted: the leftmost", trusted: trusted, peer: "127.0.0.1:5000",
			xff: []string{"10.0.0.5, 10.0.0.6"}, want: "10.0.0.5:0"},
		{name: "hop with a port", trusted: trusted, peer: "127.0.0.1:5000", xff: []string{"203.0.113.9:4711"}, want: "203.0.113.9:0"},
		{name: "IPv6 hop", trusted: trusted, peer: "[::1]:5000", xff: []string{"2001:db8::9"}, want: "[2001:db8::9]:0"},
		{name: "IPv6 hop in brackets with a port", trusted: trusted, peer: "[::1]:5000", xff: []string{"[2001:db8::9]:4711"}, want: "[2001:db8::9]:0"},
		{name: "IPv4-mapped peer is trusted", trusted: trusted, peer: "[::ffff:127.0.0.1]:5000", xff: []string{"203.0.113.9"}, want: "203.0.113.9:0"},
		{name: "junk left of the client ignored", trusted: trusted, peer: "127.0.0.1:5000",
			xff: []string{"<script>, 203.0.113.9"}, want: "203.0.113.9:0"},
		{name: "junk right of a trusted hop: the last address known", trusted: trusted, peer: "127.0.0.1:5000",
			xff: []string{"203.0.113.9, unknown, 10.1.2.3"}, want: "10.1.2.3:0"},
		{name: "junk as the only hop: the peer", trusted: trusted, peer: "127.0.0.1:5000", xff: []string{"unknown"}, want: "127.0.0.1:5000"},
		{name: "X-Forwarded-For wins over Forwarded", trusted: trusted, peer: "127.0.0.1:5000",
			xff: []string{"203.0.113.9"}, forwarded: []string{"for=198.51.100.1"}, want: "203.0.113.9:0"},
		{name: "Forwarded", trusted: trusted, peer: "127.0.0.1:5000",
			forwarded: []string{"for=203.0.113.9;proto=https;by=10.0.0.1"}, want: "203.0.113.9:0"},
		{name: "Forwarded quoted with a port", trusted: trusted, peer: "127.0.0.1:5000",
			forwarded: []string{`for="203.0.113.9:4711"`}, want: "203.0.113.9:0"},
		{name: "Forwarded IPv6 quoted in brackets with a port", trusted: trusted, peer: "[::1]:5000",
			forwarded: []string{`For="[2001:db8:cafe::17]:4711"`}, want: "[2001:db8:cafe::17]:0"},
		{name: "Forwarded chain", trusted: trusted, peer: "127.0.0.1:5000",
			forwarded: []string{`for=1.2.3.4, for=203.0.113.9;proto=https, for="[fd00::1]"`}, want: "203.0.113.9:0"},
		{name: "Forwarded chain over header lines", trusted: trusted, peer: "127.0.0.1:5000",
			forwarded: []string{`for=203.0.113.9`, `for=10.0.0.2;by="[::1]"`}, want: "203.0.113.9:0"},
		{name: "Forwarded comma and semicolon inside quotes", trusted: trusted, peer: "127.0.0.1:5000",
			forwarded: []string{`for=203.0.113.9;ext="a,b;c=\"d\"", for=10.0.0.2`}, want: "203.0.113.9:0"},
		{name: "Forwarded obfuscated client: the proxy", trusted: trusted, peer: "127.0.0.1:5000",
			forwarded: []string{`for=_hidden, for=10.0.0.2`}, want: "10.0.0.2:0"},
		{name: "Forwarded without for", trusted: trusted, peer: "127.0.0.1:5000",
			forwarded: []string{`proto=https;by=10.0.0.1`}, want: "127.0.0.1:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got string
			h := clientAddress(tt.trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.forwarded {
				r.Header.Add("Forwarded", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Errorf("got RemoteAddr %q, want %q", got, tt.want)
			}
			if r.RemoteAddr != tt.peer {
				t.Errorf("the caller's request changed: RemoteAddr %q, want %q", r.RemoteAddr, tt.peer)
			}
		})
	}
}

func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{`for=1.2.3.4`, `for="[2001:db8::1]:80";proto=https, for=_x`, `a="\"`, `,,;;=`, `for="\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, hop := range forwardedFor(line) {
			if a, ok := parseNode(hop); ok && !a.IsValid() {
				t.Fatalf("parseNode(%q): ok with an invalid address", hop)
			}
		}
	})
}
