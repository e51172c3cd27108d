package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// A token is base64url of tokenBytes: the time it was made, in
// milliseconds (6 bytes, big-endian, as in a ULID), then 32 random bytes.
const (
	tokenTimeBytes   = 6
	tokenRandomBytes = 32
	tokenBytes       = tokenTimeBytes + tokenRandomBytes
)

// tokenLen is the length of a token in characters; its first
// tokenTimeChars characters encode the time prefix exactly.
var (
	tokenLen       = base64.RawURLEncoding.EncodedLen(tokenBytes)
	tokenTimeChars = base64.RawURLEncoding.EncodedLen(tokenTimeBytes)
)

// NewToken returns a fresh secret token made at now, and the key under which
// the store indexes it (HashToken). Only the key is stored.
func NewToken(now time.Time) (token, key string, err error) {
	raw := make([]byte, tokenBytes)
	ms := uint64(max(now.UnixMilli(), 0))
	for i := range tokenTimeBytes {
		raw[i] = byte(ms >> (8 * (tokenTimeBytes - 1 - i)))
	}
	if _, err := rand.Read(raw[tokenTimeBytes:]); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	return token, HashToken(token), nil
}

// HashToken is the stored form of a token: the hex of its time prefix, then
// the hex SHA-256 of the whole token. The prefix makes the keys of new tokens
// sort by time, so a commit of many new tokens adds to the last page of its
// index instead of rewriting a random page for each. A token of any other
// shape (unknown to the store, or a 32-byte token made before the prefix) is
// keyed by its SHA-256 alone.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	if len(token) == tokenLen {
		// DecodeString skips CR and LF: a prefix holding one decodes short.
		if prefix, err := base64.RawURLEncoding.DecodeString(token[:tokenTimeChars]); err == nil && len(prefix) == tokenTimeBytes {
			return hex.EncodeToString(prefix) + hex.EncodeToString(sum[:])
		}
	}
	return hex.EncodeToString(sum[:])
}

// tokenRef is the value of the global token indexes: org, NUL, record id.
func tokenRef(tenant data.TenantID, id string) []byte {
	return append(append([]byte(tenant), 0), id...)
}

func splitRef(v []byte) (data.TenantID, string, bool) {
	for i, c := range v {
		if c == 0 {
			return data.TenantID(v[:i]), string(v[i+1:]), true
		}
	}
	return "", "", false
}

// InvitationFilter narrows an invitation list.
type InvitationFilter struct {
	Status data.InvitationStatus // as of now: a pending invitation past expiry is expired
	Q      string
}

// Invitations lists the organization's invitations, newest first.
func (db *DB) Invitations(ctx context.Context, tenant data.TenantID, f InvitationFilter, after string, limit int) (Page[data.Invitation], error) {
	var p Page[data.Invitation]
	now := db.Now()
	err := db.read(ctx, func(tx kv.Tx) error {
		p = Page[data.Invitation]{}
		b, err := org(tx, tenant)
		if err != nil || b == nil {
			return err
		}
		p, err = scanPage(b.Bucket(bInvitations), after, limit, func(i *data.Invitation) bool {
			if f.Status != "" && i.EffectiveStatus(now) != f.Status {
				return false
			}
			return f.Q == "" || matchQ(f.Q, i.Email, "", "")
		})
		return err
	})
	for i := range p.Items {
		p.Items[i] = p.Items[i].Public(now)
	}
	return p, err
}

// Invitation returns one invitation.
func (db *DB) Invitation(ctx context.Context, tenant data.TenantID, id string) (data.Invitation, error) {
	var inv data.Invitation
	err := db.read(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		inv, err = getInvitation(b, id)
		return err
	})
	return inv.Public(db.Now()), err
}

func getInvitation(b kv.Bucket, id string) (data.Invitation, error) {
	var inv data.Invitation
	if b == nil {
		return inv, fmt.Errorf("invitation %s: %w", id, data.ErrNotFound)
	}
	ok, err := getJSON(b.Bucket(bInvitations), bytesOf(id), &inv)
	if err != nil {
		return inv, err
	}
	if !ok {
		return inv, fmt.Errorf("invitation %s: %w", id, data.ErrNotFound)
	}
	return inv, nil
}

// acceptURL is the link a person follows to accept an invitation.
func (db *DB) acceptURL(slug, token string) string {
	return db.publicURL + "/p/" + url.PathEscape(slug) + "/accept?token=" + token
}

