package scenarios

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wireplay/wireplay/ipc"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports"
)

func init() {
	Register(&Scenario{
		Name:    "ipc",
		Title:   "IPC beside the network",
		Summary: "the same echo over TCP and UDP loopback, Unix stream and datagram sockets and a pipe: round-trip latency and bulk throughput side by side",
		Explain: `Two programs on one machine do not need the network to talk, yet TCP and UDP over loopback (127.0.0.1) still take the whole trip through the IP stack: every send becomes a packet with IP and TCP or UDP headers, goes through routing, the firewall hooks and the loopback device, and the receiving stack takes it apart again; TCP keeps its sequence numbers, acknowledgements and windows although nothing can be lost. A Unix domain socket has the same API — socket, bind, listen, connect, accept, send, recv — but is named by a file path instead of an address and a port, and the kernel moves the bytes from the sender's socket straight into the receiver's: no headers, no checksums, no acknowledgements. It comes as a byte stream (SOCK_STREAM, like TCP) and as datagrams (SOCK_DGRAM, like UDP but reliable and in order: a full receiver makes the sender wait instead of dropping). A pipe is less still: a one-way buffer in the kernel between two file descriptors, no addresses at all; the echo here uses two, one each way.

This lesson runs on this machine's kernel, not across the emulated link: Unix sockets and pipes cannot cross a network, so the link preset and its impairments do not apply. The two ends are goroutines of one process, but the path is the one two processes take — a system call to send, the kernel waking the reader — and that is what is measured.

Every transport gets the same echo: one loop serves the streams (TCP, Unix stream, pipe), one the datagrams (UDP, Unix datagram). First, after a few untimed warm-up round trips, the timed round trips of one small message at a time, taken in turn across the transports so that load from elsewhere on the machine falls on all of them alike; each echo is checked byte for byte and by its sequence number. Then a bulk transfer on each: a stream writes 64 KiB at a time while it reads the echo back, a datagram transport keeps a window of datagrams in flight. Throughput is the payload echoed per second, in MB/s (10^6 bytes; each byte crosses twice, out and back).

A round trip between two ends on one machine costs a few microseconds to a few tens, and most of it is not the protocol but the system calls and waking the other side (a thread switch, sometimes to the other core), so the latencies differ by a microsecond or two and move from run to run on a busy machine: compare the figures of one run, and repeat it before believing an ordering. Bulk transfer, where the per-byte work of a protocol adds up, shows what leaving the network stack saves more plainly.`,
		Preset: "clean",
		Params: []Param{
			{Name: "transports", Label: "transports", Kind: KindEnum, List: true, Values: ipcNames(), Default: strings.Join(ipcNames(), ","), Help: "the transports compared: tcp and udp (loopback), unix (stream), unixgram (datagram), pipe"},
			{Name: "messages", Label: "timed round trips", Kind: KindInt, Min: "10", Max: "100000", Unit: "round trips", Default: "2000", Help: "timed round trips of one message per transport, one at a time"},
			{Name: "size", Label: "message size", Kind: KindInt, Min: "8", Max: "8192", Unit: "bytes", Default: "64", Help: "bytes of each round-trip message (its first 8 are its sequence number)"},
			{Name: "warmup", Label: "untimed warm-up round trips", Kind: KindInt, Min: "0", Max: "1000", Unit: "round trips", Default: "50", Help: "round trips before the timed ones, checked but not timed"},
			{Name: "bulk", Label: "bulk transfer size", Kind: KindInt, Min: "1", Max: "1024", Unit: "MiB", Default: "64", Help: "payload each transport echoes in its bulk transfer"},
			{Name: "datagram", Label: "bulk datagram size", Kind: KindInt, Min: "512", Max: "60000", Unit: "bytes", Default: "8192", Help: "bytes of each datagram of a datagram transport's bulk transfer"},
			{Name: "window", Label: "bulk datagrams in flight", Kind: KindInt, Min: "1", Max: "64", Unit: "datagrams", Default: "8", Help: "datagrams sent and not yet echoed during a datagram transport's bulk transfer"},
		},
		Run: runIPC,
	})
}

