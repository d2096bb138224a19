package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/rawhttp"
)

func init() {
	Register(&Scenario{
		Name:    "http",
		Title:   "A web server on raw sockets",
		Summary: "a hand-written HTTP/1.x server and Go's net/http client: HTTP/1.0 vs keep-alive vs Connection: close vs pipelining, and a slow client",
		Explain: `HTTP/1.x is text on a TCP connection. The client writes a request line ("GET /bytes?n=200 HTTP/1.1"), header lines ("Host: …"), an empty line, and perhaps a body; the server writes a status line, header lines, an empty line and the body. The server here (package rawhttp) does exactly that by hand on the socket — no net/http on its side — and the table at the bottom shows what it read and wrote, as text.

Since TCP is a stream, the only way the client knows where a response ends is for the server to say: Content-Length. Every response here carries one. Without it the server would have to close the connection to mark the end, which is what HTTP/1.0 did by default: one request, one connection, one TCP handshake each. HTTP/1.0 clients could ask "Connection: keep-alive"; HTTP/1.1 made keeping the connection the default, and either side ends it by sending "Connection: close".

The client is Go's own net/http with httptrace, which says for each request whether it got a fresh connection or an idle one back (GotConnInfo.Reused). Four cases run the same requests: HTTP/1.0 (net/http always writes HTTP/1.1, so the lesson's dialer rewrites the version on the request line, nothing else), HTTP/1.1 kept alive, HTTP/1.1 with Connection: close, and pipelining — every request written at once on one socket, before any response, answered in order (net/http does not pipeline, so this one is a raw socket). Count the connections the server accepted and the SYNs on the link, and compare the time per request: a new connection costs a round trip before the request can even be sent; pipelining saves the wait for each response too.

Last, a slow client sends its request a byte at a time. A server that waited for it would hold the connection for ever (the "slowloris" attack, with thousands of them). This one gives the whole request head header_timeout from its first byte, then answers 408 and closes — and since each connection has its own goroutine and its own deadline, another client is served meanwhile.`,
		Preset: "clean",
		Params: []Param{
			{Name: "requests", Label: "requests per case", Kind: KindInt, Min: "1", Max: "20", Unit: "requests", Default: "4", Help: "requests each case sends, one after another (pipelined: all at once)"},
			{Name: "size", Label: "response body", Kind: KindInt, Min: "0", Max: "65536", Unit: "bytes", Default: "200", Help: "size of each response's body (/bytes?n=)"},
			{Name: "rtt", Label: "added round trip", Kind: KindDuration, Min: "0", Max: "500ms", Default: "40ms", Help: "round-trip time added to the preset's (half each way)"},
			{Name: "header_timeout", Label: "request head timeout", Kind: KindDuration, Min: "100ms", Max: "3s", Default: "500ms", Help: "how long the server gives a request from its first byte to its end before answering 408"},
			{Name: "slow_gap", Label: "slow client's gap between bytes", Kind: KindDuration, Min: "1ms", Max: "1s", Default: "25ms", Help: "the slow client sends one byte of its request every slow_gap"},
		},
		Run: runHTTPLesson,
	})
}

// hlCase keys, also the metrics' Transport.
const (
	hlHTTP10    = "http/1.0"
	hlKeepAlive = "http/1.1"
	hlClose     = "http/1.1 close"
	hlPipelined = "pipelined"
	hlSlow      = "slow client"
)

// hlChunk is what one read or write of the server's moved.
type hlChunk struct {
	conn uint64
	dir  rawhttp.Dir
	at   time.Duration // since the case began
	b    []byte
}

// hlReq is one request of a case, as the client saw it and the server logged it.
type hlReq struct {
	reused   bool // httptrace's GotConnInfo.Reused (net/http cases)
	status   int
	dur      time.Duration // from the request's start to its body read
	end      time.Duration // since the case began
	conn     uint64        // the server's connection number
	seqOnCon int           // the request's number on that connection
}

