package store

// Contacts and their email index.

import (
	"github.com/salesos/portal/data"
)

func (o orgCheck) contacts() {
	contacts, emails := o.b["contacts"], o.b["contact_emails"]
	_ = contacts.ForEach(func(k, v []byte) error {
		o.r.Records["contacts"]++
		var c data.Contact
		if !o.decode("contacts", k, v, &c) {
			return nil
		}
		if c.ID != string(k) {
			o.add(BreachRecord, o.org, "contacts", string(k), "holds contact %s", c.ID)
		}
		if c.Email == "" {
			return nil
		}
		key := emailKey(c.Email)
		if got := emails.Get(key); string(got) != string(k) {
			o.add(BreachIndex, o.org, "contact_emails", maskEmail(string(key)), "%s, want contact %s", pointsAt(got), k)
		}
		return nil
	})
	_ = emails.ForEach(func(k, v []byte) error {
		var c data.Contact
		raw := contacts.Get(v)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "contact_emails", maskEmail(string(k)), "points at missing contact %s", printable(v))
		case jsonDecode(raw, &c) == nil && string(emailKey(c.Email)) != string(k):
			o.add(BreachIndex, o.org, "contact_emails", maskEmail(string(k)), "points at contact %s, whose email is %s",
				printable(v), maskEmail(c.Email))
		}
		return nil
	})
}
