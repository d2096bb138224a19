package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
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
		Name:    "boundaries",
		Title:   "Message boundaries",
		Summary: "three quick writes: what each read returns on TCP (Nagle on and off), UDP, QUIC streams and datagrams, WebSocket; a message bigger than the MTU; framing",
		Explain: `A write is not a message. TCP and QUIC streams carry a stream of bytes: the receiver's read returns whatever has arrived, which may be half a write or three writes glued together. UDP, QUIC datagrams and WebSocket carry messages: one read returns exactly one of them, never more, never a piece.

Watch the TCP rows. With Nagle's algorithm on, TCP sends the first small write at once but holds later small writes while any data is unacknowledged; when the ACK comes back a round trip later, everything held goes out as one segment, and the receiver reads it as one. With Nagle off (TCP_NODELAY, and netstack's default) each write leaves at once, so the reads usually match the writes here — but that is luck of timing, not a promise: a busy receiver, a retransmission or a full window merges them just the same.

A message bigger than the link's MTU shows who splits what. A stream splits it into segments and the reads get pieces. A UDP datagram is split by IP into fragments and put back together before the read (lose one fragment and the whole datagram is gone). A QUIC datagram must fit in one packet, so quic-go refuses it and says how big it may be. A WebSocket message is reassembled from its frames.

So a protocol over a stream must mark where its messages end. The two usual fixes are shown working on TCP: a length prefix (four bytes of length, then the message) and a delimiter (a newline after each message, which the message itself must not contain). Three messages written back-to-back come out as three messages whatever the reads returned.`,
		Preset: "lab-25ms",
		Params: []Param{
			{Name: "gap", Label: "pause between writes", Kind: KindDuration, Min: "0", Max: "1s", Default: "5ms", Help: "pause between the three small writes"},
			{Name: "big", Label: "big message size", Kind: KindInt, Min: "1", Max: "60000", Unit: "bytes", Default: "4000", Help: "size in bytes of the message bigger than the MTU"},
			{Name: "trials", Label: "trials per TCP connection", Kind: KindInt, Min: "1", Max: "50", Default: "10", Help: "times the three small writes are made on each TCP connection, to show how many reads they take as a distribution"},
		},
		Run: runBoundaries,
	})
}

// bdRead is one read on the receiving side.
type bdRead struct {
	at   time.Time
	data []byte
}

// bdRecorder keeps the reads of one receiver.
type bdRecorder struct {
	mu    sync.Mutex
	reads []bdRead
}

func (r *bdRecorder) add(b []byte) {
	r.mu.Lock()
	r.reads = append(r.reads, bdRead{time.Now(), bytes.Clone(b)})
	r.mu.Unlock()
}

func (r *bdRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reads)
}

// since returns the reads from index i on.
func (r *bdRecorder) since(i int) []bdRead {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bdRead(nil), r.reads[i:]...)
}

