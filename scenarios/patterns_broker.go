package scenarios

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/wireplay/wireplay/zeromq"
)

// broker runs a load-balancing broker between REQ clients and REQ workers: a ROUTER faces the
// clients, another the workers; a worker says "ready" and gets the next request, its reply goes
// back to the client that asked (ROUTER addresses each peer by identity). zmq4's DEALER, the
// usual backend, is not used: like its PUSH, it sends each message to every connected peer.
func (r *ptRun) broker(ctx context.Context, tr string) error {
	front, back := zmq4.NewRouter(ctx, ptOpts()...), zmq4.NewRouter(ctx, ptOpts()...)
	socks := []zmq4.Socket{front, back}
	bctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); closeAll(socks...); wg.Wait() }()
	fep, err := r.bind(front, tr)
	if err != nil {
		return err
	}
	bep, err := r.bind(back, tr)
	if err != nil {
		return err
	}
	type in struct {
		back bool
		m    zmq4.Msg
	}
	ch := make(chan in)
	for _, s := range []zmq4.Socket{front, back} {
		wg.Go(func() {
			for {
				m, err := zeromq.Recv(bctx, s)
				if err != nil {
					return
				}
				select {
				case ch <- in{s == back, m}:
				case <-bctx.Done():
					return
				}
			}
		})
	}
	for w := 1; w <= r.workers; w++ {
		req := zmq4.NewReq(ctx, ptOpts(zmq4.WithID(zmq4.SocketIdentity("w"+strconv.Itoa(w))))...)
		socks = append(socks, req)
		if err := req.Dial(bep); err != nil {
			return fmt.Errorf("worker dial %s: %w", bep, err)
		}
		wg.Go(func() {
			if zeromq.Send(bctx, req, []byte("ready")) != nil {
				return
			}
			for {
				m, err := zeromq.Recv(bctx, req) // [client, "", request]
				if err != nil || len(m.Frames) != 3 {
					return
				}
				reply := append(append([]byte{}, m.Frames[2]...), fmt.Sprintf(" by w%d", w)...)
				if zeromq.Send(bctx, req, m.Frames[0], nil, reply) != nil {
					return
				}
			}
		})
	}
	clients := r.workers + 1 // more clients than workers: some requests wait for a worker
	type outcome struct{ answered, wrong int }
	results := make([]outcome, clients)
	var cwg sync.WaitGroup
	for c := range clients {
		req := zmq4.NewReq(ctx, ptOpts(zmq4.WithID(zmq4.SocketIdentity("c"+strconv.Itoa(c+1))))...)
		socks = append(socks, req)
		if err := req.Dial(fep); err != nil {
			return fmt.Errorf("client dial %s: %w", fep, err)
		}
		cwg.Go(func() {
			for k := 1; k <= r.requests; k++ {
				msg := fmt.Sprintf("c%d#%d", c+1, k)
				tctx, cancel := context.WithTimeout(bctx, 2*time.Second)
				err := zeromq.Send(tctx, req, []byte(msg))
				var m zmq4.Msg
				if err == nil {
					m, err = zeromq.Recv(tctx, req)
				}
				cancel()
				if err != nil {
					return
				}
				if len(m.Frames) == 1 && strings.HasPrefix(string(m.Frames[0]), msg+" by w") {
					results[c].answered++
				} else {
					results[c].wrong++
				}
			}
		})
	}
	// The broker: idle workers in a queue, requests waiting for one in another.
	var idle [][]byte
	var waiting []zmq4.Msg // [client, "", request]
	per := make([]int, r.workers+1)
	queued := 0
	total := clients * r.requests
	finished := make(chan struct{})
	go func() { cwg.Wait(); close(finished) }()
	replies := 0
	for replies < total {
		var e in
		select {
		case e = <-ch:
		case <-finished:
			replies = total // a client gave up: its count says so
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		if e.back {
			f := e.m.Frames // [worker, "", "ready"] or [worker, "", client, "", reply]
			idle = append(idle, f[0])
			if len(f) == 5 {
				w, _ := strconv.Atoi(strings.TrimPrefix(string(f[0]), "w"))
				if w >= 1 && w <= r.workers {
					per[w]++
				}
				replies++
				if err := zeromq.Send(ctx, front, f[2], nil, f[4]); err != nil {
					return err
				}
			}
		} else {
			if len(idle) == 0 {
				queued++
			}
			waiting = append(waiting, e.m)
		}
		for len(idle) > 0 && len(waiting) > 0 {
			w, m := idle[0], waiting[0]
			idle, waiting = idle[1:], waiting[1:]
			if err := zeromq.Send(ctx, back, w, nil, m.Frames[0], nil, m.Frames[2]); err != nil {
				return err
			}
		}
	}
	<-finished
	answered, wrong := 0, 0
	for _, o := range results {
		answered += o.answered
		wrong += o.wrong
	}
	t := zt(tr)
	counts := make([]string, 0, r.workers)
	for w := 1; w <= r.workers; w++ {
		counts = append(counts, strconv.Itoa(per[w]))
	}
	r.metric(t, "broker_requests", float64(total))
	r.metric(t, "broker_answered", float64(answered))
	r.metric(t, "broker_wrong_replies", float64(wrong))
	r.metric(t, "broker_queued", float64(queued))
	r.metric(t, "broker_worker_sum", float64(sumInts(per)))
	r.row("broker (ROUTER/ROUTER)", "ZeroMQ "+tr, "%d clients × %d requests through a broker to %s: %d answered, each by the client's own request (%d wrong); per worker %s; %s waited for a free worker",
		clients, r.requests, holPlural(r.workers, "worker"), answered, wrong, strings.Join(counts, " / "), holPlural(queued, "request"))
	return nil
}

func sumInts(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return s
}
