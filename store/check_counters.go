package store

// Counters: each stored counter equals a recount of its organization's
// records (the recounts are made by the checks of users, invitations and
// sessions).

// counterIs compares a stored counter with a recount.
func (o orgCheck) counterIs(name string, recount int64) {
	if got := counterIn(o.b["counters"], name); got != recount {
		o.add(BreachCounter, o.org, "counters", name, "is %d, a recount finds %d", got, recount)
	}
}