// waitFor waits until the reads since i hold want bytes (or, when count > 0, count reads), or
// until deadline.
func (r *bdRecorder) waitFor(ctx context.Context, i, want, count int, deadline time.Time) []bdRead {
	for {
		got := r.since(i)
		n := 0
		for _, rd := range got {
			n += len(rd.data)
		}
		if (count > 0 && len(got) >= count) || (count == 0 && n >= want) || time.Now().After(deadline) || ctx.Err() != nil {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// bdOutcome is what one transport's experiment saw.
type bdOutcome struct {
	name     string
	small    []bdRead
	start    time.Time // of the small writes
	big      []bdRead
	bigNote  string
	bigWire  int       // packets on the wire for the big message
	bigSegs  int       // TCP: distinct data segments that carried the big message; 0 when not counted
	trials   []bdTrial // TCP: the three small writes made again and again, the first included
	err      error
	messages [][]byte // framing: what the decoder returned
}

// bdTrial is one making of the three small writes on a TCP connection: how many reads they took
// and how many distinct data segments carried them on the wire (the link's packet log).
type bdTrial struct{ reads, segments int }

type bdRun struct {
	ctx      context.Context
	env      *Env
	gap      time.Duration
	big      int
	trials   int
	quiet    time.Duration // how long to wait for something that may never come
	deadline time.Time
}

var bdSmall = [][]byte{[]byte("msg1-hello"), []byte("msg2-hello"), []byte("msg3-hello")}

func runBoundaries(ctx context.Context, env *Env) (*Result, error) {
	r := &bdRun{ctx: ctx, env: env, gap: env.Duration("gap"), big: env.Int("big"), trials: env.Int("trials")}
	r.quiet = 3*env.RTT() + 300*time.Millisecond
	r.deadline = time.Now().Add(15*time.Second + 30*env.RTT())
	ctx, cancel := context.WithDeadline(ctx, r.deadline)
	defer cancel()
	r.ctx = ctx

	exps := []func() *bdOutcome{
		func() *bdOutcome { return r.tcp("tcp-nagle", true) },
		func() *bdOutcome { return r.tcp("tcp-nodelay", false) },
		r.udp,
		r.ws,
		r.framing("tcp+length-prefix"),
		r.framing("tcp+delimiter"),
	}
	outs := make([]*bdOutcome, len(exps)+2)
	var wg sync.WaitGroup
	for i, f := range exps {
		wg.Go(func() { outs[i] = f() })
	}
	wg.Go(func() {
		s, d := r.quic()
		outs[len(exps)], outs[len(exps)+1] = s, d
	})
	wg.Wait()
	for _, o := range outs {
		if o.err != nil {
			return nil, fmt.Errorf("%s: %w", o.name, o.err)
		}
	}
	return r.report(outs), nil
}

// streamBig sends the big message over a stream conn and waits for all of it at the recorder.
// segments, when not nil, counts (after the write) the packets that carried it.
func (r *bdRun) streamBig(o *bdOutcome, rec *bdRecorder, w io.Writer, segments func() int) {
	i := rec.mark()
	msg := bytes.Repeat([]byte("B"), r.big)
	if _, err := w.Write(msg); err != nil {
		o.err = err
		return
	}
	o.big = rec.waitFor(r.ctx, i, r.big, 0, time.Now().Add(r.quiet+5*time.Second))
	reads := "one read"
	if len(o.big) != 1 {
		reads = holPlural(len(o.big), "read") + ": the reads got pieces"
	}
	n := -1
	if segments != nil {
		n = segments()
		o.bigSegs = n
	}
	switch {
	case n == 1:
		o.bigNote = "sent in one segment (it fits in the MSS): " + reads
	case n > 1 && len(o.big) == 1:
		o.bigNote = fmt.Sprintf("split into %d segments, which all landed before the reader woke: one read", n)
	case n > 1:
		o.bigNote = fmt.Sprintf("split into %d segments; %s", n, reads)
	case len(o.big) == 1:
		o.bigNote = "whatever packets carried it had all landed before the reader woke: one read"
	default:
		o.bigNote = reads
	}
}

// tcpSegments counts the distinct data segments the client's connection from port sent after
// the packet log's mark (a retransmission is not a new segment).
func (r *bdRun) tcpSegments(mark uint64, port uint16) int {
	seqs := map[uint32]bool{}
	for _, p := range packetsAfter(r.env.Link, mark, func(p link.Packet) bool {
		d := p.Decoded
		return p.Dir == link.ClientToServer && d.Proto == "tcp" && d.Src.Port() == port && d.PayloadLen > 0
	}) {
		seqs[p.Decoded.TCPSeq] = true
	}
	return len(seqs)
}

// writeSmall writes the three small messages gap apart.
func (r *bdRun) writeSmall(o *bdOutcome, write func([]byte) error) {
	o.start = time.Now()
	for i, m := range bdSmall {
		if i > 0 {
			time.Sleep(r.gap)
		}
		if err := write(m); err != nil {
			o.err = err
			return
		}
	}
}

func (r *bdRun) tcp(name string, nagle bool) *bdOutcome {
	o := &bdOutcome{name: name}
	rec := &bdRecorder{}
	srv, err := startTCPHost(r.ctx, r.env, func(c net.Conn) {
		c.SetDeadline(r.deadline)
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				rec.add(buf[:n])
			}
			if err != nil {
				c.Close()
				return
			}
		}
	})
	if err != nil {
		o.err = err
		return o
	}
	defer srv.Close()
	c, err := r.env.Link.Client().Dial(r.ctx, "tcp", srv.Addr().String())
	if err != nil {
		o.err = err
		return o
	}
	defer c.Close()
	c.SetDeadline(r.deadline)
	tc, err := linkTCP(c)
	if err != nil {
		o.err = err
		return o
	}
	tc.SetNoDelay(!nagle)
	port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	for k := range r.trials {
		if k > 0 {
			// Everything of the last trial acknowledged, so Nagle starts from an idle
			// connection each time: a round trip and a gap after the last read.
			time.Sleep(r.env.RTT() + r.gap + 5*time.Millisecond)
		}
		i, mark := rec.mark(), lastSeq(r.env.Link)
		var tr bdOutcome
		r.writeSmall(&tr, func(b []byte) error { _, err := c.Write(b); return err })
		if tr.err != nil {
			o.err = tr.err
			return o
		}
		rec.waitFor(r.ctx, i, 30, 0, time.Now().Add(r.quiet+5*time.Second))
		time.Sleep(r.gap) // a read that would still split the bytes further has had its chance
		reads := rec.since(i)
		if k == 0 {
			o.small, o.start = reads, tr.start
		}
		o.trials = append(o.trials, bdTrial{reads: len(reads), segments: r.tcpSegments(mark, port)})
	}
	mark := lastSeq(r.env.Link)
	r.streamBig(o, rec, c, func() int { return r.tcpSegments(mark, port) })
	return o
}

// bdTrialTable is the distribution of the TCP connections' reads over their trials, beside the
// data segments that carried the writes each time.
func (r *bdRun) trialTable(res *Result, outs []*bdOutcome) (Table, string) {
	tb := Table{Title: fmt.Sprintf("The three writes made %s on each TCP connection: how many reads they took", holPlural(r.trials, "time")),
		Columns: []string{"transport", "trials with 1 read", "with 2 reads", "with 3 reads", "data segments on the wire per trial"}}
	var says []string
	for _, o := range outs {
		if len(o.trials) == 0 {
			continue
		}
		var byReads [4]int
		segs := map[int]int{}
		for _, tr := range o.trials {
			byReads[min(max(tr.reads, 0), 3)]++
			segs[tr.segments]++
		}
		var segCells []string
		for _, n := range slices.Sorted(maps.Keys(segs)) {
			segCells = append(segCells, fmt.Sprintf("%d in %d", n, segs[n]))
		}
		tb.Rows = append(tb.Rows, []string{o.name, fmt.Sprint(byReads[1]), fmt.Sprint(byReads[2]), fmt.Sprint(byReads[3]), strings.Join(segCells, ", ")})
		for k := 1; k <= 3; k++ {
			res.Metrics = append(res.Metrics, Metric{Transport: o.name, Name: fmt.Sprintf("trials_%d_reads", k), Unit: "count", Value: float64(byReads[k])})
		}
		var dist []string
		for k := 3; k >= 1; k-- {
			if byReads[k] > 0 {
				dist = append(dist, fmt.Sprintf("%s in %d", holPlural(k, "read"), byReads[k]))
			}
		}
		says = append(says, fmt.Sprintf("%s %s", o.name, strings.Join(dist, ", ")))
	}
	return tb, fmt.Sprintf(" Over %s: %s.", holPlural(r.trials, "trial"), strings.Join(says, "; "))
}

func (r *bdRun) udp() *bdOutcome {
	o := &bdOutcome{name: "udp"}
	rec := &bdRecorder{}
	pc, err := r.env.Link.Server().ListenPacket(r.ctx, "udp", net.JoinHostPort(r.env.Link.ServerAddr().String(), "0"))
	if err != nil {
		o.err = err
		return o
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer pc.Close()
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			rec.add(buf[:n])
		}
	})
	c, err := transports.DialUDP(r.ctx, r.env.Link.Client(), pc.LocalAddr().String())
	if err != nil {
		o.err = err
		return o
	}
	defer c.Close()
	i := rec.mark()
	r.writeSmall(o, func(b []byte) error { _, err := c.Write(b); return err })
	if o.err != nil {
		return o
	}
	o.small = rec.waitFor(r.ctx, i, 0, 3, time.Now().Add(r.quiet))
	// The big datagram: IP fragments it; count what crossed the wire.
	mark := lastSeq(r.env.Link)
	i = rec.mark()
	if _, err := c.Write(bytes.Repeat([]byte("B"), r.big)); err != nil {
		o.bigNote = "the write failed: " + err.Error()
		return o
	}
	o.big = rec.waitFor(r.ctx, i, 0, 1, time.Now().Add(r.quiet))
	time.Sleep(5 * time.Millisecond)
	var dropped int
	for _, p := range packetsAfter(r.env.Link, mark, func(p link.Packet) bool { return p.Dir == link.ClientToServer }) {
		// Only this datagram is fragmented (TCP keeps to its MSS, QUIC to one packet): count the
		// IPv4 fragments, recognized by their more-fragments flag or offset.
		if len(p.Data) < 20 || p.Data[9] != 17 || binary.BigEndian.Uint16(p.Data[6:8])&0x3fff == 0 {
			continue
		}
		o.bigWire++
		if p.Fate == link.Dropped {
			dropped++
		}
	}
	fragmented := o.bigWire > 0
	if !fragmented {
		o.bigWire = 1 // not fragmented: one packet
	}
	switch {
	case !fragmented && len(o.big) == 1 && len(o.big[0].data) == r.big:
		o.bigNote = fmt.Sprintf("fit in one packet under the link's %d-byte MTU, so IP did not fragment it: one read of %d bytes", link.DefaultMTU, r.big)
	case !fragmented && len(o.big) == 0:
		o.bigNote = "fit in one packet, not fragmented, but never arrived"
	case len(o.big) == 1 && len(o.big[0].data) == r.big:
		o.bigNote = fmt.Sprintf("IP fragmented it into %d packets and reassembled it: one read of %d bytes", o.bigWire, r.big)
	case len(o.big) == 0 && dropped > 0:
		o.bigNote = fmt.Sprintf("IP fragmented it into %d packets; the link dropped %d, so the whole datagram was lost", o.bigWire, dropped)
	case len(o.big) == 0:
		o.bigNote = "never arrived"
	default:
		o.bigNote = "arrived in " + holPlural(len(o.big), "read")
	}
	return o
}

