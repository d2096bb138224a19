package scenarios

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
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
		Name:    "migration",
		Title:   "Connection migration",
		Summary: "the client's address changes mid-conversation (NAT rebinding, then a new network): QUIC carries on, TCP and WebSocket must reconnect",
		Explain: `A TCP connection is its four-tuple: client address and port, server address and port. Change any of them and the server no longer knows the packets — they belong to no connection it has. That happens all the time: a home router's NAT forgets an idle mapping and gives the flow a new port (NAT rebinding), a phone walks from Wi-Fi onto the mobile network and gets a new address. TCP cannot follow: the server answers the unknown segments with a RST, or the old address simply goes dead and the connection hangs until the application notices and dials again — a new handshake, and whatever was in flight must be sent again by the application, which has to know what was lost.

QUIC names a connection by connection IDs chosen by each side, not by addresses. When packets with a known connection ID arrive from a new address, the server checks the new path (a PATH_CHALLENGE the client must echo, so nobody can redirect traffic to a victim) and carries on: same connection, same streams, same keys. For a new network the client moves itself: it opens a socket on the new interface, probes the path and switches to it (quic-go: Conn.AddPath, Path.Probe, Path.Switch).

Here a client sends a small numbered message every few milliseconds and the server echoes it; the client dials again when its connection fails (a reset) or goes quiet (no echo for dead_after). In the middle the client's address changes: first a NAT rebinding, then — on a fresh link — a move to a new address with the old one gone, of which the client's application is told, as a phone's is. The charts plot each message's arrival at the server against the time since the change: a flat step is a gap in delivery. The table says whether the first connection survived, how many times the client dialled again, and the longest gap.`,
		Preset: "clean",
		Params: []Param{
			{Name: "interval", Label: "time between messages", Kind: KindDuration, Min: "1ms", Max: "1s", Default: "10ms", Help: "time between two messages"},
			{Name: "before", Label: "sending before the move", Kind: KindDuration, Min: "1ms", Max: "5s", Default: "300ms", Help: "sending time before the address changes"},
			{Name: "after", Label: "sending after the move", Kind: KindDuration, Min: "1ms", Max: "5s", Default: "700ms", Help: "sending time after the address changes"},
			{Name: "dead_after", Label: "give up after silence", Kind: KindDuration, Min: "10ms", Max: "10s", Default: "500ms", Help: "the client gives a connection up (and dials again) when no echo has come for this long"},
			{Name: "rtt", Label: "added round trip", Kind: KindDuration, Min: "0", Max: "2s", Default: "50ms", Help: "round-trip time added to the preset's (half each way)"},
		},
		Run: runMigration,
	})
}

// Migration cases and transports.
var (
	mgCases      = []string{"rebind", "new-address"}
	mgCaseTitle  = map[string]string{"rebind": "NAT rebinding (same address, new port)", "new-address": "new address (old one gone)"}
	mgTransports = []string{"tcp", "quic", "ws"}
)

const mgMsgSize = 64

// mgNewAddr is the client's second address in the new-address case.
var mgNewAddr = netip.AddrFrom4([4]byte{127, 0, 1, 3})

// mgOutcome is one transport's run through one case.
type mgOutcome struct {
	cse, transport string
	survived       bool          // the first connection carried every message to the end
	redials        int           // connections dialled after the first
	gap            time.Duration // longest time between two deliveries at the server
	gapAt          time.Duration // when that gap began, relative to the change
	lost           int           // messages never delivered
	sent           int
	noticed        string         // how the client learned its connection was gone
	external       netip.AddrPort // rebind: the flow's new address as the server sees it
	migrated       string         // QUIC: what the path change did
	arrivals       []Point
	serverConns    int
	err            error
}

type mgParams struct {
	interval, before, after, deadAfter time.Duration
	rtt                                time.Duration
}