// CreateInvitation invites req.Email: the portal user is created with status
// invited (or a revoked one is invited again), and the invitation, its token
// hash, its expiry, the counters, the audit entry and the email's outbox
// message are written in one transaction. The returned invitation carries
// AcceptURL with the only copy of the token.
func (db *DB) CreateInvitation(ctx context.Context, tenant data.TenantID, actor string, req data.InvitationRequest) (data.Invitation, error) {
	if err := req.Validate(); err != nil {
		return data.Invitation{}, err
	}
	var out data.Invitation
	err := db.write(ctx, func(tx kv.Tx) error {
		var err error
		out, err = db.invite(tx, tenant, actor, req)
		return err
	})
	return db.withLink(out), err
}

// withLink is inv as clients see it, keeping the one-time accept link.
func (db *DB) withLink(inv data.Invitation) data.Invitation {
	link := inv.AcceptURL
	inv = inv.Public(db.Now())
	inv.AcceptURL = link
	return inv
}

// InviteContact invites a contact of the directory by its ID.
func (db *DB) InviteContact(ctx context.Context, tenant data.TenantID, actor, contactID string, req data.InvitationRequest) (data.Invitation, error) {
	var out data.Invitation
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Invitation{}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		var c data.Contact
		ok, err := getJSON(b.Bucket(bContacts), bytesOf(contactID), &c)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("contact %s: %w", contactID, data.ErrNotFound)
		}
		if c.Email == "" {
			return data.Invalid("contactId", "the contact has no email address")
		}
		r := req
		r.Email, r.FirstName, r.LastName, r.AccountID, r.ContactID = c.Email, c.FirstName, c.LastName, c.AccountID, c.ID
		if err := r.Validate(); err != nil {
			return err
		}
		out, err = db.invite(tx, tenant, actor, r)
		return err
	})
	return db.withLink(out), err
}

func (db *DB) invite(tx kv.Tx, tenant data.TenantID, actor string, req data.InvitationRequest) (data.Invitation, error) {
	now := db.Now()
	if b, _ := orgIfReadsAhead(tx, tenant); b != nil {
		// The reads of a new user's invitation, in one request on engines
		// whose reads are round trips.
		prefetch(b.Bucket(bConfig), keyConfig)
		prefetch(b.Bucket(bUserEmails), bytesOf(data.NormalizeEmail(req.Email)))
		prefetchBumps(b, userCounter(data.UserInvited), cInvPending)
	}
	cfg, err := db.configOf(tx, tenant, now)
	if err != nil {
		return data.Invitation{}, err
	}
	b, err := org(tx, tenant)
	if err != nil {
		return data.Invitation{}, err
	}
	if !cfg.Auth.EmailDomainAllowed(req.Email) {
		return data.Invitation{}, data.Invalid("email", "the email's domain is not allowed by auth.allowedEmailDomains")
	}
	u, exists, err := userByEmail(b, req.Email)
	if err != nil {
		return data.Invitation{}, err
	}
	var pending *data.Invitation
	if exists {
		if u.Status == data.UserActive {
			return data.Invitation{}, data.Conflict("an active portal user has this email")
		}
		if id := b.Bucket(bUserInvitation).Get(bytesOf(u.ID)); id != nil {
			inv, err := getInvitation(b, string(id))
			if err != nil {
				return data.Invitation{}, err
			}
			if inv.Status == data.InvitationPending {
				if inv.EffectiveStatus(now) == data.InvitationPending {
					return data.Invitation{}, data.Conflict("a pending invitation exists for this email")
				}
				pending = &inv // expired but not yet swept: expire it in this transaction
			}
		}
	}
	token, hash, err := NewToken(db.now())
	if err != nil {
		return data.Invitation{}, err
	}
	role := req.Role
	if role == "" {
		role = data.RoleMember
	}
	hours := req.ExpiresInHours
	if hours == 0 {
		hours = cfg.Invitations.ExpiryHours
	}
	// Every check is done: from here on the transaction writes.
	if pending != nil {
		if err := finishInvitation(tx, b, pending, data.InvitationExpired, now); err != nil {
			return data.Invitation{}, err
		}
	}
	prev := data.UserStatus("")
	if exists {
		prev = u.Status
	} else {
		u = data.User{ID: db.ids.New(now), Email: req.Email, CreatedAt: now}
	}
	u.Status, u.Role, u.InvitedAt, u.UpdatedAt = data.UserInvited, role, &now, now
	if req.FirstName != "" {
		u.FirstName = req.FirstName
	}
	if req.LastName != "" {
		u.LastName = req.LastName
	}
	if req.AccountID != "" {
		u.AccountID = req.AccountID
	}
	if req.ContactID != "" {
		u.ContactID = req.ContactID
	}
	if err := putUser(b, u, prev); err != nil {
		return data.Invitation{}, err
	}
	inv := data.Invitation{ID: db.ids.New(now), Email: u.Email, UserID: u.ID, ContactID: u.ContactID,
		AccountID: u.AccountID, Role: role, Status: data.InvitationPending, Message: req.Message,
		InvitedBy: actor, CreatedAt: now, ExpiresAt: now.Add(time.Duration(hours) * time.Hour), ExpiresInHours: hours,
		Delivery: data.Delivery{Status: data.DeliveryQueued}, TokenHash: hash}
	if err := db.liveInvitation(tx, b, tenant, inv, u.FirstName, cfg, token, now); err != nil {
		return data.Invitation{}, err
	}
	if err := bump(b, cInvPending, 1); err != nil {
		return data.Invitation{}, err
	}
	if err := db.audit(b, now, actor, "invitation.create", "invitation", inv.ID, "invited "+maskEmail(inv.Email)); err != nil {
		return data.Invitation{}, err
	}
	inv.AcceptURL = db.acceptURL(cfg.Slug, token)
	return inv, nil
}

