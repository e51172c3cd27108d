package data

import (
	"strconv"
	"strings"
	"time"

	"github.com/gabriel-vasile/mimetype"
)

// Document is a file the organization's staff share with the customers of
// one account, or with every customer of the portal.
type Document struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// FileName is the name the file is downloaded under.
	FileName string `json:"fileName"`
	// ContentType is sniffed from the content, never taken from the
	// uploader's word.
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the content, the download's ETag.
	SHA256 string `json:"sha256"`
	// AccountID is the customer account the document is shared with;
	// empty shares it with every customer of the portal.
	AccountID string    `json:"accountId"`
	CreatedAt time.Time `json:"createdAt"`
	// CreatedBy is the staff member who uploaded it.
	CreatedBy string `json:"createdBy"`
}

// Document limits.
const (
	MaxDocumentTitle = 200
	MaxFileName      = 255
	MaxDocumentList  = 100
	// DefaultDocumentQuota is an organization's storage for documents
	// unless configured otherwise: 1 GiB.
	DefaultDocumentQuota int64 = 1 << 30
	// DefaultMaxDocumentSize is the largest file one upload takes unless
	// configured otherwise: 100 MiB (and never more than the quota).
	DefaultMaxDocumentSize int64 = 100 << 20
	// SniffLength is how much of a file's start content-type sniffing reads.
	SniffLength = 4096
)

// VisibleTo reports whether a customer of account sees the document: it is
// shared with that account or with everyone. A customer without an account
// sees only documents shared with everyone.
func (d Document) VisibleTo(account string) bool {
	return d.AccountID == "" || (account != "" && d.AccountID == account)
}

// Validate reports every invalid field the uploader gave.
func (d Document) Validate() error {
	bad := &FieldErrors{}
	if strings.TrimSpace(d.Title) == "" {
		bad.Add("title", "is required")
	}
	checkText(bad, "title", d.Title, MaxDocumentTitle, false)
	if p := FileNameProblem(d.FileName); p != "" {
		bad.Add("file", p)
	}
	if p := refProblem(d.AccountID); p != "" {
		bad.Add("accountId", p)
	}
	return bad.Err()
}

// CleanFileName is the last element of a file name as a browser sends it
// (which may be a path, with / or \), with surrounding spaces trimmed.
func CleanFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return strings.TrimSpace(name)
}

// FileNameProblem says what is wrong with a cleaned file name, or "".
func FileNameProblem(name string) string {
	switch {
	case name == "":
		return "must have a file name"
	case name == "." || name == "..":
		return "must be a file name, not " + strconv.Quote(name)
	case strings.ContainsAny(name, `/\`):
		return "must be a file name without a path"
	}
	return textRule(name, MaxFileName, false)
}

// SniffContentType names the type of a file from its first bytes (up to
// SniffLength), such as "application/pdf" or "text/plain; charset=utf-8".
func SniffContentType(head []byte) string {
	return mimetype.Detect(head).String()
}

// StorageQuotaError is an upload refused because the organization's
// storage would go past its quota.
type StorageQuotaError struct {
	Quota, Used int64
}

func (e *StorageQuotaError) Error() string {
	return "the organization's documents use " + strconv.FormatInt(e.Used, 10) + " of its " +
		strconv.FormatInt(e.Quota, 10) + " bytes; the file does not fit in the " +
		strconv.FormatInt(max(0, e.Quota-e.Used), 10) + " bytes left"
}