// hlCase is one case: its own server on a port of its own, so its connections and SYNs are
// counted apart.
type hlCase struct {
	key   string
	port  uint16
	start time.Time
	srv   *rawhttp.Server
	serve chan error

	mu     sync.Mutex
	chunks []hlChunk
	xs     []rawhttp.Exchange
	reqs   []hlReq
	dials  int
	total  time.Duration
	syns   int
	stats  rawhttp.Stats

	// The slow client's.
	slowStatus int
	slowSent   int           // bytes it had written when the answer came
	slowAt     time.Duration // when its answer came, since the case began
	slowErr    string        // why no answer was read, when none was
}

type hlRun struct {
	env                *Env
	l                  *link.Link
	n, size            int
	rtt, headerTO, gap time.Duration
	cases              []*hlCase
}

func runHTTPLesson(ctx context.Context, env *Env) (*Result, error) {
	extra := env.Duration("rtt")
	st := env.Settings
	st.ClientToServer.Delay += extra / 2
	st.ServerToClient.Delay += extra - extra/2
	if err := env.Link.Apply(st); err != nil {
		return nil, err
	}
	r := &hlRun{env: env, l: env.Link, n: env.Int("requests"), size: env.Int("size"),
		rtt: st.ClientToServer.Delay + st.ServerToClient.Delay, headerTO: env.Duration("header_timeout"), gap: env.Duration("slow_gap")}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(4*r.n+8)*r.rtt)
	defer cancel()
	for _, key := range []string{hlHTTP10, hlKeepAlive, hlClose, hlPipelined, hlSlow} {
		c, err := r.startCase(ctx, key)
		if err != nil {
			return nil, err
		}
		r.cases = append(r.cases, c)
		switch key {
		case hlPipelined:
			err = r.pipelined(ctx, c)
		case hlSlow:
			err = r.slow(ctx, c)
		default:
			err = r.netHTTP(ctx, c, key)
		}
		c.total = time.Since(c.start)
		r.stopCase(c)
		if err != nil {
			return nil, fmt.Errorf("http %s: %w", key, err)
		}
	}
	r.countSYNs()
	return r.report(), nil
}

