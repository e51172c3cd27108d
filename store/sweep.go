package store

import (
	"bytes"
	"context"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// SweepResult counts what one sweep ended.
type SweepResult struct {
	Sessions    int
	Invitations int
	ResetTokens int
	// Blobs counts loose blobs collected: uploads abandoned past their
	// grace, files deleted.
	Blobs int
}

// sweepBatch bounds the work of one sweep transaction, so a sweep after a
// long downtime does not hold the write lock for long.
const sweepBatch = 1000

// Sweep ends sessions past their absolute or idle deadline, expires
// invitations past expiresAt and drops dead reset tokens, keeping the
// counters true. Until it runs, reads already treat such records as ended.
// It also collects loose blob chunks (see blob.go).
func (db *DB) Sweep(ctx context.Context) (SweepResult, error) {
	var total SweepResult
	n, err := db.sweepBlobs(ctx)
	total.Blobs = n
	if err != nil {
		return total, err
	}
	// Ending a session or an invitation writes up to a dozen keys (record,
	// indexes, counters, a dropped email).
	batch := db.perTx(sweepBatch, 16)
	for {
		// Most sweeps find nothing: they look in a read transaction first,
		// so an idle server makes no commit (and no fsync) every interval.
		if due, err := db.sweepDue(ctx); err != nil || !due {
			return total, err
		}
		var r SweepResult
		err := db.write(ctx, func(tx kv.Tx) error {
			r = SweepResult{}
			now := db.Now()
			limit := timeKey(now, "\xff")
			budget := batch
			orgs := tx.Bucket(bOrgs)
			err := orgs.ForEachBucket(func(name []byte) error {
				b := orgs.Bucket(name)
				for budget > 0 {
					k, _ := b.Bucket(bSessionExpiry).Cursor().First()
					if k == nil || bytes.Compare(k, limit) > 0 {
						break
					}
					s, err := getSession(b, string(k[8:]))
					if err != nil {
						return err
					}
					if err := deleteSession(tx, b, s); err != nil {
						return err
					}
					r.Sessions++
					budget--
				}
				for budget > 0 {
					k, _ := b.Bucket(bInvitationExpiry).Cursor().First()
					if k == nil || bytes.Compare(k, limit) > 0 {
						break
					}
					inv, err := getInvitation(b, string(k[8:]))
					if err != nil {
						return err
					}
					if err := finishInvitation(tx, b, &inv, data.InvitationExpired, now); err != nil {
						return err
					}
					r.Invitations++
					budget--
				}
				return nil
			})
			if err != nil {
				return err
			}
			r.ResetTokens, err = deleteWhere(tx.Bucket(bResetTokens), batch, func(v []byte) (bool, error) {
				return resetTokenDead(v, now), nil
			})
			if err != nil {
				return err
			}
			// Login limits kept in the store (several processes on
			// etcd): a bucket that is full again is forgotten.
			if limits := tx.Bucket(bLoginLimits); limits != nil {
				_, err = deleteWhere(limits, batch, func(v []byte) (bool, error) { return loginLimitFull(v, now), nil })
			}
			return err
		})
		if err != nil {
			return total, err
		}
		total.Sessions += r.Sessions
		total.Invitations += r.Invitations
		total.ResetTokens += r.ResetTokens
		if r.Sessions+r.Invitations < batch && r.ResetTokens < batch {
			return total, nil
		}
	}
}

// sweepDue reports whether a sweep would end anything now.
func (db *DB) sweepDue(ctx context.Context) (bool, error) {
	due := false
	err := db.read(ctx, func(tx kv.Tx) error {
		due = false
		now := db.Now()
		limit := timeKey(now, "\xff")
		orgs := tx.Bucket(bOrgs)
		err := orgs.ForEachBucket(func(name []byte) error {
			b := orgs.Bucket(name)
			for _, index := range [][]byte{bSessionExpiry, bInvitationExpiry} {
				if k, _ := b.Bucket(index).Cursor().First(); k != nil && bytes.Compare(k, limit) <= 0 {
					due = true
				}
			}
			return nil
		})
		if err != nil || due {
			return err
		}
		return tx.Bucket(bResetTokens).ForEach(func(_, v []byte) error {
			due = due || resetTokenDead(v, now)
			return nil
		})
	})
	return due, err
}

// resetTokenDead reports whether a stored reset token is past its expiry (or
// unreadable, which no use could get past either).
func resetTokenDead(v []byte, now time.Time) bool {
	var rt resetToken
	return jsonDecode(v, &rt) != nil || !now.Before(rt.ExpiresAt)
}

// RunSweeper sweeps every interval until ctx is done.
func (db *DB) RunSweeper(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := db.Sweep(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
