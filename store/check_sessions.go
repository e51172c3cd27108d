package store

// Sessions and their tokens: user_sessions, session_expiry and the global
// session_tokens.

import (
	"bytes"
	"time"

	"github.com/salesos/portal/data"
)

// idLength is the length of a record ID (a ULID), which ends the keys of
// user_sessions.
const idLength = 26

func (o orgCheck) sessions() {
	sessions, users := o.b["sessions"], o.b["users"]
	userSess, expiry := o.b["user_sessions"], o.b["session_expiry"]
	tokens := o.tx.Bucket(bSessionTokens)
	var n int64
	_ = sessions.ForEach(func(k, v []byte) error {
		o.r.Records["sessions"]++
		n++
		var s data.Session
		if !o.decode("sessions", k, v, &s) {
			return nil
		}
		id := string(k)
		if s.ID != id {
			o.add(BreachRecord, o.org, "sessions", id, "holds session %s", s.ID)
		}
		if users.Get(bytesOf(s.UserID)) == nil {
			o.add(BreachRecord, o.org, "sessions", id, "belongs to missing user %s", s.UserID)
		}
		if userSess.Get(bytesOf(s.UserID+id)) == nil {
			o.add(BreachIndex, o.org, "user_sessions", s.UserID+"/"+id, "is missing for session %s", id)
		}
		if expiry.Get(timeKey(s.EndsAt(), id)) == nil {
			o.add(BreachIndex, o.org, "session_expiry", timeKeyString(timeKey(s.EndsAt(), id)), "is missing for session %s", id)
		}
		if got, want := tokens.Get(bytesOf(s.TokenHash)), tokenRef(o.org, id); s.TokenHash == "" || !bytes.Equal(got, want) {
			o.add(BreachIndex, "", "session_tokens", shortHash(s.TokenHash), "%s, want %s", refString(got), refString(want))
		}
		return nil
	})
	_ = userSess.ForEach(func(k, _ []byte) error {
		if len(k) <= idLength {
			o.add(BreachIndex, o.org, "user_sessions", printable(k), "key is too short")
			return nil
		}
		uid, sid := k[:len(k)-idLength], k[len(k)-idLength:]
		var s data.Session
		raw := sessions.Get(sid)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "user_sessions", printable(uid)+"/"+printable(sid), "points at missing session %s", printable(sid))
		case jsonDecode(raw, &s) != nil:
		case s.UserID != string(uid):
			o.add(BreachIndex, o.org, "user_sessions", printable(uid)+"/"+printable(sid), "names session %s of user %s",
				printable(sid), s.UserID)
		}
		return nil
	})
	_ = expiry.ForEach(func(k, _ []byte) error {
		if len(k) <= 8 {
			o.add(BreachIndex, o.org, "session_expiry", printable(k), "key is too short")
			return nil
		}
		id := k[8:]
		var s data.Session
		raw := sessions.Get(id)
		switch {
		case raw == nil:
			o.add(BreachIndex, o.org, "session_expiry", timeKeyString(k), "points at missing session %s", printable(id))
		case jsonDecode(raw, &s) != nil:
		case !bytes.Equal(timeKey(s.EndsAt(), s.ID), k):
			o.add(BreachIndex, o.org, "session_expiry", timeKeyString(k), "disagrees with the end %s of session %s",
				s.EndsAt().UTC().Format(time.RFC3339), s.ID)
		}
		return nil
	})
	o.counterIs(cSessionsActive, n)
}

func (c *checker) sessionTokens() {
	_ = c.tx.Bucket(bSessionTokens).ForEach(func(k, v []byte) error {
		b, id, ok := c.refOrg("session_tokens", k, v)
		if !ok {
			return nil
		}
		var s data.Session
		raw := b.Bucket(bSessions).Get(bytesOf(id))
		switch {
		case raw == nil:
			c.add(BreachIndex, "", "session_tokens", shortHash(string(k)), "points at missing session %s", refString(v))
		case jsonDecode(raw, &s) != nil:
		case s.TokenHash != string(k):
			c.add(BreachIndex, "", "session_tokens", shortHash(string(k)), "points at session %s, which has another token", refString(v))
		}
		return nil
	})
}
