package handlers

// Documents: staff upload files and share them with one customer account
// or with every customer; customers list and download what is shared with
// them. Uploads and downloads stream: neither holds a whole file in memory.

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/salesos/portal/auth"
	"github.com/salesos/portal/data"
	"github.com/salesos/portal/store"
)

// documentLimits are Options' document limits with their defaults: a quota
// of data.DefaultDocumentQuota, a file of at most data.DefaultMaxDocumentSize,
// and never a file larger than the quota.
func documentLimits(quota, maxSize int64) store.DocumentLimits {
	if quota <= 0 {
		quota = data.DefaultDocumentQuota
	}
	if maxSize <= 0 {
		maxSize = data.DefaultMaxDocumentSize
	}
	return store.DocumentLimits{Quota: quota, MaxSize: min(maxSize, quota)}
}

// Limits of an upload's form beside its file.
const (
	// maxFormOverhead is what the body may hold beyond the file: the other
	// fields, the part headers and the boundaries.
	maxFormOverhead = 64 << 10
	// maxFormField bounds one text field of the form, in bytes.
	maxFormField = 4 * data.MaxDocumentTitle
	// transferWindow is how long an upload or a download may go without
	// progress: the server's read and write timeouts bound a whole
	// request, which a large file may outlast, so the deadlines move
	// forward while bytes flow.
	transferWindow = 60 * time.Second
)

func (s *server) handleDocumentCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		if err := checkContentEncoding(r); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || !strings.EqualFold(mt, "multipart/form-data") || params["boundary"] == "" {
			writeProblem(w, r, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
				"Send the document as multipart/form-data with a file part and a title."))
			return
		}
		body := &movingReader{r: http.MaxBytesReader(w, r.Body, s.docLimit.MaxSize+maxFormOverhead), rc: http.NewResponseController(w)}
		doc, file, err := s.readDocumentForm(r.Context(), p.Tenant, multipart.NewReader(body, params["boundary"]))
		if err != nil {
			if file != nil {
				_ = s.db.DiscardBlob(r.Context(), p.Tenant, file.ID)
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = &store.BlobTooLargeError{Max: s.docLimit.MaxSize}
			}
			writeError(w, r, s.log, err)
			return
		}
		// CreateDocument discards the file itself when it fails.
		if err := s.db.CreateDocument(r.Context(), p.Tenant, p.Subject, &doc, *file, s.docLimit.Quota); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.Header().Set("Location", "/v1/customer-portal/documents/"+doc.ID)
		encode(w, r, s.log, http.StatusCreated, doc)
	})
}

// readDocumentForm reads an upload's form, whose parts may come in any
// order: the file is streamed into the store as it arrives, the fields are
// kept. It returns the stored file (to discard on error) as soon as there
// is one.
func (s *server) readDocumentForm(ctx context.Context, tenant data.TenantID, mr *multipart.Reader) (data.Document, *store.DocumentFile, error) {
	var doc data.Document
	var file *store.DocumentFile
	seen := map[string]bool{}
	bad := &data.FieldErrors{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return doc, file, err
			}
			return doc, file, &malformedError{msg: "the multipart body is malformed: " + err.Error()}
		}
		name := part.FormName()
		if seen[name] && (name == "file" || name == "title" || name == "accountId") {
			return doc, file, &malformedError{msg: "the form field " + name + " must be given once"}
		}
		seen[name] = true
		switch name {
		case "file":
			if part.FileName() == "" {
				bad.Add("file", "must be a file part, with a filename")
				continue
			}
			doc.FileName = data.CleanFileName(part.FileName())
			if p := data.FileNameProblem(doc.FileName); p != "" {
				bad.Add("file", p) // refused before a byte of it is stored
				continue
			}
			f, err := s.db.PutDocumentFile(ctx, tenant, part, s.docLimit)
			if err != nil {
				return doc, file, err
			}
			file = &f
		case "title", "accountId":
			v, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return doc, file, err
				}
				return doc, file, &malformedError{msg: "the multipart body is malformed: " + err.Error()}
			}
			switch {
			case len(v) > maxFormField:
				bad.Add(name, "is too long")
			case !utf8.Valid(v):
				bad.Add(name, "must be valid UTF-8")
			case name == "title":
				doc.Title = string(v)
			default:
				doc.AccountID = string(v)
			}
		default:
			if len(name) > 100 || !utf8.ValidString(name) {
				name = "(a field)"
			}
			bad.Add(name, "is not a field of a document upload (file, title, accountId)")
		}
	}
	if !seen["file"] {
		bad.Add("file", "is required")
	}
	if !seen["title"] {
		bad.Add("title", "is required")
	}
	if bad.Len() > 0 {
		return doc, file, bad.Err()
	}
	if err := doc.Validate(); err != nil {
		return doc, file, err
	}
	return doc, file, nil
}

