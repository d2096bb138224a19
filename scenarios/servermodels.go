package scenarios

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/servermodels"
)

func init() {
	models := make([]string, len(servermodels.Models))
	for i, m := range servermodels.Models {
		models[i] = string(m)
	}
	Register(&Scenario{
		Name:    "server-models",
		Title:   "Server concurrency models",
		Summary: "one echo service five ways — iterative, an epoll readiness loop, a goroutine per connection, a worker pool, a process per connection — with one slow client among many",
		Explain: `A server has one listening socket and many clients. How it divides its attention between them is its concurrency model, and the same echo service can be written in each of the classic ones.

Iterative: accept a connection, serve it until the client closes, close it, accept the next. It is the simplest server there is, and while it serves one client every other client waits. Their connects still succeed — the kernel finishes handshakes on its own and keeps them in the listener's accept queue, up to listen's backlog — but nobody reads what they send. A single client that connects and holds stops everyone.

Readiness loop: one goroutine and one thread serve every connection. Every socket is non-blocking and registered with an epoll instance; epoll_wait says which are readable (or, for a write that did not fit, writable again), and the loop does only what will not block: accept until EAGAIN, one read per ready connection, a write the kernel takes whole or in part. This is select/poll/epoll, libev, nginx, Node and the PHP event loops; a connection costs a descriptor and a few bytes of bookkeeping. Here it is written by hand with golang.org/x/sys/unix, outside Go's runtime.

Goroutine per connection: Go's ordinary server. Each connection has its goroutine doing blocking reads; underneath, the runtime parks it and runs its own epoll loop (the netpoller), so this is the readiness loop with a stack per connection: about 7 KiB each here, stack and 4 KiB read buffer.

Worker pool: a fixed number of goroutines; a connection waits for a free one. Memory is bounded, but the slow client takes a worker for as long as it holds, and once every worker is held the pool is an iterative server again.

Process per connection: the parent accepts, starts a child process — this same binary, handed the accepted socket as its descriptor 3 (os/exec's ExtraFiles; fork() did this by copying the whole process) — and closes its own copy; one goroutine of the parent waits for each child to exit (waitpid). Children are isolated from one another and cost a whole runtime each, and starting one is in every client's first reply.

The slow client either just holds (slow=hold) or also sends a byte every "trickle" interval meanwhile (slow=trickle), as a client on a bad line would: a blocking server serves it all along, and that is exactly what keeps everyone else waiting in the iterative server (and in a pool whose workers it holds).

Look at the table. The first columns are the other clients' time to their first reply (from connect to the first echo) and the round trip of each request (the first one included), while one client holds its connection open for "hold"; how many of the others were accepted before the slow one closed; and the longest accept queue the kernel reported meanwhile. The next columns open "idle" connections that send one byte and then sit, and count what each model holds for them: bytes of Go heap and stack (for a child, its proportional share of memory, Pss), goroutines, threads and processes, and so how many idle connections fit in "budget" MiB, as far as the open-file limit allows. The kernel's own socket buffers are not in these figures.

By default everything runs on the kernel's loopback (127.0.0.1), not the emulated link — epoll and child processes need real descriptors — so the link settings do not apply. With network=link the servers and clients are the link's two netstack hosts and the link's settings apply: the readiness loop then waits on netstack's waiter queues (each endpoint's queue calls back to put the endpoint on the loop's ready list; the loop's non-blocking Accept, Read and Write answer ErrWouldBlock, netstack's EAGAIN), the process model is left out (a netstack endpoint cannot be handed to another process), the accept queue cannot be read, and the memory per idle connection counts both ends, both being netstack endpoints in this process.

The last table shows the primitives the models are made of: a read that returns when its deadline passes, a non-blocking read with nothing to read (EAGAIN), and a non-blocking write into a full send buffer that takes only part of what it was given.`,
		Preset: "clean",
		Params: []Param{
			{Name: "network", Label: "network", Kind: KindEnum, Values: []string{"kernel", "link"}, Default: "kernel", Help: "kernel: TCP on 127.0.0.1, all five models; link: the emulated link (its settings apply), the readiness loop on netstack's waiter queues, no process model"},
			{Name: "models", Label: "server models", Kind: KindEnum, List: true, Values: models, Default: strings.Join(models, ","), Help: "which models to run"},
			{Name: "clients", Label: "clients (one of them slow)", Kind: KindInt, Min: "2", Max: "32", Unit: "clients", Default: "8", Help: "clients of the load, the first of which connects and holds"},
			{Name: "requests", Label: "requests per client", Kind: KindInt, Min: "1", Max: "1000", Unit: "requests", Default: "20", Help: "echo requests each of the other clients sends, one after the other"},
			{Name: "size", Label: "request size", Kind: KindInt, Min: "1", Max: "4096", Unit: "bytes", Default: "64", Help: "bytes of each request"},
			{Name: "hold", Label: "slow client's hold", Kind: KindDuration, Min: "10ms", Max: "5s", Default: "300ms", Help: "how long the slow client holds its connection open after its first echo"},
			{Name: "slow", Label: "the slow client", Kind: KindEnum, Values: []string{"hold", "trickle"}, Default: "hold", Help: "hold: it connects, gets one echo and sits for hold; trickle: it also sends a byte every trickle interval meanwhile, each echoed"},
			{Name: "trickle", Label: "trickle interval", Kind: KindDuration, Min: "1ms", Max: "5s", Default: "100ms", Help: "how often the trickling slow client sends its byte (slow=trickle)"},
			{Name: "workers", Label: "pool workers", Kind: KindInt, Min: "1", Max: "64", Unit: "goroutines", Default: "4", Help: "the worker pool's size"},
			{Name: "idle", Label: "idle connections", Kind: KindInt, Min: "1", Max: "9000", Unit: "connections", Default: "200", Help: "idle connections opened to the epoll and goroutine models to measure what one costs (on the kernel each takes two descriptors, client and server, and the run refuses to leave fewer than 1,000 of the open-file limit free); the iterative and pool models get at most 200, as the rest wait in the accept queue"},
			{Name: "idle_procs", Label: "idle connections (process model)", Kind: KindInt, Min: "1", Max: "16", Unit: "connections", Default: "8", Help: "idle connections opened to the process-per-connection model: one child process each (at most 16: a page may run this lesson on a shared server, under its two lesson slots)"},
			{Name: "budget", Label: "memory budget", Kind: KindInt, Min: "1", Max: "65536", Unit: "MiB", Default: "64", Help: "the memory the idle-connection capacity is computed for"},
		},
		Run: runServerModels,
	})
}

