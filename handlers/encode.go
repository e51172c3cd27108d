package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/salesos/portal/data"
)

// MaxBodyBytes is the largest request body accepted (413 above it).
const MaxBodyBytes = 1 << 20

// maxJSONDepth bounds the nesting of request JSON, so a hostile body cannot
// make a decoder or a later walk recurse deeply.
const maxJSONDepth = 32

// malformedError is a request that cannot be read: 400.
type malformedError struct{ msg string }

func (e *malformedError) Error() string { return e.msg }

// tooLargeError is a body over its limit, MaxBodyBytes unless max says
// otherwise: 413.
type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string {
	limit := e.max
	if limit <= 0 {
		limit = MaxBodyBytes
	}
	return "request body is larger than " + byteSize(limit)
}

// unsupportedTypeError is a body that is not of an accepted media type: 415.
type unsupportedTypeError struct{ got string }

func (e *unsupportedTypeError) Error() string {
	return fmt.Sprintf("content type %q is not supported: send application/json", e.got)
}

// unsupportedEncodingError is a body sent with a Content-Encoding other than
// identity: 415 (RFC 9110 15.5.16), rather than reading compressed bytes as
// if they were JSON or CSV.
type unsupportedEncodingError struct{ got string }

func (e *unsupportedEncodingError) Error() string {
	return fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed", e.got)
}

// checkContentEncoding refuses a request body in any coding but identity.
func checkContentEncoding(r *http.Request) error {
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				if len(c) > 40 {
					c = c[:40]
				}
				return &unsupportedEncodingError{got: c}
			}
		}
	}
	return nil
}

// paramError is a bad query parameter: 400.
type paramError struct{ name, msg string }

func (e *paramError) Error() string { return e.name + " " + e.msg }

// readBody reads the whole body (at most MaxBodyBytes) after checking its
// coding (identity only) and its media type against accepted.
func readBody(w http.ResponseWriter, r *http.Request, accepted ...string) ([]byte, error) {
	return readBodyMax(w, r, MaxBodyBytes, accepted...)
}

// readBodyMax is readBody with a limit of its own, for the few requests
// that carry more than MaxBodyBytes.
func readBodyMax(w http.ResponseWriter, r *http.Request, limit int64, accepted ...string) ([]byte, error) {
	if len(accepted) == 0 {
		accepted = []string{"application/json"}
	}
	if err := checkContentEncoding(r); err != nil {
		return nil, err
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || !slices.Contains(accepted, strings.ToLower(mt)) {
		return nil, &unsupportedTypeError{got: ct}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &tooLargeError{max: limit}
		}
		return nil, &malformedError{msg: "request body could not be read"}
	}
	return body, nil
}

// decode reads a JSON body into a T: 415 unless JSON, 413 over 1 MiB, 400 if
// malformed or followed by more data, 422 for unknown fields or wrong types.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	body, err := readBody(w, r)
	if err != nil {
		return v, err
	}
	return decodeBytes[T](body)
}

// decodeBytes is decode's parsing half, shared by the fuzz targets.
func decodeBytes[T any](body []byte) (T, error) {
	var v T
	if err := checkJSON(body); err != nil {
		return v, err
	}
	if err := checkShape(reflect.TypeFor[T](), body); err != nil {
		return v, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, jsonError(err)
	}
	return v, nil
}

// checkJSON rejects what is not one well-formed JSON value of bounded depth.
func checkJSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &malformedError{msg: "request body is empty: send a JSON document"}
	}
	if !utf8.Valid(body) {
		return &malformedError{msg: "request body is not valid UTF-8"}
	}
	if !json.Valid(body) {
		return &malformedError{msg: "request body is not valid JSON"}
	}
	depth, maxDepth, inString, escaped := 0, 0, false, false
	for _, c := range body {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	if maxDepth > maxJSONDepth {
		return &malformedError{msg: fmt.Sprintf("request body nests deeper than %d levels", maxJSONDepth)}
	}
	return nil
}

