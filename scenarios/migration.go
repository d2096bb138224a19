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
			{Name: "interval", Kind: KindDuration, Min: "1ms", Max: "1s", Default: "10ms", Help: "time between two messages"},
			{Name: "before", Kind: KindDuration, Min: "1ms", Max: "5s", Default: "300ms", Help: "sending time before the address changes"},
			{Name: "after", Kind: KindDuration, Min: "1ms", Max: "5s", Default: "700ms", Help: "sending time after the address changes"},
			{Name: "dead_after", Kind: KindDuration, Min: "10ms", Max: "10s", Default: "500ms", Help: "the client gives a connection up (and dials again) when no echo has come for this long"},
			{Name: "rtt", Kind: KindDuration, Min: "0", Max: "2s", Default: "50ms", Help: "round-trip time added to the preset's (half each way)"},
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
	l, err := link.New(link.Config{Settings: st, Seed: env.Seed, LogSize: -1})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.before+p.after+20*time.Second)
	var (
		wg      sync.WaitGroup
		closers []func()
		cmu     sync.Mutex
	)
	addCloser := func(f func()) {
		cmu.Lock()
		closers = append(closers, f)
		cmu.Unlock()
	}
	defer func() {
		cancel()
		cmu.Lock()
		cs := slices.Clone(closers)
		cmu.Unlock()
		for _, c := range slices.Backward(cs) {
			c()
		}
		wg.Wait()
		l.Close()
	}()
	srv := &mgServer{first: map[uint64]time.Time{}}
	at := net.JoinHostPort(l.ServerAddr().String(), "0")
	var dial func(ctx context.Context) (*mgConn, error)
	qconf := env.QUICConfig()

	switch o.transport {
	case "tcp":
		ln, err := l.Server().Listen(ctx, "tcp", at)
		if err != nil {
			return err
		}
		addCloser(func() { ln.Close() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				addCloser(func() { c.Close() })
				wg.Go(func() { srv.serve(c) })
			}
		})
		dial = func(ctx context.Context) (*mgConn, error) {
			c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
			if err != nil {
				return nil, err
			}
			addCloser(func() { c.Close() })
			return &mgConn{
				send:  func(b []byte) error { _, err := c.Write(b); return err },
				recv:  func(b []byte) error { _, err := io.ReadFull(c, b); return err },
				local: c.LocalAddr().(*net.TCPAddr).AddrPort(),
				close: func() { c.Close() },
			}, nil
		}
	case "quic":
		spc, err := l.Server().ListenPacket(ctx, "udp", at)
		if err != nil {
			return err
		}
		addCloser(func() { spc.Close() })
		str := &quic.Transport{Conn: spc}
		addCloser(func() { str.Close() })
		ln, err := str.Listen(serverTLS, qconf)
		if err != nil {
			return err
		}
		addCloser(func() { ln.Close() })
		wg.Go(func() {
			for {
				c, err := ln.Accept(ctx)
				if err != nil {
					return
				}
				addCloser(func() { c.CloseWithError(0, "") })
				srv.mu.Lock()
				srv.quic = append(srv.quic, c)
				srv.mu.Unlock()
				wg.Go(func() {
					for {
						s, err := c.AcceptStream(ctx)
						if err != nil {
							return
						}
						wg.Go(func() { srv.serve(s) })
					}
				})
			}
		})
		dial = func(ctx context.Context) (*mgConn, error) {
			pc, err := l.Client().ListenPacket(ctx, "udp", "0.0.0.0:0")
			if err != nil {
				return nil, err
			}
			tr := &quic.Transport{Conn: pc}
			addCloser(func() { pc.Close() })
			addCloser(func() { tr.Close() })
			qc, err := tr.Dial(ctx, spc.LocalAddr(), transports.ClientTLSConfig(serverTLS), qconf)
			if err != nil {
				return nil, err
			}
			addCloser(func() { qc.CloseWithError(0, "") })
			s, err := qc.OpenStreamSync(ctx)
			if err != nil {
				return nil, err
			}
			return &mgConn{
				send: func(b []byte) error { _, err := s.Write(b); return err },
				recv: func(b []byte) error { _, err := io.ReadFull(s, b); return err },
				// Bound to 0.0.0.0: its packets leave from the client's (first) address.
				local: netip.AddrPortFrom(l.ClientAddr(), pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()),
				close: func() { qc.CloseWithError(0, "") },
				qc:    qc,
			}, nil
		}
	case "ws":
		h, err := startHTTPHost(ctx, &Env{Link: l}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			srv.serve(&mgWS{c: c, ctx: r.Context()})
		}))
		if err != nil {
			return err
		}
		addCloser(h.Close)
		dial = func(ctx context.Context) (*mgConn, error) {
			var local netip.AddrPort
			hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := l.Client().Dial(ctx, network, addr)
					if err == nil {
						local = c.LocalAddr().(*net.TCPAddr).AddrPort()
						addCloser(func() { c.Close() })
					}
					return c, err
				}}}
			c, _, err := websocket.Dial(ctx, "ws://"+h.Addr().String()+"/", &websocket.DialOptions{HTTPClient: hc})
			if err != nil {
				return nil, err
			}
			addCloser(func() { c.CloseNow() })
			wctx, wcancel := context.WithCancel(context.Background())
			addCloser(wcancel)
			ws := &mgWS{c: c, ctx: wctx}
			return &mgConn{
				send:  func(b []byte) error { _, err := ws.Write(b); return err },
				recv:  func(b []byte) error { _, err := io.ReadFull(ws, b); return err },
				local: local,
				close: func() { wcancel(); c.CloseNow() },
			}, nil
		}
	}

	// The client.
	type echo struct {
		gen int
		seq uint64
		err error
	}
	echoes := make(chan echo, 256)
	gen := 0
	var cur *mgConn
	connect := func() error {
		dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
		defer dcancel()
		c, err := dial(dctx)
		if err != nil {
			return err
		}
		gen++
		g := gen
		cur = c
		wg.Go(func() {
			buf := make([]byte, mgMsgSize)
			for {
				err := c.recv(buf)
				select {
				case echoes <- echo{gen: g, seq: binary.BigEndian.Uint64(buf), err: err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		})
		return nil
	}
	if err := connect(); err != nil {
		return fmt.Errorf("first dial: %w", err)
	}
	first := cur

	start := time.Now()
	change := start.Add(p.before)
	end := change.Add(p.after)
	total := int((p.before + p.after) / p.interval)
	sentAt := make([]time.Time, total)
	msg := make([]byte, mgMsgSize)
	next, echoed := 0, -1 // next message to send; highest message echoed in order
	lastEcho := start
	changed := false
	failed := false
	sendOn := func(c *mgConn, seq int) error {
		binary.BigEndian.PutUint64(msg, uint64(seq))
		return c.send(msg)
	}
	drop := func(why string) {
		if o.noticed == "" {
			o.noticed = why
		}
		if cur == first {
			failed = true
		}
		cur.close()
		cur = nil
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		if !changed && !now.Before(change) {
			changed = true
			if err := mgChange(ctx, l, o, cur, addCloser); err != nil {
				return err
			}
		}
		// Send what is due.
		for next < total && !start.Add(time.Duration(next)*p.interval).After(now) {
			sentAt[next] = now
			if cur != nil && sendOn(cur, next) != nil {
				drop("a write failed")
			}
			next++
		}
		// Give up a connection that stays silent.
		if cur != nil && echoed+1 < next && now.Sub(mgLater(lastEcho, sentAt[echoed+1])) > p.deadAfter {
			drop(fmt.Sprintf("no echo for %v: gave the connection up", p.deadAfter))
		}
		if now.After(end.Add(3 * time.Second)) {
			break
		}
		if cur == nil {
			if err := connect(); err != nil {
				if ctx.Err() != nil {
					return err
				}
				time.Sleep(p.interval)
				continue
			}
			o.redials++
			lastEcho = time.Now()
			for seq := echoed + 1; seq < next && cur != nil; seq++ {
				if sendOn(cur, seq) != nil {
					drop("a write failed")
				}
			}
			continue
		}
		if next >= total && echoed+1 >= total {
			break
		}
		wait := time.Until(start.Add(time.Duration(next) * p.interval))
		if next >= total {
			wait = p.interval
		}
		timer.Reset(max(wait, 0))
		select {
		case e := <-echoes:
			if e.gen != gen {
				break
			}
			if e.err != nil {
				why := "the connection failed: " + e.err.Error()
				if strings.Contains(e.err.Error(), "reset") {
					why = "the server answered with a RST (connection reset)"
				}
				drop(why)
				break
			}
			if int(e.seq) == echoed+1 {
				echoed++
				lastEcho = time.Now()
			}
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	o.sent = total
	o.survived = !failed && o.redials == 0 && cur == first
	if o.survived && o.noticed == "" {
		o.noticed = "the client noticed nothing"
	}
	if o.transport == "quic" && o.cse == "rebind" {
		srv.mu.Lock()
		if len(srv.quic) > 0 {
			ra := srv.quic[0].RemoteAddr().(*net.UDPAddr).AddrPort()
			if ra == o.external {
				o.migrated = fmt.Sprintf("the client noticed nothing; the server validated the new path and now sends to %v", ra)
			} else {
				o.migrated = fmt.Sprintf("the server still sends to %v (the NAT's new port is %d)", ra, o.external.Port())
			}
		}
		srv.mu.Unlock()
	}

	// Arrivals at the server, and the longest gap between two of them.
	srv.mu.Lock()
	var times []time.Time
	for seq := range total {
		t, ok := srv.first[uint64(seq)]
		if !ok {
			o.lost++
			continue
		}
		o.arrivals = append(o.arrivals, Point{X: tpRound2(millis(t.Sub(change))), Y: float64(seq)})
		times = append(times, t)
	}
	o.serverConns = srv.conns
	srv.mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if g := times[i].Sub(times[i-1]); g > o.gap {
			o.gap, o.gapAt = g, times[i-1].Sub(change)
		}
	}
	return nil
}

func mgLater(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// mgChange changes the client's address: a NAT rebinding of the current connection's flow, or a
// new address with the old one removed (the client's application is told, and QUIC moves to it).
func mgChange(ctx context.Context, l *link.Link, o *mgOutcome, cur *mgConn, addCloser func(func())) error {
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
		pc, err := l.Client().ListenPacket(ctx, "udp", net.JoinHostPort(mgNewAddr.String(), "0"))
		if err != nil {
			return err
		}
		tr := &quic.Transport{Conn: pc}
		addCloser(func() { pc.Close() })
		addCloser(func() { tr.Close() })
		path, err := cur.qc.AddPath(tr)
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
