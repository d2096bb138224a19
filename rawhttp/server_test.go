package rawhttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// start serves cfg on an ephemeral loopback port until the test ends.
func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// get does one GET with client and reports whether httptrace saw the connection reused.
func get(t *testing.T, client *http.Client, url string, close bool) (reused bool, body string) {
	t.Helper()
	var got bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { got = info.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = close
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(b)) {
		t.Fatalf("status %d, Content-Length %d, body %d bytes", resp.StatusCode, resp.ContentLength, len(b))
	}
	return got, string(b)
}

// TestNetHTTPReuse: Go's net/http client reuses the connection for its second HTTP/1.1 request
// (httptrace's GotConnInfo.Reused) and the server accepted one connection; with Connection: close
// neither request reuses and the server accepted two.
func TestNetHTTPReuse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		close   bool
		reused  []bool
		accepts uint64
	}{
		{"keep-alive", false, []bool{false, true, true}, 1},
		{"Connection: close", true, []bool{false, false, false}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := start(t, Config{})
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			for i, want := range tc.reused {
				reused, body := get(t, client, "http://"+addr+"/bytes?n=100", tc.close)
				if reused != want {
					t.Errorf("request %d: Reused %v, want %v", i+1, reused, want)
				}
				if body != string(Filler(100)) {
					t.Errorf("body %q", body)
				}
			}
			tr.CloseIdleConnections()
			if st := s.Stats(); st.Accepted != tc.accepts || st.Requests != 3 {
				t.Errorf("stats %+v, want %d accepts and 3 requests", st, tc.accepts)
			}
		})
	}
}

// rawConn dials addr and closes the conn at the test's end.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResp(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// expectEOF checks the server closed the connection after its last response.
func expectEOF(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if b, err := br.ReadByte(); err != io.EOF {
		t.Errorf("read %q, %v after the last response: want EOF", b, err)
	}
}

// TestHTTP10: a 1.0 request is answered and its connection closed; with Connection: keep-alive
// it stays open for the next one, and the response says so.
func TestHTTP10(t *testing.T) {
	s, addr := start(t, Config{})
	c, br := rawConn(t, addr)
	io.WriteString(c, "GET /bytes?n=5 HTTP/1.0\r\n\r\n")
	resp, body := readResp(t, br)
	if resp.StatusCode != 200 || body != "00000" || !resp.Close {
		t.Errorf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
	}
	expectEOF(t, br)

	c, br = rawConn(t, addr)
	io.WriteString(c, "GET /bytes?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, _ = readResp(t, br)
	if resp.Header.Get("Connection") != "keep-alive" {
		t.Errorf("Connection %q, want keep-alive", resp.Header.Get("Connection"))
	}
	io.WriteString(c, "GET /bytes?n=3 HTTP/1.0\r\n\r\n")
	if _, body := readResp(t, br); body != "000" {
		t.Errorf("second body %q", body)
	}
	expectEOF(t, br)
	if st := s.Stats(); st.Accepted != 2 || st.Requests != 3 || st.Reused != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestPipelining sends three requests in one write: they are answered in order on one
// connection, and the last one's Connection: close ends it.
func TestPipelining(t *testing.T) {
	var mu sync.Mutex
	var order []string
	s, addr := start(t, Config{OnRequest: func(x Exchange) {
		mu.Lock()
		order = append(order, x.Target)
		mu.Unlock()
	}})
	c, br := rawConn(t, addr)
	reqs := "GET /bytes?n=1 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"HEAD /bytes?n=7 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
	io.WriteString(c, reqs)
	if _, body := readResp(t, br); body != "0" {
		t.Errorf("1st body %q", body)
	}
	// http.ReadResponse would wait for a HEAD response's body: read its head by hand.
	head := readHead(t, br)
	if !strings.Contains(head, "Content-Length: 7\r\n") {
		t.Errorf("HEAD response %q: want GET's Content-Length 7", head)
	}
	resp, body := readResp(t, br)
	if !resp.Close || body != "GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" {
		t.Errorf("3rd: close %v body %q", resp.Close, body)
	}
	expectEOF(t, br)
	st := s.Stats()
	if st.Accepted != 1 || st.Requests != 3 || st.Reused != 2 {
		t.Errorf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, " ") != "/bytes?n=1 /bytes?n=7 /echo" {
		t.Errorf("answered in order %v", order)
	}
}

func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(l)
		if l == "\r\n" {
			return b.String()
		}
	}
}

