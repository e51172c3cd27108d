package cli

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// escapeControl makes an untrusted string safe to print on one line of a
// terminal: every character that is not graphic (newlines and other control
// characters, escape sequences, DEL, C1 controls, bidirectional overrides
// and other format characters) and every byte that is not UTF-8 is written
// as its Go escape (\n, \x1b, \u202e), so that an organization name from a
// damaged file or a message from a server can neither start a line of its
// own (a fake "OK") nor move the cursor or recolor the screen. A string
// without such characters is returned as it is.
func escapeControl(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case !strconv.IsPrint(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// escapeLines escapes each line of a message that may span lines (an
// error joining several), keeping its own line breaks.
func escapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = escapeControl(l)
	}
	return strings.Join(lines, "\n")
}

// printableReport is r with every string from the file escaped: names and
// keys in a damaged or hostile database are printed, not obeyed.
func printableReport(r store.Report) store.Report {
	r.Path = escapeControl(r.Path)
	bs := make([]store.Breach, len(r.Breaches))
	for i, b := range r.Breaches {
		b.Org = data.TenantID(escapeControl(string(b.Org)))
		b.Bucket, b.Key, b.Problem = escapeControl(b.Bucket), escapeControl(b.Key), escapeControl(b.Problem)
		bs[i] = b
	}
	r.Breaches = bs
	return r
}