func (r *bdRun) ws() *bdOutcome {
	o := &bdOutcome{name: "ws"}
	rec := &bdRecorder{}
	srv, err := startHTTPHost(r.ctx, r.env, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			_, msg, err := c.Read(req.Context())
			if err != nil {
				return
			}
			rec.add(msg)
		}
	}))
	if err != nil {
		o.err = err
		return o
	}
	defer srv.Close()
	c, err := transports.DialWS(r.ctx, r.env.Link.Client(), "ws://"+srv.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		o.err = err
		return o
	}
	defer c.CloseNow()
	i := rec.mark()
	r.writeSmall(o, func(b []byte) error { return c.Write(r.ctx, websocket.MessageBinary, b) })
	if o.err != nil {
		return o
	}
	o.small = rec.waitFor(r.ctx, i, 0, 3, time.Now().Add(r.quiet+5*time.Second))
	i = rec.mark()
	if err := c.Write(r.ctx, websocket.MessageBinary, bytes.Repeat([]byte("B"), r.big)); err != nil {
		o.err = err
		return o
	}
	o.big = rec.waitFor(r.ctx, i, 0, 1, time.Now().Add(r.quiet+5*time.Second))
	o.bigNote = "one message, reassembled from its frames and TCP segments"
	return o
}

func (r *bdRun) quic() (stream, dgram *bdOutcome) {
	stream, dgram = &bdOutcome{name: "quic-stream"}, &bdOutcome{name: "quic-dgram"}
	fail := func(err error) (*bdOutcome, *bdOutcome) {
		stream.err = err
		dgram.err = err
		return stream, dgram
	}
	srec, drec := &bdRecorder{}, &bdRecorder{}
	srvTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return fail(err)
	}
	var g transports.Group
	defer g.Close()
	ln, err := transports.ListenQUIC(r.ctx, r.env.Link.Server(), net.JoinHostPort(r.env.Link.ServerAddr().String(), "0"),
		transports.QUICOptions{TLS: srvTLS, Config: r.env.QUICConfig()})
	if err != nil {
		return fail(err)
	}
	g.Add(ln.Close)
	sctx, stop := context.WithCancel(r.ctx)
	g.Defer(stop)
	g.Go(func() {
		c, err := ln.Accept(sctx)
		if err != nil {
			return
		}
		defer c.CloseWithError(0, "")
		g.Go(func() {
			for {
				d, err := c.ReceiveDatagram(sctx)
				if err != nil {
					return
				}
				drec.add(d)
			}
		})
		s, err := c.AcceptStream(sctx)
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				srec.add(buf[:n])
			}
			if err != nil {
				return
			}
		}
	})
	conn, err := transports.DialQUIC(r.ctx, r.env.Link.Client(), ln.Addr().String(),
		transports.QUICOptions{TLS: transports.ClientTLSConfig(srvTLS), Config: r.env.QUICConfig()})
	if err != nil {
		return fail(err)
	}
	g.Add(conn.Close)
	s, err := conn.OpenStreamSync(r.ctx)
	if err != nil {
		return fail(err)
	}
	i := srec.mark()
	r.writeSmall(stream, func(b []byte) error { _, err := s.Write(b); return err })
	if stream.err != nil {
		return stream, dgram
	}
	stream.small = srec.waitFor(r.ctx, i, 30, 0, time.Now().Add(r.quiet+5*time.Second))
	time.Sleep(r.gap)
	stream.small = srec.since(i)
	r.streamBig(stream, srec, s, nil)

	i = drec.mark()
	r.writeSmall(dgram, conn.SendDatagram)
	if dgram.err != nil {
		return stream, dgram
	}
	dgram.small = drec.waitFor(r.ctx, i, 0, 3, time.Now().Add(r.quiet))
	err = conn.SendDatagram(bytes.Repeat([]byte("B"), r.big))
	var tooBig *quic.DatagramTooLargeError
	switch {
	case errors.As(err, &tooBig):
		dgram.bigNote = fmt.Sprintf("refused by quic-go: DatagramTooLargeError, at most %d bytes fit in one packet now", tooBig.MaxDatagramPayloadSize)
		dgram.bigWire = -int(tooBig.MaxDatagramPayloadSize) // reported as the maximum
	case err != nil:
		dgram.bigNote = "refused: " + err.Error()
	default:
		i = drec.mark()
		dgram.big = drec.waitFor(r.ctx, i, 0, 1, time.Now().Add(r.quiet))
		dgram.bigNote = "sent; " + holPlural(len(dgram.big), "read")
	}
	return stream, dgram
}

