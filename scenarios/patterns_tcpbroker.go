package scenarios

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tcpBroker is broker on TCP: the broker keeps the connection of every client and every worker
// and writes its own envelope (the client's number) before each request it hands a worker, the
// job a ROUTER does with identities.
func (r *ptRun) tcpBroker(ctx context.Context) error {
	type ev struct {
		worker bool
		c      net.Conn
		msg    string
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan ev)
	pump := func(worker bool) func(net.Conn) {
		return func(c net.Conn) {
			for {
				m, err := ptRead(c)
				if err != nil {
					return
				}
				select {
				case ch <- ev{worker, c, m}:
				case <-bctx.Done():
					return
				}
			}
		}
	}
	faddr, fstop, err := r.ptServe(ctx, "0", pump(false))
	if err != nil {
		return err
	}
	baddr, bstop, err := r.ptServe(ctx, "0", pump(true))
	if err != nil {
		fstop()
		return err
	}
	var wg sync.WaitGroup
	// The broker's connections closed, the workers read EOF and end.
	defer func() { cancel(); fstop(); bstop(); wg.Wait() }()
	for w := 1; w <= r.workers; w++ {
		c, err := r.env.Link.Client().Dial(ctx, "tcp", baddr)
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer c.Close()
			if ptWrite(c, "ready") != nil {
				return
			}
			for {
				m, err := ptRead(c) // "ENVELOPE request"
				if err != nil {
					return
				}
				if ptWrite(c, fmt.Sprintf("%s by w%d", m, w)) != nil {
					return
				}
			}
		})
	}
	clients := r.workers + 1
	type outcome struct{ answered, wrong int }
	results := make([]outcome, clients)
	var cwg sync.WaitGroup
	for c := range clients {
		conn, err := r.env.Link.Client().Dial(ctx, "tcp", faddr)
		if err != nil {
			return err
		}
		cwg.Go(func() {
			defer conn.Close()
			for k := 1; k <= r.requests; k++ {
				msg := fmt.Sprintf("c%d#%d", c+1, k)
				conn.SetDeadline(time.Now().Add(2 * time.Second))
				if ptWrite(conn, msg) != nil {
					return
				}
				reply, err := ptRead(conn)
				if err != nil {
					return
				}
				if strings.HasPrefix(reply, msg+" by w") {
					results[c].answered++
				} else {
					results[c].wrong++
				}
			}
		})
	}
	finished := make(chan struct{})
	go func() { cwg.Wait(); close(finished) }()
	var idle []net.Conn
	type request struct {
		env string
		msg string
	}
	var waiting []request
	byEnv := map[string]net.Conn{}
	envOf := map[net.Conn]string{}
	workerOf := map[net.Conn]int{}
	per := make([]int, r.workers+1)
	queued := 0
loop:
	for {
		var e ev
		select {
		case e = <-ch:
		case <-finished:
			break loop
		case <-ctx.Done():
			return ctx.Err()
		}
		if e.worker {
			if _, ok := workerOf[e.c]; !ok {
				workerOf[e.c] = len(workerOf) + 1
			}
			idle = append(idle, e.c)
			if env, reply, ok := strings.Cut(e.msg, " "); ok && e.msg != "ready" {
				per[workerOf[e.c]]++
				if c := byEnv[env]; c != nil {
					c.SetWriteDeadline(time.Now().Add(time.Second))
					ptWrite(c, reply)
				}
			}
		} else {
			env, ok := envOf[e.c]
			if !ok {
				env = strconv.Itoa(len(envOf) + 1)
				envOf[e.c], byEnv[env] = env, e.c
			}
			if len(idle) == 0 {
				queued++
			}
			waiting = append(waiting, request{env, e.msg})
		}
		for len(idle) > 0 && len(waiting) > 0 {
			w, q := idle[0], waiting[0]
			idle, waiting = idle[1:], waiting[1:]
			w.SetWriteDeadline(time.Now().Add(time.Second))
			ptWrite(w, q.env+" "+q.msg)
		}
	}
	answered, wrong := 0, 0
	for _, o := range results {
		answered += o.answered
		wrong += o.wrong
	}
	counts := make([]string, 0, r.workers)
	for w := 1; w <= r.workers; w++ {
		counts = append(counts, strconv.Itoa(per[w]))
	}
	total := clients * r.requests
	r.metric("tcp", "broker_requests", float64(total))
	r.metric("tcp", "broker_answered", float64(answered))
	r.metric("tcp", "broker_wrong_replies", float64(wrong))
	r.metric("tcp", "broker_queued", float64(queued))
	r.metric("tcp", "broker_worker_sum", float64(sumInts(per)))
	r.row("broker", "plain TCP", "%d clients × %d requests through a broker to %s: %d answered (%d wrong); per worker %s; %s waited for a free worker — the broker kept every connection and wrote its own envelope on each request",
		clients, r.requests, holPlural(r.workers, "worker"), answered, wrong, strings.Join(counts, " / "), holPlural(queued, "request"))
	return nil
}