// TestMalformedClosesOnlyItsConn: a bad request gets its status and a closed connection, while
// another client's kept-alive connection goes on serving.
func TestMalformedClosesOnlyItsConn(t *testing.T) {
	for _, tc := range []struct {
		in     string
		status int
		closes bool // a refused request closes; a well-formed one answered 4xx does not
	}{
		{"GARBAGE\r\n\r\n", 400, true},
		{"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505, true},
		{"GET / HTTP/1.1\r\n\r\n", 400, true},
		{"GET /" + strings.Repeat("x", 9000) + " HTTP/1.1\r\n\r\n", 414, true},
		{"GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-A: b\r\n", 65) + "\r\n", 431, true},
		{"PUT / HTTP/1.1\r\nHost: h\r\n\r\n", 405, false},
		{"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", 404, false},
		{"GET /bytes?n=2000000 HTTP/1.1\r\nHost: h\r\n\r\n", 400, false},
	} {
		_, addr := start(t, Config{})
		good, gbr := rawConn(t, addr)
		io.WriteString(good, "GET /bytes?n=1 HTTP/1.1\r\nHost: h\r\n\r\n")
		readResp(t, gbr)

		bad, bbr := rawConn(t, addr)
		io.WriteString(bad, tc.in)
		resp, body := readResp(t, bbr)
		if resp.StatusCode != tc.status || body == "" {
			t.Errorf("%.40q: status %d body %q, want %d", tc.in, resp.StatusCode, body, tc.status)
		}
		if resp.Close != tc.closes {
			t.Errorf("%.40q: Connection: close %v, want %v", tc.in, resp.Close, tc.closes)
		}
		if tc.closes {
			expectEOF(t, bbr)
		}
		io.WriteString(good, "GET /bytes?n=2 HTTP/1.1\r\nHost: h\r\n\r\n")
		if _, body := readResp(t, gbr); body != "00" {
			t.Errorf("the other connection's next body %q", body)
		}
	}
}