// liveInvitation writes a pending invitation with its token, expiry and
// user indexes and queues its email, greeting the user by first.
func (db *DB) liveInvitation(tx kv.Tx, b kv.Bucket, tenant data.TenantID, inv data.Invitation, first string, cfg data.Config, token string, now time.Time) error {
	msg, err := db.enqueue(tx, now, data.OutboxMessage{Tenant: tenant, Kind: data.MailInvitation, To: inv.Email,
		InvitationID: inv.ID, Data: data.MailData{PortalName: cfg.PortalName, PrimaryColor: cfg.Branding.PrimaryColor,
			LogoURL: cfg.Branding.LogoURL, SupportEmail: cfg.SupportEmail, FirstName: first, Message: inv.Message,
			Link: db.acceptURL(cfg.Slug, token), ExpiresAt: inv.ExpiresAt}})
	if err != nil {
		return err
	}
	inv.OutboxID = msg.ID
	if err := putJSON(b.Bucket(bInvitations), bytesOf(inv.ID), inv); err != nil {
		return err
	}
	if err := tx.Bucket(bInvitationTokens).Put(bytesOf(inv.TokenHash), tokenRef(tenant, inv.ID)); err != nil {
		return err
	}
	if err := b.Bucket(bInvitationExpiry).Put(timeKey(inv.ExpiresAt, inv.ID), nil); err != nil {
		return err
	}
	return b.Bucket(bUserInvitation).Put(bytesOf(inv.UserID), bytesOf(inv.ID))
}

// finishInvitation moves a pending invitation to a final status, killing its
// token, removing it from the expiry and user indexes and dropping its
// queued email. A cancellation of an invitation already past its expiry
// records it as expired, as the lists already showed it.
func finishInvitation(tx kv.Tx, b kv.Bucket, inv *data.Invitation, to data.InvitationStatus, now time.Time) error {
	if !inv.Status.CanBecome(to) {
		return fmt.Errorf("invitation %s is %s: %w", inv.ID, inv.Status, data.ErrConflict)
	}
	if to == data.InvitationCancelled && inv.EffectiveStatus(now) == data.InvitationExpired {
		to = data.InvitationExpired
	}
	if inv.TokenHash != "" {
		if err := tx.Bucket(bInvitationTokens).Delete(bytesOf(inv.TokenHash)); err != nil {
			return err
		}
	}
	if err := b.Bucket(bInvitationExpiry).Delete(timeKey(inv.ExpiresAt, inv.ID)); err != nil {
		return err
	}
	if cur := b.Bucket(bUserInvitation).Get(bytesOf(inv.UserID)); string(cur) == inv.ID {
		if err := b.Bucket(bUserInvitation).Delete(bytesOf(inv.UserID)); err != nil {
			return err
		}
	}
	inv.Status, inv.TokenHash, inv.EndedAt = to, "", &now
	if to == data.InvitationAccepted {
		inv.AcceptedAt = &now
	}
	if err := putJSON(b.Bucket(bInvitations), bytesOf(inv.ID), inv); err != nil {
		return err
	}
	if err := bump(b, cInvPending, -1); err != nil {
		return err
	}
	if err := bump(b, invitationCounter(to), 1); err != nil {
		return err
	}
	return dropOutbox(tx, inv.OutboxID)
}

