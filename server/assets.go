package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// Static files are served from memory, each in the encodings it was precompressed in at build
// time (NAME.br and NAME.gz beside NAME, written by `go run ./internal/precompress`; the
// Taskfile's wasm task does it): the one the request's Accept-Encoding ranks highest, brotli
// before gzip before the file as it is when they rank equal. A copy that does not decompress to
// the file's bytes (left over from an older build) is not used.
//
// Every file has a strong ETag from the SHA-256 of its bytes (one per encoding) and is revalidated
// (Cache-Control: no-cache, If-None-Match → 304), except when asked for by its versioned URL,
// /static/NAME?v=HASH with the current hash, which the page links to: that is cached for a
// year as immutable, so a repeat visit asks for nothing but the page.

// staticMaxAge is how long a versioned URL may be cached.
const staticMaxAge = 365 * 24 * time.Hour

// staticFiles are the static files of one server, read on first use.
type staticFiles struct {
	fsys fs.FS
	log  *slog.Logger

	once  sync.Once
	files map[string]*staticFile // by path within fsys
}

// staticFile is one file in every encoding it is served in.
type staticFile struct {
	hash     string // the first 16 hex digits of the SHA-256 of the file's bytes
	ctype    string
	variants []encoded // the file as it is first
}

// encoded is a static file in one content coding.
type encoded struct {
	coding string // "" for the file as it is, "br", "gzip"
	etag   string
	body   []byte
}

// precompressed are the copies looked for beside each file: suffix, content coding, decoder.
var precompressed = []struct {
	suffix, coding string
	reader         func(io.Reader) (io.Reader, error)
}{
	{".br", "br", func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil }},
	{".gz", "gzip", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
}

func newStaticFiles(fsys fs.FS, log *slog.Logger) *staticFiles {
	return &staticFiles{fsys: fsys, log: log}
}

func (s *staticFiles) load() {
	s.once.Do(func() {
		s.files = map[string]*staticFile{}
		err := fs.WalkDir(s.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".br") || strings.HasSuffix(p, ".gz") {
				return err
			}
			f, err := s.read(p)
			if err != nil {
				return err
			}
			s.files[p] = f
			return nil
		})
		if err != nil {
			s.log.Error("static files not all served", "err", err)
		}
	})
}

// read reads the file at p and its precompressed copies.
func (s *staticFiles) read(p string) (*staticFile, error) {
	body, err := fs.ReadFile(s.fsys, p)
	if err != nil {
		return nil, fmt.Errorf("read static file: %w", err)
	}
	sum := sha256.Sum256(body)
	f := &staticFile{hash: hex.EncodeToString(sum[:8]), ctype: mime.TypeByExtension(path.Ext(p))}
	if f.ctype == "" {
		f.ctype = http.DetectContentType(body)
	}
	f.variants = append(f.variants, encoded{etag: `"` + f.hash + `"`, body: body})
	for _, pc := range precompressed {
		z, err := fs.ReadFile(s.fsys, p+pc.suffix)
		if err != nil {
			continue // not precompressed
		}
		if !decompressesTo(z, pc.reader, sum) {
			s.log.Warn("precompressed copy does not match its file; not served (run go tool task wasm)", "file", p+pc.suffix)
			continue
		}
		if len(z) >= len(body) {
			continue
		}
		f.variants = append(f.variants, encoded{coding: pc.coding, etag: `"` + f.hash + pc.suffix + `"`, body: z})
	}
	return f, nil
}

// decompressesTo reports whether z, read with newReader, has the SHA-256 sum.
func decompressesTo(z []byte, newReader func(io.Reader) (io.Reader, error), sum [sha256.Size]byte) bool {
	r, err := newReader(bytes.NewReader(z))
	if err != nil {
		return false
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), sum[:])
}

// url is the versioned URL of the file at p (as the page links to it), or its plain URL when
// there is no such file (or no static files: s is nil).
func (s *staticFiles) url(p string) string {
	if s == nil {
		return "/static/" + p
	}
	s.load()
	if f := s.files[p]; f != nil {
		return "/static/" + p + "?v=" + f.hash
	}
	return "/static/" + p
}

// ServeHTTP serves the file at the request's path (with /static/ already stripped).
func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.load()
	f := s.files[r.URL.Path]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	codings := make([]string, len(f.variants))
	for i, v := range f.variants {
		codings[i] = v.coding
	}
	v := f.variants[chooseCoding(r.Header.Get("Accept-Encoding"), codings)]
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(staticMaxAge.Seconds()))+", immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	serveEncoded(w, r, v)
}

// serveEncoded writes v with its ETag and Content-Encoding, answering If-None-Match (304) and,
// for the file as it is, Range requests; the caller has set the other headers.
func serveEncoded(w http.ResponseWriter, r *http.Request, v encoded) {
	h := w.Header()
	h.Set("ETag", v.etag)
	if v.coding != "" {
		// http.ServeContent leaves out Content-Length when there is a Content-Encoding; and a
		// range of compressed bytes is of no use to anyone here.
		h.Set("Content-Encoding", v.coding)
		h.Set("Content-Length", strconv.Itoa(len(v.body)))
		r = r.Clone(r.Context())
		r.Header.Del("Range")
		r.Header.Del("If-Range")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v.body))
}

// chooseCoding picks from codings ("" is identity, always first) the one the Accept-Encoding
// header ranks highest (RFC 9110 §12.5.3: q-values, "*", "identity"; no header or an empty one
// accepts only identity). Identity not named (nor by "*") ranks below every coding named with
// q > 0; on equal rank the earlier in codings that is not identity wins, since a compressed copy
// is smaller. When nothing is acceptable it falls back to identity.
func chooseCoding(header string, codings []string) int {
	q := map[string]float64{}
	star := -1.0
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		v := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, val, ok := strings.Cut(param, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				v = f
			}
		}
		if name == "x-gzip" {
			name = "gzip"
		}
		if name == "*" {
			star = v
		} else if old, ok := q[name]; !ok || v > old {
			q[name] = v
		}
	}
	rank := func(coding string) float64 {
		if coding == "" {
			coding = "identity"
		}
		if v, ok := q[coding]; ok {
			return v
		}
		if star >= 0 {
			return star
		}
		if coding == "identity" {
			return 0.0001 // below any listed coding (q has three decimals), still acceptable
		}
		return 0
	}
	best, bestQ := 0, rank("")
	for i := 1; i < len(codings); i++ {
		if v := rank(codings[i]); v > 0 && (v > bestQ || v == bestQ && best == 0) {
			best, bestQ = i, v
		}
	}
	return best
}