func runMigration(ctx context.Context, env *Env) (*Result, error) {
	p := mgParams{interval: env.Duration("interval"), before: env.Duration("before"), after: env.Duration("after"),
		deadAfter: env.Duration("dead_after"), rtt: env.Duration("rtt")}
	switch { // each alone is checked against its declaration
	case p.before < p.interval, p.after < p.interval:
		return nil, fmt.Errorf("migration: before %v and after %v must be at least the interval %v", p.before, p.after, p.interval)
	case (p.before+p.after)/p.interval > 2000:
		return nil, errors.New("migration: more than 2000 messages")
	}
	st := env.Settings
	st.ClientToServer.Delay += p.rtt / 2
	st.ServerToClient.Delay += p.rtt - p.rtt/2
	st.ClientToServer.BlackholeFor, st.ServerToClient.BlackholeFor = 0, 0
	rtt := st.ClientToServer.Delay + st.ServerToClient.Delay
	serverTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return nil, err
	}

	// Every (case, transport) runs at once, each on a fresh link of its own: the address change
	// is the link's (its client host's), and the runs spend their time waiting, not computing.
	var outs []*mgOutcome
	var wg sync.WaitGroup
	for _, c := range mgCases {
		for _, t := range mgTransports {
			o := &mgOutcome{cse: c, transport: t}
			outs = append(outs, o)
			wg.Go(func() {
				o.err = mgRun(ctx, env, st, p, serverTLS, o)
			})
		}
	}
	wg.Wait()
	for _, o := range outs {
		if o.err != nil {
			return nil, fmt.Errorf("migration %s %s: %w", o.cse, o.transport, o.err)
		}
	}

	res := &Result{}
	tbl := Table{Title: "What each connection did", Columns: []string{"case", "transport", "first connection", "re-dials", "longest gap", "lost", "how it went"}}
	for _, c := range mgCases {
		for _, o := range outs {
			if o.cse != c {
				continue
			}
			res.Series = append(res.Series, Series{Chart: "Arrivals — " + mgCaseTitle[c], Name: o.transport,
				XLabel: "ms since the address changed", YLabel: "message #", Style: "dots", Points: o.arrivals})
			surv := 0.0
			word := "broke"
			if o.survived {
				surv, word = 1, "survived"
			}
			res.Metrics = append(res.Metrics,
				Metric{Transport: o.transport, Name: c + "_survived", Unit: "bool", Value: surv},
				Metric{Transport: o.transport, Name: c + "_redials", Unit: "count", Value: float64(o.redials)},
				Metric{Transport: o.transport, Name: c + "_gap_ms", Unit: "ms", Value: tpRound2(millis(o.gap))},
				Metric{Transport: o.transport, Name: c + "_gap_rtt", Unit: "RTT", Value: tpRound2(o.gap.Seconds() / rtt.Seconds())},
				Metric{Transport: o.transport, Name: c + "_lost", Unit: "count", Value: float64(o.lost)},
			)
			how := o.noticed
			if o.migrated != "" {
				how = o.migrated
			}
			tbl.Rows = append(tbl.Rows, []string{mgCaseTitle[c], o.transport, word, fmt.Sprint(o.redials),
				fmt.Sprintf("%.0f ms (%.1f RTT)", millis(o.gap), o.gap.Seconds()/rtt.Seconds()), fmt.Sprint(o.lost), how})
		}
	}
	res.Metrics = append(res.Metrics, Metric{Name: "rtt_ms", Unit: "ms", Value: millis(rtt)})
	res.Tables = []Table{tbl}

	var b strings.Builder
	for i, c := range mgCases {
		if i > 0 {
			b.WriteString(" ")
		}
		var parts []string
		for _, o := range outs {
			if o.cse != c {
				continue
			}
			if o.survived {
				parts = append(parts, fmt.Sprintf("%s kept its connection (longest gap %.0f ms)", o.transport, millis(o.gap)))
			} else {
				parts = append(parts, fmt.Sprintf("%s lost its connection and dialled %d time(s) again (gap %.0f ms)", o.transport, o.redials, millis(o.gap)))
			}
		}
		fmt.Fprintf(&b, "%s: %s.", strings.ToUpper(mgCaseTitle[c][:1])+mgCaseTitle[c][1:], strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, " One round trip is %.0f ms.", millis(rtt))
	res.Conclusion = b.String()
	return res, nil
}

