package rawhttp

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	lim := Limits{MaxLineBytes: 64, MaxHeaderBytes: 128, MaxHeaders: 4, MaxBodyBytes: 16}
	long := strings.Repeat("a", 80)
	for _, tc := range []struct {
		name, in string
		status   int // 0: parsed
		check    func(t *testing.T, r *Request)
	}{
		{name: "1.1 GET", in: "GET /echo?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n", check: func(t *testing.T, r *Request) {
			if r.Method != "GET" || r.Path != "/echo" || r.Query.Get("x") != "1" || r.Proto() != "HTTP/1.1" || r.Get("user-agent") != "t" || !r.KeepAlive() {
				t.Errorf("%+v", r)
			}
		}},
		{name: "bare LF", in: "GET / HTTP/1.1\nHost: h\n\n", check: func(t *testing.T, r *Request) {
			if r.Path != "/" {
				t.Errorf("%+v", r)
			}
		}},
		{name: "empty line before", in: "\r\nGET / HTTP/1.0\r\n\r\n", check: func(t *testing.T, r *Request) {
			if r.KeepAlive() {
				t.Error("1.0 without keep-alive kept alive")
			}
		}},
		{name: "1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", check: func(t *testing.T, r *Request) {
			if !r.KeepAlive() {
				t.Error("1.0 keep-alive not kept alive")
			}
		}},
		{name: "1.1 close", in: "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", check: func(t *testing.T, r *Request) {
			if r.KeepAlive() {
				t.Error("Connection: close kept alive")
			}
		}},
		{name: "body", in: "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET", check: func(t *testing.T, r *Request) {
			if string(r.Body) != "hello" {
				t.Errorf("body %q", r.Body)
			}
		}},
		{name: "value whitespace trimmed", in: "GET / HTTP/1.1\r\nHost:   h \t\r\n\r\n", check: func(t *testing.T, r *Request) {
			if r.Get("Host") != "h" {
				t.Errorf("Host %q", r.Get("Host"))
			}
		}},
		{name: "no host in 1.1", in: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two spaces", in: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "no version", in: "GET /\r\n\r\n", status: 400},
		{name: "bad method", in: "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "bad version", in: "GET / HTTP/1.x\r\nHost: h\r\n\r\n", status: 400},
		{name: "lowercase version", in: "GET / http/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "HTTP/2.0", in: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", status: 505},
		{name: "absolute-form target", in: "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "request line too long", in: "GET /" + long + " HTTP/1.1\r\n\r\n", status: 414},
		{name: "header line too long", in: "GET / HTTP/1.1\r\nHost: h\r\nX: " + long + "\r\n\r\n", status: 431},
		{name: "too many headers", in: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", status: 431},
		{name: "headers too large", in: "GET / HTTP/1.1\r\nHost: h\r\nA: " + long[:50] + "\r\nB: " + long[:50] + "\r\nC: " + long[:50] + "\r\n\r\n", status: 431},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : h\r\n\r\n", status: 400},
		{name: "no colon", in: "GET / HTTP/1.1\r\nHost h\r\n\r\n", status: 400},
		{name: "folded line", in: "GET / HTTP/1.1\r\nHost: h\r\n x\r\n\r\n", status: 400},
		{name: "control char", in: "GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", status: 400},
		{name: "chunked body", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501},
		{name: "TE and CL", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", status: 400},
		{name: "CL twice differing", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", status: 400},
		{name: "CL not a number", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", status: 400},
		{name: "unknown expectation", in: "POST / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", status: 417},
		{name: "body too large", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", status: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ReadRequest(bufio.NewReaderSize(strings.NewReader(tc.in), 16), lim)
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if string(r.Head) != tc.in[:len(r.Head)] {
					t.Errorf("Head %q is not the start of the input", r.Head)
				}
				tc.check(t, r)
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Status != tc.status {
				t.Fatalf("got %v, want status %d", err, tc.status)
			}
			if perr.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

// TestReadRequestCut: a connection that ends before the head does is not a request to answer.
func TestReadRequestCut(t *testing.T) {
	for _, in := range []string{"", "GET / HT", "GET / HTTP/1.1\r\nHost: h\r\n", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab"} {
		_, err := ReadRequest(bufio.NewReader(strings.NewReader(in)), Limits{})
		var perr *Error
		if errors.As(err, &perr) || (err != io.EOF && err != io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v, want EOF or unexpected EOF", in, err)
		}
	}
}

func TestFiller(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 1000} {
		b := Filler(n)
		if len(b) != n {
			t.Errorf("Filler(%d) is %d bytes", n, len(b))
		}
	}
	if b := Filler(128); string(b[64:73]) != "00000064 " {
		t.Errorf("second line starts %q", b[64:73])
	}
}
