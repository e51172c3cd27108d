package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/salesos/portal/data"
)

// The colours a portal has when its configuration names none (the
// configuration's defaults).
const (
	defaultPrimary = "#1f6feb"
	defaultAccent  = "#0f883e"
)

// themeCSS is a portal's branding as CSS custom properties, served as a
// file because the CSP allows no inline style. Colours a customer cannot
// read are darkened: links and text in the primary colour keep 4.5:1
// against white, focus rings in the accent colour 3:1, and text on a
// primary button is white or black, whichever contrasts more.
func themeCSS(b data.Branding) string {
	primary := validColor(b.PrimaryColor, defaultPrimary)
	accent := validColor(b.AccentColor, defaultAccent)
	on := "#ffffff"
	if contrast(primary, rgb{0, 0, 0}) > contrast(primary, rgb{1, 1, 1}) {
		on = "#000000"
	}
	var sb strings.Builder
	sb.WriteString(":root {\n")
	fmt.Fprintf(&sb, "  --primary: %s;\n", primary.hex())
	fmt.Fprintf(&sb, "  --on-primary: %s;\n", on)
	fmt.Fprintf(&sb, "  --primary-text: %s;\n", readable(primary, 4.5).hex())
	fmt.Fprintf(&sb, "  --accent: %s;\n", accent.hex())
	fmt.Fprintf(&sb, "  --accent-strong: %s;\n", readable(accent, 3).hex())
	sb.WriteString("}\n")
	return sb.String()
}

// serveTheme answers GET /p/{slug}/theme.css. An unknown or disabled portal
// gets the default colours, like any page of it shows no branding.
func (s *server) serveTheme(w http.ResponseWriter, r *http.Request, slug string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, r, http.MethodGet, http.MethodHead)
		return
	}
	var b data.Branding
	if p, ok, err := s.portal(r, slug); err == nil && ok {
		b = p.cfg.Branding
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(themeCSS(b)))
}

// rgb is a colour with channels in 0..1 (sRGB).
type rgb struct{ r, g, b float64 }

func validColor(s string, def string) rgb {
	if c, ok := parseColor(s); ok {
		return c
	}
	c, _ := parseColor(def)
	return c
}

func parseColor(s string) (rgb, bool) {
	if len(s) != 7 || s[0] != '#' {
		return rgb{}, false
	}
	n, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return rgb{}, false
	}
	return rgb{float64(n>>16&0xff) / 255, float64(n>>8&0xff) / 255, float64(n&0xff) / 255}, true
}

func (c rgb) hex() string {
	ch := func(v float64) int { return int(math.Round(math.Max(0, math.Min(1, v)) * 255)) }
	return fmt.Sprintf("#%02x%02x%02x", ch(c.r), ch(c.g), ch(c.b))
}

// luminance is WCAG 2's relative luminance.
func (c rgb) luminance() float64 {
	lin := func(v float64) float64 {
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrast is WCAG 2's contrast ratio of a and b.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// readable darkens c in small steps until it reaches ratio against white.
func readable(c rgb, ratio float64) rgb {
	white := rgb{1, 1, 1}
	for i := 0; i < 100 && contrast(c, white) < ratio; i++ {
		c = rgb{c.r * 0.95, c.g * 0.95, c.b * 0.95}
	}
	return c
}