// mgServer records when each message first reached the server, over any connection, and echoes
// every message back.
type mgServer struct {
	mu    sync.Mutex
	first map[uint64]time.Time
	conns int
	quic  []*quic.Conn // QUIC connections accepted, in order
}

func (s *mgServer) serve(rw io.ReadWriter) {
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	buf := make([]byte, mgMsgSize)
	for {
		if _, err := io.ReadFull(rw, buf); err != nil {
			return
		}
		s.got(buf)
		if _, err := rw.Write(buf); err != nil {
			return
		}
	}
}

func (s *mgServer) got(b []byte) {
	seq := binary.BigEndian.Uint64(b)
	s.mu.Lock()
	if _, ok := s.first[seq]; !ok {
		s.first[seq] = time.Now()
	}
	s.mu.Unlock()
}

// mgConn is one client connection.
type mgConn struct {
	send  func([]byte) error
	recv  func([]byte) error // reads one echoed message
	local netip.AddrPort     // the client's address and port of its TCP connection or UDP socket
	close func()
	qc    *quic.Conn
}

// mgRun runs one transport through one case on a fresh link.
func mgRun(ctx context.Context, env *Env, st link.Settings, p mgParams, serverTLS *tls.Config, o *mgOutcome) error {
	l, err := env.NewLink(link.Config{Settings: st, Seed: env.Seed, LogSize: -1})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.before+p.after+20*time.Second)
	var grp transports.Group
	defer func() {
		cancel()
		grp.Close()
		l.Close()
	}()
	srv := &mgServer{first: map[uint64]time.Time{}}
	dial, err := srv.start(ctx, l, o.transport, &grp, serverTLS, env.QUICConfig())
	if err != nil {
		return err
	}
	c := &mgClient{ctx: ctx, l: l, p: p, o: o, grp: &grp, dial: dial, echoes: make(chan mgEcho, 256)}
	if err := c.connect(); err != nil {
		return fmt.Errorf("first dial: %w", err)
	}
	c.first = c.cur
	if err := c.run(); err != nil {
		return err
	}
	c.outcome(srv)
	return nil
}

// mgDial connects the client to the lesson's server.
type mgDial func(ctx context.Context) (*mgConn, error)

// start serves the transport's echo on the link's server host and returns how the client dials
// it. Everything it opens is closed by grp.
func (srv *mgServer) start(ctx context.Context, l *link.Link, transport string, grp *transports.Group, serverTLS *tls.Config, qconf *quic.Config) (mgDial, error) {
	at := net.JoinHostPort(l.ServerAddr().String(), "0")
	switch transport {
	case "tcp":
		return srv.startTCP(ctx, l, at, grp)
	case "quic":
		return srv.startQUIC(ctx, l, at, grp, serverTLS, qconf)
	case "ws":
		return srv.startWS(ctx, l, at, grp)
	}
	return nil, fmt.Errorf("migration: unknown transport %q", transport)
}

func (srv *mgServer) startTCP(ctx context.Context, l *link.Link, at string, grp *transports.Group) (mgDial, error) {
	ln, err := transports.ListenTCP(ctx, l.Server(), at)
	if err != nil {
		return nil, err
	}
	grp.Add(ln.Close)
	grp.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			grp.Add(c.Close)
			grp.Go(func() { srv.serve(c) })
		}
	})
	return func(ctx context.Context) (*mgConn, error) {
		c, err := transports.DialTCP(ctx, l.Client(), ln.Addr().String(), transports.TCPOptions{})
		if err != nil {
			return nil, err
		}
		grp.Add(c.Close)
		return &mgConn{
			send:  func(b []byte) error { _, err := c.Write(b); return err },
			recv:  func(b []byte) error { _, err := io.ReadFull(c, b); return err },
			local: c.LocalAddr().(*net.TCPAddr).AddrPort(),
			close: func() { c.Close() },
		}, nil
	}, nil
}

