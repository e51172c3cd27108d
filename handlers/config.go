package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/salesos/portal/data"
)

func (s *server) handleConfigGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag, body, err := s.db.ConfigJSON(r.Context(), principal(r).Tenant)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.Header().Set("ETag", tag)
		encode(w, r, s.log, http.StatusOK, rawJSON(body))
	})
}

// parseIfMatch reads If-Match: present is false when it is absent or "*"
// (any current version matches); otherwise tags are the strong entity tags
// it lists, still quoted. Weak tags never match under If-Match.
func parseIfMatch(h string) (tags []string, present bool, err error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return nil, false, nil
	}
	if len(h) > 1024 {
		return nil, true, &paramError{name: "If-Match", msg: "is too long"}
	}
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		tag, weak := strings.CutPrefix(part, "W/")
		if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.Contains(tag[1:len(tag)-1], `"`) {
			return nil, true, &paramError{name: "If-Match", msg: `must be "*" or a list of quoted ETags`}
		}
		if !weak { // a weak tag is well-formed but never matches
			tags = append(tags, tag)
		}
	}
	return tags, true, nil
}

// decodePatch reads a JSON Merge Patch body: one JSON object.
func decodePatch(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	body, err := readBody(w, r, "application/merge-patch+json", "application/json")
	if err != nil {
		return nil, err
	}
	return decodePatchBytes(body)
}

func decodePatchBytes(body []byte) (map[string]any, error) {
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &malformedError{msg: "request body is not valid JSON"}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, data.Invalid("", "must be a JSON object")
	}
	return m, nil
}

func (s *server) handleConfigPatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		tags, present, err := parseIfMatch(r.Header.Get("If-Match"))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		patch, err := decodePatch(w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		defaults := data.DefaultConfig(p.Tenant, s.now())
		c, err := s.db.UpdateConfig(r.Context(), p.Tenant, p.Subject, func(cur data.Config) (data.Config, error) {
			if present && !slices.Contains(tags, cur.ETag()) {
				return cur, data.ErrPreconditionFailed
			}
			defaults.Slug = cur.Slug // a null slug keeps the portal's address
			return data.ApplyConfigPatch(cur, patch, defaults)
		})
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake() // the portal.config_updated event
		w.Header().Set("ETag", c.ETag())
		encode(w, r, s.log, http.StatusOK, c)
	})
}

func (s *server) handleFeatureList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.db.Config(r.Context(), principal(r).Tenant)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, map[string]any{"data": c.Features})
	})
}

type toggleRequest struct {
	Enabled *bool `json:"enabled"`
}

func (s *server) handleFeatureToggle() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		id := mux.Vars(r)["featureId"]
		if !data.KnownFeature(id) {
			writeError(w, r, s.log, data.ErrNotFound)
			return
		}
		var enabled *bool
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			writeError(w, r, s.log, &tooLargeError{})
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			// A body is optional; when sent it must be JSON like every other.
			if _, err := readBody(w, withBody(r, body)); err != nil {
				writeError(w, r, s.log, err)
				return
			}
			{
				req, err := decodeBytes[toggleRequest](body)
				if err != nil {
					writeError(w, r, s.log, err)
					return
				}
				if req.Enabled == nil {
					writeError(w, r, s.log, data.Invalid("enabled", "is required when a body is sent"))
					return
				}
				enabled = req.Enabled
			}
		}
		f, err := s.db.SetFeature(r.Context(), p.Tenant, p.Subject, id, enabled)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		s.wake() // the portal.config_updated event
		encode(w, r, s.log, http.StatusOK, f)
	})
}
