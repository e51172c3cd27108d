// Package openapi holds the service's hand-written OpenAPI 3.1 document,
// which describes every endpoint: the admin API, the customer API and the
// operations endpoints. The document is embedded in the binary, served at
// /openapi.yaml, and loaded by tests to check that the routes served and the
// routes documented are the same and that responses match their schemas.
//
// kin-openapi v0.153.0 reads OpenAPI 3.1 natively: type arrays such as
// [string, "null"], const, numeric bounds and the other JSON Schema 2020-12
// keywords validate as they are, so the document does not use the 3.0
// nullable keyword anywhere.
package openapi

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// spec is only ever read: Document hands out copies.
//
//go:embed openapi.yaml
var spec string

// Document returns the OpenAPI document as YAML. Each call returns a fresh
// copy, so a caller that changes it changes nothing for anyone else.
func Document() []byte { return []byte(spec) }

// Load parses the document and validates it against the OpenAPI 3.1
// specification, its examples against their schemas included. External
// references are refused: the document is self-contained.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(Document())
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate openapi document: %w", err)
	}
	return doc, nil
}
