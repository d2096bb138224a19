package scenarios

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
		Name:    "dead-peer",
		Title:   "Noticing a dead peer",
		Summary: "the link goes black: how long TCP keepalive, an application heartbeat, QUIC's idle timeout and WebSocket pings take to notice",
		Explain: `When the other side vanishes — its machine loses power, a NAT forgets the mapping, a cable is pulled — nothing arrives to say so. A connection with nothing to send just sits there: TCP never asks whether the peer is still alive unless it has data to deliver. The only way to find out is to expect something and notice when it does not come. Here every connection is up and quiet (or heartbeating), then the link drops everything in both directions, and each mechanism is timed from that moment until it declares the peer dead.

TCP keepalive is built in but off by default, and its defaults are glacial (two hours idle, then nine probes 75 s apart on Linux and netstack); here it is tuned down to the parameters' values: after keepalive_idle of silence the stack sends a probe every keepalive_interval and gives up after keepalive_count unanswered ones. An application heartbeat does the same in your own protocol: each side sends a ping every heartbeat interval and declares the peer dead when nothing has arrived for misses intervals. It also proves the peer's application is alive, not just its kernel.

QUIC has it in the protocol: each side announces a maximum idle timeout and closes the connection silently when nothing has been received for that long; quic-go's KeepAlivePeriod sends PINGs so that a healthy but quiet connection does not time out. WebSocket has ping and pong control frames; here the client pings every heartbeat interval and gives up after misses pings without a pong.

Read the "intervals" column: detection time divided by the mechanism's own interval. Each one needs a few intervals of silence, by design — one lost packet must not kill a healthy connection — so choosing the interval is choosing how fast you notice, against how much traffic idle connections cost.`,
		Preset: "wifi",
		Params: []Param{
			{Name: "heartbeat", Label: "heartbeat interval", Kind: KindDuration, Min: "10ms", Max: "30s", Default: "200ms", Help: "application heartbeat and WebSocket ping interval"},
			{Name: "misses", Label: "missed heartbeats", Kind: KindInt, Min: "1", Max: "20", Default: "3", Help: "missed heartbeats (or pings) before the peer is declared dead"},
			{Name: "keepalive_idle", Label: "keepalive: idle before probing", Kind: KindDuration, Min: "10ms", Max: "30s", Default: "200ms", Help: "TCP keepalive: silence before the first probe"},
			{Name: "keepalive_interval", Label: "keepalive: time between probes", Kind: KindDuration, Min: "10ms", Max: "30s", Default: "200ms", Help: "TCP keepalive: time between probes"},
			{Name: "keepalive_count", Label: "keepalive: probes", Kind: KindInt, Min: "1", Max: "20", Unit: "probes", Default: "3", Help: "TCP keepalive: unanswered probes before giving up"},
			{Name: "idle_timeout", Label: "QUIC idle timeout", Kind: KindDuration, Min: "10ms", Max: "30s", Default: "600ms", Help: "QUIC MaxIdleTimeout on both sides"},
			{Name: "quic_keepalive", Label: "QUIC keepalive period", Kind: KindDuration, Min: "10ms", Max: "30s", Default: "200ms", Help: "quic-go KeepAlivePeriod on both sides"},
		},
		Run: runDeadPeer,
	})
}

type dpConfig struct {
	hb, kaIdle, kaIntvl, idle, qka time.Duration
	misses, kaCount                int
}

// dpDetect is one side of one mechanism noticing the peer is gone.
type dpDetect struct {
	mech, side string
	interval   time.Duration // the mechanism's configured interval
	lo, hi     time.Duration // when it should notice, after the blackhole
	at         time.Time     // zero: not noticed
	how        string
}

type dpRun struct {
	ctx   context.Context
	env   *Env
	cfg   dpConfig
	black chan struct{} // closed when the link goes black
	mu    sync.Mutex
	found []*dpDetect
}

func (r *dpRun) noticed(d *dpDetect, how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.at.IsZero() {
		d.at, d.how = time.Now(), how
	}
}

