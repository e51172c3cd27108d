package invoicepdf

import (
	"bytes"
	"compress/zlib"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/salesos/portal/data"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func sample() data.Invoice {
	return data.Invoice{
		Commercial: data.Commercial{ID: "01JD0000000000000000000000", ExternalID: "crm-9", AccountID: "ACC-1", Number: "INV-2026-0042",
			Currency: "EUR", Lines: []data.LineItem{
				{Description: "Licence, Jörg's team", Quantity: 3, UnitPrice: 1999, Amount: 5997},
				{Description: "Setup", Quantity: 1, UnitPrice: 123456, Amount: 123456}},
			Subtotal: 129453, Tax: 24596, Total: 154049, Version: 1, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)},
		Status: data.InvoiceOpen, IssuedAt: t0, DueAt: t0.Add(30 * 24 * time.Hour),
	}
}

var brand = Branding{PortalName: "Acme Portal", PrimaryColor: "#123456", AccentColor: "#0f883e", SupportEmail: "help@acme.example"}

// pdfText extracts the strings shown by Tj operators of every content
// stream, inflating compressed streams.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	var out strings.Builder
	streams := regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`).FindAllSubmatch(pdf, -1)
	show := regexp.MustCompile(`\(((?:\\.|[^\\)])*)\) ?Tj`)
	for _, s := range streams {
		body := s[1]
		if zr, err := zlib.NewReader(bytes.NewReader(body)); err == nil {
			if inflated, err := io.ReadAll(zr); err == nil {
				body = inflated
			}
		}
		for _, m := range show.FindAllSubmatch(body, -1) {
			out.WriteString(strings.NewReplacer(`\(`, "(", `\)`, ")", `\\`, `\`).Replace(string(m[1])))
			out.WriteByte('\n')
		}
	}
	return out.String()
}

func TestRender_Deterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Render(&a, sample(), brand); err != nil {
		t.Fatal(err)
	}
	if err := Render(&b, sample(), brand); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("got two different renders of the same invoice, want identical bytes")
	}
	if !bytes.HasPrefix(a.Bytes(), []byte("%PDF-")) {
		t.Errorf("got a document starting %q, want %%PDF-", a.Bytes()[:8])
	}
	text := pdfText(t, a.Bytes())
	for _, want := range []string{"INV-2026-0042", "1,540.49", "Acme Portal", "1,234.56"} {
		if !strings.Contains(text, want) {
			t.Errorf("got text %q, want it to hold %q", text, want)
		}
	}
	other := sample()
	other.Total, other.Tax = 154050, 24597
	var c bytes.Buffer
	if err := Render(&c, other, brand); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("got the same bytes for another total, want different")
	}
}

func TestRender_ManyLines(t *testing.T) {
	inv := sample()
	inv.Lines = nil
	inv.Subtotal = 0
	for i := range data.MaxLineItems {
		inv.Lines = append(inv.Lines, data.LineItem{Description: strings.Repeat("Long description ", 20), Quantity: 1, UnitPrice: int64(i), Amount: int64(i)})
		inv.Subtotal += int64(i)
	}
	inv.Total = inv.Subtotal + inv.Tax
	var buf bytes.Buffer
	if err := Render(&buf, inv, brand); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pdfText(t, buf.Bytes()), "Page 2 of") {
		t.Error("got one page for 500 long lines, want several")
	}
}

func TestFileName(t *testing.T) {
	inv := sample()
	inv.Number = `INV/7 "x"`
	if got := FileName(inv); got != "invoice-INV_7__x_.pdf" {
		t.Errorf("got %q, want invoice-INV_7__x_.pdf", got)
	}
}

func FuzzRender(f *testing.F) {
	f.Add("INV-1", "Licence", "Acme", "#123456", "EUR", int64(1999))
	f.Add("\u202e", "a\x00b\nc", "", "#zzzzzz", "JPY", int64(-1))
	f.Fuzz(func(t *testing.T, number, desc, portal, color, currency string, price int64) {
		inv := sample()
		inv.Number, inv.Currency = number, currency
		inv.Lines = []data.LineItem{{Description: desc, Quantity: 1, UnitPrice: price, Amount: price}}
		var buf bytes.Buffer
		if err := Render(&buf, inv, Branding{PortalName: portal, PrimaryColor: color}); err != nil {
			return // a refusal is fine; a panic is not
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Fatalf("got %q, want a PDF", buf.Bytes()[:min(8, buf.Len())])
		}
	})
}
