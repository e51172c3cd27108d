package web

import (
	"strings"
	"testing"

	"github.com/salesos/portal/data"
)

func TestThemeCSS_KeepsContrast(t *testing.T) {
	white := rgb{1, 1, 1}
	tests := []struct {
		name          string
		branding      data.Branding
		wantPrimary   string
		wantOnPrimary string
	}{
		{"defaults", data.Branding{}, defaultPrimary, "#ffffff"},
		{"dark primary", data.Branding{PrimaryColor: "#5b2a86", AccentColor: "#d9480f"}, "#5b2a86", "#ffffff"},
		{"light primary", data.Branding{PrimaryColor: "#ffe066", AccentColor: "#ffffff"}, "#ffe066", "#000000"},
		{"malformed falls back", data.Branding{PrimaryColor: "red;}body{x:y", AccentColor: "#12"}, defaultPrimary, "#ffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			css := themeCSS(tt.branding)
			vars := map[string]string{}
			for _, line := range strings.Split(css, "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok {
					vars[k] = strings.TrimSuffix(v, ";")
				}
			}
			if got := vars["--primary"]; got != tt.wantPrimary {
				t.Errorf("got --primary %q, want %q", got, tt.wantPrimary)
			}
			if got := vars["--on-primary"]; got != tt.wantOnPrimary {
				t.Errorf("got --on-primary %q, want %q", got, tt.wantOnPrimary)
			}
			text, _ := parseColor(vars["--primary-text"])
			if r := contrast(text, white); r < 4.5 {
				t.Errorf("--primary-text %s has contrast %.2f on white, want at least 4.5", vars["--primary-text"], r)
			}
			ring, _ := parseColor(vars["--accent-strong"])
			if r := contrast(ring, white); r < 3 {
				t.Errorf("--accent-strong %s has contrast %.2f on white, want at least 3", vars["--accent-strong"], r)
			}
			if strings.Count(css, "{") != 1 || strings.Count(css, "}") != 1 {
				t.Errorf("theme CSS has injected rules:\n%s", css)
			}
		})
	}
}
