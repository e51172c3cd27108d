package data

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Webhook event types: what the portal tells the CRM about.
const (
	EventInvitationAccepted   = "invitation.accepted"
	EventUserRevoked          = "user.revoked"
	EventUserRemoved          = "user.removed"
	EventQuoteAccepted        = "quote.accepted"
	EventQuoteDeclined        = "quote.declined"
	EventTicketCreated        = "ticket.created"
	EventTicketMessageCreated = "ticket.message_created"
	EventPortalConfigUpdated  = "portal.config_updated"
)

// WebhookEventTypes is every event type a webhook may subscribe to, in the
// order the API documents them.
var WebhookEventTypes = []string{
	EventInvitationAccepted, EventUserRevoked, EventUserRemoved, EventQuoteAccepted, EventQuoteDeclined,
	EventTicketCreated, EventTicketMessageCreated, EventPortalConfigUpdated,
}

// KnownWebhookEvent reports whether t is an event type of the catalogue.
func KnownWebhookEvent(t string) bool { return slices.Contains(WebhookEventTypes, t) }

// Webhook limits.
const (
	// MaxWebhooks bounds an organization's webhooks.
	MaxWebhooks = 20
	// MaxWebhookURL bounds a webhook's URL, in bytes.
	MaxWebhookURL = 2048
	// MaxWebhookDescription bounds a webhook's description, in characters.
	MaxWebhookDescription = 500
	// MaxWebhookList bounds a page of webhooks or deliveries.
	MaxWebhookList = 100
	// MaxWebhookDeliveries bounds the deliveries kept per webhook: past it
	// the oldest that succeeded or failed are dropped (pending ones are
	// kept until they finish).
	MaxWebhookDeliveries = 1000
	// WebhookSecretBytes is how many random bytes a signing secret holds.
	WebhookSecretBytes = 32
	// WebhookSecretPrefix starts every signing secret (Standard Webhooks).
	WebhookSecretPrefix = "whsec_"
)

// Webhook is an endpoint of the organization's that is sent the events it
// subscribes to. Its signing secret is not part of it: the API shows a
// secret only in the answer that made it.
type Webhook struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	EventTypes  []string  `json:"eventTypes"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// SecretRotatedAt is when the secret was last replaced; until
	// PreviousSecretExpiresAt deliveries are signed with the old one too.
	SecretRotatedAt         *time.Time `json:"secretRotatedAt"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
}

// Subscribes reports whether the webhook is sent events of type t.
func (w Webhook) Subscribes(t string) bool { return w.Enabled && slices.Contains(w.EventTypes, t) }

// WebhookPatch changes the fields of a webhook it sets.
type WebhookPatch struct {
	URL         *string
	EventTypes  *[]string
	Description *string
	Enabled     *bool
}

// Apply returns w with the patch's fields.
func (p WebhookPatch) Apply(w Webhook) Webhook {
	if p.URL != nil {
		w.URL = *p.URL
	}
	if p.EventTypes != nil {
		w.EventTypes = slices.Clone(*p.EventTypes)
	}
	if p.Description != nil {
		w.Description = *p.Description
	}
	if p.Enabled != nil {
		w.Enabled = *p.Enabled
	}
	return w
}

// Validate reports every invalid field of w under the operator's policy.
func (w Webhook) Validate(p WebhookPolicy) error {
	bad := &FieldErrors{}
	if reason := p.URLProblem(w.URL); reason != "" {
		bad.Add("url", reason)
	}
	switch {
	case len(w.EventTypes) == 0:
		bad.Add("eventTypes", "must name at least one event type")
	case len(w.EventTypes) > len(WebhookEventTypes):
		bad.Add("eventTypes", "must name each event type at most once")
	default:
		seen := map[string]bool{}
		for i, t := range w.EventTypes {
			field := "eventTypes[" + strconv.Itoa(i) + "]"
			switch {
			case !KnownWebhookEvent(t):
				bad.Add(field, "must be one of "+strings.Join(WebhookEventTypes, ", "))
			case seen[t]:
				bad.Add(field, "must name each event type at most once")
			}
			seen[t] = true
		}
	}
	checkText(bad, "description", w.Description, MaxWebhookDescription, false)
	return bad.Err()
}

// WebhookPolicy is what the operator allows webhooks to reach beyond
// public HTTPS endpoints.
type WebhookPolicy struct {
	// HTTPHosts are the host names (or IP literals) a webhook may reach
	// over plain http; "*" allows every host.
	HTTPHosts []string
	// AllowPrivate lets webhooks reach every non-public address: loopback,
	// private, link-local and the like.
	AllowPrivate bool
	// AllowedNets are non-public networks webhooks may reach without
	// AllowPrivate.
	AllowedNets []netip.Prefix
}

// URLProblem says which rule raw breaks as a webhook URL, or returns "".
// A host given as an IP literal is checked against AllowedAddr here; a
// host name is checked when its addresses are dialled.
func (p WebhookPolicy) URLProblem(raw string) string {
	if raw == "" {
		return "is required"
	}
	if len(raw) > MaxWebhookURL {
		return "must be at most " + strconv.Itoa(MaxWebhookURL) + " bytes"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "must be an absolute http or https URL"
	}
	if u.User != nil {
		return "must not hold a user name or password"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	host := u.Hostname()
	if host == "" {
		return "must name a host"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "must have a port from 1 to 65535"
		}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.httpAllowed(host) {
			return "must use https (plain http only to hosts the operator allows)"
		}
	default:
		return "must be an absolute http or https URL"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !p.AllowedAddr(ip) {
			return "must not point at a loopback, private, link-local or other non-public address"
		}
	} else if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") && !p.AllowPrivate {
		return "must not point at a loopback, private, link-local or other non-public address"
	}
	return ""
}

func (p WebhookPolicy) httpAllowed(host string) bool {
	for _, h := range p.HTTPHosts {
		if h == "*" || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// AllowedAddr reports whether a webhook may connect to ip: a public
// unicast address always, any other only when the operator allows it.
func (p WebhookPolicy) AllowedAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if PublicAddr(ip) {
		return true
	}
	if p.AllowPrivate {
		return ip.IsValid()
	}
	for _, n := range p.AllowedNets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// nonPublic are the special-purpose ranges (RFC 6890 and successors) that
// netip's predicates do not name.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 reaches IPv4 behind it
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4 embeds IPv4
	netip.MustParsePrefix("2001::/32"),       // Teredo embeds IPv4
}

// PublicAddr reports whether ip is a public unicast address: not
// unspecified, loopback, private, link-local, multicast or another
// special-purpose range.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || !ip.IsGlobalUnicast() {
		return false
	}
	for _, n := range nonPublic {
		if n.Contains(ip) {
			return false
		}
	}
	return true
}

// Webhook delivery statuses.
const (
	WebhookPending   = "pending"
	WebhookSucceeded = "succeeded"
	WebhookFailed    = "failed"
)

// WebhookDelivery is one event on its way to one webhook, and what became
// of it.
type WebhookDelivery struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhookId"`
	// EventID is the webhook-id header of every attempt, the same for
	// each endpoint and attempt, so receivers can drop duplicates.
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	// Status is pending, succeeded or failed (given up).
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	// LastResponseCode is the HTTP status of the last attempt, 0 when it
	// had no answer.
	LastResponseCode int    `json:"lastResponseCode"`
	LastError        string `json:"lastError"`
	// LatencyMs is how long the last attempt took.
	LatencyMs     int64      `json:"latencyMs"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastAttemptAt *time.Time `json:"lastAttemptAt"`
	// NextAttemptAt is when a pending delivery is tried next; null once it
	// succeeded or failed.
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
}