func (r *dpRun) add(mech, side string, interval, lo, hi time.Duration) *dpDetect {
	d := &dpDetect{mech: mech, side: side, interval: interval, lo: lo, hi: hi}
	r.mu.Lock()
	r.found = append(r.found, d)
	r.mu.Unlock()
	return d
}

func runDeadPeer(ctx context.Context, env *Env) (*Result, error) {
	cfg := dpConfig{hb: env.Duration("heartbeat"), misses: env.Int("misses"), kaIdle: env.Duration("keepalive_idle"),
		kaIntvl: env.Duration("keepalive_interval"), kaCount: env.Int("keepalive_count"),
		idle: env.Duration("idle_timeout"), qka: env.Duration("quic_keepalive")}
	rtt := env.RTT()
	r := &dpRun{env: env, cfg: cfg, black: make(chan struct{})}
	// Everything should be noticed well before this; it bounds the run.
	longest := max(time.Duration(cfg.misses+1)*cfg.hb, cfg.kaIdle+time.Duration(cfg.kaCount+1)*cfg.kaIntvl, cfg.idle+cfg.qka)
	limit := 2*longest + 2*rtt + 500*time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, limit+15*time.Second+10*rtt)
	defer cancel()
	r.ctx = ctx

	// A keepalive probe is an out-of-window segment, and netstack (like Linux) answers those at
	// most once per 500 ms per connection: with probes faster than that, most go unanswered and
	// a healthy connection on a lossy link is declared dead when the one answered probe is lost.
	// Half the shortest gap between two probes reaching the peer (idle after an answer, interval
	// after a miss) lets every probe be answered and still limits an ACK loop.
	oow := min(cfg.kaIdle, cfg.kaIntvl, time.Second) / 2
	for _, h := range []*link.Host{env.Link.Client(), env.Link.Server()} {
		if err := h.SetInvalidRateLimit(oow); err != nil {
			return nil, err
		}
	}
	var g transports.Group
	stop, stopAll := context.WithCancel(ctx)
	defer func() {
		stopAll()
		g.Close()
	}()
	setups := []func(context.Context, *transports.Group) error{r.tcpKeepalive, r.heartbeat, r.quicIdle, r.wsPing}
	for _, f := range setups {
		if err := f(stop, &g); err != nil {
			return nil, err
		}
	}
	// Let every mechanism settle into its rhythm, then cut the link.
	time.Sleep(max(2*cfg.hb, 2*cfg.qka, 2*rtt))
	for _, d := range link.Directions {
		im := env.Link.Impairment(d)
		im.Blackhole = true
		if err := env.Link.SetImpairment(d, im); err != nil {
			return nil, err
		}
	}
	blackAt := time.Now()
	close(r.black)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			r.mu.Lock()
			all := true
			for _, d := range r.found {
				all = all && !d.at.IsZero()
			}
			r.mu.Unlock()
			if all {
				break wait
			}
		}
	}
	return r.report(blackAt, limit), nil
}

func (r *dpRun) report(blackAt time.Time, limit time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{}
	tb := Table{Title: "Time from the link going black until each side declared the peer dead",
		Columns: []string{"mechanism", "side", "interval", "expected", "noticed after ms", "intervals", "how"}}
	s := Series{Chart: "Time to notice a dead peer", Name: "detection", XLabel: "mechanism #", YLabel: "ms after the link went black", Style: "dots"}
	var parts []string
	for i, d := range r.found {
		exp := fmt.Sprintf("%.0f–%.0f ms", millis(d.lo), millis(d.hi))
		if d.at.IsZero() {
			tb.Rows = append(tb.Rows, []string{d.mech, d.side, d.interval.String(), exp, "-", "-", fmt.Sprintf("not noticed within %v", limit)})
			parts = append(parts, fmt.Sprintf("%s (%s) had not noticed after %v", d.mech, d.side, limit))
			continue
		}
		after := d.at.Sub(blackAt)
		iv := float64(after) / float64(d.interval)
		res.Metrics = append(res.Metrics,
			Metric{Transport: d.mech, Name: "detect_" + d.side, Unit: "ms", Value: hundredths(millis(after))},
			Metric{Transport: d.mech, Name: "detect_" + d.side, Unit: "intervals", Value: hundredths(iv)})
		tb.Rows = append(tb.Rows, []string{d.mech, d.side, d.interval.String(), exp, fmt.Sprintf("%.0f", millis(after)), fmt.Sprintf("%.1f", iv), d.how})
		s.Points = append(s.Points, Point{X: float64(i + 1), Y: hundredths(millis(after))})
		parts = append(parts, fmt.Sprintf("%s (%s) after %.0f ms = %.1f × %v", d.mech, d.side, millis(after), iv, d.interval))
	}
	res.Tables = []Table{tb}
	res.Series = []Series{s}
	res.Conclusion = "After the link went black, the peer was declared dead by " + strings.Join(parts, "; ") + "."
	return res
}

