package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

func init() {
	Register(&Scenario{
		Name:    "chat",
		Title:   "A chat room: framing and broadcast",
		Summary: "the workshop rooms' chat over WebSocket and over plain TCP lines (nc-able): one room, every message to every member in each sender's order; what framing each gets",
		Explain: `A chat room is the seeds' last example and the simplest server that is more than an echo: what one member says, the server sends to every member — broadcast — and each member must see the messages of each sender in the order they were sent.

This is the workshop rooms' own chat (package chat), run here on the emulated link, with two kinds of members in one room. WebSocket members speak its JSON protocol: each message is one WebSocket frame, which carries its own length, so every read returns exactly one message, never half of one, never two. Line members speak plain TCP, as nc does (wireplay serve --chat-tcp-addr serves the same): a message is a line, and the newline is the only framing. TCP delivers a stream of bytes, not messages, so a read returns whatever has arrived: part of a line, several lines, or a line and a half. The line client here reads into a small buffer (read_buffer bytes) and counts what its reads returned; it has to find the line ends itself, as every TCP protocol must (HTTP's CRLF and Content-Length, the boundaries lesson's length prefix).

Every member sends its messages at once, and the server fans each one out to everyone, itself included: N members and M messages each make N×M messages in and N×N×M out. The table counts what each member received, lost and saw out of order per sender, how its reads matched its messages, and how many bytes a message cost on the wire each way (the JSON and its frame header, or the text line). The chat's own limits hold too (size, a bounded queue per member, and the rate: its burst is raised here to the messages each member sends, so that all of them go at once).`,
		Preset: "lab-25ms",
		Params: []Param{
			{Name: "ws_members", Label: "WebSocket members", Kind: KindInt, Min: "1", Max: "20", Unit: "members", Default: "3", Help: "members speaking the chat's JSON over WebSocket"},
			{Name: "line_members", Label: "line (TCP) members", Kind: KindInt, Min: "1", Max: "20", Unit: "members", Default: "2", Help: "members speaking the line protocol over plain TCP, as nc does"},
			{Name: "messages", Label: "messages per member", Kind: KindInt, Min: "1", Max: "20", Unit: "messages", Default: "5", Help: "messages each member sends, all at once (within the chat's burst)"},
			{Name: "read_buffer", Label: "line members' read buffer", Kind: KindInt, Min: "16", Max: "65536", Unit: "bytes", Default: "64", Help: "the line members read into a buffer this big: a line longer than it takes several reads"},
		},
		Run: runChatLesson,
	})
}

const (
	clWS   = "websocket"
	clLine = "tcp lines"
)

// clMember is one member of the lesson's room and what it received.
type clMember struct {
	kind, name string
	mu         sync.Mutex
	got        []clGot
	reads      int // reads (WebSocket: messages read; lines: Read calls that returned bytes)
	multi      int // line reads that held more than one line end
	split      int // line reads that ended in the middle of a line
	joined     int // "joined" notices seen
	// in counts the bytes read off the member's TCP conn (frame headers and all); base is its
	// value once every join was seen, so in − base is what the messages cost.
	in      atomic.Int64
	base    int64
	changed chan struct{}
	err     error
}

type clGot struct {
	from, text string
	at         time.Duration // since the run began
}

func (m *clMember) add(g clGot) {
	m.mu.Lock()
	m.got = append(m.got, g)
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

func (m *clMember) sawJoin() {
	m.mu.Lock()
	m.joined++
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// await waits until cond (m.mu held) holds, m fails, or ctx ends.
func (m *clMember) await(ctx context.Context, what string, cond func() bool) error {
	for {
		m.mu.Lock()
		ok, err, ch := cond(), m.err, m.changed
		m.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", m.name, what, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w", m.name, what, ctx.Err())
		}
	}
}

