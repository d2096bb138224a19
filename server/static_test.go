package server_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// staticTestFiles writes a static tree with a made-up main.wasm (compressible, like code, with
// random parts), wasm_exec.js and style.css, precompressed by the Taskfile's own tool
// (go run ./internal/precompress), and returns the directory and main.wasm's bytes.
func staticTestFiles(t *testing.T) (dir string, wasm []byte) {
	t.Helper()
	dir = t.TempDir()
	var b bytes.Buffer
	for i := 0; b.Len() < 256<<10; i++ {
		b.WriteString("\x00asm func main.column.render local.get i32.const call_indirect ")
		b.WriteString(strings.Repeat("x", i%37))
		if i%16 == 0 {
			b.WriteString(rand.Text())
		}
	}
	wasm = b.Bytes()
	files := map[string][]byte{
		"main.wasm":    wasm,
		"wasm_exec.js": []byte(strings.Repeat("globalThis.Go = class { run() {} };\n", 200)),
		"style.css":    []byte(strings.Repeat("body { margin: 0; font: 14px system-ui; }\n", 200)),
		"boot.js":      []byte(strings.Repeat("new Go().run(document.currentScript.dataset.wasm);\n", 20)),
	}
	var names []string
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Join(dir, name))
	}
	cmd := exec.Command("go", append([]string{"run", "./internal/precompress"}, names...)...)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("precompress: %v\n%s", err, out)
	}
	return dir, wasm
}

// staticGet fetches url with the headers given as name, value pairs, without the client's own
// gzip handling, and returns the response with its body read.
func staticGet(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

func decode(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch coding {
	case "br":
		r = brotli.NewReader(r)
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		r = zr
	case "":
	default:
		t.Fatalf("unexpected Content-Encoding %q", coding)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s body: %v", coding, err)
	}
	return b
}

// TestStaticEncodings: each Accept-Encoding gets the encoding it ranks highest, and every
// encoding decodes to exactly the file's bytes.
func TestStaticEncodings(t *testing.T) {
	dir, wasm := staticTestFiles(t)
	srv := browserServer(t, dir, "127.0.0.1:0")
	url := "http://" + srv.Addrs().HTTP + "/static/main.wasm"
	sizes := map[string]int{}
	for _, c := range []struct{ accept, want string }{
		{"", ""},
		{"br", "br"},
		{"gzip", "gzip"},
		{"identity", ""},
		{"gzip, deflate, br, zstd", "br"}, // Chromium's
		{"br;q=0.5, gzip", "gzip"},
		{"br;q=0, gzip;q=0.1", "gzip"},
		{"gzip;q=0, br;q=0", ""},
		{"*", "br"},
		{"*;q=0", ""}, // nothing acceptable: the file as it is
		{"x-gzip", "gzip"},
		{"deflate, zstd", ""},
		{"BR;Q=1", "br"},
	} {
		resp, body := staticGet(t, url, "Accept-Encoding", c.accept)
		got := resp.Header.Get("Content-Encoding")
		if resp.StatusCode != http.StatusOK || got != c.want {
			t.Errorf("Accept-Encoding %q: status %d, Content-Encoding %q, want 200 %q", c.accept, resp.StatusCode, got, c.want)
			continue
		}
		if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", c.accept, v)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/wasm" {
			t.Errorf("Accept-Encoding %q: Content-Type %q, want application/wasm", c.accept, ct)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("Accept-Encoding %q: Content-Length %d, body %d bytes", c.accept, resp.ContentLength, len(body))
		}
		if !bytes.Equal(decode(t, got, body), wasm) {
			t.Errorf("Accept-Encoding %q: the %q body does not decode to main.wasm", c.accept, got)
		}
		sizes[got] = len(body)
	}
	t.Logf("bytes: identity %d, gzip %d, br %d", sizes[""], sizes["gzip"], sizes["br"])
	if !(sizes["br"] < sizes["gzip"] && sizes["gzip"] < sizes[""]) {
		t.Errorf("sizes identity %d, gzip %d, br %d: want br < gzip < identity", sizes[""], sizes["gzip"], sizes["br"])
	}
}

// TestStaticRevalidation: a strong ETag per encoding; If-None-Match with it gets 304 and no body;
// a plain URL is revalidated on every use, a versioned URL with the current hash is immutable.
func TestStaticRevalidation(t *testing.T) {
	dir, wasm := staticTestFiles(t)
	srv := browserServer(t, dir, "127.0.0.1:0")
	base := "http://" + srv.Addrs().HTTP
	sum := sha256.Sum256(wasm)
	hash := hex.EncodeToString(sum[:8])

	tags := map[string]bool{}
	for _, enc := range []string{"br", "gzip", ""} {
		resp, _ := staticGet(t, base+"/static/main.wasm", "Accept-Encoding", enc)
		tag := resp.Header.Get("ETag")
		if !strings.HasPrefix(tag, `"`+hash) || tags[tag] {
			t.Errorf("%q: ETag %q, want a strong tag from the hash %s, one per encoding", enc, tag, hash)
		}
		tags[tag] = true
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%q: plain URL Cache-Control %q, want no-cache", enc, cc)
		}
		resp, body := staticGet(t, base+"/static/main.wasm", "Accept-Encoding", enc, "If-None-Match", tag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("%q: If-None-Match %s: status %d with %d bytes, want 304 and none", enc, tag, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("ETag"); got != tag {
			t.Errorf("%q: 304 ETag %q, want %q", enc, got, tag)
		}
	}
	// Another encoding's tag is not this representation's.
	resp, body := staticGet(t, base+"/static/main.wasm", "Accept-Encoding", "gzip", "If-None-Match", `"`+hash+`.br"`)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(decode(t, resp.Header.Get("Content-Encoding"), body), wasm) {
		t.Errorf("gzip with the br tag: status %d, want 200 and the file", resp.StatusCode)
	}

	resp, _ = staticGet(t, base+"/static/main.wasm?v="+hash, "Accept-Encoding", "br")
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("versioned URL Cache-Control %q, want a year, immutable", cc)
	}
	resp, _ = staticGet(t, base+"/static/main.wasm?v=0123456789abcdef", "Accept-Encoding", "br")
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("URL with another version: Cache-Control %q, want no-cache", cc)
	}
	resp, _ = staticGet(t, base+"/static/nothing.js")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing file: status %d, want 404", resp.StatusCode)
	}
	resp, _ = staticGet(t, base+"/static/main.wasm.br")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a precompressed copy by its own name: status %d, want 404", resp.StatusCode)
	}
}