// ipcKind is one of the compared transports.
type ipcKind struct {
	name, label string
	datagram    bool
}

var ipcKinds = []ipcKind{
	{"tcp", "TCP loopback", false},
	{"udp", "UDP loopback", true},
	{"unix", "Unix stream", false},
	{"unixgram", "Unix datagram", true},
	{"pipe", "pipe", false},
}

func ipcNames() []string {
	var out []string
	for _, k := range ipcKinds {
		out = append(out, k.name)
	}
	return out
}

// ipcConn is a transport's client end.
type ipcConn interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}

// ipcChunk is a stream's write size in the bulk transfer.
const ipcChunk = 64 << 10

// ipcStallTimeout is how long a read may wait for an echo: a datagram not echoed by then is lost.
const ipcStallTimeout = time.Second

// ipcEnd is one transport of a run: its client end, and what it measured.
type ipcEnd struct {
	kind ipcKind
	c    ipcConn
	// deadline is the read deadline set on c, moved forward only when less than half of
	// ipcStallTimeout is left (a deadline is a runtime timer: setting it per read costs).
	deadline time.Time
	msg, buf []byte // a round trip's message and read buffer
	fig      ipcFigures
}

// ipcFigures are one transport's measured figures.
type ipcFigures struct {
	label    string
	datagram bool
	rtts     []float64 // µs, of the timed echoes that came back intact, sorted after the round trips
	// Round trips: sent, and of them echoed intact in order, echoed late (after a later one was
	// due), echoed with other bytes, and not echoed within ipcStallTimeout.
	sent, intact, late, corrupt, lost int
	p50, p99                          float64 // µs
	// Bulk: payload bytes echoed intact and in order, and the time from the first write to the
	// last byte read; datagrams that were not echoed (lost), or echoed out of order or changed.
	bulkBytes                       int64
	bulkDur                         time.Duration
	bulkLost, bulkLate, bulkCorrupt int
	mbps                            float64 // MB/s
}

func runIPC(ctx context.Context, env *Env) (*Result, error) {
	names := env.Enums("transports")
	n, size, warm := env.Int("messages"), env.Int("size"), env.Int("warmup")
	bulk := int64(env.Int("bulk")) << 20
	dgram, window := env.Int("datagram"), env.Int("window")
	dir, err := os.MkdirTemp("", "wireplay-ipc")
	if err != nil {
		return nil, fmt.Errorf("ipc: %w", err)
	}
	defer os.RemoveAll(dir)
	var g transports.Group
	defer g.Close()
	var ends []*ipcEnd
	for i, name := range names {
		if slices.Index(names, name) < i {
			continue // named twice
		}
		k := ipcKinds[slices.IndexFunc(ipcKinds, func(k ipcKind) bool { return k.name == name })]
		c, err := ipcOpen(ctx, &g, k, dir)
		if err != nil {
			return nil, err
		}
		ends = append(ends, &ipcEnd{kind: k, c: c, fig: ipcFigures{label: k.label, datagram: k.datagram},
			msg: make([]byte, size), buf: make([]byte, max(size, 64<<10))})
	}
	// Round trips, taken in turn across the transports: warm-up ones first, checked, not timed.
	for i := range warm + n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, e := range ends {
			if err := e.roundTrip(uint64(i), size, i >= warm); err != nil {
				return nil, err
			}
		}
	}
	for _, e := range ends {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		if e.kind.datagram {
			err = e.bulkDatagrams(ctx, bulk, dgram, window)
		} else {
			err = e.bulkStream(ctx, bulk)
		}
		if err != nil {
			return nil, err
		}
		e.fig.finish()
	}
	figs := make([]ipcFigures, len(ends))
	for i, e := range ends {
		figs[i] = e.fig
	}
	return ipcReport(figs, n, size, bulk, dgram, window), nil
}

