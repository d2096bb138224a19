package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/server"
)

// TestHTTPLessonEndpoint: with HTTPLessonAddr the server runs the http lesson's hand-written
// server, and Go's client reuses its connection for a second HTTP/1.1 request; without it
// nothing listens.
func TestHTTPLessonEndpoint(t *testing.T) {
	s := startServer(t, server.Config{HTTPLessonAddr: "127.0.0.1:0"})
	addr := s.Addrs().HTTPLesson
	if addr == "" {
		t.Fatal("no http lesson address")
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var reused []bool
	for _, path := range []string{"/", "/echo"} {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(testCtx(t, 10*time.Second), trace), "GET", "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Server") != "wireplay-rawhttp" {
			t.Errorf("%s: %d, Server %q", path, resp.StatusCode, resp.Header.Get("Server"))
		}
		if path == "/echo" && !strings.HasPrefix(string(b), "GET /echo HTTP/1.1\r\n") {
			t.Errorf("/echo: %q", b)
		}
	}
	if len(reused) != 2 || reused[0] || !reused[1] {
		t.Errorf("Reused %v, want [false true]", reused)
	}
	if off := startServer(t, server.Config{}); off.Addrs().HTTPLesson != "" {
		t.Errorf("http lesson served at %s without HTTPLessonAddr", off.Addrs().HTTPLesson)
	}
}

// TestHTTPLessonExposure: like the echo endpoints, the http lesson's server listens beyond
// loopback only with --public --public-endpoints.
func TestHTTPLessonExposure(t *testing.T) {
	c := server.Config{HTTPLessonAddr: "0.0.0.0:7006"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--http-lesson-addr") {
		t.Errorf("Validate: %v, want a refusal naming --http-lesson-addr", err)
	}
}

// TestHTTPLessonPerIPCap: the http lesson's server holds one client to --max-conns-per-ip like
// the echo endpoints; one more connection is answered 503 with the reason.
func TestHTTPLessonPerIPCap(t *testing.T) {
	s := startServer(t, server.Config{HTTPLessonAddr: "127.0.0.1:0", MaxConnsPerIP: 1})
	addr := s.Addrs().HTTPLesson
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(first, "GET /bytes?n=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(first)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first connection: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(second), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(b), "too many connections from 127.0.0.1") {
		t.Errorf("second connection: %d %q", resp.StatusCode, b)
	}
}
