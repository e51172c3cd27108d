// Package mail renders the portal's outbox messages and delivers them.
//
// A Sender drains the store's outbox through a Transport, several messages
// at once and each connection kept open for many: SMTP when PORTAL_SMTP_URL
// is set, otherwise LogTransport, which writes each message to the log so
// that a local user can copy its link. Delivery is at least once: a message
// leaves the outbox only after the server has accepted it, and outcomes are
// committed in batches, so a crash may send again the messages delivered
// since the last commit.
package mail

import (
	"context"
	"errors"
	"log/slog"
)

// Transport delivers one rendered message. It is the seam between the Sender
// and the outside world, so tests can watch what would be sent.
type Transport interface {
	// Send delivers the message with a plain-text part and an HTML
	// alternative to one recipient, or returns why it could not.
	Send(ctx context.Context, to, subject, text, html string) error
}

// A Session delivers messages one after another over one connection to the
// server, which it keeps open until Close. It is not safe for concurrent use.
type Session interface {
	Transport
	// Close ends the session; a Send after it starts another.
	Close() error
}

// A SessionTransport is a Transport that can keep a connection open for
// many messages, such as SMTP. A Sender uses one Session per connection.
type SessionTransport interface {
	Transport
	Session() Session
}

// ErrPermanent marks a Transport error that no retry can fix, such as a
// malformed recipient address; the Sender gives up on such a message at once.
var ErrPermanent = errors.New("permanent mail failure")

// LogTransport writes each message to a logger instead of sending it. It is
// the default when no SMTP server is configured, and it logs the whole text
// part, links and their tokens included, because that is its point.
type LogTransport struct {
	log *slog.Logger
}

// NewLogTransport returns a Transport that writes messages to log (not nil)
// at Info.
func NewLogTransport(log *slog.Logger) *LogTransport {
	return &LogTransport{log: log}
}

// Send logs the recipient, the subject and the text part.
func (t *LogTransport) Send(ctx context.Context, to, subject, text, _ string) error {
	t.log.InfoContext(ctx, "mail not sent (no SMTP server configured)", "to", to, "subject", subject, "text", text)
	return nil
}
