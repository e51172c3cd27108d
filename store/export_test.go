package store

import (
	"context"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// ReplaceInvitationTokenForTest makes token the live token of a pending
// invitation, keyed as HashToken keys it, as if it had been made so.
func (db *DB) ReplaceInvitationTokenForTest(ctx context.Context, tenant data.TenantID, id, token string) error {
	return db.write(ctx, func(tx kv.Tx) error {
		b, err := org(tx, tenant)
		if err != nil {
			return err
		}
		inv, err := getInvitation(b, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bInvitationTokens).Delete([]byte(inv.TokenHash)); err != nil {
			return err
		}
		inv.TokenHash = HashToken(token)
		if err := putJSON(b.Bucket(bInvitations), []byte(id), inv); err != nil {
			return err
		}
		return tx.Bucket(bInvitationTokens).Put([]byte(inv.TokenHash), tokenRef(tenant, id))
	})
}
