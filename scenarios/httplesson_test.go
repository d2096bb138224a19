package scenarios

import (
	"context"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestHTTPDefault checks the lesson's claim from the run's counts: HTTP/1.0 and Connection: close
// open one connection (one SYN) per request and net/http never reports Reused; HTTP/1.1 kept
// alive opens one and reports Reused for every request after the first; pipelined requests share
// one connection and are answered in order; the slow client is answered 408 while the other
// client's requests are all served; and the bytes on the wire say so in text.
func TestHTTPDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := runDefault(t, "http")
	n := mvMetric(t, r, hlKeepAlive, "requests")
	if n != 4 {
		t.Fatalf("%g requests, want the default 4", n)
	}
	for _, key := range []string{hlHTTP10, hlClose} {
		for _, m := range []string{"connections", "syns", "client_dials"} {
			if v := mvMetric(t, r, key, m); v != n {
				t.Errorf("%s: %s %g, want one per request (%g)", key, m, v, n)
			}
		}
		if v := mvMetric(t, r, key, "reused"); v != 0 {
			t.Errorf("%s: Reused %g times, want never", key, v)
		}
	}
	for _, key := range []string{hlKeepAlive, hlPipelined} {
		for _, m := range []string{"connections", "syns"} {
			if v := mvMetric(t, r, key, m); v != 1 {
				t.Errorf("%s: %s %g, want 1", key, m, v)
			}
		}
		if v := mvMetric(t, r, key, "server_reused"); v != n-1 {
			t.Errorf("%s: the server served %g requests on a kept connection, want %g", key, v, n-1)
		}
	}
	if v := mvMetric(t, r, hlKeepAlive, "reused"); v != n-1 {
		t.Errorf("keep-alive: net/http reported Reused %g times, want %g", v, n-1)
	}
	// Pipelined: every request on the same server connection, answered in the order sent.
	each := r.Tables[1]
	var seqs []string
	for _, row := range each.Rows {
		if row[0] == hlPipelined {
			if row[2] != "1" {
				t.Errorf("pipelined request %s on connection %s", row[1], row[2])
			}
			seqs = append(seqs, row[3])
		}
	}
	if strings.Join(seqs, ",") != "1,2,3,4" {
		t.Errorf("pipelined requests answered as requests %v of the connection, want 1,2,3,4", seqs)
	}
	if v := mvMetric(t, r, hlSlow, "status"); v != 408 {
		t.Errorf("slow client answered %g, want 408", v)
	}
	if v := mvMetric(t, r, hlSlow, "timed_out"); v != 1 {
		t.Errorf("server timed out %g requests, want 1", v)
	}
	if v := mvMetric(t, r, hlSlow, "other_requests_served_meanwhile"); v != n {
		t.Errorf("%g of the other client's %g requests served before the slow one's 408", v, n)
	}
	// The bytes on the wire, as text.
	wire := r.Tables[2]
	found := map[string]bool{}
	for _, row := range wire.Rows {
		key, dir, text := row[0], row[3], row[6]
		switch {
		case key == hlHTTP10 && strings.HasPrefix(dir, "client") && strings.HasPrefix(text, `GET /bytes?n=200 HTTP/1.0\r\n`):
			found["1.0 request line"] = true
		case key == hlHTTP10 && strings.HasPrefix(dir, "server") && strings.Contains(text, `Content-Length: 200\r\nConnection: close\r\n\r\n`):
			found["1.0 response closes"] = true
		case key == hlKeepAlive && strings.HasPrefix(dir, "server"):
			if strings.Contains(text, "Connection: close") {
				t.Errorf("kept-alive response says Connection: close: %s", text)
			}
			found["1.1 response"] = true
		case key == hlSlow && strings.HasPrefix(dir, "server") && strings.HasPrefix(text, `HTTP/1.1 408 Request Timeout\r\n`):
			found["408"] = true
		}
	}
	if len(found) != 4 {
		t.Errorf("wire table shows only %v", found)
	}
	for _, want := range []string{"HTTP/1.0: the server accepted 4 connections (4 SYNs", "HTTP/1.1 kept alive: the server accepted 1 connection (1 SYN", "Reused for 3 of 4", "saved 3 TCP handshakes", "answered 408 Request Timeout"} {
		if !strings.Contains(r.Conclusion, want) {
			t.Errorf("conclusion lacks %q", want)
		}
	}
}

// TestHTTPOneRequest: with one request per case there is nothing to reuse, and the conclusion
// says no handshake was saved rather than claiming one.
func TestHTTPOneRequest(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("http"), Options{Seed: 1, Params: map[string]string{"requests": "1", "rtt": "10ms", "header_timeout": "200ms"}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	t.Log(r.Conclusion)
	for _, key := range []string{hlHTTP10, hlKeepAlive, hlClose, hlPipelined} {
		if v := mvMetric(t, r, key, "connections"); v != 1 {
			t.Errorf("%s: %g connections, want 1", key, v)
		}
	}
	if v := mvMetric(t, r, hlKeepAlive, "reused"); v != 0 {
		t.Errorf("Reused %g with one request", v)
	}
	if !strings.Contains(r.Conclusion, "saved no handshake") {
		t.Errorf("conclusion: %s", r.Conclusion)
	}
}

// TestHTTP10Conn: only the version at the end of a request line is rewritten.
func TestHTTP10Conn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		c := &http10Conn{Conn: a}
		c.Write([]byte("GET / HTTP/1.1\r\nX: HTTP/1.1\r\n\r\n"))
	}()
	buf := make([]byte, 64)
	n, _ := b.Read(buf)
	if got := string(buf[:n]); got != "GET / HTTP/1.0\r\nX: HTTP/1.1\r\n\r\n" {
		t.Errorf("first write became %q", got)
	}
}
