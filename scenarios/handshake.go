package scenarios

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/transports"
)

func init() {
	Register(&Scenario{
		Name:    "handshake",
		Title:   "Handshake and teardown",
		Summary: "round trips to the first echoed byte (TCP, TLS 1.3, QUIC, QUIC 0-RTT, WebSocket, HTTP/1.0 vs 1.1), and how each closes",
		Explain: `Before the first byte of your data can come back, every protocol spends round trips agreeing to talk. TCP's SYN and SYN-ACK take one round trip, so an echo arrives after two. TLS 1.3 on top of TCP adds one more: the ClientHello goes out, the server's whole flight comes back, and only then does the client send data. QUIC folds the transport and the cryptographic handshake into one exchange, so it is back to two. With a session ticket kept from an earlier connection, QUIC 0-RTT sends the data in the very first flight and the echo returns after one round trip. The price: whoever records that first flight can play it to the server again, so the server has to opt in (quic-go's Allow0RTT) and should accept in it only requests that are safe to repeat. A WebSocket is an HTTP upgrade over TCP: one round trip for SYN, one for the upgrade, one for the echo.

Read the RTT column, not the milliseconds: the milliseconds depend on this link, the number of round trips does not. A number above its textbook value usually means a packet was lost and resent (the table counts the link's drops during each measurement) or a stack had work to do, such as signing the certificate. The "round trips on the wire" column counts the same exchange in the packet log, without a clock: each time the server sent after the client had, one more round trip; it stays at the textbook value however busy the machine is, unless a packet was lost.

HTTP/1.0 opens a new TCP connection for every request and closes it after the response, so N requests cost N handshakes; HTTP/1.1 keeps the connection open and pays the handshake once. The scenario counts the SYNs the client sent in the link's packet log to show how many connections each really opened.

Closing has its own exchange. The side that closes first (the active closer) sends the first FIN and, once the other side's FIN is acknowledged, stays in TIME_WAIT, keeping the address pair reserved so stray segments of the old connection cannot land in a new one. Servers that close first (HTTP/1.0 servers do) collect TIME_WAIT entries; clients that open many short connections run out of ports. The metric close_to_time_wait is the time from the client's close until the client, the active closer, entered TIME_WAIT: when the server's FIN reached it, its own FIN having been acknowledged, about one round trip; close_to_server_closed is when the server's side reached CLOSED, on receiving the client's ACK of that FIN, half a round trip later. The teardown table gives, from the link's packet log, when each packet was sent and when it was delivered. Closing with SO_LINGER set to zero skips the goodbye: one RST, no TIME_WAIT, and the peer reads "connection reset". QUIC has no FIN dance: one encrypted CONNECTION_CLOSE frame and the peer knows, with the application's error code and reason.`,
		Preset: "lab-25ms",
		Params: []Param{
			{Name: "requests", Label: "HTTP requests", Kind: KindInt, Min: "1", Max: "100", Unit: "requests", Default: "5", Help: "HTTP requests made with HTTP/1.0 (a connection each) and with HTTP/1.1 keep-alive"},
			{Name: "zero_rtt", Label: "also measure QUIC 0-RTT", Kind: KindBool, Default: "false", Help: "opt in: also measure QUIC 0-RTT resumption (a second connection with the first one's session ticket; 0-RTT data can be replayed, so the server must accept it knowingly)"},
		},
		Run: runHandshake,
	})
}

// hsRow is one measured handshake.
type hsRow struct {
	transport string
	dur       time.Duration
	textbook  float64 // round trips the exchange needs on a clean link
	drops     uint64  // packets the link dropped while it ran
	note      string
	wireRTTs  int // round trips in the packet log; -1 when not counted (a link without delay)
}

type hsRun struct {
	ctx     context.Context
	env     *Env
	rtt     time.Duration
	timeout time.Duration
	rows    []hsRow
	res     *Result
	// flowPort is the server port of the exchange being measured, set by the measuring function
	// so that its packets can be told from the others on the link.
	flowPort uint16
	echoAt   time.Time // when the measuring function read the echo
}

// linkDrops is the link's drops in both directions so far.
func hsDrops(l *link.Link) uint64 {
	return l.Counts(link.ClientToServer).DroppedTotal() + l.Counts(link.ServerToClient).DroppedTotal()
}

// lastSeq is the sequence number of the last packet logged so far; later packets have larger ones.
func lastSeq(l *link.Link) uint64 {
	p := l.Packets()
	if len(p) == 0 {
		return 0
	}
	return p[len(p)-1].Seq
}