// startCase listens on a fresh port of the server host and serves rawhttp there, recording what
// each connection read and wrote and each exchange.
func (r *hlRun) startCase(ctx context.Context, key string) (*hlCase, error) {
	ln, err := r.l.Server().Listen(ctx, "tcp", net.JoinHostPort(r.l.ServerAddr().String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	c := &hlCase{key: key, port: uint16(ln.Addr().(*net.TCPAddr).Port), serve: make(chan error, 1)}
	c.start = time.Now()
	c.srv = rawhttp.New(rawhttp.Config{
		HeaderTimeout: r.headerTO,
		IdleTimeout:   10 * time.Second,
		MaxBytes:      64 << 10,
		Tap: func(conn uint64, dir rawhttp.Dir, b []byte) {
			c.mu.Lock()
			c.chunks = append(c.chunks, hlChunk{conn: conn, dir: dir, at: time.Since(c.start), b: bytes.Clone(b)})
			c.mu.Unlock()
		},
		OnRequest: func(x rawhttp.Exchange) {
			c.mu.Lock()
			c.xs = append(c.xs, x)
			c.mu.Unlock()
		},
	})
	go func() { c.serve <- c.srv.Serve(ln) }()
	return c, nil
}

func (r *hlRun) stopCase(c *hlCase) {
	c.srv.Close()
	<-c.serve
	c.stats = c.srv.Stats()
}

// http10Conn makes net/http speak HTTP/1.0: it rewrites the version at the end of each request
// line it writes ("GET / HTTP/1.1" → "GET / HTTP/1.0") and changes nothing else. net/http
// writes each request's head in one Write, and these requests have no body.
type http10Conn struct{ net.Conn }

func (c *http10Conn) Write(b []byte) (int, error) {
	if i := bytes.IndexByte(b, '\n'); i >= len(" HTTP/1.1\r") && bytes.HasSuffix(b[:i+1], []byte(" HTTP/1.1\r\n")) {
		b = bytes.Clone(b)
		b[i-2] = '0'
	}
	return c.Conn.Write(b)
}

// netHTTP sends r.n GETs one after another with one net/http client, tracing each.
func (r *hlRun) netHTTP(ctx context.Context, c *hlCase, key string) error {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.mu.Lock()
			c.dials++
			c.mu.Unlock()
			conn, err := r.l.Client().Dial(ctx, "tcp", addr)
			if err != nil || key != hlHTTP10 {
				return conn, err
			}
			return &http10Conn{Conn: conn}, nil
		},
		MaxIdleConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := fmt.Sprintf("http://%s/bytes?n=%d", net.JoinHostPort(r.l.ServerAddr().String(), strconv.Itoa(int(c.port))), r.size)
	for range r.n {
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", url, nil)
		if err != nil {
			return err
		}
		req.Close = key == hlClose
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		c.reqs = append(c.reqs, hlReq{reused: reused, status: resp.StatusCode, dur: time.Since(t0), end: time.Since(c.start)})
	}
	return nil
}

// pipelined writes r.n requests on one raw connection at once, the last with Connection: close,
// then reads the responses with net/http's parser, in order.
func (r *hlRun) pipelined(ctx context.Context, c *hlCase) error {
	addr := net.JoinHostPort(r.l.ServerAddr().String(), strconv.Itoa(int(c.port)))
	t0 := time.Now()
	conn, err := r.l.Client().Dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	c.dials++
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var reqs bytes.Buffer
	for i := range r.n {
		fmt.Fprintf(&reqs, "GET /bytes?n=%d HTTP/1.1\r\nHost: %s\r\n", r.size, addr)
		if i == r.n-1 {
			reqs.WriteString("Connection: close\r\n")
		}
		reqs.WriteString("\r\n")
	}
	if _, err := conn.Write(reqs.Bytes()); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(conn)
	for range r.n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		c.reqs = append(c.reqs, hlReq{status: resp.StatusCode, dur: time.Since(t0), end: time.Since(c.start)})
	}
	return nil
}

// slow sends a request one byte every r.gap on one connection while a net/http client sends r.n
// requests on another; the slow one should get 408 after r.headerTO.
func (r *hlRun) slow(ctx context.Context, c *hlCase) error {
	addr := net.JoinHostPort(r.l.ServerAddr().String(), strconv.Itoa(int(c.port)))
	conn, err := r.l.Client().Dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	c.dials++
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req := fmt.Sprintf("GET /echo HTTP/1.1\r\nHost: %s\r\nUser-Agent: one-byte-at-a-time\r\nAccept: */*\r\n\r\n", addr)
	var sent sync.WaitGroup
	var mu sync.Mutex
	written := 0
	answered := make(chan struct{})
	sent.Go(func() {
		for i := range len(req) {
			if _, err := conn.Write([]byte{req[i]}); err != nil {
				return
			}
			mu.Lock()
			written++
			mu.Unlock()
			select {
			case <-time.After(r.gap):
			case <-answered:
				return
			}
		}
	})
	defer sent.Wait()
	defer conn.Close() // before waiting for the writer: a write blocked on a full window returns

	// Another client, meanwhile.
	fast := make(chan error, 1)
	go func() { fast <- r.netHTTP(ctx, c, hlSlow) }()

	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(answered)
	mu.Lock()
	c.slowSent, c.slowAt = written, time.Since(c.start)
	mu.Unlock()
	if err != nil {
		// A reset that overtook the answer (the server closed with bytes of ours unread) is an
		// outcome of the run, not a failure of it; ctx's end is.
		if ctx.Err() != nil {
			<-fast
			return fmt.Errorf("slow client: read response: %w", err)
		}
		c.slowErr = err.Error()
		return <-fast
	}
	resp.Body.Close()
	c.slowStatus = resp.StatusCode
	return <-fast
}

