package store

// Invitations and their tokens: user_invitation, invitation_expiry, the
// global invitation_tokens, and the queued email each pending invitation
// names.

import (
	"bytes"
	"time"

	"github.com/salesos/portal/data"
)

func (o orgCheck) invitations() {
	invs, users := o.b["invitations"], o.b["users"]
	userInv, expiry := o.b["user_invitation"], o.b["invitation_expiry"]
	tokens := o.tx.Bucket(bInvitationTokens)
	byStatus := map[data.InvitationStatus]int64{}
	_ = invs.ForEach(func(k, v []byte) error {
		o.r.Records["invitations"]++
		var inv data.Invitation
		if !o.decode("invitations", k, v, &inv) {
			return nil
		}
		id := string(k)
		if inv.ID != id {
			o.add(BreachRecord, o.org, "invitations", id, "holds invitation %s", inv.ID)
		}
		if !inv.Status.Valid() {
			o.add(BreachRecord, o.org, "invitations", id, "has unknown status %q", inv.Status)
		}
		byStatus[inv.Status]++
		if inv.Status != data.InvitationPending {
			if inv.TokenHash != "" {
				o.add(BreachRecord, o.org, "invitations", id, "is %s but keeps a live token", inv.Status)
			}
			return nil
		}
		if users.Get(bytesOf(inv.UserID)) == nil {
			o.add(BreachRecord, o.org, "invitations", id, "is pending for missing user %s", inv.UserID)
		}
		if got := userInv.Get(bytesOf(inv.UserID)); string(got) != id {
			o.add(BreachIndex, o.org, "user_invitation", inv.UserID, "%s, want pending invitation %s", pointsAt(got), id)
		}
		if expiry.Get(timeKey(inv.ExpiresAt, id)) == nil {
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(timeKey(inv.ExpiresAt, id)),
				"is missing for pending invitation %s", id)
		}
		if inv.TokenHash == "" {
			o.add(BreachRecord, o.org, "invitations", id, "is pending without a token")
		} else if got, want := tokens.Get(bytesOf(inv.TokenHash)), tokenRef(o.org, id); !bytes.Equal(got, want) {
			o.add(BreachIndex, "", "invitation_tokens", shortHash(inv.TokenHash), "%s, want %s", refString(got), refString(want))
		}
		return nil
	})
	_ = userInv.ForEach(func(k, v []byte) error {
		var inv data.Invitation
		raw := invs.Get(v)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "user_invitation", printable(k), "points at missing invitation %s", printable(v))
		case jsonDecode(raw, &inv) != nil:
		case inv.Status != data.InvitationPending || inv.UserID != string(k):
			o.add(BreachIndex, o.org, "user_invitation", printable(k), "points at invitation %s, which is %s for user %s",
				printable(v), inv.Status, inv.UserID)
		}
		return nil
	})
	_ = expiry.ForEach(func(k, _ []byte) error {
		if len(k) <= 8 {
			o.add(BreachIndex, o.org, "invitation_expiry", printable(k), "key is too short")
			return nil
		}
		id := k[8:]
		var inv data.Invitation
		raw := invs.Get(id)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(k), "points at missing invitation %s", printable(id))
		case jsonDecode(raw, &inv) != nil:
		case inv.Status != data.InvitationPending:
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(k), "points at invitation %s, which is %s",
				printable(id), inv.Status)
		case !bytes.Equal(timeKey(inv.ExpiresAt, inv.ID), k):
			o.add(BreachIndex, o.org, "invitation_expiry", timeKeyString(k), "disagrees with the expiry %s of invitation %s",
				inv.ExpiresAt.UTC().Format(time.RFC3339), inv.ID)
		}
		return nil
	})
	for _, s := range data.InvitationStatuses {
		o.counterIs(invitationCounter(s), byStatus[s])
	}
}

func (c *checker) invitationTokens() {
	_ = c.tx.Bucket(bInvitationTokens).ForEach(func(k, v []byte) error {
		b, id, ok := c.refOrg("invitation_tokens", k, v)
		if !ok {
			return nil
		}
		var inv data.Invitation
		raw := b.Bucket(bInvitations).Get(bytesOf(id))
		switch {
		case raw == nil:
			c.add(BreachIndex, "", "invitation_tokens", shortHash(string(k)), "points at missing invitation %s", refString(v))
		case jsonDecode(raw, &inv) != nil:
		case inv.Status != data.InvitationPending || inv.TokenHash != string(k):
			c.add(BreachIndex, "", "invitation_tokens", shortHash(string(k)), "points at invitation %s, which is %s with another token",
				refString(v), inv.Status)
		}
		return nil
	})
}

func (c *checker) outbox() {
	_ = c.tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
		c.r.Records["outbox"]++
		var m data.OutboxMessage
		if v == nil || jsonDecode(v, &m) != nil {
			c.add(BreachRecord, "", "outbox", printable(k), "does not decode")
			return nil
		}
		if m.InvitationID == "" || c.r.Schema < 2 { // before schema 2 invitations did not name their email
			return nil
		}
		var inv data.Invitation
		ok := false
		if b := c.tx.Bucket(bOrgs).Bucket(bytesOf(m.Tenant)); b != nil {
			ok, _ = getJSON(b.Bucket(bInvitations), bytesOf(m.InvitationID), &inv)
		}
		switch {
		case !ok:
			c.add(BreachIndex, m.Tenant, "outbox", printable(k), "is the email of missing invitation %s", m.InvitationID)
		case inv.OutboxID != string(k) || inv.Status != data.InvitationPending:
			c.add(BreachIndex, m.Tenant, "outbox", printable(k), "is queued, but its invitation %s (%s) names %q", inv.ID, inv.Status, inv.OutboxID)
		}
		return nil
	})
}