// dropOutbox removes a queued message by ID (see deleteOutbox).
func dropOutbox(tx kv.Tx, id string) error { return deleteOutbox(tx, id) }

// CancelInvitation cancels a pending invitation. The user stays invited (and
// may be invited again).
func (db *DB) CancelInvitation(ctx context.Context, tenant data.TenantID, actor, id string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		inv, err := getInvitation(b, id)
		if err != nil {
			return err
		}
		now := db.Now()
		if inv.EffectiveStatus(now) != data.InvitationPending {
			return data.Conflict("the invitation is " + string(inv.EffectiveStatus(now)) + ", not pending")
		}
		if err := finishInvitation(tx, b, &inv, data.InvitationCancelled, now); err != nil {
			return err
		}
		return db.audit(b, now, actor, "invitation.cancel", "invitation", inv.ID, "cancelled")
	})
}

// ResendInvitation gives a pending invitation a new token and expiry (the
// old link dies) and queues its email again. At most data.ResendsPerHour
// resends an hour per invitation.
func (db *DB) ResendInvitation(ctx context.Context, tenant data.TenantID, actor, id string) (data.Invitation, error) {
	var out data.Invitation
	err := db.write(ctx, func(tx kv.Tx) error {
		out = data.Invitation{}
		now := db.Now()
		cfg, err := db.configOf(tx, tenant, now)
		if err != nil {
			return err
		}
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		inv, err := getInvitation(b, id)
		if err != nil {
			return err
		}
		// As of now, like cancel: an invitation past its expiry is expired
		// (final) whether or not the sweeper has written that down yet.
		if st := inv.EffectiveStatus(now); st != data.InvitationPending {
			return data.Conflict("the invitation is " + string(st) + ", not pending")
		}
		if !cfg.Auth.EmailDomainAllowed(inv.Email) { // the list may have changed since the invitation
			return data.Invalid("email", "the email's domain is not allowed by auth.allowedEmailDomains")
		}
		var recent []time.Time
		for _, t := range inv.ResendTimes {
			if now.Sub(t) < time.Hour {
				recent = append(recent, t)
			}
		}
		if len(recent) >= data.ResendsPerHour {
			wait := recent[0].Add(time.Hour).Sub(now)
			return &data.RateLimitError{RetryAfterSeconds: int(wait/time.Second) + 1}
		}
		token, hash, err := NewToken(db.now())
		if err != nil {
			return err
		}
		// Every check is done: from here on the transaction writes.
		if err := tx.Bucket(bInvitationTokens).Delete(bytesOf(inv.TokenHash)); err != nil {
			return err
		}
		if err := b.Bucket(bInvitationExpiry).Delete(timeKey(inv.ExpiresAt, inv.ID)); err != nil {
			return err
		}
		if err := dropOutbox(tx, inv.OutboxID); err != nil {
			return err
		}
		hours := inv.ExpiresInHours
		if hours == 0 {
			hours = cfg.Invitations.ExpiryHours
		}
		inv.TokenHash, inv.ExpiresAt = hash, now.Add(time.Duration(hours)*time.Hour)
		inv.ResendTimes = append(recent, now)
		inv.Delivery = data.Delivery{Status: data.DeliveryQueued}
		var first string
		if u, err := getUser(b, inv.UserID); err == nil {
			first = u.FirstName
		}
		if err := db.liveInvitation(tx, b, tenant, inv, first, cfg, token, now); err != nil {
			return err
		}
		if err := db.audit(b, now, actor, "invitation.resend", "invitation", inv.ID, "new link sent"); err != nil {
			return err
		}
		inv.AcceptURL = db.acceptURL(cfg.Slug, token)
		out = inv
		return nil
	})
	if err != nil {
		return data.Invitation{}, err
	}
	return db.withLink(out), nil
}

// maskEmail keeps an audit detail useful without copying whole addresses.
func maskEmail(e string) string {
	for i := 0; i < len(e); i++ {
		if e[i] == '@' {
			if i <= 1 {
				return "*" + e[i:]
			}
			return e[:1] + "***" + e[i:]
		}
	}
	return "***"
}