// countSYNs counts, for each case's port, the SYNs the client sent: the TCP handshakes begun.
func (r *hlRun) countSYNs() {
	byPort := map[uint16]*hlCase{}
	for _, c := range r.cases {
		byPort[c.port] = c
	}
	for _, p := range r.l.Packets() {
		d := p.Decoded
		if d.Proto != "tcp" || p.Dir != link.ClientToServer || d.Flags&link.FlagSYN == 0 || d.Flags&link.FlagACK != 0 {
			continue
		}
		if c := byPort[d.Dst.Port()]; c != nil {
			c.syns++
		}
	}
}

// matchExchanges gives each of the case's client requests the server's connection and request
// number. Requests on one connection are answered in order and a case's clients send one
// request at a time each (pipelining: on one connection), so the server's 200s, in order, are
// the client's requests in order; the slow client's refusal is not among them.
func (c *hlCase) matchExchanges() {
	var ok []rawhttp.Exchange
	for _, x := range c.xs {
		if x.Status == 200 {
			ok = append(ok, x)
		}
	}
	for i := range c.reqs {
		if i < len(ok) {
			c.reqs[i].conn, c.reqs[i].seqOnCon = ok[i].Conn, ok[i].Seq
		}
	}
}

func (c *hlCase) reusedCount() (n int) {
	for _, q := range c.reqs {
		if q.reused {
			n++
		}
	}
	return n
}

func (c *hlCase) msPerRequest() float64 {
	if c.key == hlPipelined {
		if len(c.reqs) == 0 {
			return 0
		}
		return millis(c.reqs[len(c.reqs)-1].dur) / float64(len(c.reqs))
	}
	var sum time.Duration
	for _, q := range c.reqs {
		sum += q.dur
	}
	if len(c.reqs) == 0 {
		return 0
	}
	return millis(sum) / float64(len(c.reqs))
}

// accepted is the connections the case's server accepted.
func (c *hlCase) accepted() int { return int(c.stats.Accepted) }

func (r *hlRun) find(key string) *hlCase {
	for _, c := range r.cases {
		if c.key == key {
			return c
		}
	}
	return nil
}

func (r *hlRun) report() *Result {
	res := &Result{}
	sum := Table{Title: "Each case", Columns: []string{"case", "requests", "connections accepted", "SYNs sent (TCP handshakes begun)", "Reused (httptrace)", "handshakes saved", "ms per request", "total ms"}}
	each := Table{Title: "Each request", Columns: []string{"case", "#", "server's connection", "request # on it", "Reused", "status", "ms"}}
	for _, c := range r.cases {
		c.matchExchanges()
		if c.key == hlSlow {
			continue
		}
		reused := fmt.Sprint(c.reusedCount())
		if c.key == hlPipelined {
			reused = "— (raw socket)"
		}
		sum.Rows = append(sum.Rows, []string{c.key, fmt.Sprint(len(c.reqs)), fmt.Sprint(c.accepted()), fmt.Sprint(c.syns), reused,
			fmt.Sprint(len(c.reqs) - c.accepted()), fmt.Sprintf("%.1f", c.msPerRequest()), fmt.Sprintf("%.0f", millis(c.total))})
		s := Series{Chart: "Time of each request", Name: c.key, XLabel: "request #", YLabel: "ms (pipelined: since the connect began)", Style: "dots"}
		for i, q := range c.reqs {
			reused := fmt.Sprint(q.reused)
			if c.key == hlPipelined {
				reused = "—"
			}
			each.Rows = append(each.Rows, []string{c.key, fmt.Sprint(i + 1), fmt.Sprint(q.conn), fmt.Sprint(q.seqOnCon), reused, fmt.Sprint(q.status), fmt.Sprintf("%.1f", millis(q.dur))})
			s.Points = append(s.Points, Point{X: float64(i + 1), Y: millis(q.dur)})
		}
		res.Series = append(res.Series, s)
		res.Metrics = append(res.Metrics,
			Metric{Transport: c.key, Name: "requests", Unit: "count", Value: float64(len(c.reqs))},
			Metric{Transport: c.key, Name: "connections", Unit: "count", Value: float64(c.accepted())},
			Metric{Transport: c.key, Name: "client_dials", Unit: "count", Value: float64(c.dials)},
			Metric{Transport: c.key, Name: "syns", Unit: "count", Value: float64(c.syns)},
			Metric{Transport: c.key, Name: "server_reused", Unit: "count", Value: float64(c.stats.Reused)},
			Metric{Transport: c.key, Name: "ms_per_request", Unit: "ms", Value: hundredths(c.msPerRequest())},
		)
		if c.key != hlPipelined {
			res.Metrics = append(res.Metrics, Metric{Transport: c.key, Name: "reused", Unit: "count", Value: float64(c.reusedCount())})
		}
	}
	slow := r.find(hlSlow)
	fastBefore := 0
	for _, q := range slow.reqs {
		if q.status == 200 && q.end < slow.slowAt {
			fastBefore++
		}
	}
	res.Metrics = append(res.Metrics,
		Metric{Transport: hlSlow, Name: "status", Unit: "code", Value: float64(slow.slowStatus)},
		Metric{Transport: hlSlow, Name: "bytes_sent_before_answer", Unit: "bytes", Value: float64(slow.slowSent)},
		Metric{Transport: hlSlow, Name: "answered_after_ms", Unit: "ms", Value: hundredths(millis(slow.slowAt))},
		Metric{Transport: hlSlow, Name: "timed_out", Unit: "count", Value: float64(slow.stats.TimedOut)},
		Metric{Transport: hlSlow, Name: "other_requests_served_meanwhile", Unit: "count", Value: float64(fastBefore)},
		Metric{Name: "rtt_ms", Unit: "ms", Value: millis(r.rtt)},
	)
	res.Tables = []Table{sum, each, r.wireTable()}
	res.Conclusion = r.conclusion(fastBefore)
	return res
}

