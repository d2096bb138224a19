package scenarios

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wireplay/wireplay/link"
)

func init() {
	Register(&Scenario{
		Name:    "backlog",
		Title:   "A full accept backlog",
		Summary: "a burst of connects into a listener with a tiny backlog whose application is slow to accept: dropped SYNs, SYN cookies, retries",
		Explain: `listen(backlog) does not limit how many clients may connect; it limits how many finished handshakes the kernel keeps waiting for the application's accept. While the application is busy, those connections are already established — the client has sent its data and is waiting — and once the queue is full the server has to refuse new ones somehow.

It never says no. A SYN that arrives while the queue is full is dropped silently, and the client, hearing nothing, sends it again after its initial retransmission timeout (1 s in netstack and Linux), then 2 s later, then 4 s. One full queue turns a connect that costs one round trip into one that costs a second or more. While handshakes are still in progress the server may instead answer with a SYN cookie: a SYN-ACK whose sequence number encodes the connection, so it keeps no state at all. That works, but if the queue is full when the client's final ACK comes back, that ACK is dropped too — and now the client thinks it is connected while the server knows nothing of it, until the client's data is retransmitted.

Look at the table: connects whose SYN was sent more than once, and how long they took compared with the round trip; connects that returned at once but whose first data had to be sent again; and the counters from the server's stack (SYNs dropped, cookies sent, final ACKs dropped), which say which of the two happened here. Raise backlog to connects and all of it goes away.`,
		Preset: "clean",
		Params: []Param{
			{Name: "connects", Label: "connects in the burst", Kind: KindInt, Min: "1", Max: "200", Unit: "connects", Default: "20", Help: "connects in the burst"},
			{Name: "backlog", Label: "accept backlog", Kind: KindInt, Min: "1", Max: "1024", Unit: "connections", Default: "2", Help: "the listener's accept backlog"},
			{Name: "hold", Label: "wait before the first accept", Kind: KindDuration, Min: "0", Max: "10s", Default: "500ms", Help: "how long the application waits before its first accept"},
			{Name: "spacing", Label: "time between connects", Kind: KindDuration, Min: "0", Max: "5s", Default: "5ms", Help: "time between two connects of the burst (connects × spacing at most 5 s)"},
			{Name: "rtt", Label: "added round trip", Kind: KindDuration, Min: "0", Max: "2s", Default: "40ms", Help: "round-trip time added to the preset's (half each way)"},
		},
		Run: runBacklog,
	})
}

// blConn is one connect of the burst.
type blConn struct {
	port    uint16
	connect time.Duration // Dial's duration; -1 when it failed
	served  time.Duration // from the connect's start to the echo of its first byte; -1 for never
	err     error
	// From the packet log:
	syns, synacks int // SYNs the client sent, SYN-ACKs it was sent
	dataSent      int // data segments the client sent (more than 1: retransmitted)
}

func runBacklog(ctx context.Context, env *Env) (*Result, error) {
	n, backlog := env.Int("connects"), env.Int("backlog")
	hold, spacing, extra := env.Duration("hold"), env.Duration("spacing"), env.Duration("rtt")
	if time.Duration(n)*spacing > 5*time.Second { // each alone is checked against its declaration
		return nil, fmt.Errorf("backlog: spacing %v × %d connects is over 5 s", spacing, n)
	}
	l := env.Link
	st := env.Settings
	st.ClientToServer.Delay += extra / 2
	st.ServerToClient.Delay += extra - extra/2
	if err := l.Apply(st); err != nil {
		return nil, err
	}
	run := &blRun{l: l, n: n, backlog: backlog, hold: hold, spacing: spacing,
		rtt: st.ClientToServer.Delay + st.ServerToClient.Delay}
	ctx, cancel := context.WithTimeout(ctx, hold+time.Duration(n)*spacing+8*time.Second)
	defer cancel()

	ln, err := l.Server().ListenBacklog(ctx, "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"), backlog)
	if err != nil {
		return nil, err
	}
	run.serverPort = uint16(ln.Addr().(*net.TCPAddr).Port)
	start := time.Now()
	stop := blServe(ctx, ln, hold)
	defer stop()
	run.burst(ctx, ln.Addr().String(), start)
	run.qs = l.Server().ListenQueue()
	run.countPackets()
	return run.report(), nil
}

// blRun is one backlog run: its settings, each connect of the burst and what the server's stack
// counted.
type blRun struct {
	l                *link.Link
	n, backlog       int
	hold, spacing    time.Duration
	rtt              time.Duration
	serverPort       uint16
	conns            []*blConn
	qs               link.ListenQueueStats
	totalSyns, ports int // SYNs on the wire, and the client ports that sent them
}

