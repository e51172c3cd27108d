package store

// Users and their passwords: the email index, the stored JSON, the
// password hashes, and the reset tokens.

import (
	"bytes"

	gojson "github.com/goccy/go-json"

	"github.com/salesos/portal/data"
)

func (o orgCheck) users() {
	users, emails := o.b["users"], o.b["user_emails"]
	byStatus := map[data.UserStatus]int64{}
	_ = users.ForEach(func(k, v []byte) error {
		o.r.Records["users"]++
		var u data.User
		if !o.decode("users", k, v, &u) {
			return nil
		}
		if u.ID != string(k) {
			o.add(BreachRecord, o.org, "users", string(k), "holds user %s", u.ID)
		}
		if !u.Status.Valid() {
			o.add(BreachRecord, o.org, "users", string(k), "has unknown status %q", u.Status)
		}
		// Before schema 2 a user record also held its password hash.
		if canon, err := gojson.Marshal(u); err == nil && o.r.Schema >= 2 && !bytes.Equal(canon, v) {
			o.add(BreachRecord, o.org, "users", string(k), "is not stored as the API shows it (it would be served as stored)")
		}
		byStatus[u.Status]++
		key := emailKey(u.Email)
		if got := emails.Get(key); string(got) != string(k) {
			o.add(BreachIndex, o.org, "user_emails", maskEmail(string(key)), "%s, want user %s", pointsAt(got), k)
		}
		return nil
	})
	_ = emails.ForEach(func(k, v []byte) error {
		var u data.User
		raw := users.Get(v)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "user_emails", maskEmail(string(k)), "points at missing user %s", printable(v))
		case jsonDecode(raw, &u) == nil && string(emailKey(u.Email)) != string(k):
			o.add(BreachIndex, o.org, "user_emails", maskEmail(string(k)), "points at user %s, whose email is %s",
				printable(v), maskEmail(u.Email))
		}
		return nil
	})
	if passwords := o.b["user_passwords"]; passwords != nil { // absent before schema 2
		_ = passwords.ForEach(func(k, v []byte) error {
			switch {
			case users.Get(k) == nil:
				o.add(BreachIndex, o.org, "user_passwords", printable(k), "belongs to a missing user")
			case len(v) == 0:
				o.add(BreachRecord, o.org, "user_passwords", printable(k), "is empty")
			}
			return nil
		})
	}
	for _, s := range data.UserStatuses {
		o.counterIs(userCounter(s), byStatus[s])
	}
}

func (c *checker) resetTokens() {
	_ = c.tx.Bucket(bResetTokens).ForEach(func(k, v []byte) error {
		var rt resetToken
		if v == nil || jsonDecode(v, &rt) != nil {
			c.add(BreachRecord, "", "reset_tokens", shortHash(string(k)), "does not decode")
		}
		return nil
	})
}