// hlWireRows is how many rows of the wire table a case gets: two exchanges (pipelined: the
// batch of requests and up to five responses).
const hlWireRows = 4

// wireTable shows the bytes the server read and wrote on the first connection of each case (for
// the slow client, its connection), its first few reads and writes (hlWireRows). Consecutive reads are
// merged into one row that says how many calls returned them (the slow client's byte-by-byte
// request); each write is a row of its own (one per response).
func (r *hlRun) wireTable() Table {
	t := Table{Title: "Bytes on the wire, as the server read and wrote them (first connection of each case)",
		Columns: []string{"case", "connection", "at ms", "direction", "bytes", "calls", "text"}}
	for _, c := range r.cases {
		c.mu.Lock()
		conn := uint64(0)
		if len(c.chunks) > 0 {
			conn = c.chunks[0].conn
		}
		if c.key == hlSlow {
			// The slow client's connection is the one answered 408.
			for _, x := range c.xs {
				if x.Status == 408 {
					conn = x.Conn
				}
			}
		}
		var rows []hlChunk
		var calls []int
		for _, ch := range c.chunks {
			if ch.conn != conn {
				continue
			}
			if last := len(rows) - 1; last >= 0 && ch.dir == rawhttp.Read && rows[last].dir == rawhttp.Read {
				rows[last].b = append(rows[last].b, ch.b...)
				calls[last]++
				continue
			}
			rows = append(rows, hlChunk{conn: ch.conn, dir: ch.dir, at: ch.at, b: bytes.Clone(ch.b)})
			calls = append(calls, 1)
		}
		c.mu.Unlock()
		limit := hlWireRows
		if c.key == hlPipelined {
			limit = min(1+r.n, 6)
		}
		for i, row := range rows {
			if i == limit {
				t.Rows = append(t.Rows, []string{c.key, fmt.Sprint(conn), "", "", "", "", fmt.Sprintf("… %d more reads and writes", len(rows)-i)})
				break
			}
			dir := "client → server (read)"
			if row.dir == rawhttp.Written {
				dir = "server → client (written)"
			}
			t.Rows = append(t.Rows, []string{c.key, fmt.Sprint(row.conn), fmt.Sprintf("%.1f", millis(row.at)), dir,
				fmt.Sprint(len(row.b)), fmt.Sprint(calls[i]), wireText(row.b, 240)})
		}
	}
	return t
}