// blServe starts the slow application: it accepts only after hold, then echoes one byte on each
// connection. stop closes the listener and every accepted connection and waits for them.
func blServe(ctx context.Context, ln net.Listener, hold time.Duration) (stop func()) {
	var (
		srvWG   sync.WaitGroup
		mu      sync.Mutex
		accepts []net.Conn
	)
	srvWG.Go(func() {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
			return
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepts = append(accepts, c)
			mu.Unlock()
			srvWG.Go(func() {
				c.SetDeadline(time.Now().Add(8 * time.Second))
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					c.Write(b)
				}
			})
		}
	})
	return func() {
		ln.Close()
		mu.Lock()
		for _, c := range accepts {
			c.Close()
		}
		mu.Unlock()
		srvWG.Wait()
	}
}

// burst dials r.n connects r.spacing apart from start, each writing one byte and reading its echo.
func (r *blRun) burst(ctx context.Context, addr string, start time.Time) {
	r.conns = make([]*blConn, r.n)
	var cliWG sync.WaitGroup
	for i := range r.n {
		bc := &blConn{connect: -1, served: -1}
		r.conns[i] = bc
		select {
		case <-time.After(time.Until(start.Add(time.Duration(i) * r.spacing))):
		case <-ctx.Done():
		}
		cliWG.Go(func() { r.connectOnce(ctx, addr, byte(i), bc) })
	}
	cliWG.Wait()
}

