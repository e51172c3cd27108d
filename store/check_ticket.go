package store

// Tickets and their threads: each ticket under its own ID with a known
// status and priority, each message under <ticketId><messageId> of a ticket
// that exists, each ticket's message and note counts equal to its thread,
// and the tickets.<status> counters equal to a recount. The buckets are
// made on first use, so an organization without them has no tickets.

import (
	"github.com/salesos/portal/data"
)

// messageBlobs is the blobs of a message's attachments, for the blob check
// (blobOwners).
func (o orgCheck) messageBlobs(key string) ([]string, bool) {
	messages := o.ob.Bucket(bTicketMessages)
	if messages == nil {
		return nil, false
	}
	var m data.Message
	if jsonDecode(messages.Get(bytesOf(key)), &m) != nil {
		return nil, false
	}
	ids := make([]string, len(m.Attachments))
	for i, a := range m.Attachments {
		ids[i] = a.ID
	}
	return ids, true
}

func (o orgCheck) tickets() {
	tickets, messages := o.ob.Bucket(bTickets), o.ob.Bucket(bTicketMessages)
	byStatus := map[data.TicketStatus]int64{}
	type counts struct{ public, notes int }
	want := map[string]data.Ticket{}
	if tickets != nil {
		_ = tickets.ForEach(func(k, v []byte) error {
			o.r.Records["tickets"]++
			var t data.Ticket
			if !o.decode("tickets", k, v, &t) {
				return nil
			}
			switch {
			case t.ID != string(k):
				o.add(BreachRecord, o.org, "tickets", printable(k), "holds ticket %s", t.ID)
			case !t.Status.Valid() || !t.Priority.Valid():
				o.add(BreachRecord, o.org, "tickets", printable(k), "has status %q and priority %q", t.Status, t.Priority)
			default:
				byStatus[t.Status]++
				want[t.ID] = t
			}
			return nil
		})
	}
	got := map[string]counts{}
	if messages != nil {
		_ = messages.ForEach(func(k, v []byte) error {
			o.r.Records["ticket_messages"]++
			var m data.Message
			if !o.decode("ticket_messages", k, v, &m) {
				return nil
			}
			if string(k) != m.TicketID+m.ID {
				o.add(BreachRecord, o.org, "ticket_messages", printable(k), "holds message %s of ticket %s", m.ID, m.TicketID)
				return nil
			}
			if tickets == nil || tickets.Get(bytesOf(m.TicketID)) == nil {
				o.add(BreachIndex, o.org, "ticket_messages", printable(k), "belongs to missing ticket %s", m.TicketID)
				return nil
			}
			c := got[m.TicketID]
			if m.Internal {
				c.notes++
			} else {
				c.public++
			}
			got[m.TicketID] = c
			return nil
		})
	}
	for id, t := range want {
		if c := got[id]; c.public != t.MessageCount || c.notes != t.NoteCount {
			o.add(BreachRecord, o.org, "tickets", id, "counts %d messages and %d notes, its thread holds %d and %d",
				t.MessageCount, t.NoteCount, c.public, c.notes)
		}
	}
	for _, s := range data.TicketStatuses {
		o.counterIs(ticketCounter(s), byStatus[s])
	}
}