// wireText shows b as text with its line ends visible (\r\n), at most max bytes of it.
func wireText(b []byte, max int) string {
	more := ""
	if len(b) > max {
		more = fmt.Sprintf("… (%d more bytes)", len(b)-max)
		b = b[:max]
	}
	var s strings.Builder
	for _, c := range b {
		switch {
		case c == '\r':
			s.WriteString(`\r`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\t':
			s.WriteString(`\t`)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&s, `\x%02x`, c)
		default:
			s.WriteByte(c)
		}
	}
	return s.String() + more
}

func (r *hlRun) conclusion(fastBefore int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in each case, one round trip being %.0f ms. ", holPlural(r.n, "request"), millis(r.rtt))
	for _, key := range []string{hlHTTP10, hlKeepAlive, hlClose} {
		c := r.find(key)
		what := map[string]string{hlHTTP10: "HTTP/1.0", hlKeepAlive: "HTTP/1.1 kept alive", hlClose: "HTTP/1.1 with Connection: close"}[key]
		fmt.Fprintf(&b, "%s: the server accepted %s (%s on the link), net/http reported Reused for %d of %d requests, %.1f ms a request%s. ",
			what, holPlural(c.accepted(), "connection"), holPlural(c.syns, "SYN"), c.reusedCount(), len(c.reqs), c.msPerRequest(), r.inRTTs(c.msPerRequest()))
	}
	ka, h10 := r.find(hlKeepAlive), r.find(hlHTTP10)
	if saved := h10.accepted() - ka.accepted(); saved > 0 {
		fmt.Fprintf(&b, "Keeping the connection saved %s and %.1f ms a request over HTTP/1.0. ", holPlural(saved, "TCP handshake"), h10.msPerRequest()-ka.msPerRequest())
	} else {
		fmt.Fprintf(&b, "Keeping the connection saved no handshake here (one request: there is no second to reuse it). ")
	}
	p := r.find(hlPipelined)
	if len(p.reqs) > 0 {
		last := millis(p.reqs[len(p.reqs)-1].dur)
		fmt.Fprintf(&b, "Pipelined, the %s went out before the first response over %s and were answered in order; the last response was in after %.1f ms%s, the connect included, %.1f ms a request, against %.1f ms in all kept alive one at a time. ",
			holPlural(len(p.reqs), "request"), holPlural(p.accepted(), "connection"), last, r.inRTTs(last), p.msPerRequest(), sumDur(ka.reqs))
	}
	s := r.find(hlSlow)
	if s.slowErr != "" {
		fmt.Fprintf(&b, "The slow client had sent %d bytes, one every %v, when its connection failed after %.0f ms without an answer (%s; the server timed out %s, the request head getting %v from its first byte); meanwhile another client's %d of %d requests were served.",
			s.slowSent, r.gap, millis(s.slowAt), s.slowErr, holPlural(int(s.stats.TimedOut), "request"), r.headerTO, fastBefore, len(s.reqs))
		return b.String()
	}
	fmt.Fprintf(&b, "The slow client had sent %d bytes, one every %v, when it was answered %d %s after %.0f ms (the request head gets %v from its first byte); meanwhile another client's %d of %d requests were served.",
		s.slowSent, r.gap, s.slowStatus, rawhttp.StatusText(s.slowStatus), millis(s.slowAt), r.headerTO, fastBefore, len(s.reqs))
	return b.String()
}

// inRTTs is " (N round trips)" for ms, or "" on a link without delay.
func (r *hlRun) inRTTs(ms float64) string {
	if r.rtt < time.Millisecond {
		return ""
	}
	return fmt.Sprintf(" (%.1f round trips)", ms/millis(r.rtt))
}

func sumDur(qs []hlReq) float64 {
	var d time.Duration
	for _, q := range qs {
		d += q.dur
	}
	return millis(d)
}