// packetsAfter returns the logged packets with Seq > mark that keep says to.
func packetsAfter(l *link.Link, mark uint64, keep func(link.Packet) bool) []link.Packet {
	var out []link.Packet
	for _, p := range l.Packets() {
		if p.Seq > mark && keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// tcpFlowAfter is the TCP packets of the connection whose client port is port, after mark.
func tcpFlowAfter(l *link.Link, mark uint64, port uint16) []link.Packet {
	return packetsAfter(l, mark, func(p link.Packet) bool {
		d := p.Decoded
		return d.Proto == "tcp" && (d.Src.Port() == port || d.Dst.Port() == port)
	})
}

// sender names the host that sent a packet.
func sender(p link.Packet) string {
	if p.Dir == link.ServerToClient {
		return "server"
	}
	return "client"
}

// inRTT is d in round trips of the link (0 when the link has no delay).
func (r *hsRun) inRTT(d time.Duration) float64 {
	if r.rtt <= 0 {
		return 0
	}
	return float64(d) / float64(r.rtt)
}

func (r *hsRun) metric(transport, name string, d time.Duration) {
	r.res.Metrics = append(r.res.Metrics, Metric{Transport: transport, Name: name, Unit: "ms", Value: hundredths(millis(d))})
	if r.rtt > 0 {
		r.res.Metrics = append(r.res.Metrics, Metric{Transport: transport, Name: name, Unit: "RTT", Value: hundredths(r.inRTT(d))})
	}
}

// measure runs f, which returns the time it measured, and records it as a row, with the round
// trips the packet log shows for the same exchange.
func (r *hsRun) measure(transport string, textbook float64, f func() (time.Duration, string, error)) (time.Duration, error) {
	before := hsDrops(r.env.Link)
	mark := lastSeq(r.env.Link)
	r.flowPort, r.echoAt = 0, time.Time{}
	d, note, err := f()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", transport, err)
	}
	row := hsRow{transport: transport, dur: d, textbook: textbook, drops: hsDrops(r.env.Link) - before, note: note, wireRTTs: -1}
	// The echo left the server at least one down-link delay before the client read it; what the
	// client sent on reading it (an ACK, its close) comes after. Half that delay splits the two.
	if down := r.env.Link.Impairment(link.ServerToClient).Delay; down > 0 && r.flowPort != 0 && !r.echoAt.IsZero() {
		up := r.env.Link.Impairment(link.ClientToServer)
		row.wireRTTs = wireRoundTrips(packetsAfter(r.env.Link, mark, func(p link.Packet) bool {
			return p.Decoded.Src.Port() == r.flowPort || p.Decoded.Dst.Port() == r.flowPort
		}), r.echoAt.Add(-down/2), max(up.Delay-up.Jitter, 0))
		r.res.Metrics = append(r.res.Metrics, Metric{Transport: transport, Name: "first_echo_round_trips", Unit: "count", Value: float64(row.wireRTTs)})
	}
	r.rows = append(r.rows, row)
	r.metric(transport, "first_echo", d)
	return d, nil
}

// portOf is the port of a host:port address (0 if it has none).
func portOf(addr string) uint16 {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0
	}
	return ap.Port()
}

// wireRoundTrips counts the round trips in a packet trace sent before until: each time the
// server sends in answer to what the client sent, one more exchange has gone there and back. A
// server packet can answer a client packet only once that packet has crossed the link: sent at
// least upMin (the up-link's least delay) after the earliest client packet not yet answered. A
// server packet sent sooner belongs to the flight before (a busy server still sending its
// handshake flight while the client acknowledges its first packet is not another round trip).
func wireRoundTrips(pkts []link.Packet, until time.Time, upMin time.Duration) int {
	n := 0
	var waiting time.Time // the earliest client packet since the last answer; zero when none
	for _, p := range pkts {
		if !p.Time.Before(until) {
			break
		}
		switch {
		case p.Dir == link.ClientToServer && waiting.IsZero():
			waiting = p.Time
		case p.Dir == link.ServerToClient && !waiting.IsZero() && p.Time.Sub(waiting) >= upMin:
			n++
			waiting = time.Time{}
		}
	}
	return n
}

