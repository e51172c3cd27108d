// Package invoicepdf renders an invoice as a PDF with the portal's
// branding. The same invoice and branding always give the same bytes: the
// document's dates are the invoice's own and the PDF carries no random
// file ID, so a download can be cached and compared.
package invoicepdf

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"codeberg.org/go-pdf/fpdf"

	"github.com/salesos/portal/data"
)

// Branding is how the portal looks on its documents.
type Branding struct {
	PortalName   string
	PrimaryColor string // #rrggbb
	AccentColor  string // #rrggbb
	SupportEmail string
}

// FileName is the name an invoice's PDF is downloaded under.
func FileName(inv data.Invoice) string {
	var b strings.Builder
	for _, r := range inv.Number {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return "invoice-" + b.String() + ".pdf"
}

// rgb reads #rrggbb; anything else is def.
func rgb(hex string, def [3]int) [3]int {
	if len(hex) != 7 || hex[0] != '#' {
		return def
	}
	var c [3]int
	for i := range c {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return def
		}
		c[i] = int(v)
	}
	return c
}

// clean makes s safe for the PDF library, which indexes past the end of
// invalid UTF-8: invalid bytes and control characters become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
}

// Render writes inv as a PDF to w. Every text of the invoice and the
// branding is made valid UTF-8 first; it comes from the CRM and the
// portal's staff, and records validated before they were stored may still
// be read from an older file.
func Render(w io.Writer, inv data.Invoice, b Branding) error {
	inv.Number, inv.AccountID, inv.Currency = clean(inv.Number), clean(inv.AccountID), clean(inv.Currency)
	inv.Lines = append([]data.LineItem(nil), inv.Lines...)
	for i := range inv.Lines {
		inv.Lines[i].Description = clean(inv.Lines[i].Description)
	}
	b.PortalName, b.SupportEmail = clean(b.PortalName), clean(b.SupportEmail)
	primary := rgb(b.PrimaryColor, [3]int{0x1f, 0x6f, 0xeb})
	accent := rgb(b.AccentColor, [3]int{0x0f, 0x88, 0x3e})
	pdf := fpdf.New("P", "mm", "A4", "")
	// Fixed dates from the invoice and sorted catalogs: deterministic bytes.
	pdf.SetCreationDate(inv.IssuedAt)
	pdf.SetModificationDate(inv.UpdatedAt)
	pdf.SetCatalogSort(true)
	pdf.SetProducer(b.PortalName, true)
	pdf.SetCreator(b.PortalName, true)
	pdf.SetTitle("Invoice "+inv.Number, true)
	pdf.SetAutoPageBreak(true, 20)
	pdf.SetMargins(18, 18, 18)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.AliasNbPages("")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-14)
		pdf.SetFont("Helvetica", "", 8)
		pdf.SetTextColor(110, 110, 110)
		footer := b.PortalName
		if b.SupportEmail != "" {
			footer += " - " + b.SupportEmail
		}
		pdf.CellFormat(0, 5, tr(footer), "", 0, "L", false, 0, "")
		pdf.CellFormat(0, 5, fmt.Sprintf("Page %d of {nb}", pdf.PageNo()), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()

	// Header band in the primary colour.
	pdf.SetFillColor(primary[0], primary[1], primary[2])
	pdf.Rect(0, 0, 210, 8, "F")
	pdf.SetY(16)
	pdf.SetFont("Helvetica", "B", 18)
	pdf.SetTextColor(primary[0], primary[1], primary[2])
	pdf.CellFormat(0, 9, tr(b.PortalName), "", 1, "L", false, 0, "")
	pdf.SetTextColor(30, 30, 30)
	pdf.SetFont("Helvetica", "B", 14)
	pdf.CellFormat(0, 9, tr("Invoice "+inv.Number), "", 1, "L", false, 0, "")

	pdf.SetFont("Helvetica", "", 10)
	meta := [][2]string{
		{"Account", inv.AccountID},
		{"Issued", inv.IssuedAt.Format("2 January 2006")},
		{"Due", inv.DueAt.Format("2 January 2006")},
		{"Status", string(inv.Status)},
		{"Currency", inv.Currency},
	}
	if inv.PaidAt != nil {
		meta = append(meta, [2]string{"Paid", inv.PaidAt.Format("2 January 2006")})
	}
	for _, m := range meta {
		pdf.SetFont("Helvetica", "B", 10)
		pdf.CellFormat(30, 6, m[0], "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 10)
		pdf.CellFormat(0, 6, tr(m[1]), "", 1, "L", false, 0, "")
	}
	pdf.Ln(6)

	// Lines.
	widths := []float64{94, 20, 30, 30}
	header := func() {
		pdf.SetFont("Helvetica", "B", 10)
		pdf.SetFillColor(accent[0], accent[1], accent[2])
		pdf.SetTextColor(255, 255, 255)
		for i, h := range []string{"Description", "Qty", "Unit price", "Amount"} {
			align := "R"
			if i == 0 {
				align = "L"
			}
			pdf.CellFormat(widths[i], 7, h, "", 0, align, true, 0, "")
		}
		pdf.Ln(-1)
		pdf.SetTextColor(30, 30, 30)
		pdf.SetFont("Helvetica", "", 10)
	}
	header()
	for _, l := range inv.Lines {
		desc := pdf.SplitText(tr(l.Description), widths[0]-2)
		h := 6 * float64(max(1, len(desc)))
		if pdf.GetY()+h > 277-20 {
			pdf.AddPage()
			header()
		}
		x, y := pdf.GetXY()
		pdf.MultiCell(widths[0], 6, strings.Join(desc, "\n"), "B", "L", false)
		pdf.SetXY(x+widths[0], y)
		pdf.CellFormat(widths[1], h, strconv.FormatInt(l.Quantity, 10), "B", 0, "R", false, 0, "")
		pdf.CellFormat(widths[2], h, money(l.UnitPrice, inv.Currency), "B", 0, "R", false, 0, "")
		pdf.CellFormat(widths[3], h, money(l.Amount, inv.Currency), "B", 1, "R", false, 0, "")
	}
	pdf.Ln(4)
	for _, t := range []struct {
		name   string
		amount int64
		bold   bool
	}{{"Subtotal", inv.Subtotal, false}, {"Tax", inv.Tax, false}, {"Total", inv.Total, true}} {
		style := ""
		if t.bold {
			style = "B"
		}
		pdf.SetFont("Helvetica", style, 11)
		pdf.CellFormat(widths[0]+widths[1]+widths[2], 7, t.name, "", 0, "R", false, 0, "")
		pdf.CellFormat(widths[3], 7, money(t.amount, inv.Currency), "", 1, "R", false, 0, "")
	}
	return pdf.Output(w)
}

// money is an amount in major units with the currency's decimals, without
// the code (the header names the currency).
func money(minor int64, currency string) string {
	return strings.TrimSuffix(data.FormatMoney(minor, currency), " "+currency)
}
