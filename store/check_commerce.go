package store

// Quotes, invoices and orders: each record decodes, agrees with its key,
// is valid, carries the hash of the CRM's content, and is the one its
// external ID's index entry names; each index entry names a record with
// that external ID.

import "github.com/salesos/portal/data"

func (o orgCheck) commerce() {
	checkCommerce(o, quoteOps)
	checkCommerce(o, invoiceOps)
	checkCommerce(o, orderOps)
}

func checkCommerce[T any, P recordPtr[T]](o orgCheck, ops kindOps[T]) {
	records, refs := o.b[string(ops.records)], o.b[string(ops.refs)]
	name, refName := string(ops.records), string(ops.refs)
	held := map[string]string{} // record ID -> external ID
	if records != nil {
		_ = records.ForEach(func(k, v []byte) error {
			o.r.Records[name]++
			var s commerceStored[T]
			if !o.decode(name, k, v, &s) {
				return nil
			}
			r := P(&s.Record)
			base := r.Base()
			switch {
			case base.ID != string(k):
				o.add(BreachRecord, o.org, name, printable(k), "holds %s %s", ops.kind, base.ID)
				return nil
			case len(s.BodyHash) != 64:
				o.add(BreachRecord, o.org, name, base.ID, "has no hash of the CRM's content")
			}
			if err := r.Validate(); err != nil {
				o.add(BreachRecord, o.org, name, base.ID, "is not valid: %v", err)
			}
			if q, ok := any(r).(*data.Quote); ok && ((q.Acceptance != nil && q.Status != data.QuoteAccepted) ||
				(q.Decline != nil && q.Status != data.QuoteDeclined)) {
				o.add(BreachRecord, o.org, name, base.ID, "has status %s and the customer's decision of another", q.Status)
			}
			held[base.ID] = base.ExternalID
			if refs == nil || string(refs.Get(bytesOf(base.ExternalID))) != base.ID {
				o.add(BreachIndex, o.org, refName, printable(bytesOf(base.ExternalID)), "does not name %s %s", ops.kind, base.ID)
			}
			return nil
		})
	}
	if refs != nil {
		_ = refs.ForEach(func(k, v []byte) error {
			if ext, ok := held[string(v)]; !ok || ext != string(k) {
				o.add(BreachIndex, o.org, refName, printable(k), "names %s %s, which is missing or has another external ID", ops.kind, printable(v))
			}
			return nil
		})
	}
}