func runHandshake(ctx context.Context, env *Env) (*Result, error) {
	n := env.Int("requests")
	r := &hsRun{ctx: ctx, env: env, rtt: env.RTT(), res: &Result{}}
	r.timeout = 10*time.Second + 20*r.rtt
	srvTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return nil, err
	}
	var parts []string

	// Plain TCP and TCP+TLS 1.3, against echo servers of our own.
	echo, err := startTCPHost(ctx, env, func(c net.Conn) { io.Copy(c, c); c.Close() })
	if err != nil {
		return nil, err
	}
	defer echo.Close()
	tlsEcho, err := startTCPHost(ctx, env, func(c net.Conn) {
		tc := tls.Server(c, srvTLS)
		c.SetDeadline(time.Now().Add(r.timeout))
		io.Copy(tc, tc)
		tc.Close()
	})
	if err != nil {
		return nil, err
	}
	defer tlsEcho.Close()
	if _, err := r.measure("tcp", 2, func() (time.Duration, string, error) {
		return r.echoOnce(echo.Addr().String(), nil)
	}); err != nil {
		return nil, err
	}
	if _, err := r.measure("tcp+tls", 3, func() (time.Duration, string, error) {
		return r.echoOnce(tlsEcho.Addr().String(), transports.ClientTLSConfig(srvTLS))
	}); err != nil {
		return nil, err
	}

	// QUIC, 1-RTT then 0-RTT resumption, and CONNECTION_CLOSE.
	q, err := r.quicPhases(srvTLS, env.Bool("zero_rtt"))
	if err != nil {
		return nil, err
	}

	// WebSocket: upgrade, then the first echo.
	if _, err := r.measure("ws", 3, r.wsOnce); err != nil {
		return nil, err
	}

	// HTTP/1.0 (a connection per request) vs HTTP/1.1 keep-alive.
	h, err := r.httpPhases(n)
	if err != nil {
		return nil, err
	}

	// TCP teardown: orderly close (FIN/ACK, TIME_WAIT) and abort (RST).
	td, err := r.teardown()
	if err != nil {
		return nil, err
	}

	// Tables and conclusion.
	tb := Table{Title: "Time to the first echoed byte", Columns: []string{"transport", "ms", "RTT", "round trips on the wire", "textbook RTT", "packets lost meanwhile", "note"}}
	for _, row := range r.rows {
		rt, wire := "-", "-"
		if r.rtt > 0 {
			rt = fmt.Sprintf("%.2f", r.inRTT(row.dur))
		}
		if row.wireRTTs >= 0 {
			wire = fmt.Sprint(row.wireRTTs)
		}
		tb.Rows = append(tb.Rows, []string{row.transport, fmt.Sprintf("%.1f", millis(row.dur)), rt, wire, fmt.Sprintf("%g", row.textbook), fmt.Sprint(row.drops), row.note})
	}
	r.res.Tables = append([]Table{tb}, r.res.Tables...)

	for _, row := range r.rows {
		parts = append(parts, fmt.Sprintf("%s %s", row.transport, r.describe(row.dur)))
	}
	var lost []string
	for _, row := range r.rows {
		if row.drops > 0 {
			lost = append(lost, fmt.Sprintf("%s (%d)", row.transport, row.drops))
		}
	}
	c := "First echoed byte: " + strings.Join(parts, ", ") + "."
	if r.rtt > 0 {
		c = fmt.Sprintf("On this link (RTT %v) the first echoed byte came back after: ", r.rtt) + strings.Join(parts, ", ") + "."
	}
	if len(lost) > 0 {
		c += " The link dropped packets during " + strings.Join(lost, ", ") + ", which adds retransmission time there."
	}
	if q.zeroRTT && !q.used0RTT {
		c += " The second QUIC connection did not get 0-RTT accepted, so it took a full handshake."
	}
	c += fmt.Sprintf(" %d HTTP/1.0 requests opened %d TCP connections in %s; HTTP/1.1 keep-alive opened %d in %s.",
		n, h.conns10, r.describe(h.total10), h.conns11, r.describe(h.total11))
	c += " " + td.summary + " " + q.closeSummary
	r.res.Conclusion = c
	return r.res, nil
}

func (r *hsRun) describe(d time.Duration) string {
	if r.rtt > 0 {
		return fmt.Sprintf("%.0f ms (%.1f RTT)", millis(d), r.inRTT(d))
	}
	return fmt.Sprintf("%.1f ms", millis(d))
}

// echoOnce dials addr (with TLS when tc is set), writes one byte and reads its echo, timing all of
// it from before the dial.
func (r *hsRun) echoOnce(addr string, tc *tls.Config) (time.Duration, string, error) {
	r.flowPort = portOf(addr)
	start := time.Now()
	raw, err := r.env.Link.Client().Dial(r.ctx, "tcp", addr)
	if err != nil {
		return 0, "", err
	}
	raw.SetDeadline(start.Add(r.timeout))
	c := raw
	var note string
	if tc != nil {
		c = tls.Client(raw, tc)
	}
	defer c.Close()
	if _, err := c.Write([]byte{'x'}); err != nil {
		return 0, "", err
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return 0, "", err
	}
	r.echoAt = time.Now()
	d := r.echoAt.Sub(start)
	if t, ok := c.(*tls.Conn); ok {
		note = tlsVersion(t)
	}
	return d, note, nil
}