// TestStaticPageLinksVersionedURLs: the page links the stylesheet, the loader, boot.js and main.wasm by
// the URLs versioned with their current hash, and is itself revalidated by ETag.
func TestStaticPageLinksVersionedURLs(t *testing.T) {
	dir, _ := staticTestFiles(t)
	srv := browserServer(t, dir, "127.0.0.1:0")
	base := "http://" + srv.Addrs().HTTP
	resp, page := staticGet(t, base+"/")
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("page Cache-Control %q, want no-cache", cc)
	}
	for _, c := range []struct{ name, pattern string }{
		{"style.css", `<link rel="stylesheet" href="/static/style.css\?v=([0-9a-f]{16})"`},
		{"wasm_exec.js", `<script src="/static/wasm_exec.js\?v=([0-9a-f]{16})"`},
		{"boot.js", `<script src="/static/boot.js\?v=([0-9a-f]{16})"`},
		{"main.wasm", `<script src="[^"]*" data-wasm="/static/main.wasm\?v=([0-9a-f]{16})"`},
	} {
		m := regexp.MustCompile(c.pattern).FindStringSubmatch(string(page))
		if m == nil {
			t.Errorf("the page does not link %s by a versioned URL (%s)", c.name, c.pattern)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, c.name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); m[1] != hex.EncodeToString(sum[:8]) {
			t.Errorf("%s is linked with version %s, not its hash", c.name, m[1])
		}
		r, _ := staticGet(t, base+"/static/"+c.name+"?v="+m[1], "Accept-Encoding", "gzip, deflate, br, zstd")
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || r.Header.Get("Content-Encoding") != "br" {
			t.Errorf("%s's linked URL: Cache-Control %q, Content-Encoding %q; want immutable, br", c.name, cc, r.Header.Get("Content-Encoding"))
		}
	}

	for _, enc := range []string{"", "gzip"} {
		resp, body := staticGet(t, base+"/", "Accept-Encoding", enc)
		if resp.Header.Get("Content-Encoding") != enc || !bytes.Equal(decode(t, enc, body), page) {
			t.Errorf("page with Accept-Encoding %q: Content-Encoding %q or a different page", enc, resp.Header.Get("Content-Encoding"))
		}
		tag := resp.Header.Get("ETag")
		resp, body = staticGet(t, base+"/", "Accept-Encoding", enc, "If-None-Match", tag)
		if tag == "" || resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("page with Accept-Encoding %q and If-None-Match %q: status %d with %d bytes, want 304 and none", enc, tag, resp.StatusCode, len(body))
		}
	}
}

// TestStaticStaleCopy: a precompressed copy that does not decode to its file (an older build's)
// is not sent; the file is, as it is.
func TestStaticStaleCopy(t *testing.T) {
	dir, wasm := staticTestFiles(t)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(append(bytes.Clone(wasm), "older"...))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "main.wasm.gz"), z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := browserServer(t, dir, "127.0.0.1:0")
	resp, body := staticGet(t, "http://"+srv.Addrs().HTTP+"/static/main.wasm", "Accept-Encoding", "gzip")
	if enc := resp.Header.Get("Content-Encoding"); enc != "" || !bytes.Equal(body, wasm) {
		t.Errorf("with a stale main.wasm.gz: Content-Encoding %q, %d bytes; want the file as it is", enc, len(body))
	}
}