// tcpKeepalive: a quiet TCP connection with netstack keepalive on both ends.
func (r *dpRun) tcpKeepalive(ctx context.Context, g *transports.Group) error {
	c := r.cfg
	// Textbook: the last segment received, idle, then count probes interval apart. A probe sent
	// just before the link went black can already count as unanswered, hence count−1 below.
	lo := time.Duration(c.kaCount-1) * c.kaIntvl
	hi := c.kaIdle + time.Duration(c.kaCount)*c.kaIntvl + c.kaIntvl
	cli := r.add("tcp-keepalive", "client", c.kaIntvl, lo, hi)
	srvD := r.add("tcp-keepalive", "server", c.kaIntvl, lo, hi)
	set := func(conn net.Conn) error {
		tc, err := linkTCP(conn)
		if err != nil {
			return err
		}
		return tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: c.kaIdle, Interval: c.kaIntvl, Count: c.kaCount})
	}
	watch := func(conn net.Conn, d *dpDetect) {
		_, err := conn.Read(make([]byte, 1)) // nothing is ever sent: only an error returns
		if ctx.Err() == nil {
			r.noticed(d, "read failed: "+errString(err))
		}
	}
	srv, err := startTCPHost(r.ctx, r.env, func(conn net.Conn) {
		if err := set(conn); err != nil {
			r.noticed(srvD, "could not enable keepalive: "+err.Error())
			conn.Close()
			return
		}
		watch(conn, srvD)
		conn.Close()
	})
	if err != nil {
		return err
	}
	g.Defer(srv.Close)
	conn, err := transports.DialTCP(r.ctx, r.env.Link.Client(), srv.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return err
	}
	g.Add(conn.Close)
	if err := set(conn); err != nil {
		return err
	}
	g.Go(func() { watch(conn, cli) })
	return nil
}