func tlsVersion(c *tls.Conn) string {
	st := c.ConnectionState()
	if st.Version == tls.VersionTLS13 {
		return "TLS 1.3, " + tls.CipherSuiteName(st.CipherSuite)
	}
	return tls.VersionName(st.Version)
}

type hsQUIC struct {
	zeroRTT, used0RTT bool
	closeSummary      string
}

// quicServer is a quic-go echo server accepting early (0-RTT) connections; ends receives how
// and when each connection ended, as the server saw it.
type quicServer struct {
	ep   *transports.QUICEndpoint
	ln   *transports.QUICListener
	ends chan quicEnd
	wg   sync.WaitGroup
	stop context.CancelFunc
}

type quicEnd struct {
	at  time.Time
	err error
}

func (r *hsRun) startQUICServer(srvTLS *tls.Config) (*quicServer, error) {
	ep, err := transports.OpenQUIC(r.ctx, r.env.Link.Server(), net.JoinHostPort(r.env.Link.ServerAddr().String(), "0"),
		transports.QUICOptions{TLS: srvTLS, Config: r.env.QUICConfig(), ZeroRTT: true})
	if err != nil {
		return nil, err
	}
	s := &quicServer{ep: ep, ends: make(chan quicEnd, 8)}
	if s.ln, err = ep.Listen(); err != nil {
		ep.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept(ctx)
			if err != nil {
				return
			}
			s.wg.Go(func() {
				stop := context.AfterFunc(ctx, func() { c.CloseWithError(0, "server shutting down") })
				defer stop()
				var streams sync.WaitGroup
				var why error
				for {
					st, err := c.AcceptStream(c.Context())
					if err != nil {
						why = err
						break
					}
					streams.Go(func() { io.Copy(st, st); st.Close() })
				}
				at := time.Now()
				streams.Wait()
				select {
				case s.ends <- quicEnd{at, why}:
				default:
				}
			})
		}
	})
	return s, nil
}

func (s *quicServer) Close() {
	s.stop()
	s.ln.Close()
	s.wg.Wait()
	s.ep.Close()
}