// framing writes three messages back-to-back in one write, framed by a length prefix or a
// delimiter, and decodes them on the other side.
func (r *bdRun) framing(name string) func() *bdOutcome {
	return func() *bdOutcome {
		o := &bdOutcome{name: name}
		msgs := [][]byte{[]byte("first message"), []byte("the second, a bit longer"), []byte("third")}
		var wire []byte
		for _, m := range msgs {
			if name == "tcp+length-prefix" {
				wire = binary.BigEndian.AppendUint32(wire, uint32(len(m)))
				wire = append(wire, m...)
			} else {
				wire = append(append(wire, m...), '\n')
			}
		}
		rec := &bdRecorder{}
		var mu sync.Mutex
		srv, err := startTCPHost(r.ctx, r.env, func(c net.Conn) {
			defer c.Close()
			c.SetDeadline(r.deadline)
			// The recorder sees the raw reads; the decoder reads through it.
			src := bufio.NewReader(io.TeeReader(c, recWriter{rec}))
			if name == "tcp+length-prefix" {
				for {
					var n uint32
					if err := binary.Read(src, binary.BigEndian, &n); err != nil {
						return
					}
					if n > 1<<20 {
						return
					}
					m := make([]byte, n)
					if _, err := io.ReadFull(src, m); err != nil {
						return
					}
					mu.Lock()
					o.messages = append(o.messages, m)
					mu.Unlock()
				}
			}
			for {
				line, err := src.ReadBytes('\n')
				if err != nil {
					return
				}
				mu.Lock()
				o.messages = append(o.messages, bytes.TrimSuffix(line, []byte("\n")))
				mu.Unlock()
			}
		})
		if err != nil {
			o.err = err
			return o
		}
		defer srv.Close()
		c, err := r.env.Link.Client().Dial(r.ctx, "tcp", srv.Addr().String())
		if err != nil {
			o.err = err
			return o
		}
		defer c.Close()
		o.start = time.Now()
		if _, err := c.Write(wire); err != nil {
			o.err = err
			return o
		}
		until := time.Now().Add(r.quiet + 5*time.Second)
		for time.Now().Before(until) && r.ctx.Err() == nil {
			mu.Lock()
			n := len(o.messages)
			mu.Unlock()
			if n >= len(msgs) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		o.small = rec.since(0)
		mu.Lock()
		o.messages = append([][]byte(nil), o.messages...)
		mu.Unlock()
		return o
	}
}

type recWriter struct{ r *bdRecorder }

func (w recWriter) Write(b []byte) (int, error) { w.r.add(b); return len(b), nil }

func bdPreview(b []byte) string {
	const keep = 24
	s := string(b)
	if len(b) > keep {
		s = string(b[:keep]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

func (r *bdRun) report(outs []*bdOutcome) *Result {
	res := &Result{}
	small := Table{Title: fmt.Sprintf("Three 10-byte writes, %v apart: what each read returned", r.gap),
		Columns: []string{"transport", "read #", "ms after the first write", "bytes", "data"}}
	bigT := Table{Title: fmt.Sprintf("One message of %d bytes (the link's MTU is %d)", r.big, link.DefaultMTU),
		Columns: []string{"transport", "reads", "bytes per read", "what happened"}}
	frT := Table{Title: "Three messages written back-to-back in one write, then decoded",
		Columns: []string{"framing", "raw reads", "messages decoded", "messages"}}
	var parts []string
	reads := map[string]int{}
	for _, o := range outs {
		if strings.HasPrefix(o.name, "tcp+") {
			var ms []string
			for _, m := range o.messages {
				ms = append(ms, fmt.Sprintf("%q", m))
			}
			frT.Rows = append(frT.Rows, []string{o.name, fmt.Sprint(len(o.small)), fmt.Sprint(len(o.messages)), strings.Join(ms, ", ")})
			res.Metrics = append(res.Metrics,
				Metric{Transport: o.name, Name: "reads", Unit: "count", Value: float64(len(o.small))},
				Metric{Transport: o.name, Name: "messages", Unit: "count", Value: float64(len(o.messages))})
			continue
		}
		s := Series{Chart: "Bytes returned by each read (three 10-byte writes)", Name: o.name, XLabel: "read #", YLabel: "bytes", Style: "dots"}
		for j, rd := range o.small {
			small.Rows = append(small.Rows, []string{o.name, fmt.Sprint(j + 1), fmt.Sprintf("%.1f", millis(rd.at.Sub(o.start))), fmt.Sprint(len(rd.data)), bdPreview(rd.data)})
			s.Points = append(s.Points, Point{X: float64(j + 1), Y: float64(len(rd.data))})
		}
		if len(o.small) == 0 {
			small.Rows = append(small.Rows, []string{o.name, "-", "-", "0", "nothing arrived"})
		}
		res.Series = append(res.Series, s)
		reads[o.name] = len(o.small)
		res.Metrics = append(res.Metrics, Metric{Transport: o.name, Name: "reads", Unit: "count", Value: float64(len(o.small))})
		part := fmt.Sprintf("%s %d", o.name, len(o.small))
		if o.name == "udp" || o.name == "quic-dgram" {
			if lost := len(bdSmall) - len(o.small); lost > 0 {
				part += fmt.Sprintf(" (%d of %d lost on the way)", lost, len(bdSmall))
			}
		}
		parts = append(parts, part)

		var sizes []string
		for _, rd := range o.big {
			sizes = append(sizes, fmt.Sprint(len(rd.data)))
		}
		if o.bigWire < 0 {
			res.Metrics = append(res.Metrics, Metric{Transport: o.name, Name: "max_datagram", Unit: "bytes", Value: float64(-o.bigWire)})
		} else {
			res.Metrics = append(res.Metrics, Metric{Transport: o.name, Name: "big_reads", Unit: "count", Value: float64(len(o.big))})
		}
		if o.name == "udp" {
			res.Metrics = append(res.Metrics, Metric{Transport: o.name, Name: "big_packets", Unit: "count", Value: float64(o.bigWire)})
		}
		if o.bigSegs > 0 {
			res.Metrics = append(res.Metrics, Metric{Transport: o.name, Name: "big_segments", Unit: "count", Value: float64(o.bigSegs)})
		}
		bigT.Rows = append(bigT.Rows, []string{o.name, fmt.Sprint(len(o.big)), orDash(strings.Join(sizes, ", ")), o.bigNote})
	}
	trT, trSays := r.trialTable(res, outs)
	res.Tables = []Table{small, bigT, frT, trT}
	c := fmt.Sprintf("Three 10-byte writes %v apart took this many reads the first time: %s.", r.gap, strings.Join(parts, ", "))
	if n, d := reads["tcp-nagle"], reads["tcp-nodelay"]; n < 3 {
		c += fmt.Sprintf(" With Nagle on, TCP held the later writes until the first was acknowledged and delivered the three in %s; with Nagle off it took %d.", holPlural(n, "read"), d)
	} else {
		c += fmt.Sprintf(" This time Nagle did not merge the writes (%d reads with it on, %d off).", n, d)
	}
	if r.trials > 1 {
		c += trSays + " How many reads a stream's writes take is a matter of timing, not a promise."
	}
	for _, o := range outs {
		switch o.name {
		case "udp", "quic-dgram":
			c += fmt.Sprintf(" %s: %s.", o.name, o.bigNote)
		case "tcp+length-prefix", "tcp+delimiter":
			c += fmt.Sprintf(" %s decoded %s from %s.", o.name, holPlural(len(o.messages), "message"), holPlural(len(o.small), "raw read"))
		}
	}
	res.Conclusion = c
	return res
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
