// Package rawhttp is an HTTP/1.x server written by hand on a net.Listener, the way a socket
// programming course writes its first web server: no net/http on the server side. It reads the
// request line and the header fields off the connection with explicit limits, answers every
// response with a Content-Length, closes an HTTP/1.0 connection after its response unless the
// client asked for keep-alive, keeps an HTTP/1.1 connection open unless either side says
// "Connection: close", answers pipelined requests in order, and gives a slow client (one that
// sends its request byte by byte) a deadline for the whole request head so it cannot hold a
// connection, and never blocks the others.
//
// A Config.Tap sees every byte read from and written to each connection, which is how the http
// lesson shows the bytes on the wire as text.
package rawhttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Limits bound what ReadRequest accepts; a zero field takes the default.
type Limits struct {
	// MaxLineBytes bounds the request line (414 beyond) and each header line (431 beyond),
	// CRLF included; default 8 KiB.
	MaxLineBytes int
	// MaxHeaderBytes bounds all header lines together (431 beyond); default 16 KiB.
	MaxHeaderBytes int
	// MaxHeaders bounds how many header fields a request has (431 beyond); default 64.
	MaxHeaders int
	// MaxBodyBytes bounds a request body's Content-Length (413 beyond); default 64 KiB.
	MaxBodyBytes int
}

func (l *Limits) setDefaults() {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = 8 << 10
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 16 << 10
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = 64
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 64 << 10
	}
}

// Field is one header field as the client wrote it.
type Field struct {
	Name, Value string
}

// Request is one parsed request.
type Request struct {
	Method string // "GET"
	Target string // the request-target as sent: "/bytes?n=10"
	Path   string // Target's path: "/bytes"
	Query  url.Values
	// Major and Minor are the version's digits: HTTP/1.1 is 1, 1.
	Major, Minor int
	Header       []Field // in order, names as sent
	Body         []byte
	// Head is the request line and header lines exactly as read, the final empty line included.
	Head []byte
}

// Proto is the request's version as written on its request line: "HTTP/1.1".
func (r *Request) Proto() string { return fmt.Sprintf("HTTP/%d.%d", r.Major, r.Minor) }