// heartbeat: an application ping/pong over TCP; each side declares the peer dead after misses
// heartbeat intervals with nothing received.
func (r *dpRun) heartbeat(ctx context.Context, g *transports.Group) error {
	c := r.cfg
	dead := time.Duration(c.misses) * c.hb
	lo, hi := dead-c.hb, dead+c.hb
	cli := r.add("tcp-heartbeat", "client", c.hb, lo, hi)
	srvD := r.add("tcp-heartbeat", "server", c.hb, lo, hi)
	// Both sides: read lines with a deadline of misses intervals after the last one.
	listen := func(conn net.Conn, d *dpDetect, answer bool) {
		br := bufio.NewReader(conn)
		for {
			conn.SetReadDeadline(time.Now().Add(dead))
			line, err := br.ReadString('\n')
			if err != nil {
				var ne net.Error
				if ctx.Err() == nil {
					if errors.As(err, &ne) && ne.Timeout() {
						r.noticed(d, fmt.Sprintf("no heartbeat for %d × %v", c.misses, c.hb))
					} else {
						r.noticed(d, "read failed: "+err.Error())
					}
				}
				return
			}
			if answer && line == "ping\n" {
				conn.SetWriteDeadline(time.Now().Add(dead))
				if _, err := conn.Write([]byte("pong\n")); err != nil {
					return
				}
			}
		}
	}
	srv, err := startTCPHost(r.ctx, r.env, func(conn net.Conn) {
		listen(conn, srvD, true)
		conn.Close()
	})
	if err != nil {
		return err
	}
	g.Defer(srv.Close)
	conn, err := transports.DialTCP(r.ctx, r.env.Link.Client(), srv.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return err
	}
	g.Add(conn.Close)
	g.Go(func() { listen(conn, cli, false) })
	g.Go(func() {
		t := time.NewTicker(c.hb)
		defer t.Stop()
		for {
			conn.SetWriteDeadline(time.Now().Add(dead))
			if _, err := conn.Write([]byte("ping\n")); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return nil
}

// quicIdle: a quiet QUIC connection with MaxIdleTimeout and KeepAlivePeriod on both sides.
func (r *dpRun) quicIdle(ctx context.Context, g *transports.Group) error {
	c := r.cfg
	// The idle timer restarts on the last packet received (at most a keep-alive period and a
	// round trip before the blackhole, or up to a one-way delay after it for a packet already on
	// the wire) or on the first ack-eliciting packet sent after that (at most a keep-alive period
	// later). quic-go never times out sooner than three PTOs, which these defaults exceed.
	lo, hi := c.idle-c.qka-r.env.RTT(), c.idle+c.qka+r.env.RTT()
	cli := r.add("quic-idle", "client", c.idle, lo, hi)
	srvD := r.add("quic-idle", "server", c.idle, lo, hi)
	o := transports.QUICOptions{Config: r.env.QUICConfig(), MaxIdleTimeout: c.idle, KeepAlivePeriod: c.qka}
	srvTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return err
	}
	so := o
	so.TLS = srvTLS
	ln, err := transports.ListenQUIC(r.ctx, r.env.Link.Server(), net.JoinHostPort(r.env.Link.ServerAddr().String(), "0"), so)
	if err != nil {
		return err
	}
	g.Add(ln.Close)
	watch := func(conn *quic.Conn, d *dpDetect) {
		select {
		case <-conn.Context().Done():
		case <-ctx.Done():
			conn.CloseWithError(0, "")
			return
		}
		err := context.Cause(conn.Context())
		var ie *quic.IdleTimeoutError
		if errors.As(err, &ie) {
			r.noticed(d, "idle timeout: "+err.Error())
		} else {
			r.noticed(d, "closed: "+errString(err))
		}
	}
	g.Go(func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		watch(conn, srvD)
	})
	co := o
	co.TLS = transports.ClientTLSConfig(srvTLS)
	conn, err := transports.DialQUIC(r.ctx, r.env.Link.Client(), ln.Addr().String(), co)
	if err != nil {
		return err
	}
	g.Add(conn.Endpoint.Close)
	g.Go(func() { watch(conn.Conn, cli) })
	return nil
}

// wsPing: the WebSocket client pings every heartbeat and gives up after misses pings without a
// pong (each waits one interval).
func (r *dpRun) wsPing(ctx context.Context, g *transports.Group) error {
	c := r.cfg
	dead := time.Duration(c.misses) * c.hb
	cli := r.add("ws-ping", "client", c.hb, dead-r.env.RTT(), dead+c.hb)
	srv, err := startHTTPHost(r.ctx, r.env, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		conn, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for { // reading answers the client's pings
			if _, _, err := conn.Read(req.Context()); err != nil {
				return
			}
		}
	}))
	if err != nil {
		return err
	}
	g.Add(srv.Close)
	conn, err := transports.DialWS(r.ctx, r.env.Link.Client(), "ws://"+srv.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		return err
	}
	g.Add(conn.CloseNow)
	conn.CloseRead(ctx) // a reader for the pongs
	g.Go(func() {
		missed := 0
		for {
			start := time.Now()
			pctx, cancel := context.WithTimeout(ctx, c.hb)
			err := conn.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				missed++
				if missed >= c.misses {
					r.noticed(cli, fmt.Sprintf("%d pings without a pong", missed))
					return
				}
			} else {
				missed = 0
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.hb - time.Since(start)):
			}
		}
	})
	return nil
}