// ipcOpen starts kind's echo (its server end registered in g) and returns a client end.
func ipcOpen(ctx context.Context, g *transports.Group, k ipcKind, dir string) (ipcConn, error) {
	switch k.name {
	case "tcp":
		ln, err := transports.ListenTCP(ctx, netx.Kernel, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		g.Add(ln.Close)
		g.Go(func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.Add(c.Close)
			ipc.EchoStream(c, c)
		})
		c, err := transports.DialTCP(ctx, netx.Kernel, ln.Addr().String(), transports.TCPOptions{})
		if err != nil {
			return nil, err
		}
		g.Add(c.Close)
		return c, nil
	case "udp":
		pc, err := transports.ListenUDP(ctx, netx.Kernel, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		g.Add(pc.Close)
		g.Go(func() { ipc.EchoPackets(pc, nil) })
		c, err := transports.DialUDP(ctx, netx.Kernel, pc.LocalAddr().String())
		if err != nil {
			return nil, err
		}
		g.Add(c.Close)
		return c, nil
	case "unix":
		e, err := ipc.ListenUnixEcho(ctx, filepath.Join(dir, "stream.sock"), ipc.UnixEchoConfig{})
		if err != nil {
			return nil, err
		}
		g.Add(e.Close)
		g.Go(func() { e.Serve() })
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", e.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("dial unix: %w", err)
		}
		g.Add(c.Close)
		return c, nil
	case "unixgram":
		e, err := ipc.ListenUnixgramEcho(ctx, filepath.Join(dir, "dgram.sock"))
		if err != nil {
			return nil, err
		}
		g.Add(e.Close)
		g.Go(func() { e.Serve() })
		c, err := ipc.DialUnixgram(ctx, filepath.Join(dir, "client.sock"), e.Addr().String())
		if err != nil {
			return nil, err
		}
		g.Add(c.Close)
		return c, nil
	case "pipe":
		p, err := ipc.StartPipeEcho()
		if err != nil {
			return nil, err
		}
		g.Add(p.Close)
		return p, nil
	}
	return nil, fmt.Errorf("ipc: unknown transport %q", k.name)
}

