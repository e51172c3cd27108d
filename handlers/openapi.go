package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/salesos/portal/openapi"
)

// handleOpenAPI serves the embedded OpenAPI document. It holds no tenant data,
// so it needs no credentials and any cache may store it. The document changes
// only with the binary, so its ETag is a hash of its bytes: a client that
// sends it back in If-None-Match gets a 304 until the service is upgraded.
func (s *server) handleOpenAPI() http.Handler {
	doc := openapi.Document()
	sum := sha256.Sum256(doc)
	tag := `"` + hex.EncodeToString(sum[:16]) + `"`
	length := strconv.Itoa(len(doc))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("ETag", tag)
		// no-cache: caches keep it but revalidate on each use, which the ETag
		// makes a cheap 304, so an upgraded service is seen at once.
		h.Set("Cache-Control", "no-cache")
		if etagListed(r.Header.Get("If-None-Match"), tag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/yaml; charset=utf-8")
		h.Set("Content-Length", length)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(doc)
	})
}

// etagListed reports whether an If-None-Match value is "*" or lists tag.
// If-None-Match compares weakly (RFC 9110, section 13.1.2), so W/"x" matches "x".
func etagListed(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}