func (srv *mgServer) startQUIC(ctx context.Context, l *link.Link, at string, grp *transports.Group, serverTLS *tls.Config, qconf *quic.Config) (mgDial, error) {
	ln, err := transports.ListenQUIC(ctx, l.Server(), at, transports.QUICOptions{TLS: serverTLS, Config: qconf})
	if err != nil {
		return nil, err
	}
	grp.Add(ln.Close)
	grp.Go(func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			grp.Defer(func() { c.CloseWithError(0, "") })
			srv.mu.Lock()
			srv.quic = append(srv.quic, c)
			srv.mu.Unlock()
			grp.Go(func() {
				for {
					s, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					grp.Go(func() { srv.serve(s) })
				}
			})
		}
	})
	return func(ctx context.Context) (*mgConn, error) {
		qc, err := transports.DialQUIC(ctx, l.Client(), ln.Addr().String(), transports.QUICOptions{
			TLS: transports.ClientTLSConfig(serverTLS), Config: qconf,
		})
		if err != nil {
			return nil, err
		}
		grp.Add(qc.Close)
		s, err := qc.OpenStreamSync(ctx)
		if err != nil {
			return nil, err
		}
		return &mgConn{
			send: func(b []byte) error { _, err := s.Write(b); return err },
			recv: func(b []byte) error { _, err := io.ReadFull(s, b); return err },
			// Bound to 0.0.0.0: its packets leave from the client's (first) address.
			local: netip.AddrPortFrom(l.ClientAddr(), qc.LocalAddr().(*net.UDPAddr).AddrPort().Port()),
			close: func() { qc.CloseWithError(0, "") },
			qc:    qc.Conn,
		}, nil
	}, nil
}

func (srv *mgServer) startWS(ctx context.Context, l *link.Link, at string, grp *transports.Group) (mgDial, error) {
	h, err := transports.ListenWS(ctx, l.Server(), at, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		srv.serve(&mgWS{c: c, ctx: r.Context()})
	}))
	if err != nil {
		return nil, err
	}
	grp.Add(h.Close)
	return func(ctx context.Context) (*mgConn, error) {
		c, err := transports.DialWS(ctx, l.Client(), "ws://"+h.Addr().String()+"/", transports.WSOptions{})
		if err != nil {
			return nil, err
		}
		grp.Add(c.CloseNow)
		wctx, wcancel := context.WithCancel(context.Background())
		grp.Defer(wcancel)
		ws := &mgWS{c: c.Conn, ctx: wctx}
		return &mgConn{
			send:  func(b []byte) error { _, err := ws.Write(b); return err },
			recv:  func(b []byte) error { _, err := io.ReadFull(ws, b); return err },
			local: c.LocalAddr().(*net.TCPAddr).AddrPort(),
			close: func() { wcancel(); c.CloseNow() },
		}, nil
	}, nil
}

// mgEcho is one echo read by the client: from which of its connections (gen), of which message.
type mgEcho struct {
	gen int
	seq uint64
	err error
}

// mgClient sends numbered messages at a steady interval, changes its address mid-way, and gives
// up and re-dials a connection that stays silent for deadAfter.
type mgClient struct {
	ctx    context.Context
	l      *link.Link
	p      mgParams
	o      *mgOutcome
	grp    *transports.Group
	dial   mgDial
	echoes chan mgEcho

	gen         int // connections dialled so far; echoes of older ones are stale
	cur, first  *mgConn
	start       time.Time
	change, end time.Time
	total       int
	sentAt      []time.Time
	msg         []byte
	next        int // next message to send
	echoed      int // highest message echoed in order
	lastEcho    time.Time
	failed      bool // the first connection was given up
}