// smRun is one model's measurements.
type smRun struct {
	model servermodels.Model
	net   smNet
	// Load: the other clients' time to first reply and each request's round trip (ms), their
	// requests per second, and what the slow client and the server's log say.
	firstReply, rtts []float64
	throughput       float64
	slowHold         float64 // ms from the slow client's echo to its close, measured
	trickled         int     // bytes the slow client sent (and had echoed) while it held
	servedDuringHold int     // other clients the server accepted before it closed the slow one
	queueMax         int     // longest accept queue the kernel reported during the load
	queueKnown       bool    // the listener is the kernel's (its queue can be read)
	failed           int     // other clients that got no reply
	// Idle: what the server holds for idle connections.
	idleOpened, idleAccepted, idleQueued int
	bytesPerConn                         float64
	goroutinesPerConn                    float64
	threadsPerConn                       float64
	procsPerConn                         float64
	inBudget                             int // idle connections that fit the budget (and the file limit)
	inBudgetBy                           string
}

func runServerModels(ctx context.Context, env *Env) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var runs []*smRun
	n := smNet{}
	if env.Enum("network") == "link" {
		n.link = env.Link
	}
	var skipped []string
	for _, name := range env.Enums("models") {
		m, err := servermodels.ParseModel(name)
		if err != nil {
			return nil, err
		}
		if n.link != nil && m == servermodels.Process {
			skipped = append(skipped, name)
			continue
		}
		r := &smRun{model: m, net: n}
		if err := smLoad(ctx, env, r); err != nil {
			return nil, fmt.Errorf("server-models %s load: %w", m, err)
		}
		if err := smIdle(ctx, env, r); err != nil {
			return nil, fmt.Errorf("server-models %s idle: %w", m, err)
		}
		runs = append(runs, r)
	}
	nb, err := servermodels.Nonblock(ctx, 50*time.Millisecond)
	if err != nil {
		return nil, err
	}
	var nsnb *servermodels.NetstackNonblocking
	if n.link != nil {
		if nsnb, err = servermodels.NonblockNetstack(ctx, n.link); err != nil {
			return nil, err
		}
	}
	res := smReport(env, runs, nb, nsnb)
	if len(skipped) > 0 {
		res.Conclusion += " Not run on the link: the process model (a netstack endpoint lives in this process's memory and cannot be handed to a child process)."
	}
	return res, nil
}

// smNet is where a run's servers listen and its clients connect: the kernel's loopback
// (link nil) or the emulated link.
type smNet struct {
	link *link.Link
}

// start starts model's server.
func (n smNet) start(ctx context.Context, model servermodels.Model, opt servermodels.Options) (*servermodels.Server, error) {
	if n.link == nil {
		return servermodels.Start(ctx, model, opt)
	}
	addr := net.JoinHostPort(n.link.ServerAddr().String(), "0")
	if model == servermodels.Epoll {
		ep, wq, err := n.link.Server().ListenEndpoint(ctx, "tcp", addr, smLinkBacklog)
		if err != nil {
			return nil, err
		}
		return servermodels.ServeNetstack(ep, wq)
	}
	ln, err := n.link.Server().ListenBacklog(ctx, "tcp", addr, smLinkBacklog)
	if err != nil {
		return nil, err
	}
	s, err := servermodels.Serve(model, ln, opt)
	if err != nil {
		ln.Close()
	}
	return s, err
}

// smLinkBacklog is the link listeners' accept queue (the kernel's is somaxconn).
const smLinkBacklog = 1024

func (n smNet) dial(ctx context.Context, addr string) (net.Conn, error) {
	if n.link == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp4", addr)
	}
	return n.link.Client().Dial(ctx, "tcp", addr)
}

// smIdleConn is an idle client: it can echo one byte, and close.
type smIdleConn interface {
	echo() error
	Close() error
}

// idle opens an idle client to addr: on the kernel a plain blocking descriptor outside Go's
// runtime, so the client side costs the process no heap; on the link a connection of the
// client host (its netstack endpoint is in this process, so it counts in the memory).
func (n smNet) idle(ctx context.Context, addr string) (smIdleConn, error) {
	if n.link != nil {
		c, err := n.link.Client().Dial(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("idle client: %w", err)
		}
		return smLinkIdle{c}, nil
	}
	a, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fd, err := servermodels.IdleClient(a)
	if err != nil {
		return nil, err
	}
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("idle client: setsockopt: %w", err)
	}
	return smFDIdle(fd), nil
}

type smFDIdle int

func (fd smFDIdle) echo() error {
	// A blocking socket call with SO_RCVTIMEO set is not restarted after a signal (signal(7)):
	// the Go runtime's preemption signals make it fail with EINTR, so it is made again.
	for {
		_, err := unix.Write(int(fd), []byte{'i'})
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("write: %w", err)
		}
	}
	buf := make([]byte, 1)
	for {
		_, err := unix.Read(int(fd), buf)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("read echo: %w", err)
		}
	}
}

func (fd smFDIdle) Close() error { return unix.Close(int(fd)) }

type smLinkIdle struct{ net.Conn }

func (c smLinkIdle) echo() error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	return smEcho(c, []byte{'i'})
}

func smOptions(env *Env) servermodels.Options {
	return servermodels.Options{Workers: env.Int("workers")}
}

// smLoad runs the load against a fresh server of r's model: the slow client connects, gets its
// first echo and holds; then the others connect and each sends its requests one after the other.
func smLoad(ctx context.Context, env *Env, r *smRun) error {
	n, reqs, size, hold := env.Int("clients"), env.Int("requests"), env.Int("size"), env.Duration("hold")
	srv, err := r.net.start(ctx, r.model, smOptions(env))
	if err != nil {
		return err
	}
	defer srv.Close()
	_, _, qerr := srv.AcceptQueue()
	r.queueKnown = qerr == nil
	slow, err := r.net.dial(ctx, srv.Addr())
	if err != nil {
		return fmt.Errorf("dial slow client: %w", err)
	}
	defer slow.Close()
	slow.SetDeadline(time.Now().Add(30 * time.Second))
	if err := smEcho(slow, []byte{'s'}); err != nil {
		return fmt.Errorf("slow client: %w", err)
	}
	slowServed := time.Now()

	// The kernel's accept queue, sampled until the slow client leaves.
	sampled := make(chan int)
	stopSampling := make(chan struct{})
	go func() {
		most := 0
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if q, _, err := srv.AcceptQueue(); err == nil {
				most = max(most, q)
			}
			select {
			case <-tick.C:
			case <-stopSampling:
				sampled <- most
				return
			}
		}
	}()
	slowDone := make(chan time.Time, 1)
	trickle := time.Duration(0)
	if env.Enum("slow") == "trickle" {
		trickle = env.Duration("trickle")
	}
	go func() {
		defer func() { slow.Close(); slowDone <- time.Now() }()
		end := slowServed.Add(hold)
		for {
			wait := time.Until(end)
			if trickle > 0 {
				wait = min(wait, trickle)
			}
			if wait <= 0 {
				return
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			if trickle > 0 && time.Now().Before(end) { // a byte now and then, each echoed
				if smEcho(slow, []byte{'t'}) != nil {
					return
				}
				r.trickled++
			}
		}
	}()

	type result struct {
		first time.Duration
		rtts  []time.Duration
		done  time.Time
		err   error
	}
	results := make([]result, n-1)
	begin := time.Now()
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Go(func() {
			res := &results[i]
			t0 := time.Now()
			c, err := r.net.dial(ctx, srv.Addr())
			if err != nil {
				res.err = err
				return
			}
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			for k := range reqs {
				s := time.Now()
				if err := smEcho(c, msg); err != nil {
					res.err = err
					return
				}
				res.rtts = append(res.rtts, time.Since(s))
				if k == 0 {
					res.first = time.Since(t0)
				}
			}
			res.done = time.Now()
		})
	}
	wg.Wait()
	closedAt := <-slowDone
	close(stopSampling)
	r.queueMax = <-sampled
	r.slowHold = millis(closedAt.Sub(slowServed))
	last := begin
	total := 0
	for _, res := range results {
		if res.err != nil {
			r.failed++
			continue
		}
		r.firstReply = append(r.firstReply, millis(res.first))
		for _, d := range res.rtts {
			r.rtts = append(r.rtts, millis(d))
		}
		total += len(res.rtts)
		if res.done.After(last) {
			last = res.done
		}
	}
	if el := last.Sub(begin); el > 0 {
		r.throughput = float64(total) / el.Seconds()
	}
	// From the server's log: the others it accepted before it closed the slow client.
	closeSeq := -1
	ev := srv.Events()
	for _, e := range ev {
		if e.Kind == servermodels.Closed && e.Peer == slow.LocalAddr().String() {
			closeSeq = e.Seq
			break
		}
	}
	for _, e := range ev {
		if e.Kind == servermodels.Accepted && e.Peer != slow.LocalAddr().String() && (closeSeq < 0 || e.Seq < closeSeq) {
			r.servedDuringHold++
		}
	}
	return nil
}

// smEcho writes msg and reads its echo.
func smEcho(c net.Conn, msg []byte) error {
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	return nil
}

// smIdle opens idle connections to a fresh server of r's model (smNet.idle), has each served
// connection echo one byte, and measures what the process holds for them.
func smIdle(ctx context.Context, env *Env, r *smRun) error {
	k := env.Int("idle")
	switch {
	case r.model == servermodels.Process:
		k = env.Int("idle_procs")
	case !smHoldsAll(r.model):
		// The rest wait in the accept queue, and a connect beyond its limit (somaxconn) would
		// hang in SYN retries: these models get at most smQueuedIdle.
		k = min(k, smQueuedIdle)
	}
	if r.net.link == nil {
		// Client and server are this process: two descriptors a connection, and the process
		// (perhaps a server with pages of its own open) keeps smFDMargin free for the rest.
		if limit, open, err := smFDs(); err == nil && open+2*k+smFDMargin > limit {
			return fmt.Errorf("%d idle connections need %d descriptors; this process has %d open of its limit %d and keeps %d free (lower idle)",
				k, 2*k, open, limit, smFDMargin)
		}
	}
	srv, err := r.net.start(ctx, r.model, smOptions(env))
	if err != nil {
		return err
	}
	defer srv.Close()
	served := k // connections the model serves at once
	switch r.model {
	case servermodels.Iterative:
		served = 1
	case servermodels.Pool:
		served = min(k, env.Int("workers"))
	}
	accepted := served // and those it has taken from the accept queue
	if r.model == servermodels.Pool {
		accepted = min(k, served+1) // the acceptor holds one more, waiting for a worker
	}

	heap0, gor0, thr0 := smMemory(), runtime.NumGoroutine(), smThreads(os.Getpid())
	conns := make([]smIdleConn, 0, k)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range k {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c, err := r.net.idle(ctx, srv.Addr())
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if i >= served {
			continue
		}
		if err := c.echo(); err != nil {
			return fmt.Errorf("idle client %d of %d: %w", i+1, k, err)
		}
	}
	for srv.Stats().Accepted < int64(accepted) { // the pool's acceptor may still be taking its one
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	r.idleOpened = k
	r.idleAccepted = int(srv.Stats().Accepted)
	if q, _, err := srv.AcceptQueue(); err == nil {
		r.idleQueued = q
	}
	heap1, gor1, thr1 := smMemory(), runtime.NumGoroutine(), smThreads(os.Getpid())
	per := float64(max(r.idleAccepted, 1))
	r.bytesPerConn = float64(int64(heap1)-int64(heap0)) / per
	r.goroutinesPerConn = float64(gor1-gor0) / per
	r.threadsPerConn = float64(thr1-thr0) / per
	if r.model == servermodels.Process {
		pids := srv.ChildPIDs()
		var pss, thr int
		for _, p := range pids {
			pss += smPss(p)
			thr += smThreads(p)
		}
		r.procsPerConn = float64(len(pids)) / per
		r.bytesPerConn += float64(pss) / per
		r.threadsPerConn += float64(thr) / per
	}
	r.inBudget, r.inBudgetBy = smCapacity(env.Int("budget"), r, served, k)
	return nil
}

// smFDMargin is the descriptors the idle connections leave free for the rest of the process.
const smFDMargin = 1000

// smFDs is this process's open-file limit and how many descriptors it has open.
func smFDs() (limit, open int, err error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, err
	}
	return int(min(lim.Cur, 1<<31)), len(fds), nil
}

// smQueuedIdle is the most idle connections opened to a model that leaves them in the queue.
const smQueuedIdle = 200

// smCapacity is how many idle connections r's model holds within budget MiB, and what limits it:
// the memory, the open-file limit (one descriptor per connection for the server), or the model.
func smCapacity(budgetMiB int, r *smRun, served, k int) (int, string) {
	switch r.model {
	case servermodels.Iterative, servermodels.Pool:
		return served, "the model: it serves only that many at once"
	}
	per := max(r.bytesPerConn, 1)
	mem := int(float64(budgetMiB<<20) / per)
	if r.net.link != nil { // netstack endpoints take no descriptors
		return mem, "the memory budget"
	}
	var lim unix.Rlimit
	files := 20000
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur > 0 && lim.Cur < 1<<31 {
		files = int(lim.Cur)
	}
	if mem > files {
		return files, "the open-file limit"
	}
	return mem, "the memory budget"
}

// smMemory is the Go heap and stacks in use after a collection, in bytes.
func smMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// smThreads is process pid's thread count (/proc/PID/status).
func smThreads(pid int) int {
	return smProcField(pid, "status", "Threads:")
}

// smPss is process pid's proportional set size in bytes (/proc/PID/smaps_rollup): its private
// memory plus its share of what it shares with others, such as the binary's pages.
func smPss(pid int) int {
	return smProcField(pid, "smaps_rollup", "Pss:") * 1024
}

func smProcField(pid int, file, key string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				v, _ := strconv.Atoi(fields[0])
				return v
			}
		}
	}
	return 0
}

func smReport(env *Env, runs []*smRun, nb *servermodels.Nonblocking, nsnb *servermodels.NetstackNonblocking) *Result {
	res := &Result{}
	tbl := Table{Title: "Each model, one slow client among " + strconv.Itoa(env.Int("clients")),
		Columns: []string{"model", "others' first reply p50 / p99", "request round trip p50 / p99", "requests/s", "others accepted while the slow one held",
			"longest accept queue", "idle conns held of opened (in the kernel's queue)", "memory per idle conn", "goroutines / threads / processes per conn", "idle conns in budget"}}
	for _, r := range runs {
		fr, rt := sortedCopy(r.firstReply), sortedCopy(r.rtts)
		t := string(r.model)
		ms := []Metric{
			{Transport: t, Name: "first_reply_p50_ms", Unit: "ms", Value: quantile(fr, 0.5)},
			{Transport: t, Name: "first_reply_p99_ms", Unit: "ms", Value: quantile(fr, 0.99)},
			{Transport: t, Name: "rtt_p50_ms", Unit: "ms", Value: quantile(rt, 0.5)},
			{Transport: t, Name: "rtt_p99_ms", Unit: "ms", Value: quantile(rt, 0.99)},
			{Transport: t, Name: "throughput", Unit: "requests/s", Value: r.throughput},
			{Transport: t, Name: "slow_hold_ms", Unit: "ms", Value: r.slowHold},
			{Transport: t, Name: "slow_bytes_echoed", Unit: "count", Value: float64(r.trickled)},
			{Transport: t, Name: "others_accepted_during_hold", Unit: "count", Value: float64(r.servedDuringHold)},
			{Transport: t, Name: "clients_failed", Unit: "count", Value: float64(r.failed)},
			{Transport: t, Name: "idle_opened", Unit: "count", Value: float64(r.idleOpened)},
			{Transport: t, Name: "idle_accepted", Unit: "count", Value: float64(r.idleAccepted)},
			{Transport: t, Name: "goroutines_per_conn", Unit: "count", Value: r.goroutinesPerConn},
			{Transport: t, Name: "threads_per_conn", Unit: "count", Value: r.threadsPerConn},
			{Transport: t, Name: "processes_per_conn", Unit: "count", Value: r.procsPerConn},
			{Transport: t, Name: "idle_conns_in_budget", Unit: "count", Value: float64(r.inBudget)},
		}
		queue := "— (not a kernel socket)"
		if r.queueKnown {
			ms = append(ms, Metric{Transport: t, Name: "idle_queued", Unit: "count", Value: float64(r.idleQueued)})
			ms = append(ms, Metric{Transport: t, Name: "accept_queue_max", Unit: "count", Value: float64(r.queueMax)})
			queue = fmt.Sprint(r.queueMax)
		}
		memory := "— (holds too few to tell)"
		if smHoldsAll(r.model) { // a figure per connection only where every idle connection is held
			ms = append(ms, Metric{Transport: t, Name: "bytes_per_idle_conn", Unit: "bytes", Value: r.bytesPerConn})
			memory = smBytes(r.bytesPerConn)
		}
		for i := range ms {
			ms[i].Value = tpRound2(ms[i].Value)
		}
		res.Metrics = append(res.Metrics, ms...)
		tbl.Rows = append(tbl.Rows, []string{t,
			fmt.Sprintf("%s / %s ms", smMs(quantile(fr, 0.5)), smMs(quantile(fr, 0.99))),
			fmt.Sprintf("%s / %s ms", smMs(quantile(rt, 0.5)), smMs(quantile(rt, 0.99))),
			fmt.Sprintf("%.0f", r.throughput),
			fmt.Sprintf("%d of %d", r.servedDuringHold, env.Int("clients")-1),
			queue,
			smIdleHeld(r),
			memory,
			fmt.Sprintf("%.2f / %.2f / %.2f", r.goroutinesPerConn, r.threadsPerConn, r.procsPerConn),
			fmt.Sprintf("%d (%s)", r.inBudget, r.inBudgetBy),
		})
		fs := Series{Chart: "Other clients' time to first reply", Name: t, XLabel: "client #", YLabel: "ms", Style: "dots"}
		for i, v := range r.firstReply {
			fs.Points = append(fs.Points, Point{X: float64(i + 2), Y: v})
		}
		res.Series = append(res.Series, fs)
	}
	nbt := Table{Title: "Timeouts and non-blocking I/O", Columns: []string{"what", "call", "returned", "after"}}
	nbt.Rows = [][]string{
		{fmt.Sprintf("read with a %v deadline, the peer silent", nb.Deadline), "conn.Read", nb.DeadlineErr.Error() + " (os.ErrDeadlineExceeded)", smDur(nb.DeadlineWaited)},
		{"read on a non-blocking socket with nothing to read", "read(2)", "EAGAIN: " + nb.ReadErr.Error(), smDur(nb.ReadTook)},
		{fmt.Sprintf("write of %d bytes into a socket whose peer does not read (SO_SNDBUF %d)", nb.WriteAsked, nb.SendBuffer), "write(2)",
			fmt.Sprintf("%d bytes (partial) after %d whole writes", nb.WriteTook, nb.WritesBefore), ""},
		{"writing on", "write(2)", fmt.Sprintf("%d bytes more in %d writes, then EAGAIN: %v", nb.WrittenAfter, nb.WritesAfter, nb.NextWriteErr), ""},
	}
	if nsnb != nil {
		nbt.Rows = append(nbt.Rows,
			[]string{"the link: Read on an accepted netstack endpoint with nothing to read", "Endpoint.Read", "ErrWouldBlock: " + nsnb.ReadErr, smDur(nsnb.ReadTook)},
			[]string{fmt.Sprintf("the link: Write of %d bytes into a connection whose peer does not read", nsnb.WriteAsked), "Endpoint.Write",
				fmt.Sprintf("%d bytes (partial), then ErrWouldBlock: %s", nsnb.WriteTook, nsnb.NextWriteErr), ""})
		res.Metrics = append(res.Metrics,
			Metric{Transport: "link", Name: "partial_write_bytes", Unit: "bytes", Value: float64(nsnb.WriteTook)},
			Metric{Transport: "link", Name: "partial_write_asked_bytes", Unit: "bytes", Value: float64(nsnb.WriteAsked)})
	}
	res.Metrics = append(res.Metrics,
		Metric{Transport: "tcp", Name: "read_deadline_waited_ms", Unit: "ms", Value: tpRound2(millis(nb.DeadlineWaited))},
		Metric{Transport: "tcp", Name: "eagain_read_us", Unit: "µs", Value: tpRound2(float64(nb.ReadTook.Nanoseconds()) / 1000)},
		Metric{Transport: "tcp", Name: "partial_write_bytes", Unit: "bytes", Value: float64(nb.WriteTook)},
		Metric{Transport: "tcp", Name: "partial_write_asked_bytes", Unit: "bytes", Value: float64(nb.WriteAsked)},
	)
	res.Tables = []Table{tbl, nbt}
	res.Conclusion = smConclusion(env, runs, nb)
	return res
}

func smConclusion(env *Env, runs []*smRun, nb *servermodels.Nonblocking) string {
	var b strings.Builder
	by := map[servermodels.Model]*smRun{}
	for _, r := range runs {
		by[r.model] = r
	}
	others := env.Int("clients") - 1
	how := "held its connection"
	if env.Enum("slow") == "trickle" {
		how = fmt.Sprintf("held its connection, sending a byte every %v,", env.Duration("trickle"))
	}
	fmt.Fprintf(&b, "One client %s for %v while %s each sent %s of %d bytes. ",
		how, env.Duration("hold"), holPlural(others, "other client"), holPlural(env.Int("requests"), "request"), env.Int("size"))
	if it := by[servermodels.Iterative]; it != nil {
		fr := sortedCopy(it.firstReply)
		queue := "the link's stack kept their finished handshakes in its accept queue meanwhile"
		if it.queueKnown {
			queue = fmt.Sprintf("the kernel kept up to %d finished handshakes in its accept queue meanwhile", it.queueMax)
		}
		fmt.Fprintf(&b, "The iterative server accepted %d of them before it had closed the slow one; %s, and the others' first reply took a median %.0f ms (the slow client held %.0f ms)",
			it.servedDuringHold, queue, quantile(fr, 0.5), it.slowHold)
		if g := by[servermodels.Goroutines]; g != nil && len(g.firstReply) > 0 {
			gp := quantile(sortedCopy(g.firstReply), 0.5)
			fmt.Fprintf(&b, ", against %.2f ms with a goroutine per connection (%.0f× longer)", gp, quantile(fr, 0.5)/max(gp, 0.001))
		}
		b.WriteString(". ")
	}
	var conc []string
	for _, r := range runs {
		if r.model == servermodels.Iterative {
			continue
		}
		conc = append(conc, fmt.Sprintf("%s %d of %d (first reply p50 %s ms, p99 %s ms)", r.model, r.servedDuringHold, others,
			smMs(quantile(sortedCopy(r.firstReply), 0.5)), smMs(quantile(sortedCopy(r.firstReply), 0.99))))
	}
	if len(conc) > 0 {
		fmt.Fprintf(&b, "Accepted while the slow client held: %s. ", strings.Join(conc, "; "))
	}
	var tput []string
	for _, r := range runs {
		tput = append(tput, fmt.Sprintf("%s %.0f", r.model, r.throughput))
	}
	fmt.Fprintf(&b, "The others' requests per second, from their first connect to the last reply: %s. ", strings.Join(tput, ", "))
	if p := by[servermodels.Pool]; p != nil {
		left := fmt.Sprintf("left the other %d connected, waiting in the link stack's accept queue", p.idleOpened-p.idleAccepted)
		if p.queueKnown {
			left = fmt.Sprintf("left %d in the kernel's accept queue", p.idleQueued)
		}
		fmt.Fprintf(&b, "The pool has a fixed %s (%.2f goroutines per idle connection): of %d idle connections it held %d and %s. ",
			holPlural(env.Int("workers"), "worker"), p.goroutinesPerConn, p.idleOpened, p.idleAccepted, left)
	}
	var mem []string
	for _, r := range runs {
		if !smHoldsAll(r.model) {
			continue
		}
		mem = append(mem, fmt.Sprintf("%s %s, %.2f goroutines, %.2f threads, %.2f processes → %d in %d MiB", r.model, smBytes(r.bytesPerConn),
			r.goroutinesPerConn, r.threadsPerConn, r.procsPerConn, r.inBudget, env.Int("budget")))
	}
	if len(mem) > 0 {
		fmt.Fprintf(&b, "Each idle connection cost: %s. ", strings.Join(mem, "; "))
	}
	fmt.Fprintf(&b, "Beneath them: a read with a %v deadline returned %v after %s; a non-blocking read with nothing to read returned EAGAIN in %s; a non-blocking write of %d bytes into a full buffer took %d.",
		nb.Deadline, errors.Unwrap(nb.DeadlineErr), smDur(nb.DeadlineWaited), smDur(nb.ReadTook), nb.WriteAsked, nb.WriteTook)
	return b.String()
}

// smIdleHeld is the idle connections r's server took, of those opened, and (kernel) how many
// the kernel's accept queue held.
func smIdleHeld(r *smRun) string {
	if !r.queueKnown {
		return fmt.Sprintf("%d of %d", r.idleAccepted, r.idleOpened)
	}
	return fmt.Sprintf("%d of %d (%d)", r.idleAccepted, r.idleOpened, r.idleQueued)
}

// smHoldsAll says model holds every idle connection at once (the others hold one or a worker's
// worth, and leave the rest in the kernel's accept queue).
func smHoldsAll(m servermodels.Model) bool {
	return m != servermodels.Iterative && m != servermodels.Pool
}

func smMs(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func smDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000)
	}
	return fmt.Sprintf("%.1f ms", millis(d))
}

func smBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
