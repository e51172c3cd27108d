package data

import "time"

// Feature is one self-service capability of the portal that an organization
// can switch on or off.
type Feature struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// featureCatalogue is the fixed list of features, in display order.
var featureCatalogue = []Feature{
	{ID: "tickets", Name: "Support tickets", Description: "Open and follow support tickets."},
	{ID: "knowledge_base", Name: "Knowledge base", Description: "Read help articles and guides."},
	{ID: "documents", Name: "Documents", Description: "Download shared documents and contracts."},
	{ID: "invoices", Name: "Invoices", Description: "See and download invoices."},
	{ID: "quotes", Name: "Quotes", Description: "Review and accept quotes."},
	{ID: "orders", Name: "Orders", Description: "Track orders and their status."},
	{ID: "chat", Name: "Chat", Description: "Chat with the sales and support team."},
}

// defaultEnabled lists the features a new portal starts with.
var defaultEnabled = map[string]bool{"tickets": true, "knowledge_base": true}

// DefaultFeatures returns the catalogue in its initial state.
func DefaultFeatures(now time.Time) []Feature {
	out := make([]Feature, len(featureCatalogue))
	for i, f := range featureCatalogue {
		f.Enabled = defaultEnabled[f.ID]
		f.UpdatedAt = now.UTC()
		out[i] = f
	}
	return out
}

// KnownFeature reports whether id is in the catalogue.
func KnownFeature(id string) bool {
	for _, f := range featureCatalogue {
		if f.ID == id {
			return true
		}
	}
	return false
}

// SyncFeatures returns stored in catalogue order, adding features that the
// catalogue gained since the record was written and dropping unknown ones.
func SyncFeatures(stored []Feature, now time.Time) []Feature {
	byID := make(map[string]Feature, len(stored))
	for _, f := range stored {
		byID[f.ID] = f
	}
	out := DefaultFeatures(now)
	for i, f := range out {
		if s, ok := byID[f.ID]; ok {
			out[i].Enabled, out[i].UpdatedAt = s.Enabled, s.UpdatedAt
		}
	}
	return out
}

// EnabledFeatures counts the features that are on.
func EnabledFeatures(fs []Feature) int {
	n := 0
	for _, f := range fs {
		if f.Enabled {
			n++
		}
	}
	return n
}