func (c *mgClient) connect() error {
	dctx, dcancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer dcancel()
	conn, err := c.dial(dctx)
	if err != nil {
		return err
	}
	c.gen++
	g := c.gen
	c.cur = conn
	c.grp.Go(func() {
		buf := make([]byte, mgMsgSize)
		for {
			err := conn.recv(buf)
			select {
			case c.echoes <- mgEcho{gen: g, seq: binary.BigEndian.Uint64(buf), err: err}:
			case <-c.ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	return nil
}

func (c *mgClient) sendOn(conn *mgConn, seq int) error {
	binary.BigEndian.PutUint64(c.msg, uint64(seq))
	return conn.send(c.msg)
}

// drop gives the current connection up; why is the first reason the client noticed.
func (c *mgClient) drop(why string) {
	if c.o.noticed == "" {
		c.o.noticed = why
	}
	if c.cur == c.first {
		c.failed = true
	}
	c.cur.close()
	c.cur = nil
}

// run is the client's loop: send what is due, change the address at its time, give up a silent
// connection, re-dial and resend what was not echoed, until everything is echoed or time is up.
func (c *mgClient) run() error {
	p := c.p
	c.start = time.Now()
	c.change = c.start.Add(p.before)
	c.end = c.change.Add(p.after)
	c.total = int((p.before + p.after) / p.interval)
	c.sentAt = make([]time.Time, c.total)
	c.msg = make([]byte, mgMsgSize)
	c.echoed, c.lastEcho = -1, c.start
	changed := false
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		if !changed && !now.Before(c.change) {
			changed = true
			if err := mgChange(c.ctx, c.l, c.o, c.cur, c.grp); err != nil {
				return err
			}
		}
		c.sendDue(now)
		// Give up a connection that stays silent.
		if c.cur != nil && c.echoed+1 < c.next && now.Sub(later(c.lastEcho, c.sentAt[c.echoed+1])) > p.deadAfter {
			c.drop(fmt.Sprintf("no echo for %v: gave the connection up", p.deadAfter))
		}
		if now.After(c.end.Add(3 * time.Second)) {
			return nil
		}
		if c.cur == nil {
			if err := c.redial(); err != nil {
				return err
			}
			continue
		}
		if c.next >= c.total && c.echoed+1 >= c.total {
			return nil
		}
		if err := c.await(timer); err != nil {
			return err
		}
	}
}

// sendDue sends every message whose time has come.
func (c *mgClient) sendDue(now time.Time) {
	for c.next < c.total && !c.start.Add(time.Duration(c.next)*c.p.interval).After(now) {
		c.sentAt[c.next] = now
		if c.cur != nil && c.sendOn(c.cur, c.next) != nil {
			c.drop("a write failed")
		}
		c.next++
	}
}

// redial connects again and resends every message not yet echoed; a failed dial waits an
// interval (the loop tries again), an error only when the run is over.
func (c *mgClient) redial() error {
	if err := c.connect(); err != nil {
		if c.ctx.Err() != nil {
			return err
		}
		time.Sleep(c.p.interval)
		return nil
	}
	c.o.redials++
	c.lastEcho = time.Now()
	for seq := c.echoed + 1; seq < c.next && c.cur != nil; seq++ {
		if c.sendOn(c.cur, seq) != nil {
			c.drop("a write failed")
		}
	}
	return nil
}

// await waits for an echo or the next message's time, whichever comes first.
func (c *mgClient) await(timer *time.Timer) error {
	wait := time.Until(c.start.Add(time.Duration(c.next) * c.p.interval))
	if c.next >= c.total {
		wait = c.p.interval
	}
	timer.Reset(max(wait, 0))
	defer func() {
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}()
	select {
	case e := <-c.echoes:
		if e.gen != c.gen {
			return nil
		}
		if e.err != nil {
			why := "the connection failed: " + e.err.Error()
			if strings.Contains(e.err.Error(), "reset") {
				why = "the server answered with a RST (connection reset)"
			}
			c.drop(why)
			return nil
		}
		if int(e.seq) == c.echoed+1 {
			c.echoed++
			c.lastEcho = time.Now()
		}
	case <-timer.C:
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
	return nil
}

// outcome fills in what the run showed: whether the first connection survived, where the QUIC
// server now sends, each message's arrival at the server and the longest gap between two.
func (c *mgClient) outcome(srv *mgServer) {
	o := c.o
	o.sent = c.total
	o.survived = !c.failed && o.redials == 0 && c.cur == c.first
	if o.survived && o.noticed == "" {
		o.noticed = "the client noticed nothing"
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if o.transport == "quic" && o.cse == "rebind" && len(srv.quic) > 0 {
		ra := srv.quic[0].RemoteAddr().(*net.UDPAddr).AddrPort()
		if ra == o.external {
			o.migrated = fmt.Sprintf("the client noticed nothing; the server validated the new path and now sends to %v", ra)
		} else {
			o.migrated = fmt.Sprintf("the server still sends to %v (the NAT's new port is %d)", ra, o.external.Port())
		}
	}
	var times []time.Time
	for seq := range c.total {
		t, ok := srv.first[uint64(seq)]
		if !ok {
			o.lost++
			continue
		}
		o.arrivals = append(o.arrivals, Point{X: tpRound2(millis(t.Sub(c.change))), Y: float64(seq)})
		times = append(times, t)
	}
	o.serverConns = srv.conns
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if g := times[i].Sub(times[i-1]); g > o.gap {
			o.gap, o.gapAt = g, times[i-1].Sub(c.change)
		}
	}
}

// mgChange changes the client's address: a NAT rebinding of the current connection's flow, or a
// new address with the old one removed (the client's application is told, and QUIC moves to it).
func mgChange(ctx context.Context, l *link.Link, o *mgOutcome, cur *mgConn, grp *transports.Group) error {
	switch o.cse {
	case "rebind":
		if cur == nil {
			return nil
		}
		proto := "tcp"
		if o.transport == "quic" {
			proto = "udp"
		}
		ext, err := l.RebindClient(proto, cur.local)
		o.external = ext
		return err
	case "new-address":
		if err := l.AddClientAddr(mgNewAddr); err != nil {
			return err
		}
		if err := l.RemoveClientAddr(l.ClientAddr()); err != nil {
			return err
		}
		if cur == nil || cur.qc == nil {
			return nil
		}
		t0 := time.Now()
		ep, err := transports.OpenQUIC(ctx, l.Client(), net.JoinHostPort(mgNewAddr.String(), "0"), transports.QUICOptions{})
		if err != nil {
			return err
		}
		grp.Add(ep.Close)
		path, err := cur.qc.AddPath(ep.Transport)
		if err != nil {
			o.migrated = "AddPath failed: " + err.Error()
			return nil
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		if err := path.Probe(pctx); err != nil {
			o.migrated = "path probe failed: " + err.Error()
			return nil
		}
		probed := time.Since(t0)
		if err := path.Switch(); err != nil {
			o.migrated = "path switch failed: " + err.Error()
			return nil
		}
		o.migrated = fmt.Sprintf("probed the new path in %.0f ms and switched to it", millis(probed))
	}
	return nil
}

// mgWS reads and writes one binary WebSocket message per call, as an io.ReadWriter of whole
// messages (each message here is exactly one mgMsgSize read).
type mgWS struct {
	c   *websocket.Conn
	ctx context.Context
}

func (w *mgWS) Read(b []byte) (int, error) {
	_, r, err := w.c.Reader(w.ctx)
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(r, b)
	if err == io.ErrUnexpectedEOF {
		err = nil
	}
	io.Copy(io.Discard, r)
	return n, err
}

func (w *mgWS) Write(b []byte) (int, error) {
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageBinary, b); err != nil {
		return 0, err
	}
	return len(b), nil
}