// checkShape refuses what encoding/json would take silently for a t that is
// a struct: a body that is null (it decodes to nothing, as if every member
// were left out), null members, which leave their field as it was, while
// the schemas allow null nowhere a field does not decode it itself, and
// members a requiredMembers type names but the body leaves out.
func checkShape(t reflect.Type, body []byte) error {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return data.Invalid("", "must be a JSON object")
	}
	bad := map[string]string{}
	nullMembers(t, body, "", bad)
	if r, ok := reflect.Zero(t).Interface().(requiredMembers); ok {
		var members map[string]json.RawMessage
		if json.Unmarshal(body, &members) == nil {
			for _, name := range r.requiredMembers() {
				if _, ok := members[name]; !ok {
					bad[name] = "is required"
				}
			}
		}
	}
	if len(bad) > 0 {
		return &data.ValidationError{Fields: bad}
	}
	return nil
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// nullMembers adds to bad every member of the object body that is null
// where t's field takes no null, descending into nested structs. Members t
// does not name are left to the decoder (unknown fields).
func nullMembers(t reflect.Type, body []byte, prefix string, bad map[string]string) {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return // not an object: the decoder names the type error
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		raw, ok := members[name]
		if !ok {
			continue
		}
		if reflect.PointerTo(f.Type).Implements(jsonUnmarshaler) {
			continue // the field decides what null means
		}
		switch trimmed := bytes.TrimSpace(raw); {
		case string(trimmed) == "null":
			bad[prefix+name] = "must not be null"
		case f.Type.Kind() == reflect.Struct && len(trimmed) > 0 && trimmed[0] == '{':
			nullMembers(f.Type, trimmed, prefix+name+".", bad)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct && len(trimmed) > 0 && trimmed[0] == '[':
			// A list of objects (a record's lines): each element's members.
			var items []json.RawMessage
			if json.Unmarshal(trimmed, &items) != nil {
				continue
			}
			for j, item := range items {
				if len(bad) >= data.MaxFieldErrors {
					break
				}
				if item = bytes.TrimSpace(item); len(item) > 0 && item[0] == '{' {
					nullMembers(f.Type.Elem(), item, prefix+name+"["+strconv.Itoa(j)+"].", bad)
				}
			}
		}
	}
}

// jsonError turns a decoding error of valid JSON into a validation error
// naming the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return data.Invalid("", "must be a JSON "+jsonKind(te.Type.Kind().String()))
		}
		return data.Invalid(field, "must be "+article(jsonKind(te.Type.Kind().String())))
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ := strconv.Unquote(rest)
		if name == "" {
			name = rest
		}
		return data.Invalid(name, "is not a known field")
	}
	return &malformedError{msg: "request body is not valid JSON"}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "int32", "float64", "uint", "uint64":
		return "number"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return "value of another type"
}

func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	case "number":
		return "a whole number"
	}
	return "a " + kind
}

// rawJSON is a body that is JSON already, as the store keeps some records;
// encode writes it as it is.
type rawJSON []byte

// encode writes v as JSON with status.
func encode(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, v any) {
	if raw, ok := v.(rawJSON); ok {
		writeJSON(w, status, append(raw[:len(raw):len(raw)], '\n')) // raw may be shared: copy
		return
	}
	body, err := gojson.Marshal(v) // same output as encoding/json, several times faster
	if err != nil {
		writeError(w, r, log, fmt.Errorf("encode response: %w", err))
		return
	}
	writeJSON(w, status, append(body, '\n'))
}

// writeJSON writes a body that is JSON already, ending in a newline.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeRawPage writes the list envelope (see page) around items that are
// JSON already, as the store keeps some records.
func writeRawPage(w http.ResponseWriter, items [][]byte, next string) {
	n := len(`{"data":[],"nextCursor":null}`) + 2 + len(next)
	for _, it := range items {
		n += len(it) + 1
	}
	body := make([]byte, 0, n)
	body = append(body, `{"data":[`...)
	for i, it := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, it...)
	}
	body = append(body, `],"nextCursor":`...)
	if next == "" {
		body = append(body, "null"...)
	} else {
		body = strconv.AppendQuote(body, next) // a cursor is base64url: nothing to escape
	}
	body = append(body, "}\n"...)
	writeJSON(w, http.StatusOK, body)
}

// page is the envelope of every list.
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func newPage[T any](items []T, next string) page[T] {
	if items == nil {
		items = []T{}
	}
	p := page[T]{Data: items}
	if next != "" {
		p.NextCursor = &next
	}
	return p
}

// withBody returns r with body as its body again, after it was read.
func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	return r2
}
