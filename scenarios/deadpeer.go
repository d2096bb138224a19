package scenarios

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

Read the "heard nothing for" column: how long that side had received nothing (measured on the link, from the last packet delivered to it) when it gave up, beside the theory: idle + count × interval for keepalive, misses × interval for the heartbeat and WebSocket pings (counting only packets that carry data: a bare ACK is not a heartbeat), the keep-alive wait plus max(idle timeout, 3 PTO) for QUIC. Each needs a few intervals of silence, by design — one lost packet must not kill a healthy connection — so choosing the interval is choosing how fast you notice, against how much traffic idle connections cost. The blackout falls at a moment the seed picks, so different seeds catch each mechanism at a different point of its cycle; "after the blackout" then varies from run to run while "heard nothing for" stays put.`,
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
	// theory is how long the side must hear nothing before it gives up, after the last packet it
	// received (data only, for the mechanisms that ignore bare ACKs); theoryHi, when set, is what
	// it waits on a quiet connection, theory then the least.
	theory, theoryHi time.Duration
	theoryText       string
	dataOnly         bool // only TCP segments with a payload count as heard
	flow             dpFlow
	at               time.Time // zero: not noticed
	how              string
}

// dpFlow names a connection on the link by its IP protocol and the client's port.
type dpFlow struct {
	proto string // "tcp" or "udp"
	port  uint16
}

// dpHeard is what one connection's two sides received and sent, from the link's packets.
type dpHeard struct {
	last, lastData [2]time.Time // by the side that received: 0 client, 1 server
	sent           [2][]dpSent  // by the side that sent, capped; a TCP RST aside
	rst            [2]time.Time // the last TCP RST each side sent
	maxSeq         [2]uint32    // the highest TCP sequence number each side sent
}

type dpSent struct {
	at  time.Time
	seq uint32 // TCP
}

const dpMaxSends = 4096 // packets kept per side and connection

type dpRun struct {
	ctx     context.Context
	env     *Env
	cfg     dpConfig
	black   chan struct{} // closed when the link goes black
	blackAt time.Time     // set before black is closed
	mu      sync.Mutex
	found   []*dpDetect
	heard   map[dpFlow]*dpHeard
}

func (r *dpRun) noticed(d *dpDetect, how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.at.IsZero() {
		d.at, d.how = time.Now(), how
	}
}

func (r *dpRun) add(d *dpDetect) *dpDetect {
	r.mu.Lock()
	r.found = append(r.found, d)
	r.mu.Unlock()
	return d
}

// watchFlow starts noting the packets of flow for the detectors ds.
func (r *dpRun) watchFlow(flow dpFlow, ds ...*dpDetect) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.heard[flow] == nil {
		r.heard[flow] = &dpHeard{}
	}
	for _, d := range ds {
		d.flow = flow
	}
}

// onPacket notes, for the lesson's connections, when each side received a packet (the time the
// link delivers it) and when each side sent one.
func (r *dpRun) onPacket(pk link.Packet) {
	d := pk.Decoded
	if d.Proto != "tcp" && d.Proto != "udp" {
		return
	}
	port, to := d.Dst.Port(), 0 // to: the side that receives
	if pk.Dir == link.ClientToServer {
		port, to = d.Src.Port(), 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.heard[dpFlow{d.Proto, port}]
	if h == nil {
		return
	}
	if d.Proto == "tcp" && d.Flags&link.FlagRST != 0 {
		h.rst[1-to] = pk.Time
	} else if len(h.sent[1-to]) < dpMaxSends {
		h.sent[1-to] = append(h.sent[1-to], dpSent{pk.Time, d.TCPSeq})
		if len(h.sent[1-to]) == 1 || int32(d.TCPSeq-h.maxSeq[1-to]) > 0 {
			h.maxSeq[1-to] = d.TCPSeq
		}
	}
	if pk.Fate != link.Delivered {
		return
	}
	at := pk.Time.Add(pk.Latency)
	h.last[to] = later(h.last[to], at)
	if d.PayloadLen > 0 {
		h.lastData[to] = later(h.lastData[to], at)
	}
}

func sideIndex(side string) int {
	if side == "server" {
		return 1
	}
	return 0
}

func runDeadPeer(ctx context.Context, env *Env) (*Result, error) {
	cfg := dpConfig{hb: env.Duration("heartbeat"), misses: env.Int("misses"), kaIdle: env.Duration("keepalive_idle"),
		kaIntvl: env.Duration("keepalive_interval"), kaCount: env.Int("keepalive_count"),
		idle: env.Duration("idle_timeout"), qka: env.Duration("quic_keepalive")}
	rtt := env.RTT()
	r := &dpRun{env: env, cfg: cfg, black: make(chan struct{}), heard: map[dpFlow]*dpHeard{}}
	defer env.Link.OnPacket(r.onPacket)()
	// Everything should be noticed well before this; it bounds the run.
	longest := max(time.Duration(cfg.misses+1)*cfg.hb, cfg.kaIdle+time.Duration(cfg.kaCount+1)*cfg.kaIntvl, cfg.idle+cfg.qka)
	limit := 2*longest + 2*rtt + 500*time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, 2*limit+15*time.Second+10*rtt)
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
	// The lesson's own clock: how late a 5 ms ticker ran at worst, from set-up to the end. A
	// process that stalls longer than a mechanism's deadline can make that mechanism give up on
	// a healthy connection; the report says so rather than blame the protocol.
	stallDone := make(chan struct{})
	var stall time.Duration
	stallMeter := make(chan struct{})
	go func() {
		defer close(stallMeter)
		const every = 5 * time.Millisecond
		t := time.NewTicker(every)
		defer t.Stop()
		prev := time.Now()
		for {
			select {
			case <-stallDone:
				return
			case now := <-t.C:
				stall = max(stall, now.Sub(prev)-every)
				prev = now
			}
		}
	}()
	stopMeter := func() time.Duration {
		select {
		case <-stallDone:
		default:
			close(stallDone)
		}
		<-stallMeter
		return stall
	}
	defer stopMeter()
	setups := []func(context.Context, *transports.Group) error{r.tcpKeepalive, r.heartbeat, r.quicIdle, r.wsPing}
	for _, f := range setups {
		if err := f(stop, &g); err != nil {
			return nil, err
		}
	}
	// Let every mechanism settle into its rhythm, then cut the link at a moment the seed picks
	// within the longest rhythm, so that runs see the blackout fall at different points of each
	// mechanism's cycle (just after a heartbeat, just before a probe, ...).
	rhythm := max(cfg.hb, cfg.qka, cfg.kaIdle, cfg.kaIntvl)
	offset := time.Duration(rand.New(rand.NewPCG(uint64(env.Seed), 0xdead)).Float64() * float64(rhythm))
	time.Sleep(max(2*cfg.hb, 2*cfg.qka, 2*rtt, cfg.kaIdle+cfg.kaIntvl) + offset)
	r.mu.Lock()
	r.blackAt = time.Now()
	r.mu.Unlock()
	for _, d := range link.Directions {
		im := env.Link.Impairment(d)
		im.Blackhole = true
		if err := env.Link.SetImpairment(d, im); err != nil {
			return nil, err
		}
	}
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
	return r.report(offset, limit, stopMeter()), nil
}

func (r *dpRun) report(offset, limit, stall time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{}
	res.Metrics = append(res.Metrics, Metric{Name: "blackout_offset", Unit: "ms", Value: hundredths(millis(offset))},
		Metric{Name: "process_stall_max", Unit: "ms", Value: hundredths(millis(stall))})
	tb := Table{Title: "How long each side heard nothing before it declared the peer dead",
		Columns: []string{"mechanism", "side", "interval", "heard nothing for ms", "theory", "packets it sent meanwhile", "after the blackout ms", "how"}}
	s := Series{Chart: "Silence before a dead peer is declared", Name: "measured", XLabel: "mechanism #", YLabel: "ms since the last packet received", Style: "dots"}
	th := Series{Chart: "Silence before a dead peer is declared", Name: "theory", XLabel: "mechanism #", YLabel: "ms since the last packet received", Style: "dots"}
	var parts, kills []string
	for i, d := range r.found {
		if d.at.IsZero() {
			tb.Rows = append(tb.Rows, []string{d.mech, d.side, d.interval.String(), "-", d.theoryText, "-", "-", fmt.Sprintf("not noticed within %v", limit)})
			parts = append(parts, fmt.Sprintf("%s (%s) had not noticed after %v", d.mech, d.side, limit))
			continue
		}
		h := r.heard[d.flow]
		si := sideIndex(d.side)
		last := h.last[si]
		if d.dataOnly {
			last = h.lastData[si]
		}
		silence := d.at.Sub(last)
		// A keepalive probe repeats the last byte acknowledged: its sequence number is one below
		// the connection's next (on these connections, which carry no data, below every other
		// segment the side sent).
		sentMeanwhile, probes := 0, 0
		for _, p := range h.sent[si] {
			if p.at.After(last) && !p.at.After(d.at) {
				sentMeanwhile++
				if d.flow.proto == "tcp" && p.seq == h.maxSeq[si]-1 {
					probes++
				}
			}
		}
		sentText := fmt.Sprint(sentMeanwhile)
		if d.mech == "tcp-keepalive" {
			sentText = fmt.Sprintf("%d, %d of them probes", sentMeanwhile, probes)
			res.Metrics = append(res.Metrics, Metric{Transport: d.mech, Name: "probes_in_silence_" + d.side, Unit: "packets", Value: float64(probes)})
		}
		if t := h.rst[si]; t.After(last) && !t.After(d.at) {
			sentText += " and a RST"
		}
		after := d.at.Sub(r.blackAt)
		healthy := d.at.Before(r.blackAt)
		res.Metrics = append(res.Metrics,
			Metric{Transport: d.mech, Name: "detect_" + d.side, Unit: "ms", Value: hundredths(millis(after))},
			Metric{Transport: d.mech, Name: "silence_" + d.side, Unit: "ms", Value: hundredths(millis(silence))},
			Metric{Transport: d.mech, Name: "silence_" + d.side, Unit: "intervals", Value: hundredths(float64(silence) / float64(d.interval))},
			Metric{Transport: d.mech, Name: "theory_min_" + d.side, Unit: "ms", Value: hundredths(millis(d.theory))},
			Metric{Transport: d.mech, Name: "theory_" + d.side, Unit: "ms", Value: hundredths(millis(max(d.theory, d.theoryHi)))},
			Metric{Transport: d.mech, Name: "sent_in_silence_" + d.side, Unit: "packets", Value: float64(sentMeanwhile)},
			Metric{Transport: d.mech, Name: "healthy_killed_" + d.side, Unit: "bool", Value: b2f(healthy)})
		afterText := fmt.Sprintf("%.0f", millis(after))
		if healthy {
			afterText = fmt.Sprintf("%.0f before it: a healthy connection killed", millis(-after))
			kills = append(kills, fmt.Sprintf("%s (%s)", d.mech, d.side))
		}
		tb.Rows = append(tb.Rows, []string{d.mech, d.side, d.interval.String(), fmt.Sprintf("%.0f", millis(silence)), d.theoryText,
			sentText, afterText, d.how})
		s.Points = append(s.Points, Point{X: float64(i + 1), Y: hundredths(millis(silence))})
		th.Points = append(th.Points, Point{X: float64(i + 1), Y: hundredths(millis(max(d.theory, d.theoryHi)))})
		parts = append(parts, fmt.Sprintf("%s (%s) after hearing nothing for %.0f ms (theory %s)", d.mech, d.side, millis(silence), d.theoryText))
	}
	res.Tables = []Table{tb}
	res.Series = []Series{s, th}
	res.Conclusion = fmt.Sprintf("The link went black %.0f ms into the run's rhythm. The peer was declared dead by %s.", millis(offset), strings.Join(parts, "; "))
	if len(kills) > 0 {
		res.Conclusion += fmt.Sprintf(" %s gave up before the link went black: on a lossy link, too few misses allowed kill a healthy connection.", strings.Join(kills, " and "))
	}
	if stall >= r.cfg.hb {
		res.Conclusion += fmt.Sprintf(" This machine stalled the lesson for up to %.0f ms (its own 5 ms clock ran that late), longer than the heartbeat interval: timers fired late and packets went out late, so this run's figures are the machine's as much as the protocols'.", millis(stall))
	}
	return res
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// tcpKeepalive: a quiet TCP connection with netstack keepalive on both ends.
func (r *dpRun) tcpKeepalive(ctx context.Context, g *transports.Group) error {
	c := r.cfg
	// The stack sends its first probe after idle with nothing received, then one every interval,
	// and gives up when the count-th has gone unanswered for an interval: idle + count × interval
	// after the last segment it received.
	theory := c.kaIdle + time.Duration(c.kaCount)*c.kaIntvl
	text := fmt.Sprintf("%v + %d × %v = %.0f ms", c.kaIdle, c.kaCount, c.kaIntvl, millis(theory))
	cli := r.add(&dpDetect{mech: "tcp-keepalive", side: "client", interval: c.kaIntvl, theory: theory, theoryText: text})
	srvD := r.add(&dpDetect{mech: "tcp-keepalive", side: "server", interval: c.kaIntvl, theory: theory, theoryText: text})
	srv, err := startTCPHost(r.ctx, r.env, func(conn net.Conn) { r.keepaliveWatch(ctx, conn, srvD) })
	if err != nil {
		return err
	}
	g.Defer(srv.Close)
	conn, err := transports.DialTCP(r.ctx, r.env.Link.Client(), srv.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return err
	}
	g.Add(conn.Close)
	r.watchFlow(dpFlow{"tcp", uint16(conn.LocalAddr().(*net.TCPAddr).Port)}, cli, srvD)
	g.Go(func() { r.keepaliveWatch(ctx, conn, cli) })
	return nil
}

// keepaliveWatch enables keepalive on conn and waits for the stack to give the peer up.
func (r *dpRun) keepaliveWatch(ctx context.Context, conn net.Conn, d *dpDetect) {
	defer conn.Close()
	c := r.cfg
	tc, err := linkTCP(conn)
	if err == nil {
		err = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: c.kaIdle, Interval: c.kaIntvl, Count: c.kaCount})
	}
	if err != nil {
		r.noticed(d, "could not enable keepalive: "+err.Error())
		return
	}
	_, err = conn.Read(make([]byte, 1)) // nothing is ever sent: only an error returns
	if ctx.Err() == nil {
		r.noticed(d, "read failed: "+errString(err))
	}
}

// heartbeat: an application ping/pong over TCP; each side declares the peer dead after misses
// heartbeat intervals with no heartbeat received.
func (r *dpRun) heartbeat(ctx context.Context, g *transports.Group) error {
	c := r.cfg
	dead := time.Duration(c.misses) * c.hb
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
	text := fmt.Sprintf("%d × %v = %.0f ms", c.misses, c.hb, millis(dead))
	cli := r.add(&dpDetect{mech: "tcp-heartbeat", side: "client", interval: c.hb, theory: dead, theoryText: text, dataOnly: true})
	srvD := r.add(&dpDetect{mech: "tcp-heartbeat", side: "server", interval: c.hb, theory: dead, theoryText: text, dataOnly: true})
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
	r.watchFlow(dpFlow{"tcp", uint16(conn.LocalAddr().(*net.TCPAddr).Port)}, cli, srvD)
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
	// quic-go sends a keep-alive PING when it has received nothing for max(min(keep-alive period,
	// idle/2), 1.5 PTO), and closes when nothing has been received for max(idle, 3 PTO) since the
	// first ack-eliciting packet it sent after the last one it received — that PING, on a quiet
	// connection: in all, the keep-alive wait plus max(idle, 3 PTO) after the last packet
	// received. Sooner, down to max(idle, 3 PTO), when a probe for a lost packet went first.
	theory := func(conn *quic.Conn, d *dpDetect) {
		st := conn.ConnectionStats()
		pto := st.SmoothedRTT + max(4*st.MeanDeviation, time.Millisecond) + 25*time.Millisecond // peer's max_ack_delay: quic-go's default
		ka := max(min(c.qka, c.idle/2), pto*3/2)
		idle := max(c.idle, 3*pto)
		r.mu.Lock()
		d.theory, d.theoryHi = idle, ka+idle
		d.theoryText = fmt.Sprintf("keep-alive wait %.0f + max(%v, 3 PTO = %.0f) = %.0f ms (%.0f if a probe went first)",
			millis(ka), c.idle, millis(3*pto), millis(ka+idle), millis(idle))
		r.mu.Unlock()
	}
	watch := func(conn *quic.Conn, d *dpDetect) {
		select {
		case <-r.black:
			theory(conn, d)
		case <-ctx.Done():
		case <-conn.Context().Done():
		}
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
	co := o
	co.TLS = transports.ClientTLSConfig(srvTLS)
	accepted := make(chan *quic.Conn, 1)
	g.Go(func() {
		conn, err := ln.Accept(ctx)
		if err == nil {
			accepted <- conn
		}
	})
	conn, err := transports.DialQUIC(r.ctx, r.env.Link.Client(), ln.Addr().String(), co)
	if err != nil {
		return err
	}
	g.Add(conn.Endpoint.Close)
	cli := r.add(&dpDetect{mech: "quic-idle", side: "client", interval: c.idle})
	srvD := r.add(&dpDetect{mech: "quic-idle", side: "server", interval: c.idle})
	r.watchFlow(dpFlow{"udp", uint16(conn.LocalAddr().(*net.UDPAddr).Port)}, cli, srvD)
	g.Go(func() { watch(conn.Conn, cli) })
	g.Go(func() {
		select {
		case sc := <-accepted:
			watch(sc, srvD)
		case <-ctx.Done():
		}
	})
	return nil
}

// wsPing: the WebSocket client pings every heartbeat interval and gives the peer up when no pong
// has arrived for misses intervals.
func (r *dpRun) wsPing(ctx context.Context, g *transports.Group) error {
	c := r.cfg
	dead := time.Duration(c.misses) * c.hb
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
	cli := r.add(&dpDetect{mech: "ws-ping", side: "client", interval: c.hb, theory: dead, dataOnly: true,
		theoryText: fmt.Sprintf("%d × %v = %.0f ms", c.misses, c.hb, millis(dead))})
	r.watchFlow(dpFlow{"tcp", uint16(conn.TCP.LocalAddr().(*net.TCPAddr).Port)}, cli)
	pongs := make(chan struct{}, 1)
	g.Go(func() { // a ping every interval, each waiting for its pong
		t := time.NewTicker(c.hb)
		defer t.Stop()
		for {
			g.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, dead)
				defer cancel()
				if conn.Ping(pctx) == nil {
					select {
					case pongs <- struct{}{}:
					default:
					}
				}
			})
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	g.Go(func() { // the watchdog: misses intervals without a pong
		t := time.NewTimer(dead)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-pongs:
				t.Reset(dead)
			case <-t.C:
				r.noticed(cli, fmt.Sprintf("no pong for %d × %v", c.misses, c.hb))
				return
			}
		}
	})
	return nil
}