func (r *hsRun) quicPhases(srvTLS *tls.Config, zeroRTT bool) (*hsQUIC, error) {
	out := &hsQUIC{zeroRTT: zeroRTT}
	srv, err := r.startQUICServer(srvTLS)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	cliTLS := transports.ClientTLSConfig(srvTLS)
	cliTLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	cep, err := transports.OpenQUIC(r.ctx, r.env.Link.Client(), "0.0.0.0:0", transports.QUICOptions{TLS: cliTLS, Config: r.env.QUICConfig()})
	if err != nil {
		return nil, err
	}
	defer cep.Close()
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	raddr := srv.ln.Addr()

	var first *quic.Conn
	if _, err := r.measure("quic", 2, func() (time.Duration, string, error) {
		r.flowPort = portOf(raddr.String())
		start := time.Now()
		c, err := cep.Dial(ctx, raddr)
		if err != nil {
			return 0, "", err
		}
		first = c
		s, err := c.OpenStreamSync(ctx)
		if err != nil {
			return 0, "", err
		}
		return r.quicEcho(s, start, "1-RTT handshake")
	}); err != nil {
		if first != nil {
			first.CloseWithError(0, "")
		}
		return nil, err
	}
	// The session ticket comes with or just after the handshake's end; give it one round trip.
	time.Sleep(r.rtt + 10*time.Millisecond)

	if out.closeSummary, err = r.quicClose(ctx, first, srv, uint16(cep.LocalAddr().(*net.UDPAddr).Port)); err != nil {
		return nil, err
	}
	if zeroRTT {
		if out.used0RTT, err = r.quicZeroRTT(ctx, cep, raddr); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quicEcho writes one byte on s and reads its echo; the time is from start.
func (r *hsRun) quicEcho(s *quic.Stream, start time.Time, note string) (time.Duration, string, error) {
	s.SetDeadline(start.Add(r.timeout))
	if _, err := s.Write([]byte{'x'}); err != nil {
		return 0, "", err
	}
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		return 0, "", err
	}
	r.echoAt = time.Now()
	return r.echoAt.Sub(start), note, nil
}

// quicClose closes c with CONNECTION_CLOSE and says how long until the server knew, and what the
// client (on clientPort) sent.
func (r *hsRun) quicClose(ctx context.Context, c *quic.Conn, srv *quicServer, clientPort uint16) (string, error) {
	mark := lastSeq(r.env.Link)
	closeAt := time.Now()
	c.CloseWithError(0x42, "lesson over")
	var end quicEnd
	select {
	case end = <-srv.ends:
	case <-ctx.Done():
		return "", fmt.Errorf("quic: the server never saw the connection close: %w", ctx.Err())
	}
	noticed := end.at.Sub(closeAt)
	time.Sleep(r.rtt/2 + 5*time.Millisecond) // let anything else in flight reach the log
	after := packetsAfter(r.env.Link, mark, func(p link.Packet) bool {
		return p.Decoded.Proto == "udp" && (p.Decoded.Src.Port() == clientPort || p.Decoded.Dst.Port() == clientPort)
	})
	var c2s, s2c int
	for _, p := range after {
		if p.Dir == link.ClientToServer {
			c2s++
		} else {
			s2c++
		}
	}
	var ae *quic.ApplicationError
	how := fmt.Sprint(end.err)
	if errors.As(end.err, &ae) {
		how = fmt.Sprintf("application error 0x%x %q from the peer", uint64(ae.ErrorCode), ae.ErrorMessage)
	}
	r.metric("quic", "close_noticed", noticed)
	r.res.Metrics = append(r.res.Metrics, Metric{Transport: "quic", Name: "close_packets_sent", Unit: "count", Value: float64(c2s)})
	sum := fmt.Sprintf("QUIC's CONNECTION_CLOSE took %d packet from the client and reached the server after %s, which read it as %s (the server sent %d packets back).",
		c2s, r.describe(noticed), how, s2c)
	if c2s != 1 {
		sum = strings.Replace(sum, "packet from", "packets from", 1)
	}
	return sum, nil
}

// quicZeroRTT resumes the first connection's session with data in the first flight and reports
// whether the server took it as 0-RTT.
func (r *hsRun) quicZeroRTT(ctx context.Context, cep *transports.QUICEndpoint, raddr net.Addr) (bool, error) {
	var second *quic.Conn
	defer func() {
		if second != nil {
			second.CloseWithError(0, "")
		}
	}()
	used := false
	if _, err := r.measure("quic-0rtt", 1, func() (time.Duration, string, error) {
		r.flowPort = portOf(raddr.String())
		start := time.Now()
		c, err := cep.DialEarly(ctx, raddr)
		if err != nil {
			return 0, "", err
		}
		second = c
		s, err := c.OpenStream()
		if err != nil {
			return 0, "", err
		}
		d, _, err := r.quicEcho(s, start, "")
		if err != nil {
			return 0, "", err
		}
		select {
		case <-c.HandshakeComplete():
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
		used = c.ConnectionState().Used0RTT
		if used {
			return d, "resumed, data in the first flight (replayable)", nil
		}
		return d, "0-RTT refused: full handshake", nil
	}); err != nil {
		return false, err
	}
	v := 0.0
	if used {
		v = 1
	}
	r.res.Metrics = append(r.res.Metrics, Metric{Transport: "quic-0rtt", Name: "used_0rtt", Unit: "bool", Value: v})
	return used, nil
}

func (r *hsRun) wsOnce() (time.Duration, string, error) {
	ws, err := startHTTPHost(r.ctx, r.env, transports.WSEchoHandler(transports.WSEchoConfig{}))
	if err != nil {
		return 0, "", err
	}
	defer ws.Close()
	r.flowPort = portOf(ws.Addr().String())
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	start := time.Now()
	c, err := transports.DialWS(ctx, r.env.Link.Client(), "ws://"+ws.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		return 0, "", err
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, []byte{'x'}); err != nil {
		return 0, "", err
	}
	if _, _, err := c.Read(ctx); err != nil {
		return 0, "", err
	}
	r.echoAt = time.Now()
	d := r.echoAt.Sub(start)
	c.Close(websocket.StatusNormalClosure, "")
	return d, "TCP, HTTP Upgrade, then the echo", nil
}

type hsHTTP struct {
	conns10, conns11 int
	total10, total11 time.Duration
}

// synsTo counts the connections the client opened to port after mark: distinct source ports of
// its SYNs (a retransmitted SYN is the same connection).
func synsTo(l *link.Link, mark uint64, port uint16) (conns int, clientPorts []uint16) {
	seen := map[uint16]bool{}
	for _, p := range packetsAfter(l, mark, func(p link.Packet) bool {
		d := p.Decoded
		return p.Dir == link.ClientToServer && d.Proto == "tcp" && d.Dst.Port() == port &&
			d.Flags&link.FlagSYN != 0 && d.Flags&link.FlagACK == 0
	}) {
		if sp := p.Decoded.Src.Port(); !seen[sp] {
			seen[sp] = true
			clientPorts = append(clientPorts, sp)
		}
	}
	return len(seen), clientPorts
}

// firstFIN says which side sent the first FIN of the connection from clientPort, after mark.
func firstFIN(l *link.Link, mark uint64, clientPort uint16) (link.Direction, bool) {
	for _, p := range packetsAfter(l, mark, func(p link.Packet) bool {
		d := p.Decoded
		return d.Proto == "tcp" && d.Flags&link.FlagFIN != 0 && (d.Src.Port() == clientPort || d.Dst.Port() == clientPort)
	}) {
		return p.Dir, true
	}
	return 0, false
}

func (r *hsRun) httpPhases(n int) (*hsHTTP, error) {
	out := &hsHTTP{}
	srv, err := startHTTPHost(r.ctx, r.env, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	addr := srv.Addr().String()
	port := uint16(srv.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()

	// HTTP/1.0, written by hand: Go's client always speaks HTTP/1.1.
	s10 := Series{Chart: "HTTP requests: a connection each (1.0) vs keep-alive (1.1)", Name: "http/1.0", XLabel: "request", YLabel: "ms since the first request"}
	mark := lastSeq(r.env.Link)
	before := hsDrops(r.env.Link)
	start := time.Now()
	for i := range n {
		c, err := r.env.Link.Client().Dial(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("http/1.0: %w", err)
		}
		c.SetDeadline(time.Now().Add(r.timeout))
		_, err = fmt.Fprintf(c, "GET /%d HTTP/1.0\r\nHost: wireplay\r\n\r\n", i+1)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(c) // the server closes after its response
		}
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("http/1.0 request %d: %w", i+1, err)
		}
		if !strings.HasPrefix(string(body), "HTTP/1.0 200") {
			return nil, fmt.Errorf("http/1.0 request %d: unexpected response %.40q", i+1, body)
		}
		s10.Points = append(s10.Points, Point{X: float64(i + 1), Y: hundredths(millis(time.Since(start)))})
	}
	out.total10 = time.Since(start)
	drops10 := hsDrops(r.env.Link) - before
	var ports10 []uint16
	out.conns10, ports10 = synsTo(r.env.Link, mark, port)
	serverFirst := 0
	for _, p := range ports10 {
		if d, ok := firstFIN(r.env.Link, mark, p); ok && d == link.ServerToClient {
			serverFirst++
		}
	}

	// HTTP/1.1 keep-alive with net/http's client.
	s11 := Series{Chart: s10.Chart, Name: "http/1.1", XLabel: s10.XLabel, YLabel: s10.YLabel}
	tr := transports.HTTPTransport(r.env.Link.Client())
	tr.MaxIdleConnsPerHost = 1
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: r.timeout}
	mark = lastSeq(r.env.Link)
	before = hsDrops(r.env.Link)
	start = time.Now()
	for i := range n {
		resp, err := cl.Get(fmt.Sprintf("http://%s/%d", addr, i+1))
		if err != nil {
			return nil, fmt.Errorf("http/1.1 request %d: %w", i+1, err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("http/1.1 request %d: %w", i+1, err)
		}
		s11.Points = append(s11.Points, Point{X: float64(i + 1), Y: hundredths(millis(time.Since(start)))})
	}
	out.total11 = time.Since(start)
	drops11 := hsDrops(r.env.Link) - before
	out.conns11, _ = synsTo(r.env.Link, mark, port)
	tr.CloseIdleConnections()

	r.metric("http/1.0", "total", out.total10)
	r.metric("http/1.1", "total", out.total11)
	r.res.Metrics = append(r.res.Metrics,
		Metric{Transport: "http/1.0", Name: "connections", Unit: "count", Value: float64(out.conns10)},
		Metric{Transport: "http/1.1", Name: "connections", Unit: "count", Value: float64(out.conns11)},
		Metric{Transport: "http/1.0", Name: "server_closed_first", Unit: "count", Value: float64(serverFirst)})
	r.res.Series = append(r.res.Series, s10, s11)
	r.res.Tables = append(r.res.Tables, Table{
		Title:   fmt.Sprintf("%d HTTP requests", n),
		Columns: []string{"protocol", "TCP connections (SYNs seen)", "ms", "RTT", "textbook RTT", "packets lost meanwhile", "who sent the first FIN"},
		Rows: [][]string{
			{"HTTP/1.0", fmt.Sprint(out.conns10), fmt.Sprintf("%.1f", millis(out.total10)), fmt.Sprintf("%.2f", r.inRTT(out.total10)), fmt.Sprint(2 * n), fmt.Sprint(drops10),
				fmt.Sprintf("server on %d of %d connections", serverFirst, out.conns10)},
			{"HTTP/1.1 keep-alive", fmt.Sprint(out.conns11), fmt.Sprintf("%.1f", millis(out.total11)), fmt.Sprintf("%.2f", r.inRTT(out.total11)), fmt.Sprint(n + 1), fmt.Sprint(drops11),
				"still open after the last request"},
		},
	})
	return out, nil
}

type hsTeardown struct{ summary string }

type tdEnd struct {
	c   *link.TCPConn // nil if the accepted conn was not the link's
	err error
}

func (r *hsRun) teardown() (*hsTeardown, error) {
	td := &tdRun{r: r, ends: make(chan tdEnd, 4), deadline: time.Now().Add(r.timeout),
		tb: Table{Title: "TCP teardown on the wire (the client closes first, then the server; then an abort)",
			Columns: []string{"ms after close", "delivered (ms after close)", "from", "flags", "what it is"}}}
	srv, err := startTCPHost(r.ctx, r.env, td.serve)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	td.addr = srv.Addr().String()
	oc, err := td.orderly()
	if err != nil {
		return nil, err
	}
	ab, err := td.abort()
	if err != nil {
		return nil, err
	}
	tw := r.env.Link.Client().TimeWait()
	r.res.Tables = append(r.res.Tables, td.tb)
	r.res.Metrics = append(r.res.Metrics,
		Metric{Transport: "tcp", Name: "time_wait", Unit: "s", Value: tw.Seconds()},
		Metric{Transport: "tcp", Name: "rst_on_abort", Unit: "count", Value: float64(ab.rsts)})
	if oc.twAt > 0 {
		r.metric("tcp", "close_to_time_wait", oc.twAt)
	}
	if oc.srvClosedAt > 0 {
		r.metric("tcp", "close_to_server_closed", oc.srvClosedAt)
	}
	r.res.Metrics = append(r.res.Metrics,
		Metric{Transport: "tcp", Name: "active_closer_client", Unit: "bool", Value: boolValue(oc.finFirst == "client")},
		Metric{Transport: "tcp", Name: "time_wait_client", Unit: "bool", Value: boolValue(oc.holder == "the client")})
	s := fmt.Sprintf("On TCP the %s sent the first FIN; after the exchange the client was %s and the server %s, so %s holds TIME_WAIT (%v by %s; the link leaves it unchanged).",
		orUnknown(oc.finFirst), oc.clientState, oc.serverState, oc.holder, tw, "netstack's TCPTimeWaitTimeoutOption")
	if oc.twAt > 0 && oc.srvClosedAt > 0 {
		s += fmt.Sprintf(" The client entered TIME_WAIT %s after its close, when the server's FIN reached it; the server's side was CLOSED at %s, when the client's ACK of that FIN arrived.",
			r.describe(oc.twAt), r.describe(oc.srvClosedAt))
	}
	s += fmt.Sprintf(" Closing with SO_LINGER 0 sent %d RST, left the client %s instead of TIME_WAIT, and the server's read failed with %q.",
		ab.rsts, ab.state, errString(ab.serverErr))
	return &hsTeardown{summary: s}, nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// tdRun is the teardown part of the handshake lesson: an echo server that reports how each
// connection ended, and the table of what crossed the wire.
type tdRun struct {
	r        *hsRun
	addr     string
	deadline time.Time
	ends     chan tdEnd
	tb       Table
}

// serve echoes until the client closes or aborts, then reports how the read ended.
func (td *tdRun) serve(c net.Conn) {
	tc, _ := linkTCP(c)
	c.SetDeadline(time.Now().Add(td.r.timeout))
	buf := make([]byte, 512)
	var rerr error
	for rerr == nil {
		var n int
		n, rerr = c.Read(buf)
		if n > 0 {
			c.Write(buf[:n])
		}
	}
	c.Close()
	td.ends <- tdEnd{tc, rerr}
}

// connect dials the server and exchanges one byte, so the connection is established and idle.
func (td *tdRun) connect() (*link.TCPConn, uint16, error) {
	c, err := td.r.env.Link.Client().Dial(td.r.ctx, "tcp", td.addr)
	if err != nil {
		return nil, 0, err
	}
	c.SetDeadline(td.deadline)
	if _, err = c.Write([]byte{'x'}); err == nil {
		_, err = io.ReadFull(c, make([]byte, 1))
	}
	tc, terr := linkTCP(c)
	if err == nil {
		err = terr
	}
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	return tc, uint16(c.LocalAddr().(*net.TCPAddr).Port), nil
}

// tdOrderly is what an orderly close, the client first, showed.
type tdOrderly struct {
	twAt                     time.Duration // from Close until the client (the active closer) entered TIME-WAIT
	srvClosedAt              time.Duration // from Close until the server's connection was CLOSED
	clientState, serverState string
	finFirst                 string // "client", "server" or "" (no FIN seen)
	holder                   string // who holds TIME-WAIT
}

// tdPoll is how often the orderly close looks at both ends' TCP states: well under a millisecond,
// so the times it reads are the states' changes, not the polling.
const tdPoll = 100 * time.Microsecond

func (td *tdRun) orderly() (*tdOrderly, error) {
	c, cport, err := td.connect()
	if err != nil {
		return nil, fmt.Errorf("teardown: %w", err)
	}
	l := td.r.env.Link
	mark := lastSeq(l)
	closeAt := time.Now()
	c.Close()
	out := &tdOrderly{holder: "neither side"}
	srvEnd, err := td.watchClose(c, closeAt, out)
	if err != nil {
		return nil, err
	}
	out.clientState, out.serverState = c.State(), "unknown"
	if srvEnd.c != nil {
		out.serverState = srvEnd.c.State()
	}
	td.orderlyRows(tcpFlowAfter(l, mark, cport), closeAt, out)
	switch {
	case out.clientState == link.StateTimeWait:
		out.holder = "the client"
	case out.serverState == link.StateTimeWait:
		out.holder = "the server"
	}
	return out, nil
}

// watchClose follows both ends after the client's Close at closeAt, every tdPoll, until the
// client is in TIME-WAIT and the server's connection is CLOSED (or the deadline): out.twAt is
// when the client entered TIME-WAIT (on receiving the server's FIN after its own was
// acknowledged), out.srvClosedAt when the server reached CLOSED (on receiving the client's ACK of
// that FIN, half a round trip later). It returns how the server's read ended.
func (td *tdRun) watchClose(c *link.TCPConn, closeAt time.Time, out *tdOrderly) (tdEnd, error) {
	var srvEnd tdEnd
	seen := false
	for time.Now().Before(td.deadline) && (out.twAt == 0 || out.srvClosedAt == 0) {
		if out.twAt == 0 && c.TimeWait() {
			out.twAt = time.Since(closeAt)
		}
		if !seen {
			select {
			case srvEnd = <-td.ends:
				seen = true
			default:
			}
		}
		if seen && out.srvClosedAt == 0 && (srvEnd.c == nil || srvEnd.c.Closed()) {
			out.srvClosedAt = time.Since(closeAt)
		}
		time.Sleep(tdPoll)
	}
	if !seen {
		return srvEnd, errors.New("teardown: the server never saw the client's FIN")
	}
	return srvEnd, nil
}

// orderlyRows adds the orderly close's packets to the teardown table: when each was sent and,
// from the link's log, when it was delivered (ms after the client's Close).
func (td *tdRun) orderlyRows(pkts []link.Packet, closeAt time.Time, out *tdOrderly) {
	fins := 0
	for _, p := range pkts {
		who := sender(p)
		what := "ACK of the FIN"
		if p.Decoded.Flags&link.FlagFIN != 0 {
			fins++
			what = "FIN: no more data from " + who
			if fins == 1 {
				out.finFirst = who
				what += " (active closer)"
			}
		}
		delivered := "-"
		if p.Fate == link.Dropped {
			what += " — dropped by the link"
		} else {
			delivered = fmt.Sprintf("%.1f", millis(p.Time.Add(p.Latency).Sub(closeAt)))
		}
		td.tb.Rows = append(td.tb.Rows, []string{fmt.Sprintf("%.1f", millis(p.Time.Sub(closeAt))), delivered, who, p.Decoded.Flags.String(), what})
	}
}

// tdAbort is what closing with SO_LINGER 0 showed.
type tdAbort struct {
	rsts      int    // RSTs the client sent
	state     string // the client's TCP state after
	serverErr error  // how the server's read ended
}

// abort closes a connection with SO_LINGER 0: Close sends an RST instead of a FIN.
func (td *tdRun) abort() (*tdAbort, error) {
	a, aport, err := td.connect()
	if err != nil {
		return nil, fmt.Errorf("abort: %w", err)
	}
	l := td.r.env.Link
	amark := lastSeq(l)
	abortAt := time.Now()
	a.SetLinger(0)
	a.Close()
	out := &tdAbort{}
	select {
	case e := <-td.ends:
		out.serverErr = e.err
	case <-time.After(time.Until(td.deadline)):
		return nil, errors.New("abort: the server never saw the RST")
	}
	for _, p := range tcpFlowAfter(l, amark, aport) {
		who := sender(p)
		what := ""
		if p.Decoded.Flags&link.FlagRST != 0 {
			if p.Dir == link.ClientToServer {
				out.rsts++
			}
			what = "RST: connection aborted by " + who
		}
		delivered := "-"
		if p.Fate != link.Dropped {
			delivered = fmt.Sprintf("%.1f", millis(p.Time.Add(p.Latency).Sub(abortAt)))
		}
		td.tb.Rows = append(td.tb.Rows, []string{fmt.Sprintf("%.1f", millis(p.Time.Sub(abortAt))), delivered, who, p.Decoded.Flags.String(), what})
	}
	out.state = a.State()
	return out, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(no FIN seen) side"
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
