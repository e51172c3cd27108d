package data

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Messages of the text rules, shared so that every field says the same.
const (
	// SingleLineRule is the reason a one-line text field gives for a control
	// or invisible formatting character.
	SingleLineRule = "must not contain control or invisible formatting characters " +
		"(line breaks, tabs, escape codes, or direction overrides such as U+202E)"
	// MultiLineRule is the reason a multi-line text field gives.
	MultiLineRule = "must not contain control or invisible formatting characters " +
		"other than line breaks and tabs (no escape codes, no direction overrides such as U+202E)"
)

// SingleLine reports whether s is valid UTF-8 text fit for one line: no
// control characters (C0, DEL, C1: escape codes, line breaks, tabs), no line
// or paragraph separators and no invisible formatting characters (category
// Cf: direction overrides and isolates such as U+202E, zero-width spaces,
// byte order marks). The zero-width joiner and non-joiner stay allowed, as
// some scripts and emoji need them.
func SingleLine(s string) bool { return textOK(s, false) }

// MultiLine is SingleLine for text that may span lines: it allows line
// feeds, carriage returns and tabs besides.
func MultiLine(s string) bool { return textOK(s, true) }

func textOK(s string, multi bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				if !multi || (c != '\n' && c != '\r' && c != '\t') {
					return false
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		if r != '\u200c' && r != '\u200d' &&
			(unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)) {
			return false
		}
		i += n
	}
	return true
}

// checkText adds field's first problem to bad: not UTF-8 text of the right
// kind (SingleLine, or MultiLine when multi), or longer than max characters.
func checkText(bad *FieldErrors, field, s string, max int, multi bool) {
	if p := textRule(s, max, multi); p != "" {
		bad.Add(field, p)
	}
}

// textRule says which rule s breaks as a text field of at most max
// characters, one line unless multi, or returns "". The message names the
// rule that fails: a line break is not reported as a length.
func textRule(s string, max int, multi bool) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case !multi && strings.ContainsAny(s, "\r\n"):
		return "must be one line, without line breaks"
	case strings.ContainsRune(s, 0):
		return "must not contain NUL characters"
	case !multi && !SingleLine(s):
		return SingleLineRule
	case multi && !MultiLine(s):
		return MultiLineRule
	case utf8.RuneCountInString(s) > max:
		return "must be at most " + strconv.Itoa(max) + " characters"
	}
	return ""
}

// TenantPattern is the form of an organization ID, the tenant claim of a
// staff token: lowercase ASCII letters, digits, dashes and underscores,
// starting with a letter or digit, at most 63 characters. It keeps IDs
// such as "../acme", "ａｃｍｅ" (full width) and "acme " from each naming
// an organization of their own.
const TenantPattern = `^[a-z0-9][a-z0-9_-]{0,62}$`

var tenantRE = regexp.MustCompile(TenantPattern)

// ValidTenantID reports whether s matches TenantPattern.
func ValidTenantID(s string) bool { return tenantRE.MatchString(s) }

// CheckName returns a ValidationError for field unless s is a valid first
// or last name (see ValidName), with the reason of the rule it breaks.
func CheckName(field, s string) error {
	var bad FieldErrors
	checkText(&bad, field, s, MaxNameLength, false)
	return bad.Err()
}