// TestSlowClient: a client that sends its request a byte at a time gets 408 once HeaderTimeout
// has passed since its first byte, and while it dribbles another client is served.
func TestSlowClient(t *testing.T) {
	s, addr := start(t, Config{HeaderTimeout: 300 * time.Millisecond})
	slow, sbr := rawConn(t, addr)
	req := "GET /echo HTTP/1.1\r\nHost: slow.example\r\nUser-Agent: one-byte-at-a-time\r\n\r\n"
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := range len(req) {
			if _, err := slow.Write([]byte{req[i]}); err != nil {
				return
			}
			time.Sleep(30 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { slow.Close(); <-writerDone })
	time.Sleep(50 * time.Millisecond) // the slow client's first bytes are in
	fastServed := 0
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for range 3 {
		get(t, &http.Client{Transport: tr}, "http://"+addr+"/bytes?n=10", false)
		fastServed++
	}
	if sbr.Buffered() > 0 {
		t.Fatal("the slow client was answered before the fast one was served")
	}
	resp, _ := readResp(t, sbr)
	if resp.StatusCode != 408 || !resp.Close {
		t.Errorf("slow client: %d close %v, want 408 and close", resp.StatusCode, resp.Close)
	}
	if st := s.Stats(); st.TimedOut != 1 || fastServed != 3 {
		t.Errorf("stats %+v, fast requests %d", st, fastServed)
	}
}

// TestIdleClose: a kept-alive connection with no next request is closed without a response.
func TestIdleClose(t *testing.T) {
	s, addr := start(t, Config{IdleTimeout: 100 * time.Millisecond})
	c, br := rawConn(t, addr)
	io.WriteString(c, "GET /bytes?n=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, br)
	expectEOF(t, br)
	if st := s.Stats(); st.IdleClose != 1 || st.TimedOut != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestTap: what the Tap saw read is what the client wrote, and what it saw written is what the
// client read, byte for byte, per connection.
func TestTap(t *testing.T) {
	var mu sync.Mutex
	seen := map[uint64]*[2]bytes.Buffer{}
	var closes []string
	_, addr := start(t, Config{
		Tap: func(conn uint64, dir Dir, b []byte) {
			mu.Lock()
			defer mu.Unlock()
			if seen[conn] == nil {
				seen[conn] = &[2]bytes.Buffer{}
			}
			seen[conn][dir].Write(b)
		},
		OnClose: func(conn uint64, n int, why string) {
			mu.Lock()
			closes = append(closes, why)
			mu.Unlock()
		},
	})
	c, _ := rawConn(t, addr)
	sent := "GET /echo HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.0\r\n\r\n"
	io.WriteString(c, sent)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(closes)
		mu.Unlock()
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[1] == nil {
		t.Fatalf("tapped connections %v", seen)
	}
	if r := seen[1][Read].String(); r != sent {
		t.Errorf("tap read %q, client sent %q", r, sent)
	}
	if w := seen[1][Written].String(); w != string(got) {
		t.Errorf("tap written %d bytes, client read %d", len(w), len(got))
	}
	if !strings.Contains(string(got), "<h1>A web server on raw sockets</h1>") {
		t.Errorf("no index page in %q", got)
	}
	if len(closes) != 1 || closes[0] != "HTTP/1.0 without keep-alive" {
		t.Errorf("closes %q", closes)
	}
}

// TestMaxConns: a connection beyond MaxConns is answered 503 and closed; the open one is served.
func TestMaxConns(t *testing.T) {
	s, addr := start(t, Config{MaxConns: 1})
	first, fbr := rawConn(t, addr)
	io.WriteString(first, "GET /bytes?n=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, fbr)
	_, br := rawConn(t, addr)
	resp, _ := readResp(t, br)
	if resp.StatusCode != 503 {
		t.Errorf("second connection: %d, want 503", resp.StatusCode)
	}
	expectEOF(t, br)
	io.WriteString(first, "GET /bytes?n=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := readResp(t, fbr); resp.StatusCode != 200 {
		t.Errorf("first connection's second request: %d", resp.StatusCode)
	}
	if st := s.Stats(); st.Accepted != 2 || st.Refused != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAdmit: a connection Admit refuses is answered 503 with its reason; an admitted one is
// released when it ends.
func TestAdmit(t *testing.T) {
	var mu sync.Mutex
	open, released := 0, make(chan struct{}, 4)
	s, addr := start(t, Config{Admit: func(net.Conn) (func(), error) {
		mu.Lock()
		defer mu.Unlock()
		if open == 1 {
			return nil, errors.New("one connection per client here")
		}
		open++
		return func() {
			mu.Lock()
			open--
			mu.Unlock()
			released <- struct{}{}
		}, nil
	}})
	first, fbr := rawConn(t, addr)
	io.WriteString(first, "GET /bytes?n=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, fbr)
	_, br := rawConn(t, addr)
	resp, body := readResp(t, br)
	if resp.StatusCode != 503 || !strings.Contains(body, "one connection per client here") {
		t.Errorf("refused connection: %d %q", resp.StatusCode, body)
	}
	first.Close()
	<-released
	c, br := rawConn(t, addr)
	io.WriteString(c, "GET /bytes?n=1 HTTP/1.0\r\n\r\n")
	if resp, _ := readResp(t, br); resp.StatusCode != 200 {
		t.Errorf("after the release: %d", resp.StatusCode)
	}
	if st := s.Stats(); st.Refused != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestExpectContinue: a client that asks "Expect: 100-continue" is told to go on before it sends
// its body, and then answered; an expectation the server does not know is refused with 417.
func TestExpectContinue(t *testing.T) {
	_, addr := start(t, Config{})
	c, br := rawConn(t, addr)
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("read %q, %v: want 100 Continue first", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q", blank)
	}
	io.WriteString(c, "hello")
	resp, body := readResp(t, br)
	if resp.StatusCode != 200 || !strings.HasSuffix(body, "\r\n\r\nhello") {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	c2, br2 := rawConn(t, addr)
	io.WriteString(c2, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: magic\r\n\r\nx")
	if resp, _ := readResp(t, br2); resp.StatusCode != 417 {
		t.Errorf("unknown expectation: %d, want 417", resp.StatusCode)
	}
}