func (s *server) handleDocumentList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp, err := s.cursors.parseList(r, "documents", "accountId")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		account, err := accountFilter(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		pg, err := s.db.Documents(r.Context(), principal(r).Tenant, store.DocumentFilter{AccountID: account}, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(pg.Items, s.cursors.encode(r, "documents", pg.Next)))
	})
}

func (s *server) handleDocumentGet() http.Handler {
	return byID(s, func(ctx context.Context, p auth.Principal, id string) (data.Document, error) {
		return s.db.Document(ctx, p.Tenant, id)
	})
}

func (s *server) handleDocumentDelete() http.Handler {
	return byIDNoContent(s, func(ctx context.Context, p auth.Principal, id string) error {
		return s.db.DeleteDocument(ctx, p.Tenant, p.Subject, id)
	})
}

// handleMyDocuments lists the documents shared with the customer's account
// and those shared with every customer.
func (s *server) handleMyDocuments() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := portalAuth(r)
		lp, err := s.cursors.parseList(r, "portal-documents")
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		account := a.User.AccountID
		pg, err := s.db.Documents(r.Context(), a.Tenant, store.DocumentFilter{VisibleTo: &account}, lp.after, lp.limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		encode(w, r, s.log, http.StatusOK, newPage(pg.Items, s.cursors.encode(r, "portal-documents", pg.Next)))
	})
}

// handleMyDocumentContent streams a document the customer sees, with its
// SHA-256 as the ETag, ranges and conditional requests
// (http.ServeContent), as an attachment whose type no browser sniffs.
func (s *server) handleMyDocumentContent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := portalAuth(r)
		id, err := pathID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		account := a.User.AccountID
		doc, content, err := s.db.OpenDocument(r.Context(), a.Tenant, id, &account)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		defer content.Close()
		ServeDocument(w, r, doc, content)
	})
}

// ServeDocument answers r with the content of doc: http.ServeContent with
// the document's SHA-256 as a strong ETag (so If-None-Match, If-Range and
// Range work), its sniffed type, Content-Disposition attachment with its
// file name, and nosniff. The customer pages serve downloads with it too.
func ServeDocument(w http.ResponseWriter, r *http.Request, doc data.Document, content io.ReadSeeker) {
	h := w.Header()
	h.Set("ETag", `"`+doc.SHA256+`"`)
	h.Set("Content-Type", doc.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-cache")
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": doc.FileName})
	if disposition == "" {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	serveFile(w, r, doc.CreatedAt, content)
}

// serveFile streams content with http.ServeContent (conditional requests,
// one byte range), pushing the write deadline forward while it makes
// progress. A Range of several ranges is answered with the whole file, as
// RFC 9110 allows: one behaviour on every Go release (newer ones ignore
// multi-range requests of modules that predate the change), and no
// amplification by many small ranges.
func serveFile(w http.ResponseWriter, r *http.Request, modified time.Time, content io.ReadSeeker) {
	if strings.Contains(r.Header.Get("Range"), ",") {
		r = r.Clone(r.Context())
		r.Header.Del("Range")
	}
	http.ServeContent(&movingWriter{ResponseWriter: w, rc: http.NewResponseController(w)}, r, "", modified, content)
}

// movingReader pushes the connection's read deadline forward while an
// upload makes progress, at most once a second.
type movingReader struct {
	r     io.Reader
	rc    *http.ResponseController
	moved time.Time
}

func (m *movingReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(m.moved) >= time.Second {
		// ErrNotSupported (a writer without deadlines) leaves the server's timeout in force.
		_ = m.rc.SetReadDeadline(now.Add(transferWindow))
		m.moved = now
	}
	return m.r.Read(p)
}

// movingWriter pushes the connection's write deadline forward while a
// download makes progress, at most once a second.
type movingWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	moved time.Time
}

func (m *movingWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(m.moved) >= time.Second {
		_ = m.rc.SetWriteDeadline(now.Add(transferWindow))
		m.moved = now
	}
	return m.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (m *movingWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }
