package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/wireplay/wireplay/zeromq"
)

func init() {
	Register(&Scenario{
		Name:    "patterns",
		Title:   "ZeroMQ messaging patterns",
		Summary: "REQ/REP with a lost reply and the lazy-pirate retry, PUB/SUB topics and the slow joiner, PUSH/PULL and a ROUTER balancing work, a broker, a client before its server, high-water-mark drops — in ZeroMQ and over a plain TCP socket",
		Explain: `ZeroMQ is a library, not a server: its sockets carry whole messages (made of frames) instead of a byte stream, connect and reconnect by themselves, queue what cannot be sent yet, and each kind of socket follows one pattern of talking. The same patterns can be written on a plain TCP socket; this lesson runs both, so what the library adds is what differs.

Request/reply: a REQ socket sends a request and must have its reply before it sends again; a REP socket answers in turn. When a reply is lost — here the server drops the reply to one request — the plain REQ client waits for ever (the lesson gives up after the timeout and calls it stuck). The lazy-pirate client waits at most the timeout, then closes its socket, opens a new one and sends the request again; the new socket is needed because a REQ that sent and never heard cannot send again.

Publish/subscribe: a SUB socket subscribes to topic prefixes, and a message whose first frame starts with one reaches it; the others are filtered out before they reach the application. A PUB keeps nothing for later: a subscriber that connects after the first messages were sent never sees them (the slow joiner), and even one that connects just before the first message may miss some while its subscription is on its way.

Pipeline: a PUSH socket hands out tasks to the PULL sockets of workers, and the workers push results to one sink. ZeroMQ's PUSH gives each task to one worker, in turn — libzmq's does; go-zeromq/zmq4, the pure-Go library used here, sends every task to every connected worker, and the per-worker counts below show it. A ROUTER socket addresses each peer by its identity: a ROUTER that gives a task to whichever worker asks for one shares the work by demand, whatever the library's PUSH does. A broker built of two ROUTERs sits between clients and workers: it hands each request to a free worker and sends the reply back to the client that asked, so neither side knows the other's address (the usual backend, a DEALER, has the same fault in zmq4 as its PUSH, so the broker here is ROUTER to ROUTER).

A ZeroMQ client may start before its server: its connect is retried until the server listens, while a plain TCP connect fails at once and the application must retry. A ZeroMQ socket never blocks the sender for long: past its high-water mark (a queue of so many messages) a PUB drops messages, without an error, where a TCP writer would wait for the reader. Transports: tcp (over the emulated link), ipc (Unix sockets; not in the browser) and inproc (an in-process pipe). Each part's numbers are counts of messages; the conclusion reads them.`,
		Preset: "clean",
		Params: []Param{
			{Name: "transports", Label: "ZeroMQ transports", Kind: KindEnum, List: true, Values: []string{"tcp", "ipc", "inproc"}, Default: "tcp,inproc", Help: "ZeroMQ transports to run the patterns over (ipc: Unix sockets, not in the browser)"},
			{Name: "requests", Label: "requests", Kind: KindInt, Min: "1", Max: "200", Unit: "requests", Default: "8", Help: "requests each REQ client sends"},
			{Name: "lost", Label: "lost reply", Kind: KindInt, Min: "0", Max: "200", Unit: "request #", Default: "3", Help: "the request whose first reply the server drops (0: none)"},
			{Name: "timeout", Label: "reply timeout", Kind: KindDuration, Min: "20ms", Max: "5s", Default: "100ms", Help: "how long a client waits for a reply before it gives up (plain) or retries (lazy pirate)"},
			{Name: "messages", Label: "messages", Kind: KindInt, Min: "2", Max: "1000", Unit: "messages", Default: "40", Help: "messages published, and tasks handed out"},
			{Name: "late", Label: "late subscriber joins after", Kind: KindInt, Min: "0", Max: "1000", Unit: "messages", Default: "10", Help: "the late subscriber connects after this many messages were published"},
			{Name: "workers", Label: "workers", Kind: KindInt, Min: "1", Max: "8", Unit: "workers", Default: "3", Help: "PULL (and ROUTER) workers"},
		},
		Run: runPatterns,
	})
}

// ptRun is one run of the lesson.
type ptRun struct {
	env      *Env
	nets     *zeromq.Networks
	dir      string // ipc sockets
	id       string // inproc names
	requests int
	lost     int
	timeout  time.Duration
	messages int
	late     int
	workers  int
	seq      atomic.Int64

	rows        [][]string
	metrics     []Metric
	series      []Series
	tcpFirstErr string // the plain TCP connect before its server
}

var ptRuns atomic.Int64

// ptQuiet is how long a reader waits after the last message it expects might have come; zmq4
// tells nobody when a message was dropped, so a count is final only after such a wait.
const ptQuiet = 250 * time.Millisecond

func runPatterns(ctx context.Context, env *Env) (*Result, error) {
	trs := env.Enums("transports")
	if slices.Contains(trs, "ipc") && runtime.GOOS == "js" {
		return nil, errors.New("patterns: ipc needs Unix sockets, which the browser has not; choose tcp or inproc")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := &ptRun{env: env, requests: env.Int("requests"), lost: env.Int("lost"), timeout: env.Duration("timeout"),
		messages: env.Int("messages"), late: env.Int("late"), workers: env.Int("workers"),
		id: strconv.FormatInt(ptRuns.Add(1), 10)}
	if r.late > r.messages {
		return nil, fmt.Errorf("patterns: late %d is more than messages %d", r.late, r.messages)
	}
	r.nets = zeromq.NewNetworks(env.Link.Server(), env.Link.Client())
	defer r.nets.Close()
	if slices.Contains(trs, "ipc") {
		d, err := os.MkdirTemp("", "wireplay-zmq-")
		if err != nil {
			return nil, fmt.Errorf("patterns: ipc directory: %w", err)
		}
		defer os.RemoveAll(d)
		r.dir = d
	}
	for _, tr := range trs {
		for _, part := range []func(context.Context, string) error{r.reqRep, r.pubSub, r.pushPull, r.router, r.broker} {
			if err := part(ctx, tr); err != nil {
				return nil, fmt.Errorf("patterns over %s: %w", tr, err)
			}
		}
	}
	if slices.Contains(trs, "tcp") {
		if err := r.clientFirst(ctx); err != nil {
			return nil, fmt.Errorf("patterns: client before server: %w", err)
		}
		if err := r.hwm(ctx); err != nil {
			return nil, fmt.Errorf("patterns: high-water mark: %w", err)
		}
	}
	for _, part := range []func(context.Context) error{r.tcpReqRep, r.tcpPubSub, r.tcpPushPull, r.tcpBroker, r.tcpClientFirst, r.tcpHWM} {
		if err := part(ctx); err != nil {
			return nil, fmt.Errorf("patterns over plain tcp: %w", err)
		}
	}
	return &Result{
		Metrics:    r.metrics,
		Series:     r.series,
		Tables:     []Table{{Title: "Each pattern", Columns: []string{"pattern", "over", "what happened"}, Rows: r.rows}},
		Conclusion: r.conclusion(trs),
	}, nil
}

// zt is the Metric transport of a ZeroMQ transport.
func zt(tr string) string { return "zmq-" + tr }

func (r *ptRun) metric(tr, name string, v float64) {
	r.metrics = append(r.metrics, Metric{Transport: tr, Name: name, Unit: "count", Value: v})
}

func (r *ptRun) value(tr, name string) float64 {
	for _, m := range r.metrics {
		if m.Transport == tr && m.Name == name {
			return m.Value
		}
	}
	return -1
}

func (r *ptRun) row(pattern, over, what string, args ...any) {
	r.rows = append(r.rows, []string{pattern, over, fmt.Sprintf(what, args...)})
}

var ptLog = log.New(io.Discard, "", 0)

func ptOpts(extra ...zmq4.Option) []zmq4.Option {
	return append([]zmq4.Option{zmq4.WithLogger(ptLog), zmq4.WithTimeout(2 * time.Second),
		zmq4.WithDialerRetry(20 * time.Millisecond), zmq4.WithDialerMaxRetries(100)}, extra...)
}

// bind makes s listen on a fresh endpoint of transport tr and returns the endpoint to dial.
func (r *ptRun) bind(s zmq4.Socket, tr string) (string, error) {
	n := r.seq.Add(1)
	var ep string
	switch tr {
	case "tcp":
		ep = r.nets.Endpoint(net.JoinHostPort(r.env.Link.ServerAddr().String(), "0"))
	case "ipc":
		ep = "ipc://" + filepath.Join(r.dir, fmt.Sprintf("s%d.sock", n))
	case "inproc":
		ep = fmt.Sprintf("%s://wireplay-patterns-%s-%d", zeromq.Pipe, r.id, n)
	}
	if err := s.Listen(ep); err != nil {
		return "", fmt.Errorf("listen %s: %w", ep, err)
	}
	if tr == "tcp" {
		ep = r.nets.Endpoint(s.Addr().String())
	}
	return ep, nil
}

// closeAll closes sockets. zmq4 has no linger and may drop a message sent just before Close; no
// part closes a socket right after a Send: each closes once its last message was received (the
// echo came back, the sink or the subscriber heard nothing more for ptQuiet), so no message a
// count depends on is cut off.
func closeAll(socks ...zmq4.Socket) {
	var wg sync.WaitGroup
	for _, s := range socks {
		if s != nil {
			wg.Go(func() { zeromq.Close(s) })
		}
	}
	wg.Wait()
}

// ptDrop reports whether the server drops the reply to request (client, k, try).
func (r *ptRun) ptDrop(k, try int) bool { return k == r.lost && try == 1 }

// reqRep runs a REP echo that drops one reply, a plain REQ client and a lazy-pirate one.
func (r *ptRun) reqRep(ctx context.Context, tr string) error {
	rep := zmq4.NewRep(ctx, ptOpts()...)
	ep, err := r.bind(rep, tr)
	if err != nil {
		closeAll(rep)
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	var dropped atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			m, err := zeromq.Recv(sctx, rep)
			if err != nil {
				return
			}
			var client string
			var k, try int
			fmt.Sscanf(string(m.Frames[0]), "%s %d %d", &client, &k, &try)
			if r.ptDrop(k, try) {
				dropped.Add(1)
				continue
			}
			zeromq.Send(sctx, rep, m.Frames...)
		}
	})
	defer func() { stop(); wg.Wait(); closeAll(rep) }()

	plain, err := r.zReqClient(ctx, ep, "plain", false)
	if err != nil {
		return err
	}
	pirate, err := r.zReqClient(ctx, ep, "pirate", true)
	if err != nil {
		return err
	}
	over := "ZeroMQ " + tr
	r.reportReq(zt(tr), over, plain, pirate, int(dropped.Load()))
	return nil
}

// reqOutcome is what one REQ client saw.
type reqOutcome struct {
	answered  int // requests answered with their own echo
	wrong     int // replies that were not the echo of the request just sent
	stuckAt   int // the request the client gave up on (0: none)
	retries   int // requests sent again
	sockets   int // sockets (or connections) the client made
	abandoned int // requests given up after every try
}

const ptTries = 3

// zReqClient sends r.requests requests over REQ sockets; the lazy pirate retries a request whose
// reply does not come within the timeout on a new socket, the plain client stops there (stuck).
func (r *ptRun) zReqClient(ctx context.Context, ep, name string, pirate bool) (reqOutcome, error) {
	var o reqOutcome
	var req zmq4.Socket
	open := func() error {
		req = zmq4.NewReq(ctx, ptOpts()...)
		o.sockets++
		if err := req.Dial(ep); err != nil {
			closeAll(req)
			return fmt.Errorf("dial %s: %w", ep, err)
		}
		return nil
	}
	if err := open(); err != nil {
		return o, err
	}
	defer func() { zeromq.Close(req) }()
	for k := 1; k <= r.requests; k++ {
		got := false
		for try := 1; try <= ptTries && !got; try++ {
			if try > 1 {
				o.retries++
			}
			msg := fmt.Sprintf("%s %d %d", name, k, try)
			tctx, cancel := context.WithTimeout(ctx, r.timeout)
			err := zeromq.Send(tctx, req, []byte(msg))
			var m zmq4.Msg
			if err == nil {
				m, err = zeromq.Recv(tctx, req)
			}
			cancel()
			if err == nil {
				got = true
				if len(m.Frames) == 1 && string(m.Frames[0]) == msg {
					o.answered++
				} else {
					o.wrong++
				}
				break
			}
			if ctx.Err() != nil {
				return o, ctx.Err()
			}
			if !pirate {
				o.stuckAt = k
				return o, nil
			}
			// Lazy pirate: this socket is spent (a REQ that sent must hear before it sends
			// again); a new one sends the request again.
			zeromq.Close(req)
			if err := open(); err != nil {
				return o, err
			}
		}
		if !got {
			o.abandoned++
		}
	}
	return o, nil
}

func (r *ptRun) reportReq(tr, over string, plain, pirate reqOutcome, dropped int) {
	for _, c := range []struct {
		name string
		o    reqOutcome
	}{{"plain", plain}, {"pirate", pirate}} {
		r.metric(tr, c.name+"_answered", float64(c.o.answered))
		r.metric(tr, c.name+"_wrong_replies", float64(c.o.wrong))
		r.metric(tr, c.name+"_retries", float64(c.o.retries))
		r.metric(tr, c.name+"_sockets", float64(c.o.sockets))
		r.metric(tr, c.name+"_abandoned", float64(c.o.abandoned))
	}
	r.metric(tr, "plain_stuck_at", float64(plain.stuckAt))
	r.metric(tr, "replies_dropped", float64(dropped))
	stuck := "never stuck"
	if plain.stuckAt > 0 {
		stuck = fmt.Sprintf("stuck at request %d (no reply in %v; without a timeout it would wait for ever)", plain.stuckAt, r.timeout)
	}
	r.row("request/reply", over, "plain client: %d of %d answered in lockstep, %s; lazy pirate: %d of %d answered, %s, %s",
		plain.answered, r.requests, stuck, pirate.answered, r.requests, holPlural(pirate.retries, "request")+" sent again", holPlural(pirate.sockets, "socket")+" made")
}

// ptMsg is one received [topic, n] message.
type ptMsg struct {
	topic string
	n     int
}

// collect reads [topic, n] messages from s into out until ctx is done.
func collect(ctx context.Context, s zmq4.Socket, out *[]ptMsg, mu *sync.Mutex) {
	for {
		m, err := zeromq.Recv(ctx, s)
		if err != nil || len(m.Frames) < 2 {
			return
		}
		n, _ := strconv.Atoi(string(m.Frames[1]))
		mu.Lock()
		*out = append(*out, ptMsg{string(m.Frames[0]), n})
		mu.Unlock()
	}
}

func ptTopic(i int) string {
	if i%2 == 1 {
		return "A"
	}
	return "B"
}

// pubSub publishes r.messages messages on topics A and B (odd numbers on A) to a subscriber on A
// that was ready before the first, one on everything dialled as publishing began, and a late one
// dialled after r.late messages.
func (r *ptRun) pubSub(ctx context.Context, tr string) error {
	pub := zmq4.NewPub(ctx, ptOpts()...)
	ep, err := r.bind(pub, tr)
	if err != nil {
		closeAll(pub)
		return err
	}
	rctx, stopRead := context.WithCancel(ctx)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var ready, eager, late []ptMsg
	subs := []zmq4.Socket{}
	defer func() { stopRead(); closeAll(append(subs, pub)...); wg.Wait() }()
	sub := func(topic string, into *[]ptMsg) error {
		s := zmq4.NewSub(ctx, ptOpts()...)
		subs = append(subs, s)
		if err := s.Dial(ep); err != nil {
			return fmt.Errorf("dial %s: %w", ep, err)
		}
		if err := s.SetOption(zmq4.OptionSubscribe, topic); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		wg.Go(func() { collect(rctx, s, into, &mu) })
		return nil
	}
	if err := sub("A", &ready); err != nil {
		return err
	}
	// Ready: the PUB has the subscription (zmq4's PUB lists its subscribers' topics).
	for t := time.Now(); !slices.Contains(pub.(zmq4.Topics).Topics(), "A"); {
		if time.Since(t) > 2*time.Second {
			return errors.New("subscription to A never reached the PUB")
		}
		time.Sleep(time.Millisecond)
	}
	if err := sub("", &eager); err != nil { // no wait: publishing begins at once
		return err
	}
	for i := 1; i <= r.messages; i++ {
		if i == r.late+1 {
			if err := sub("", &late); err != nil {
				return err
			}
		}
		if err := zeromq.Send(ctx, pub, []byte(ptTopic(i)), []byte(strconv.Itoa(i))); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	if r.late == r.messages {
		if err := sub("", &late); err != nil {
			return err
		}
	}
	time.Sleep(ptQuiet)
	stopRead()
	mu.Lock()
	defer mu.Unlock()
	r.reportSub(zt(tr), "ZeroMQ "+tr, ready, eager, late)
	return nil
}

// subTally sums up what a subscriber received.
type subTally struct {
	got, onA, offTopic, first int
}

func tally(ms []ptMsg, topic string) subTally {
	t := subTally{got: len(ms)}
	for i, m := range ms {
		if i == 0 {
			t.first = m.n
		}
		if m.topic == "A" {
			t.onA++
		}
		if !strings.HasPrefix(m.topic, topic) {
			t.offTopic++
		}
	}
	return t
}

func (r *ptRun) reportSub(tr, over string, ready, eager, late []ptMsg) {
	onA := (r.messages + 1) / 2
	a, e, l := tally(ready, "A"), tally(eager, ""), tally(late, "")
	r.metric(tr, "sub_a_received", float64(a.got))
	r.metric(tr, "sub_a_published_on_a", float64(onA))
	r.metric(tr, "sub_a_off_topic", float64(a.offTopic))
	r.metric(tr, "sub_eager_missed", float64(r.messages-e.got))
	r.metric(tr, "sub_late_received", float64(l.got))
	r.metric(tr, "sub_late_first", float64(l.first))
	r.metric(tr, "sub_late_missed", float64(r.messages-l.got))
	for i, sub := range []struct {
		name string
		ms   []ptMsg
	}{{"on A, ready first", ready}, {"on all, dialled as publishing began", eager}, {fmt.Sprintf("on all, late (after %d)", r.late), late}} {
		se := Series{Chart: "Which messages each subscriber received (" + over + ")", Name: sub.name, XLabel: "message #", YLabel: "subscriber", Style: "dots"}
		for _, m := range sub.ms {
			se.Points = append(se.Points, Point{X: float64(m.n), Y: float64(3 - i)})
		}
		r.series = append(r.series, se)
	}
	r.row("publish/subscribe", over, "subscriber on A (ready first): %d of the %d messages on A, %d on other topics; subscriber dialled as publishing began: missed %d of %d; late subscriber (after %d): missed %d, its first was #%d",
		a.got, onA, a.offTopic, r.messages-e.got, r.messages, r.late, r.messages-l.got, l.first)
}

// pushPull hands r.messages tasks from a PUSH to r.workers PULL workers, which push each on to a
// sink with their name.
func (r *ptRun) pushPull(ctx context.Context, tr string) error {
	vent := zmq4.NewPush(ctx, ptOpts()...)
	sink := zmq4.NewPull(ctx, ptOpts()...)
	socks := []zmq4.Socket{vent, sink}
	rctx, stopRead := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopRead(); closeAll(socks...); wg.Wait() }()
	vep, err := r.bind(vent, tr)
	if err != nil {
		return err
	}
	sep, err := r.bind(sink, tr)
	if err != nil {
		return err
	}
	for w := 1; w <= r.workers; w++ {
		in, out := zmq4.NewPull(ctx, ptOpts()...), zmq4.NewPush(ctx, ptOpts()...)
		socks = append(socks, in, out)
		if err := in.Dial(vep); err != nil {
			return fmt.Errorf("worker dial %s: %w", vep, err)
		}
		if err := out.Dial(sep); err != nil {
			return fmt.Errorf("worker dial %s: %w", sep, err)
		}
		name := []byte(strconv.Itoa(w))
		wg.Go(func() {
			for {
				m, err := zeromq.Recv(rctx, in)
				if err != nil {
					return
				}
				if zeromq.Send(rctx, out, m.Frames[0], name) != nil {
					return
				}
			}
		})
	}
	// zmq4 says nothing when the PUSH has accepted a worker's connection; give the accepts a
	// moment (the dials above returned after their handshakes).
	time.Sleep(20 * time.Millisecond)
	var mu sync.Mutex
	var done []ptMsg // [task, worker] read as topic = task, n = worker
	wg.Go(func() { collect(rctx, sink, &done, &mu) })
	for i := 1; i <= r.messages; i++ {
		if err := zeromq.Send(ctx, vent, []byte(strconv.Itoa(i))); err != nil {
			return err
		}
	}
	time.Sleep(ptQuiet)
	stopRead()
	mu.Lock()
	defer mu.Unlock()
	r.reportWork(zt(tr), "ZeroMQ "+tr+", PUSH/PULL", "push", done)
	return nil
}

// reportWork tallies results [task, worker] at the sink: per-worker counts, distinct tasks, and
// copies.
func (r *ptRun) reportWork(tr, over, prefix string, done []ptMsg) {
	per := make([]int, r.workers+1)
	tasks := map[string]int{}
	for _, d := range done {
		if d.n >= 1 && d.n <= r.workers {
			per[d.n]++
		}
		tasks[d.topic]++
	}
	copies := 0
	for _, c := range tasks {
		copies = max(copies, c)
	}
	counts := make([]string, 0, r.workers)
	se := Series{Chart: "Tasks each worker did", Name: over, XLabel: "worker", YLabel: "tasks", Style: "dots"}
	for w := 1; w <= r.workers; w++ {
		se.Points = append(se.Points, Point{X: float64(w), Y: float64(per[w])})
		r.metric(tr, fmt.Sprintf("%s_worker%d_tasks", prefix, w), float64(per[w]))
		counts = append(counts, strconv.Itoa(per[w]))
	}
	r.series = append(r.series, se)
	r.metric(tr, prefix+"_results", float64(len(done)))
	r.metric(tr, prefix+"_distinct_tasks", float64(len(tasks)))
	r.metric(tr, prefix+"_max_copies", float64(copies))
	r.metric(tr, prefix+"_spread", float64(slices.Max(per[1:])-slices.Min(per[1:])))
	r.row("pipeline", over, "%d tasks to %s: per worker %s; the sink got %d results for %d distinct tasks (a task done by up to %s)",
		r.messages, holPlural(r.workers, "worker"), strings.Join(counts, " / "), len(done), len(tasks), holPlural(copies, "worker"))
}

// router balances r.messages tasks over r.workers REQ workers by demand: a worker asks, the
// ROUTER answers that worker (by its identity) with the next task.
func (r *ptRun) router(ctx context.Context, tr string) error {
	rt := zmq4.NewRouter(ctx, ptOpts()...)
	socks := []zmq4.Socket{rt}
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopWorkers(); closeAll(socks...); wg.Wait() }()
	ep, err := r.bind(rt, tr)
	if err != nil {
		return err
	}
	for w := 1; w <= r.workers; w++ {
		req := zmq4.NewReq(ctx, ptOpts(zmq4.WithID(zmq4.SocketIdentity("w"+strconv.Itoa(w))))...)
		socks = append(socks, req)
		if err := req.Dial(ep); err != nil {
			return fmt.Errorf("worker dial %s: %w", ep, err)
		}
		wg.Go(func() {
			result := []byte("ready")
			for {
				if zeromq.Send(wctx, req, result) != nil {
					return
				}
				m, err := zeromq.Recv(wctx, req)
				if err != nil || string(m.Frames[0]) == "stop" {
					return
				}
				result = append([]byte("done "), m.Frames[0]...)
			}
		})
	}
	var done []ptMsg
	next, stopped := 1, 0
	for stopped < r.workers {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := zeromq.Recv(tctx, rt)
		cancel()
		if err != nil {
			return fmt.Errorf("router: %w", err)
		}
		if len(m.Frames) < 3 {
			return fmt.Errorf("router: message %q: want [identity, \"\", body]", zeromq.Frames(m))
		}
		id, body := m.Frames[0], string(m.Frames[2])
		if task, ok := strings.CutPrefix(body, "done "); ok {
			w, _ := strconv.Atoi(strings.TrimPrefix(string(id), "w"))
			done = append(done, ptMsg{task, w})
		}
		reply := "stop"
		if next <= r.messages {
			reply = strconv.Itoa(next)
			next++
		} else {
			stopped++
		}
		if err := zeromq.Send(ctx, rt, id, nil, []byte(reply)); err != nil {
			return err
		}
	}
	r.reportWork(zt(tr), "ZeroMQ "+tr+", ROUTER by demand", "router", done)
	return nil
}

// clientFirst starts a REQ client dialling a server that listens only 150 ms later.
func (r *ptRun) clientFirst(ctx context.Context) error {
	addr := net.JoinHostPort(r.env.Link.ServerAddr().String(), "7400")
	ep := r.nets.Endpoint(addr)
	refusedBefore := r.nets.Refused()
	req := zmq4.NewReq(ctx, ptOpts()...)
	dialed := make(chan error, 1)
	go func() { dialed <- req.Dial(ep) }()
	time.Sleep(150 * time.Millisecond)
	rep := zmq4.NewRep(ctx, ptOpts()...)
	defer closeAll(req, rep)
	if err := rep.Listen(ep); err != nil {
		return fmt.Errorf("listen %s: %w", ep, err)
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if m, err := zeromq.Recv(sctx, rep); err == nil {
			zeromq.Send(sctx, rep, m.Frames...)
		}
	})
	defer func() { stop(); wg.Wait() }()
	if err := <-dialed; err != nil {
		return fmt.Errorf("dial %s: %w", ep, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	answered := 0
	if err := zeromq.Send(tctx, req, []byte("early")); err == nil {
		if m, err := zeromq.Recv(tctx, req); err == nil && string(m.Frames[0]) == "early" {
			answered = 1
		}
	}
	refused := r.nets.Refused() - refusedBefore
	r.metric(zt("tcp"), "client_first_refused_dials", float64(refused))
	r.metric(zt("tcp"), "client_first_answered", float64(answered))
	r.row("client before server", "ZeroMQ tcp", "the REQ's connect was refused %s and retried by the library every 20 ms until the server listened; then its request was answered (%d of 1)", holPlural(int(refused), "time"), answered)
	return nil
}

func (r *ptRun) conclusion(trs []string) string {
	var b strings.Builder
	for _, tr := range trs {
		t := zt(tr)
		fmt.Fprintf(&b, "Over ZeroMQ %s: ", tr)
		if at := r.value(t, "plain_stuck_at"); at > 0 {
			fmt.Fprintf(&b, "the plain REQ client was stuck at request %.0f, whose reply the server dropped, while the lazy pirate got %.0f of %d answered by sending %.0f again on %.0f sockets; ",
				at, r.value(t, "pirate_answered"), r.requests, r.value(t, "pirate_retries"), r.value(t, "pirate_sockets"))
		} else {
			fmt.Fprintf(&b, "both REQ clients got %.0f of %d answered in lockstep; ", r.value(t, "plain_answered"), r.requests)
		}
		fmt.Fprintf(&b, "the subscriber on A got %.0f of %.0f messages on A and %.0f on B, the late subscriber missed %.0f (the first it saw was #%.0f) and the one dialled as publishing began missed %.0f; ",
			r.value(t, "sub_a_received"), r.value(t, "sub_a_published_on_a"), r.value(t, "sub_a_off_topic"), r.value(t, "sub_late_missed"), r.value(t, "sub_late_first"), r.value(t, "sub_eager_missed"))
		fmt.Fprintf(&b, "the PUSH's %d tasks reached the sink %.0f times (each task done by up to %.0f of the %d workers), while the ROUTER handing tasks out on demand had each of %.0f done once (spread between workers %.0f); the broker answered %.0f of %.0f requests, each with its own reply (%.0f wrong). ",
			r.messages, r.value(t, "push_results"), r.value(t, "push_max_copies"), r.workers, r.value(t, "router_distinct_tasks"), r.value(t, "router_spread"),
			r.value(t, "broker_answered"), r.value(t, "broker_requests"), r.value(t, "broker_wrong_replies"))
	}
	if v := r.value(zt("tcp"), "client_first_refused_dials"); v >= 0 {
		fmt.Fprintf(&b, "A ZeroMQ client started before its server had its connect refused %.0f times and retried by the library, then was answered; a plain TCP connect failed at once (%s). ",
			v, r.tcpFirstErr)
	}
	if v := r.value(zt("tcp"), "hwm_sent"); v >= 0 {
		fmt.Fprintf(&b, "A burst of %.0f messages into a PUB with a high-water mark of %d: no Send failed, %.0f arrived and %.0f were dropped silently; the same burst on a TCP socket blocked the writer after %.0f and lost none. ",
			v, ptHWM, r.value(zt("tcp"), "hwm_received"), r.value(zt("tcp"), "hwm_dropped"), r.value("tcp", "hwm_written"))
	}
	fmt.Fprintf(&b, "Over plain TCP the application did it all itself: framed each message with a length, reconnected the lazy pirate (%.0f of %d answered), sent every message to every subscriber (the one on A read %.0f and threw %.0f away), shared the tasks round-robin (spread %.0f), and its broker kept every connection and wrote its own envelope on each request (%.0f of %.0f answered).",
		r.value("tcp", "pirate_answered"), r.requests, r.value("tcp", "sub_a_read"), r.value("tcp", "sub_a_discarded"), r.value("tcp", "push_spread"),
		r.value("tcp", "broker_answered"), r.value("tcp", "broker_requests"))
	return b.String()
}