func (r *blRun) connectOnce(ctx context.Context, addr string, b byte, bc *blConn) {
	t0 := time.Now()
	c, err := r.l.Client().Dial(ctx, "tcp", addr)
	if err != nil {
		bc.err = err
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	bc.connect = time.Since(t0)
	bc.port = uint16(c.LocalAddr().(*net.TCPAddr).Port)
	buf := []byte{b}
	if _, err := c.Write(buf); err != nil {
		bc.err = err
		return
	}
	if _, err := c.Read(buf); err != nil {
		bc.err = err
		return
	}
	bc.served = time.Since(t0)
}

// countPackets counts each client port's SYNs, SYN-ACKs and data segments in the packet log.
func (r *blRun) countPackets() {
	byPort := map[uint16]*blConn{}
	for _, bc := range r.conns {
		if bc.port != 0 {
			byPort[bc.port] = bc
		}
	}
	var synsByPort = map[uint16]int{}
	for _, p := range r.l.Packets() {
		d := p.Decoded
		if d.Proto != "tcp" {
			continue
		}
		syn, ack := d.Flags&link.FlagSYN != 0, d.Flags&link.FlagACK != 0
		switch {
		case p.Dir == link.ClientToServer && d.Dst.Port() == r.serverPort:
			if syn && !ack {
				synsByPort[d.Src.Port()]++
			}
			if bc := byPort[d.Src.Port()]; bc != nil && d.PayloadLen > 0 {
				bc.dataSent++
			}
		case p.Dir == link.ServerToClient && d.Src.Port() == r.serverPort && syn && ack:
			if bc := byPort[d.Dst.Port()]; bc != nil {
				bc.synacks++
			}
		}
	}
	r.ports = len(synsByPort)
	for port, k := range synsByPort {
		r.totalSyns += k
		if bc := byPort[port]; bc != nil {
			bc.syns = k
		}
	}
}

// blRTO is netstack's (and Linux's) initial retransmission timeout for a SYN.
const blRTO = time.Second

// blTally sorts the connects by what happened to them; the figures are milliseconds.
type blTally struct {
	fast, slow, ackLost, served []float64
	failed, retried             int
}

func (r *blRun) report() *Result {
	res := &Result{}
	tbl := Table{Title: "Each connect", Columns: []string{"#", "client port", "SYNs sent", "SYN-ACKs", "connect", "first echo", "what happened"}}
	conn := Series{Chart: "Connect time", Name: "connect (SYN → SYN-ACK)", XLabel: "connect #", YLabel: "ms", Style: "dots"}
	served := Series{Chart: "Connect time", Name: "first echo (accepted and served)", XLabel: "connect #", YLabel: "ms", Style: "dots"}
	var t blTally
	for i, bc := range r.conns {
		what := "fit in the queue"
		switch {
		case bc.connect < 0:
			what = "failed: " + blErrString(bc.err)
			t.failed++
		case bc.syns > 1:
			what = fmt.Sprintf("SYN dropped; sent %d times", bc.syns)
			t.retried++
		case bc.dataSent > 1:
			what = "connected at once, but the final ACK was dropped: data sent again"
		}
		if bc.connect >= 0 {
			conn.Points = append(conn.Points, Point{X: float64(i + 1), Y: millis(bc.connect)})
			if bc.connect >= blRTO {
				t.slow = append(t.slow, millis(bc.connect))
			} else {
				t.fast = append(t.fast, millis(bc.connect))
			}
			if bc.syns <= 1 && bc.dataSent > 1 {
				t.ackLost = append(t.ackLost, millis(bc.served))
			}
		}
		if bc.served >= 0 {
			served.Points = append(served.Points, Point{X: float64(i + 1), Y: millis(bc.served)})
			t.served = append(t.served, millis(bc.served))
		}
		tbl.Rows = append(tbl.Rows, []string{fmt.Sprint(i + 1), fmt.Sprint(bc.port), fmt.Sprint(bc.syns), fmt.Sprint(bc.synacks),
			blMsOrDash(bc.connect), blMsOrDash(bc.served), what})
	}
	res.Series = []Series{conn, served}
	res.Tables = []Table{tbl}
	res.Metrics = r.metrics(&t)
	res.Conclusion = r.conclusion(&t)
	return res
}

func (r *blRun) metrics(t *blTally) []Metric {
	allConnect := sortedCopy(append(slices.Clone(t.fast), t.slow...))
	allServed := sortedCopy(t.served)
	ms := []Metric{
		{Transport: "tcp", Name: "connects", Unit: "count", Value: float64(r.n)},
		{Transport: "tcp", Name: "backlog", Unit: "count", Value: float64(r.backlog)},
		{Transport: "tcp", Name: "syns_sent", Unit: "count", Value: float64(r.totalSyns)},
		{Transport: "tcp", Name: "syn_retransmits", Unit: "count", Value: float64(r.totalSyns - r.ports)},
		{Transport: "tcp", Name: "connects_with_syn_retry", Unit: "count", Value: float64(t.retried)},
		{Transport: "tcp", Name: "connects_over_rto", Unit: "count", Value: float64(len(t.slow))},
		{Transport: "tcp", Name: "connects_final_ack_dropped", Unit: "count", Value: float64(len(t.ackLost))},
		{Transport: "tcp", Name: "connects_failed", Unit: "count", Value: float64(t.failed)},
		{Transport: "tcp", Name: "server_syn_drops", Unit: "count", Value: float64(r.qs.SynDrop)},
		{Transport: "tcp", Name: "server_syn_cookies_sent", Unit: "count", Value: float64(r.qs.SynCookieSent)},
		{Transport: "tcp", Name: "server_final_ack_drops", Unit: "count", Value: float64(r.qs.AckDrop)},
		{Transport: "tcp", Name: "connect_p50_ms", Unit: "ms", Value: quantile(allConnect, 0.5)},
		{Transport: "tcp", Name: "connect_max_ms", Unit: "ms", Value: quantile(allConnect, 1)},
		{Transport: "tcp", Name: "first_echo_p50_ms", Unit: "ms", Value: quantile(allServed, 0.5)},
		{Transport: "tcp", Name: "first_echo_max_ms", Unit: "ms", Value: quantile(allServed, 1)},
		{Name: "rtt_ms", Unit: "ms", Value: millis(r.rtt)},
	}
	for i := range ms {
		ms[i].Value = tpRound2(ms[i].Value)
	}
	return ms
}

func (r *blRun) conclusion(t *blTally) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %v apart into a backlog of %d, the application accepting after %v: ", holPlural(r.n, "connect"), r.spacing, r.backlog, r.hold)
	acks := holPlural(int(r.qs.AckDrop), "final ACK")
	fmt.Fprintf(&b, "the server's stack counted %s dropped, %s sent and %s answering a SYN cookie dropped. ",
		holPlural(int(r.qs.SynDrop), "SYN"), holPlural(int(r.qs.SynCookieSent), "SYN cookie"), acks)
	if t.retried > 0 {
		fmt.Fprintf(&b, "%s had to send the SYN again (%s on the wire); ", holPlural(t.retried, "client"), holPlural(r.totalSyns-r.ports, "retransmission"))
	}
	if len(t.slow) > 0 {
		fmt.Fprintf(&b, "%s took at least one %v retransmission timeout (median %.0f ms) while %d took a median %.0f ms, one round trip being %.0f ms. ",
			holPlural(len(t.slow), "connect"), blRTO, quantile(sortedCopy(t.slow), 0.5), len(t.fast), quantile(sortedCopy(t.fast), 0.5), millis(r.rtt))
	} else {
		allConnect := sortedCopy(append(slices.Clone(t.fast), t.slow...))
		fmt.Fprintf(&b, "Every connect returned within %.0f ms (one round trip is %.0f ms). ", quantile(allConnect, 1), millis(r.rtt))
	}
	if n := len(t.ackLost); n > 0 {
		fmt.Fprintf(&b, "%s connected at once with one SYN, but the packet log shows the first data sent again: the server had dropped the final ACK (and the data standing for it) while its queue was full; the first data was served after a median %.0f ms. ",
			holPlural(n, "client"), quantile(sortedCopy(t.ackLost), 0.5))
		if uint64(n) != r.qs.AckDrop {
			fmt.Fprintf(&b, "The stack's count of dropped final ACKs (%d) is not a count of clients: netstack counts an ACK only when it answers a SYN cookie, once per ACK that arrives, and drops the ACKs of the handshakes it kept half-open without counting them. ", r.qs.AckDrop)
		}
	}
	if t.failed > 0 {
		fmt.Fprintf(&b, "%s failed. ", holPlural(t.failed, "connect"))
	}
	return strings.TrimSpace(b.String())
}

func blMsOrDash(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f ms", millis(d))
}

func blErrString(err error) string {
	if err == nil {
		return "no reply"
	}
	return err.Error()
}