// Get returns the value of the first field named name (case-insensitive), or "".
func (r *Request) Get(name string) string {
	for _, f := range r.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// hasToken reports whether a field named name (all of them, comma-separated lists) holds token,
// case-insensitively: "Connection: keep-alive, Upgrade" has "upgrade".
func (r *Request) hasToken(name, token string) bool {
	for _, f := range r.Header {
		if !strings.EqualFold(f.Name, name) {
			continue
		}
		for t := range strings.SplitSeq(f.Value, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// KeepAlive reports whether the client lets the connection stay open after this request's
// response: HTTP/1.1 unless it sent "Connection: close", HTTP/1.0 only if it sent
// "Connection: keep-alive".
func (r *Request) KeepAlive() bool {
	if r.hasToken("Connection", "close") {
		return false
	}
	if r.Major == 1 && r.Minor >= 1 {
		return true
	}
	return r.hasToken("Connection", "keep-alive")
}

// Error is a request the server refuses: the status it answers with and why. The connection is
// closed after the answer, since the server can no longer tell where the next request begins.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, StatusText(e.Status), e.Reason)
}

func bad(status int, format string, args ...any) *Error {
	return &Error{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// errLong is readLine's answer to a line longer than its limit.
var errLong = errors.New("line too long")

// readLine reads one line ending in LF (CRLF or a bare LF, as RFC 9112 allows a server to
// accept) of at most max bytes, the line ending included; it returns the line with and without
// its ending.
func readLine(br *bufio.Reader, max int) (raw, line []byte, err error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > max {
			return nil, nil, errLong
		}
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return buf, nil, err
		}
		line = bytes.TrimSuffix(buf[:len(buf)-1], []byte("\r"))
		return buf, line, nil
	}
}

// isTokenChar reports whether c may appear in a token (RFC 9110 5.6.2): a method or a field name.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// ReadRequest reads one request from br within lim. A request the server must refuse is an
// *Error carrying the status to answer; any other error (io.EOF before the first byte, a
// timeout, a reset) comes from the connection.
func ReadRequest(br *bufio.Reader, lim Limits) (*Request, error) {
	return readRequest(br, lim, nil)
}

// readRequest is ReadRequest; with proceed set, a request that sent "Expect: 100-continue" and
// announced a body is admitted with proceed (which writes "100 Continue") before its body is read.
func readRequest(br *bufio.Reader, lim Limits, proceed func() error) (*Request, error) {
	lim.setDefaults()
	var head []byte
	// RFC 9112 2.2: a server should ignore at least one empty line before the request line.
	raw, line, err := readLine(br, lim.MaxLineBytes)
	for i := 0; err == nil && len(line) == 0 && i < 4; i++ {
		head = append(head, raw...)
		raw, line, err = readLine(br, lim.MaxLineBytes)
	}
	if err == errLong {
		return nil, bad(414, "request line longer than %d bytes", lim.MaxLineBytes)
	}
	if err != nil {
		return nil, err
	}
	head = append(head, raw...)
	req, perr := parseRequestLine(string(line))
	if perr != nil {
		return nil, perr
	}
	headerBytes := 0
	for {
		raw, line, err := readLine(br, lim.MaxLineBytes)
		if err == errLong {
			return nil, bad(431, "a header line is longer than %d bytes", lim.MaxLineBytes)
		}
		if err != nil {
			return nil, err
		}
		head = append(head, raw...)
		if len(line) == 0 {
			break
		}
		if headerBytes += len(raw); headerBytes > lim.MaxHeaderBytes {
			return nil, bad(431, "header fields longer than %d bytes in all", lim.MaxHeaderBytes)
		}
		if len(req.Header) == lim.MaxHeaders {
			return nil, bad(431, "more than %d header fields", lim.MaxHeaders)
		}
		f, perr := parseField(line)
		if perr != nil {
			return nil, perr
		}
		req.Header = append(req.Header, f)
	}
	req.Head = head
	if req.Major == 1 && req.Minor >= 1 && req.Get("Host") == "" {
		return nil, bad(400, "an HTTP/1.1 request must carry a Host header field")
	}
	if err := readBody(br, req, lim, proceed); err != nil {
		return nil, err
	}
	return req, nil
}

// parseRequestLine parses "METHOD SP request-target SP HTTP-version".
func parseRequestLine(line string) (*Request, *Error) {
	parts := strings.Split(line, " ")
	if len(parts) != 3 {
		return nil, bad(400, "request line %q is not METHOD TARGET VERSION separated by single spaces", clip(line))
	}
	method, target, version := parts[0], parts[1], parts[2]
	if !isToken(method) {
		return nil, bad(400, "method %q is not a token", clip(method))
	}
	req := &Request{Method: method, Target: target}
	maj, min, ok := parseVersion(version)
	if !ok {
		return nil, bad(400, "version %q is not HTTP/DIGIT.DIGIT", clip(version))
	}
	if maj != 1 {
		return nil, bad(505, "this server speaks HTTP/1.0 and HTTP/1.1, not %s", version)
	}
	req.Major, req.Minor = maj, min
	if target == "" || target[0] != '/' {
		if method == "OPTIONS" && target == "*" {
			req.Path = "*"
			return req, nil
		}
		return nil, bad(400, "request target %q is not an absolute path (origin form)", clip(target))
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, bad(400, "request target %q: %v", clip(target), err)
	}
	req.Path, req.Query = u.Path, u.Query()
	return req, nil
}

// parseVersion parses "HTTP/1.1" into 1, 1.
func parseVersion(v string) (major, minor int, ok bool) {
	if len(v) != len("HTTP/1.1") || !strings.HasPrefix(v, "HTTP/") || v[6] != '.' {
		return 0, 0, false
	}
	d1, d2 := v[5], v[7]
	if d1 < '0' || d1 > '9' || d2 < '0' || d2 > '9' {
		return 0, 0, false
	}
	return int(d1 - '0'), int(d2 - '0'), true
}

// parseField parses "Name: value"; whitespace before the colon and obsolete line folding are
// refused (RFC 9112 5.1, 5.2).
func parseField(line []byte) (Field, *Error) {
	if line[0] == ' ' || line[0] == '\t' {
		return Field{}, bad(400, "header line %q continues the previous one (obsolete line folding)", clip(string(line)))
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return Field{}, bad(400, "header line %q has no colon", clip(string(line)))
	}
	if !isToken(string(name)) {
		return Field{}, bad(400, "header field name %q is not a token", clip(string(name)))
	}
	v := bytes.Trim(value, " \t")
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return Field{}, bad(400, "header field %s has a control character", name)
		}
	}
	return Field{Name: string(name), Value: string(v)}, nil
}

// readBody reads a Content-Length body. Chunked request bodies are not implemented (501), and a
// request with both Transfer-Encoding and Content-Length is refused (a smuggling vector).
func readBody(br *bufio.Reader, req *Request, lim Limits, proceed func() error) error {
	te := req.Get("Transfer-Encoding")
	var cls []string
	for _, f := range req.Header {
		if strings.EqualFold(f.Name, "Content-Length") {
			cls = append(cls, f.Value)
		}
	}
	if te != "" {
		if len(cls) > 0 {
			return bad(400, "both Transfer-Encoding and Content-Length")
		}
		return bad(501, "Transfer-Encoding %q in a request is not implemented here: send a Content-Length", clip(te))
	}
	if len(cls) == 0 {
		return nil
	}
	for _, v := range cls[1:] {
		if v != cls[0] {
			return bad(400, "Content-Length given twice with different values")
		}
	}
	n, err := strconv.ParseUint(cls[0], 10, 63)
	if err != nil || cls[0][0] == '+' {
		return bad(400, "Content-Length %q is not a number", clip(cls[0]))
	}
	if n > uint64(lim.MaxBodyBytes) {
		return bad(413, "body of %d bytes is over this server's %d", n, lim.MaxBodyBytes)
	}
	if ex := req.Get("Expect"); ex != "" {
		if !strings.EqualFold(ex, "100-continue") {
			return bad(417, "Expect %q: this server knows only 100-continue", clip(ex))
		}
		if n > 0 && proceed != nil && br.Buffered() == 0 {
			if err := proceed(); err != nil {
				return err
			}
		}
	}
	req.Body = make([]byte, n)
	if _, err := io.ReadFull(br, req.Body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// StatusText is the reason phrase of the statuses this server sends.
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status " + strconv.Itoa(code)
}
