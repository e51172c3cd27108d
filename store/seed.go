package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store/kv"
)

// seedBatch is how many users one SeedUsers transaction writes: enough to
// spread one commit over many records, few enough to bound the dirty pages
// a transaction holds in memory.
const seedBatch = 10000

// seedFirst and seedLast are the made-up names of seeded users.
var (
	seedFirst = []string{"Ada", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gia", "Hugo", "Iris", "Jon", "Kai", "Lena"}
	seedLast  = []string{"Adams", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hill", "Ito", "Jones"}
)

// SeedUsers adds n made-up portal users to tenant's organization, for
// benchmarks and demos only: it is not part of the API. Three in four are
// active, the rest invited (without an invitation record, as after an
// invitation that was cancelled); none has a password, so none can log in.
// Emails are first.last.<number>@acct-<k>.example.com, numbered on from the
// organization's user count, and 50 users share an accountId.
//
// Users are written in transactions of 10,000, each one durable commit
// holding records, email index and status counters together, so the
// organization's invariants hold between transactions as they do after
// every API call (Check finds nothing). No audit entry is written: seeding
// is nobody's act in the organization. An email already taken fails
// with data.ErrConflict and leaves the transaction's users unwritten; users
// of earlier transactions stay.
func (db *DB) SeedUsers(ctx context.Context, tenant data.TenantID, n int) error {
	if n < 0 {
		return fmt.Errorf("seed users: count %d is negative", n)
	}
	for done := 0; done < n; {
		if err := ctx.Err(); err != nil {
			return err // bbolt cannot cancel a running transaction, so check between them
		}
		size := min(db.perTx(seedBatch, 3), n-done) // a user, its email index and its account's index
		if err := db.kv.Update(func(tx kv.Tx) error { return db.seedUsers(tx, tenant, size) }); err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
		done += size
	}
	return nil
}

// seedUsers writes size users in tx and moves the counters once for all.
func (db *DB) seedUsers(tx kv.Tx, tenant data.TenantID, size int) error {
	now := db.Now()
	if _, err := db.configOf(tx, tenant, now); err != nil { // as every first write does: config and slug claimed
		return err
	}
	b, err := org(tx, tenant)
	if err != nil {
		return err
	}
	users, emails := b.Bucket(bUsers), b.Bucket(bUserEmails)
	next := counter(b, cUsersInvited) + counter(b, cUsersActive) + counter(b, cUsersRevoked)
	added := map[data.UserStatus]int64{}
	for i := range int64(size) {
		u := seedUser(db.ids.New(now), next+i, now)
		if err := u.Validate(); err != nil {
			return err
		}
		key := emailKey(u.Email)
		if emails.Get(key) != nil {
			return fmt.Errorf("user email %s: %w", maskEmail(u.Email), data.ErrConflict)
		}
		if err := putJSON(users, bytesOf(u.ID), u); err != nil {
			return err
		}
		if err := emails.Put(key, bytesOf(u.ID)); err != nil {
			return err
		}
		added[u.Status]++
	}
	for status, delta := range added {
		if err := bump(b, userCounter(status), delta); err != nil {
			return err
		}
	}
	return nil
}

// seedUser is the made-up user number seq.
func seedUser(id string, seq int64, now time.Time) data.User {
	first, last := seedFirst[seq%int64(len(seedFirst))], seedLast[(seq/3)%int64(len(seedLast))]
	account := "acct-" + strconv.FormatInt(seq/50, 10)
	invited := now
	u := data.User{ID: id, FirstName: first, LastName: last, AccountID: account, Role: data.RoleMember,
		Email:  strings.ToLower(first) + "." + strings.ToLower(last) + "." + strconv.FormatInt(seq, 10) + "@" + account + ".example.com",
		Status: data.UserActive, InvitedAt: &invited, CreatedAt: now, UpdatedAt: now}
	if seq%4 == 3 {
		u.Status = data.UserInvited
	} else {
		activated := now
		u.ActivatedAt = &activated
	}
	if seq%50 == 0 {
		u.Role = data.RoleAdmin // one admin per account
	}
	return u
}