// ipcPattern is the payload's bytes: byte k of a stream, or of a datagram's body after its
// sequence number starting at the number mod 251, is (offset) mod 251. A prime period catches a
// byte lost, doubled or shifted.
var ipcPattern = func() []byte {
	b := make([]byte, 2*ipcChunk+251)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

// ipcMessage fills b with message seq: its number, then the pattern.
func ipcMessage(b []byte, seq uint64) {
	binary.BigEndian.PutUint64(b, seq)
	copy(b[8:], ipcPattern[seq%251:])
}

// readWait moves the read deadline forward when less than half of ipcStallTimeout is left.
func (e *ipcEnd) readWait() {
	if now := time.Now(); e.deadline.Sub(now) < ipcStallTimeout/2 {
		e.deadline = now.Add(ipcStallTimeout)
		e.c.SetReadDeadline(e.deadline)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// roundTrip sends message seq of size bytes and reads its echo, timing it when timed; a warm-up
// echo that is not intact fails the run, a timed one is counted.
func (e *ipcEnd) roundTrip(seq uint64, size int, timed bool) error {
	msg, buf := e.msg[:size], e.buf
	ipcMessage(msg, seq)
	e.readWait()
	start := time.Now()
	if _, err := e.c.Write(msg); err != nil {
		return fmt.Errorf("ipc %s: write: %w", e.kind.name, err)
	}
	var got []byte
	for {
		if e.kind.datagram {
			k, err := e.c.Read(buf)
			if isTimeout(err) {
				if !timed {
					return fmt.Errorf("ipc %s: warm-up message %d was not echoed within %v", e.kind.name, seq, ipcStallTimeout)
				}
				e.fig.sent++
				e.fig.lost++
				return nil
			}
			if err != nil {
				return fmt.Errorf("ipc %s: read: %w", e.kind.name, err)
			}
			if k >= 8 && binary.BigEndian.Uint64(buf) < seq { // the late echo of an earlier message
				e.fig.late++
				continue
			}
			got = buf[:k]
		} else {
			if _, err := io.ReadFull(e.c, buf[:size]); err != nil {
				return fmt.Errorf("ipc %s: read: %w", e.kind.name, err) // a stream loses nothing
			}
			got = buf[:size]
		}
		break
	}
	rtt := time.Since(start)
	ok := bytes.Equal(got, msg)
	if !timed {
		if !ok {
			return fmt.Errorf("ipc %s: warm-up message %d came back changed", e.kind.name, seq)
		}
		return nil
	}
	e.fig.sent++
	if !ok {
		e.fig.corrupt++
		return nil
	}
	e.fig.intact++
	e.fig.rtts = append(e.fig.rtts, float64(rtt.Nanoseconds())/1000)
	return nil
}

// bulkStream writes total bytes of the pattern, ipcChunk at a time, from a goroutine while it
// reads the echo back and checks it.
func (e *ipcEnd) bulkStream(ctx context.Context, total int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wrote := make(chan error, 1)
	start := time.Now()
	go func() {
		for off := int64(0); off < total; {
			k := min(int64(ipcChunk), total-off)
			p := off % 251
			if _, err := e.c.Write(ipcPattern[p : p+k]); err != nil {
				wrote <- err
				return
			}
			off += k
			if ctx.Err() != nil {
				wrote <- ctx.Err()
				return
			}
		}
		wrote <- nil
	}()
	buf := make([]byte, ipcChunk)
	var got int64
	for got < total {
		e.readWait()
		k, err := e.c.Read(buf[:min(int64(len(buf)), total-got)])
		if k > 0 {
			p := got % 251
			if !bytes.Equal(buf[:k], ipcPattern[p:p+int64(k)]) {
				cancel()
				return fmt.Errorf("ipc %s: bulk echo differs after %d bytes", e.kind.name, got) // a stream changes nothing
			}
			got += int64(k)
		}
		if err != nil {
			cancel()
			return fmt.Errorf("ipc %s: bulk read after %d of %d bytes: %w", e.kind.name, got, total, err)
		}
	}
	e.fig.bulkDur = time.Since(start)
	e.fig.bulkBytes = got
	if err := <-wrote; err != nil {
		return fmt.Errorf("ipc %s: bulk write: %w", e.kind.name, err)
	}
	return nil
}

// bulkDatagrams sends total bytes as numbered datagrams of size bytes, at most window of them
// awaiting their echo, and checks each echo's number and bytes. A datagram not echoed within
// ipcStallTimeout ends the transfer: it and every one not yet echoed are counted lost.
func (e *ipcEnd) bulkDatagrams(ctx context.Context, total int64, size, window int) error {
	count := int((total + int64(size-8) - 1) / int64(size-8)) // each carries size-8 bytes of payload
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wrote := make(chan error, 1)
	start := time.Now()
	go func() {
		msg := make([]byte, size)
		for i := range count {
			select {
			case <-credits:
			case <-ctx.Done():
				wrote <- nil
				return
			}
			ipcMessage(msg, uint64(i))
			if _, err := e.c.Write(msg); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	want := make([]byte, size)
	buf := make([]byte, size+1)
	next, received := uint64(0), 0
	var end time.Time
	for received < count {
		e.readWait()
		k, err := e.c.Read(buf)
		if isTimeout(err) {
			e.fig.bulkLost = count - received
			break
		}
		if err != nil {
			cancel()
			<-wrote
			return fmt.Errorf("ipc %s: bulk read: %w", e.kind.name, err)
		}
		received++
		end = time.Now()
		select {
		case credits <- struct{}{}:
		default: // an echo nobody is waiting for (a duplicate) gives no credit
		}
		if k < 8 {
			e.fig.bulkCorrupt++
			continue
		}
		seq := binary.BigEndian.Uint64(buf)
		ipcMessage(want, seq)
		switch {
		case k != size || !bytes.Equal(buf[:k], want):
			e.fig.bulkCorrupt++
		case seq < next:
			e.fig.bulkLate++
		default:
			e.fig.bulkBytes += int64(size - 8)
			next = seq + 1
		}
	}
	cancel()
	if err := <-wrote; err != nil {
		return fmt.Errorf("ipc %s: bulk write: %w", e.kind.name, err)
	}
	if !end.IsZero() {
		e.fig.bulkDur = end.Sub(start)
	}
	return nil
}

// finish computes the percentiles and the throughput, rounded as reported.
func (f *ipcFigures) finish() {
	slices.Sort(f.rtts)
	if len(f.rtts) > 0 {
		f.p50, f.p99 = ipcRound1(quantile(f.rtts, 0.5)), ipcRound1(quantile(f.rtts, 0.99))
	}
	if f.bulkDur > 0 {
		f.mbps = ipcRound1(float64(f.bulkBytes) / f.bulkDur.Seconds() / 1e6)
	}
}

func ipcRound1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func ipcReport(figs []ipcFigures, n, size int, bulk int64, dgram, window int) *Result {
	res := &Result{}
	tbl := Table{Title: "Each transport", Columns: []string{"transport", "round trips", "echoed intact", "late", "changed", "lost",
		"p50 µs", "p99 µs", "bulk MiB echoed", "bulk ms", "MB/s"}}
	for _, f := range figs {
		tr := ipcNameOf(f.label)
		res.Metrics = append(res.Metrics,
			Metric{Transport: tr, Name: "round_trips", Unit: "count", Value: float64(f.sent)},
			Metric{Transport: tr, Name: "echoes_intact", Unit: "count", Value: float64(f.intact)},
			Metric{Transport: tr, Name: "echoes_late", Unit: "count", Value: float64(f.late)},
			Metric{Transport: tr, Name: "echoes_changed", Unit: "count", Value: float64(f.corrupt)},
			Metric{Transport: tr, Name: "echoes_lost", Unit: "count", Value: float64(f.lost)},
			Metric{Transport: tr, Name: "rtt_p50_us", Unit: "µs", Value: f.p50},
			Metric{Transport: tr, Name: "rtt_p99_us", Unit: "µs", Value: f.p99},
			Metric{Transport: tr, Name: "bulk_bytes", Unit: "bytes", Value: float64(f.bulkBytes)},
			Metric{Transport: tr, Name: "bulk_ms", Unit: "ms", Value: tpRound2(millis(f.bulkDur))},
			Metric{Transport: tr, Name: "bulk_lost", Unit: "count", Value: float64(f.bulkLost)},
			Metric{Transport: tr, Name: "bulk_out_of_order", Unit: "count", Value: float64(f.bulkLate)},
			Metric{Transport: tr, Name: "bulk_changed", Unit: "count", Value: float64(f.bulkCorrupt)},
			Metric{Transport: tr, Name: "throughput_mbps", Unit: "MB/s", Value: f.mbps},
		)
		tbl.Rows = append(tbl.Rows, []string{f.label, fmt.Sprint(f.sent), fmt.Sprint(f.intact), fmt.Sprint(f.late), fmt.Sprint(f.corrupt), fmt.Sprint(f.lost),
			fmt.Sprintf("%.1f", f.p50), fmt.Sprintf("%.1f", f.p99), fmt.Sprintf("%.1f", float64(f.bulkBytes)/(1<<20)), fmt.Sprintf("%.1f", millis(f.bulkDur)), fmt.Sprintf("%.1f", f.mbps)})
		cdf := Series{Chart: "Round-trip time (cumulative)", Name: f.label, XLabel: "µs", YLabel: "% of round trips"}
		for q := 1; q <= 99 && len(f.rtts) > 0; q++ {
			cdf.Points = append(cdf.Points, Point{X: tpRound2(quantile(f.rtts, float64(q)/100)), Y: float64(q)})
		}
		res.Series = append(res.Series, cdf)
	}
	res.Tables = []Table{tbl}
	res.Conclusion = ipcConclusion(figs, n, size, bulk, dgram, window)
	return res
}

func ipcNameOf(label string) string {
	for _, k := range ipcKinds {
		if k.label == label {
			return k.name
		}
	}
	return label
}

// ipcConclusion puts one run's figures in words: every transport's latency and throughput, how
// the Unix stream compares with TCP loopback (what leaving the network stack saved, or cost, in
// this run), which was quickest on each count, and whether every echo came back whole.
func ipcConclusion(figs []ipcFigures, n, size int, bulk int64, dgram, window int) string {
	var b strings.Builder
	var lat, tput []string
	for _, f := range figs {
		lat = append(lat, fmt.Sprintf("%s %.1f / %.1f", f.label, f.p50, f.p99))
		tput = append(tput, fmt.Sprintf("%s %.1f", f.label, f.mbps))
	}
	fmt.Fprintf(&b, "%s of %d bytes each, round-trip p50 / p99 in µs: %s. Bulk echo of %d MiB (streams 64 KiB writes; datagrams %d bytes, %d in flight), MB/s: %s. ",
		holPlural(n, "round trip"), size, strings.Join(lat, ", "), bulk>>20, dgram, window, strings.Join(tput, ", "))
	find := func(label string) *ipcFigures {
		for i := range figs {
			if figs[i].label == label {
				return &figs[i]
			}
		}
		return nil
	}
	if tcp, unix := find("TCP loopback"), find("Unix stream"); tcp != nil && unix != nil && tcp.p50 > 0 && tcp.mbps > 0 {
		fmt.Fprintf(&b, "Leaving the network stack: the Unix stream socket's median round trip was %.1f µs against TCP loopback's %.1f µs (%s), and it echoed %.1f MB/s against %.1f (%s). ",
			unix.p50, tcp.p50, ipcChange(unix.p50, tcp.p50, "less", "more"), unix.mbps, tcp.mbps, ipcRatio(unix.mbps, tcp.mbps))
	}
	if len(figs) > 1 {
		quick := slices.MinFunc(figs, func(a, b ipcFigures) int { return cmpFloat(a.p50, b.p50) })
		slow := slices.MaxFunc(figs, func(a, b ipcFigures) int { return cmpFloat(a.p50, b.p50) })
		fast := slices.MaxFunc(figs, func(a, b ipcFigures) int { return cmpFloat(a.mbps, b.mbps) })
		fmt.Fprintf(&b, "The lowest median round trip was %s's (%.1f µs; the highest, %s's, %.1f µs), the highest throughput %s's (%.1f MB/s). ",
			quick.label, quick.p50, slow.label, slow.p50, fast.label, fast.mbps)
		if slow.p50-quick.p50 < 0.25*slow.p50 {
			b.WriteString("The medians lie within 25% of each other: on this machine waking the other side costs more than any protocol, and another run may order them differently. ")
		}
	}
	var bad []string
	for _, f := range figs {
		if f.intact != f.sent || f.late+f.corrupt+f.lost+f.bulkLost+f.bulkLate+f.bulkCorrupt > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d of %d round trips echoed intact, %d late, %d changed, %d lost; in bulk %d datagrams lost, %d out of order, %d changed",
				f.label, f.intact, f.sent, f.late, f.corrupt, f.lost, f.bulkLost, f.bulkLate, f.bulkCorrupt))
		}
	}
	if len(bad) == 0 {
		b.WriteString("Every echo came back intact and in order on every transport.")
	} else {
		b.WriteString("Not every echo came back: " + strings.Join(bad, "; ") + ".")
	}
	return strings.TrimSpace(b.String())
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ipcChange says how much smaller (less) or larger (more) v is than ref, in percent of ref.
func ipcChange(v, ref float64, less, more string) string {
	pct := (ref - v) / ref * 100
	if pct >= 0 {
		return fmt.Sprintf("%.0f%% %s", pct, less)
	}
	return fmt.Sprintf("%.0f%% %s", -pct, more)
}

// ipcRatio is v/ref as "1.8×".
func ipcRatio(v, ref float64) string { return fmt.Sprintf("%.2f× TCP's", v/ref) }
