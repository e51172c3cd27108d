package data

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
)

// configWritable is the writable part of Config: the shape a merge patch is
// applied to.
type configWritable struct {
	Enabled            bool              `json:"enabled"`
	PortalName         string            `json:"portalName"`
	Slug               string            `json:"slug"`
	CustomDomain       string            `json:"customDomain"`
	WelcomeMessage     string            `json:"welcomeMessage"`
	SupportEmail       string            `json:"supportEmail"`
	Branding           Branding          `json:"branding"`
	Auth               AuthSettings      `json:"auth"`
	Invitations        InvitationSetting `json:"invitations"`
	QuotesMemberAccept bool              `json:"quotesMemberAccept"`
}

// readOnlyConfigFields are members of Config that a patch may not name.
var readOnlyConfigFields = map[string]bool{"version": true, "updatedAt": true, "updatedBy": true, "features": true}

// MaxPatchDepth bounds the nesting of a config patch: the deepest writable
// field is two levels down.
const MaxPatchDepth = 8

// ApplyConfigPatch applies an RFC 7396 JSON Merge Patch to the writable fields
// of c and returns the result, validated. A member set to null returns to its
// value in defaults. Unknown, read-only and mistyped members are reported all
// at once as a ValidationError. Only writable fields of c change.
func ApplyConfigPatch(c Config, patch map[string]any, defaults Config) (Config, error) {
	bad := &FieldErrors{}
	for k := range patch {
		if readOnlyConfigFields[k] {
			bad.Add(k, "is read-only")
		}
	}
	tmpl := toMap(writableOf(defaults))
	// Members of the wrong shape are reported and left out, so that the
	// rest is still validated and every bad field is reported at once.
	clean := checkShape(bad, "", patch, tmpl, 0)
	merged := mergePatch(toMap(writableOf(c)), clean)
	final := mergePatch(tmpl, merged) // members removed by null fall back to defaults
	raw, err := json.Marshal(final)
	if err != nil {
		return c, Invalid("", "cannot be encoded")
	}
	var w configWritable
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return c, Invalid("", "does not fit the configuration")
	}
	if w.Auth.AllowedEmailDomains == nil {
		w.Auth.AllowedEmailDomains = []string{}
	}
	out := c
	out.Enabled, out.PortalName, out.Slug, out.CustomDomain = w.Enabled, w.PortalName, w.Slug, w.CustomDomain
	out.WelcomeMessage, out.SupportEmail, out.Branding, out.Auth, out.Invitations = w.WelcomeMessage, w.SupportEmail, w.Branding, w.Auth, w.Invitations
	out.QuotesMemberAccept = w.QuotesMemberAccept
	bad.AddErr("", out.Validate())
	if err := bad.Err(); err != nil {
		return c, err
	}
	return out, nil
}

func writableOf(c Config) configWritable {
	return configWritable{c.Enabled, c.PortalName, c.Slug, c.CustomDomain, c.WelcomeMessage, c.SupportEmail, c.Branding, c.Auth, c.Invitations, c.QuotesMemberAccept}
}

func toMap(v any) map[string]any {
	raw, _ := json.Marshal(v) // plain structs of strings, numbers and slices always encode
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// checkShape reports patch members that the template does not have, or whose
// JSON type differs from the template's, and returns the patch without them.
// Nulls are always allowed.
func checkShape(bad *FieldErrors, prefix string, patch, tmpl map[string]any, depth int) map[string]any {
	clean := make(map[string]any, len(patch))
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := prefix + k
		if prefix == "" && readOnlyConfigFields[k] {
			continue
		}
		want, ok := tmpl[k]
		if !ok {
			bad.Add(field, "is not a known field")
			continue
		}
		got := patch[k]
		if got == nil {
			clean[k] = nil
			continue
		}
		okShape := true
		switch w := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok {
				bad.Add(field, "must be an object")
				okShape = false
			} else if depth < MaxPatchDepth {
				got = checkShape(bad, field+".", sub, w, depth+1)
			}
		case bool:
			if _, ok := got.(bool); !ok {
				bad.Add(field, "must be true or false")
				okShape = false
			}
		case string:
			if _, ok := got.(string); !ok {
				bad.Add(field, "must be a string")
				okShape = false
			}
		case json.Number:
			if !isInt(got) {
				bad.Add(field, "must be a whole number")
				okShape = false
			} else if n, ok := got.(json.Number); ok {
				// 48.0 and 4.8e1 are whole numbers too: write them as 48.
				f, _ := n.Float64()
				got = json.Number(strconv.FormatInt(int64(f), 10))
			}
		case []any:
			arr, ok := got.([]any)
			if !ok {
				bad.Add(field, "must be an array of strings")
				okShape = false
				break
			}
			for _, e := range arr {
				if _, ok := e.(string); !ok {
					bad.Add(field, "must be an array of strings")
					okShape = false
					break
				}
			}
		}
		if okShape {
			clean[k] = got
		}
	}
	return clean
}

func isInt(v any) bool {
	switch n := v.(type) {
	case json.Number:
		if strings.ContainsAny(string(n), ".eE") {
			f, err := n.Float64()
			return err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<31
		}
		i, err := n.Int64()
		return err == nil && i > math.MinInt32 && i < math.MaxInt32
	case float64:
		return n == math.Trunc(n) && math.Abs(n) < 1<<31
	}
	return false
}

// mergePatch is RFC 7396 section 2: objects merge member by member, null
// removes a member, anything else replaces the target.
func mergePatch(target any, patch any) map[string]any {
	p, ok := patch.(map[string]any)
	if !ok {
		return nil
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	out := make(map[string]any, len(t))
	for k, v := range t {
		out[k] = v
	}
	for k, v := range p {
		switch pv := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			out[k] = mergePatch(out[k], pv)
		default:
			out[k] = v
		}
	}
	return out
}
