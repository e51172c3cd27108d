package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/salesos/portal/data"
)

// ErrRefusedAddress is the error of a connection to an address the policy
// does not allow.
var ErrRefusedAddress = errors.New("webhook address is not public and not allowed")

// Timeout bounds one attempt, from dialling to the end of the answer.
const Timeout = 10 * time.Second

// maxResponseBody is how much of an answer is read, so the connection can
// be reused; the rest is dropped.
const maxResponseBody = 64 << 10

// Control is a net.Dialer Control hook that refuses a connection to an
// address p does not allow. It runs on the address actually dialled, after
// name resolution, so a host name that resolves to a private address (or
// that changes its answer between a check and the dial) is refused too.
func Control(p data.WebhookPolicy) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
		}
		if !p.AllowedAddr(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrRefusedAddress, ap.Addr())
		}
		return nil
	}
}

// NewClient returns the HTTP client deliveries go out on: every dial is
// checked by Control, no proxy from the environment is used (it would be
// dialled instead of the endpoint), redirects are not followed (a 3xx is a
// failed attempt), and an attempt ends after Timeout. r resolves host
// names (the system's resolver when nil).
func NewClient(p data.WebhookPolicy, r *net.Resolver) *http.Client {
	d := &net.Dialer{Timeout: Timeout, KeepAlive: 30 * time.Second, Control: Control(p), Resolver: r}
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    Timeout,
		ResponseHeaderTimeout:  Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: t,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
