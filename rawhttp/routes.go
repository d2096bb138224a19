package rawhttp

import (
	"bytes"
	"fmt"
	"strconv"
)

// Routes is the server's default handler:
//
//	GET /            a short HTML page saying what this server is
//	GET /echo        the request as the server read it, as text (POST too: with its body)
//	GET /bytes?n=N   N bytes of text (0 ≤ N ≤ Config.MaxBytes)
//
// HEAD is answered like GET, without the body. Other paths are 404, other methods 405.
func (s *Server) Routes(req *Request) *Response {
	allow := "GET, HEAD"
	switch req.Path {
	case "/":
		if req.Method != "GET" && req.Method != "HEAD" {
			return notAllowed(req, allow)
		}
		return &Response{Status: 200, Header: []Field{{"Content-Type", "text/html; charset=utf-8"}}, Body: []byte(indexPage)}
	case "/echo":
		allow = "GET, HEAD, POST"
		if req.Method != "GET" && req.Method != "HEAD" && req.Method != "POST" {
			return notAllowed(req, allow)
		}
		var b bytes.Buffer
		b.Write(req.Head)
		b.Write(req.Body)
		return &Response{Status: 200, Header: []Field{{"Content-Type", "text/plain; charset=utf-8"}}, Body: b.Bytes()}
	case "/bytes":
		if req.Method != "GET" && req.Method != "HEAD" {
			return notAllowed(req, allow)
		}
		n, err := strconv.Atoi(req.Query.Get("n"))
		if err != nil || n < 0 || n > s.cfg.MaxBytes {
			return &Response{Status: 400, Header: []Field{{"Content-Type", "text/plain; charset=utf-8"}},
				Body: fmt.Appendf(nil, "n=%q: want a number of bytes from 0 to %d\n", req.Query.Get("n"), s.cfg.MaxBytes)}
		}
		return &Response{Status: 200, Header: []Field{{"Content-Type", "text/plain; charset=utf-8"}}, Body: Filler(n)}
	}
	return &Response{Status: 404, Header: []Field{{"Content-Type", "text/plain; charset=utf-8"}},
		Body: fmt.Appendf(nil, "no %s here: try /, /echo or /bytes?n=100\n", req.Path)}
}

func notAllowed(req *Request, allow string) *Response {
	return &Response{Status: 405, Header: []Field{{"Allow", allow}, {"Content-Type", "text/plain; charset=utf-8"}},
		Body: fmt.Appendf(nil, "%s is not allowed on %s (%s)\n", req.Method, req.Path, allow)}
}

// Filler is n bytes of readable text: lines of 64 bytes, each starting with its offset.
func Filler(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 0, n)
	for len(b) < n {
		l := fmt.Appendf(nil, "%08d ", len(b)) // 9 bytes
		l = append(l, alphabet[:64-len(l)-1]...)
		l = append(l, '\n')
		b = append(b, l[:min(len(l), n-len(b))]...)
	}
	return b
}

const indexPage = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>wireplay: a web server on raw sockets</title>
<h1>A web server on raw sockets</h1>
<p>This page was sent by wireplay's <code>rawhttp</code> server: Go code that reads the request
line and header lines off a TCP connection by hand and writes the response's bytes itself, with
a <code>Content-Length</code> so the client knows where the body ends.</p>
<p>HTTP/1.0 closes the connection after each response unless the client sends
<code>Connection: keep-alive</code>; HTTP/1.1 keeps it open unless one side sends
<code>Connection: close</code>. Requests sent back to back on one connection (pipelining) are
answered in order. A client that sends its request too slowly gets <code>408</code>.</p>
<ul>
<li><a href="/echo">/echo</a>: your request, exactly as this server read it</li>
<li><a href="/bytes?n=100">/bytes?n=100</a>: 100 bytes of text</li>
</ul>
<p>Try <code>curl -v http://HOST:PORT/echo</code>, <code>curl -v --http1.0 …</code>, or
two URLs in one <code>curl -v</code> and look for "Re-using existing connection".</p>
</html>
`