func (m *clMember) fail(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// countingNet counts the bytes read on the conns it dials.
type countingNet struct {
	netx.Network
	n *atomic.Int64
}

func (c countingNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.Network.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func clText(name string, i int) string { return fmt.Sprintf("%s says hello #%d", name, i) }

func runChatLesson(ctx context.Context, env *Env) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+20*env.RTT())
	defer cancel()
	nWS, nLine, msgs, rbuf := env.Int("ws_members"), env.Int("line_members"), env.Int("messages"), env.Int("read_buffer")
	total := nWS + nLine
	start := time.Now()
	since := func() time.Duration { return time.Since(start) }

	bus := broker.NewMemory()
	defer bus.Close()
	hub := chat.NewHub(bus, chat.Options{Burst: max(msgs, 5), Queue: 4 * total * msgs})
	defer hub.Close()
	const room = "LESSON"
	wsSrv, err := startHTTPHost(ctx, env, &chat.Handler{Hub: hub})
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	defer wsSrv.Close()
	lineLn, err := env.Link.Server().Listen(ctx, "tcp", net.JoinHostPort(env.Link.ServerAddr().String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("chat: listen lines: %w", err)
	}
	lines := &chat.LineServer{Hub: hub}
	go lines.Serve(lineLn)
	defer func() {
		lineLn.Close()
		lines.Close()
	}()

	var members []*clMember
	var sendFns []func() error
	var wg sync.WaitGroup
	// WebSocket members.
	for i := range nWS {
		m := &clMember{kind: clWS, name: "ws" + strconv.Itoa(i+1), changed: make(chan struct{})}
		members = append(members, m)
		c, err := transports.DialWS(ctx, countingNet{env.Link.Client(), &m.in}, "ws://"+wsSrv.Addr().String()+"/?room="+room, transports.WSOptions{ReadLimit: protocol.ChatMaxEvent})
		if err != nil {
			return nil, fmt.Errorf("chat: %s: %w", m.name, err)
		}
		defer c.CloseNow()
		write := func(req protocol.ChatRequest) error {
			req.V = protocol.Version
			b, _ := json.Marshal(req)
			return c.Write(ctx, websocket.MessageText, b)
		}
		if err := write(protocol.ChatRequest{Type: protocol.ChatJoin, Name: m.name}); err != nil {
			return nil, fmt.Errorf("chat: %s: %w", m.name, err)
		}
		welcomed := make(chan struct{})
		wg.Go(func() {
			once := sync.OnceFunc(func() { close(welcomed) })
			defer once()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					m.fail(err)
					return
				}
				var e protocol.ChatEvent
				if json.Unmarshal(b, &e) != nil {
					continue
				}
				m.mu.Lock()
				m.reads++
				m.mu.Unlock()
				switch e.Type {
				case protocol.ChatWelcome:
					once()
				case protocol.ChatJoined:
					m.sawJoin()
				case protocol.ChatMessage:
					m.add(clGot{e.From, e.Text, since()})
				}
			}
		})
		select {
		case <-welcomed:
		case <-ctx.Done():
			return nil, fmt.Errorf("chat: %s: no welcome: %w", m.name, ctx.Err())
		}
		sendFns = append(sendFns, func() error {
			for j := range msgs {
				if err := write(protocol.ChatRequest{Type: protocol.ChatSay, Text: clText(m.name, j)}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// Line members (nc: they answer the server's two questions, then type lines).
	for i := range nLine {
		m := &clMember{kind: clLine, name: "nc" + strconv.Itoa(i+1), changed: make(chan struct{})}
		members = append(members, m)
		conn, err := countingNet{env.Link.Client(), &m.in}.Dial(ctx, "tcp", lineLn.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("chat: %s: %w", m.name, err)
		}
		defer conn.Close()
		welcomed := make(chan struct{})
		wg.Go(func() {
			once := sync.OnceFunc(func() { close(welcomed) })
			defer once()
			buf := make([]byte, rbuf)
			var line []byte
			for {
				n, err := conn.Read(buf)
				if n > 0 {
					chunk := buf[:n]
					m.mu.Lock()
					m.reads++
					if bytes.Count(chunk, []byte("\n")) > 1 {
						m.multi++
					}
					if chunk[n-1] != '\n' {
						m.split++
					}
					m.mu.Unlock()
					for len(chunk) > 0 {
						i := bytes.IndexByte(chunk, '\n')
						if i < 0 {
							line = append(line, chunk...)
							break
						}
						line = append(line, chunk[:i]...)
						chunk = chunk[i+1:]
						s := string(line)
						line = line[:0]
						switch {
						case strings.HasPrefix(s, "your name?"):
							if _, err := fmt.Fprintf(conn, "%s\n", m.name); err != nil {
								m.fail(err)
								return
							}
						case strings.HasPrefix(s, "wireplay chat"):
							if _, err := fmt.Fprintf(conn, "%s\n", room); err != nil {
								m.fail(err)
								return
							}
						case strings.HasPrefix(s, "* you are "):
							once()
						case strings.HasPrefix(s, "* ") && strings.HasSuffix(s, " joined"):
							m.sawJoin()
						case strings.HasPrefix(s, "<"):
							if from, text, ok := strings.Cut(s[1:], "> "); ok {
								m.add(clGot{from, text, since()})
							}
						}
					}
				}
				if err != nil {
					m.fail(err)
					return
				}
			}
		})
		select {
		case <-welcomed:
		case <-ctx.Done():
			return nil, fmt.Errorf("chat: %s: no welcome: %w", m.name, ctx.Err())
		}
		bw := bufio.NewWriter(conn)
		sendFns = append(sendFns, func() error {
			for j := range msgs {
				if _, err := bw.WriteString(clText(m.name, j) + "\n"); err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return err
				}
			}
			return nil
		})
	}

	// Once each member has seen the later ones join, only the messages are left to come: what
	// its conn reads from here is what they cost. Then everyone sends at once, and each member
	// waits for every member's messages.
	for i, m := range members {
		if err := m.await(ctx, "the others' joins", func() bool { return m.joined >= total-1-i }); err != nil {
			return nil, fmt.Errorf("chat: %w", err)
		}
		m.mu.Lock()
		m.base = m.in.Load()
		m.reads, m.multi, m.split = 0, 0, 0 // from here on: the messages' reads only
		m.mu.Unlock()
	}
	sendAt := since()
	var swg sync.WaitGroup
	errs := make(chan error, len(sendFns))
	for _, f := range sendFns {
		swg.Go(func() {
			if err := f(); err != nil {
				errs <- err
			}
		})
	}
	swg.Wait()
	select {
	case err := <-errs:
		return nil, fmt.Errorf("chat: send: %w", err)
	default:
	}
	want := total * msgs
	for _, m := range members {
		if err := m.await(ctx, fmt.Sprintf("all %d messages", want), func() bool { return len(m.got) >= want }); err != nil {
			return nil, fmt.Errorf("chat: %w", err)
		}
	}
	return chatReport(members, msgs, sendAt, env), nil
}

// clStats is what one kind of member measured, summed over its members.
type clStats struct {
	members, got, lost, reord, reads, multi, split int
	bytesIn                                        int64
	lat                                            []float64 // ms from the send to each receipt
}

func chatReport(members []*clMember, msgs int, sendAt time.Duration, env *Env) *Result {
	names := make([]string, 0, len(members))
	for _, m := range members {
		names = append(names, m.name)
	}
	stats := map[string]*clStats{clWS: {}, clLine: {}}
	for _, m := range members {
		st := stats[m.kind]
		st.members++
		m.mu.Lock()
		next := map[string]int{}
		for _, g := range m.got {
			st.got++
			i, err := strconv.Atoi(g.text[strings.LastIndexByte(g.text, '#')+1:])
			if err != nil || g.text != clText(g.from, i) {
				continue
			}
			if i != next[g.from] {
				st.reord++
			}
			next[g.from] = i + 1
			st.lat = append(st.lat, millis(g.at-sendAt))
		}
		for _, n := range names {
			if next[n] < msgs {
				st.lost += msgs - next[n]
			}
		}
		st.reads += m.reads
		st.multi += m.multi
		st.split += m.split
		st.bytesIn += m.in.Load() - m.base
		m.mu.Unlock()
	}
	res := &Result{}
	tbl := Table{Title: "What each kind of member received (all members of a kind summed)",
		Columns: []string{"members", "messages received", "lost", "out of order (per sender)", "reads", "reads with several messages", "reads ending mid-message", "bytes read per message (frame or line)", "delivery p50 (from the sends' start)"}}
	for _, kind := range []string{clWS, clLine} {
		st := stats[kind]
		slices.Sort(st.lat)
		per := 0.0
		if st.got > 0 {
			per = float64(st.bytesIn) / float64(st.got)
		}
		p50 := quantile(st.lat, 0.5)
		tbl.Rows = append(tbl.Rows, []string{kind, strconv.Itoa(st.members), strconv.Itoa(st.got), strconv.Itoa(st.lost), strconv.Itoa(st.reord),
			strconv.Itoa(st.reads), strconv.Itoa(st.multi), strconv.Itoa(st.split), fmt.Sprintf("%.0f B", per), fmt.Sprintf("%.1f ms", p50)})
		res.Metrics = append(res.Metrics,
			Metric{Transport: kind, Name: "messages_received", Unit: "count", Value: float64(st.got)},
			Metric{Transport: kind, Name: "lost", Unit: "count", Value: float64(st.lost)},
			Metric{Transport: kind, Name: "reordered", Unit: "count", Value: float64(st.reord)},
			Metric{Transport: kind, Name: "reads", Unit: "count", Value: float64(st.reads)},
			Metric{Transport: kind, Name: "reads_with_several", Unit: "count", Value: float64(st.multi)},
			Metric{Transport: kind, Name: "reads_mid_message", Unit: "count", Value: float64(st.split)},
			Metric{Transport: kind, Name: "bytes_per_message", Unit: "bytes", Value: per},
			Metric{Transport: kind, Name: "delivery_p50_ms", Unit: "ms", Value: p50},
		)
	}
	for _, kind := range []string{clWS, clLine} {
		sr := Series{Chart: "When each message reached each member", Name: kind, XLabel: "receipts, in order of arrival",
			YLabel: "ms since the sends began", Style: "dots"}
		for i, v := range stats[kind].lat {
			sr.Points = append(sr.Points, Point{X: float64(i + 1), Y: v})
		}
		res.Series = append(res.Series, sr)
	}
	tbl.Columns = append([]string{"kind"}, tbl.Columns...)
	res.Tables = []Table{tbl}
	ws, ln := stats[clWS], stats[clLine]
	n := len(members)
	var b strings.Builder
	fmt.Fprintf(&b, "%d members (%d WebSocket, %d TCP lines) each sent %d messages at once; the server broadcast every one to all %d, so each member should get %d and the server wrote %d. ",
		n, ws.members, ln.members, msgs, n, n*msgs, n*n*msgs)
	if lost, reord := ws.lost+ln.lost, ws.reord+ln.reord; lost == 0 && reord == 0 {
		fmt.Fprintf(&b, "Every member got all %d, each sender's in the order sent, whichever framing it spoke: one room. ", n*msgs)
	} else {
		fmt.Fprintf(&b, "%d messages were lost and %d out of order: the room did not keep its promise here. ", lost, reord)
	}
	fmt.Fprintf(&b, "The WebSocket members read %d messages in %d reads: one read, one whole message, the frame says where it ends. ", ws.got, ws.reads)
	fmt.Fprintf(&b, "The line members' %d reads of a %d-byte buffer returned ", ln.reads, env.Int("read_buffer"))
	switch {
	case ln.split > 0 && ln.multi > 0:
		fmt.Fprintf(&b, "part of a line %d times and several lines %d times: TCP carries bytes, not messages, and the newline is all that tells them apart. ", ln.split, ln.multi)
	case ln.split > 0:
		fmt.Fprintf(&b, "part of a line %d times: TCP carries bytes, not messages; the reader joins the pieces up to each newline. ", ln.split)
	case ln.multi > 0:
		fmt.Fprintf(&b, "several lines at once %d times: TCP carries bytes, not messages; the reader splits at each newline. ", ln.multi)
	default:
		b.WriteString("one line each this time: TCP does not promise it (try a smaller read_buffer). ")
	}
	if ws.got > 0 && ln.got > 0 {
		fmt.Fprintf(&b, "A message cost %.0f bytes on the wire as JSON in a WebSocket frame and %.0f as a line of text.", float64(ws.bytesIn)/float64(ws.got), float64(ln.bytesIn)/float64(ln.got))
	}
	res.Conclusion = b.String()
	return res
}
