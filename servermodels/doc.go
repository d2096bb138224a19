// Package servermodels is one echo service written the five classic ways a server can serve many
// clients, each on real kernel TCP sockets (127.0.0.1, an ephemeral port):
//
//   - Iterative: accept, serve until the client closes, close, accept the next. One client at a
//     time; the others wait, finished handshakes, in the kernel's accept queue.
//   - Readiness loop (Epoll): one goroutine owns every socket. The listener and the connections
//     are non-blocking file descriptors registered with an epoll instance
//     (golang.org/x/sys/unix: EpollCreate1, EpollCtl, EpollWait, Accept4 with SOCK_NONBLOCK);
//     the loop reads and writes only what the kernel says is ready, and a write that does not
//     fit waits for EPOLLOUT. Go's runtime netpoller is not used.
//   - Goroutine per connection: Go's ordinary model (its netpoller is an epoll loop underneath).
//   - Worker pool: a fixed number of goroutines; a connection waits for a free worker.
//   - Process per connection: the parent accepts and hands the socket to a child process (the
//     same binary, started again with the socket as its fd 3 through os/exec's ExtraFiles), which
//     serves it and exits — what fork() after accept() did.
//
// Every server logs each accept and each close in order (Server.Events), counts what it holds
// (Server.Stats) and reads its listener's accept queue from the kernel (Server.AcceptQueue). The
// process model needs the binary to call RunChild first thing in main (and in TestMain).
//
// Nonblock shows the primitives beneath: a read deadline firing, EAGAIN from a non-blocking read,
// and a partial write into a full socket buffer.
//
// On the emulated link, ServeNetstack is the readiness loop on netstack's waiter queues and Serve
// runs the blocking models on the link's listener. The kernel readiness loop, AcceptQueue,
// Nonblock and IdleClient are Linux's (epoll, accept4, TCP_INFO); elsewhere they return an error.
package servermodels

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Model names one way of serving.
type Model string

// The five models.
const (
	Iterative  Model = "iterative"
	Epoll      Model = "epoll"
	Goroutines Model = "goroutine"
	Pool       Model = "pool"
	Process    Model = "process"
)

// Models are the five models, in the lesson's order.
var Models = []Model{Iterative, Epoll, Goroutines, Pool, Process}

// ParseModel returns the model named s.
func ParseModel(s string) (Model, error) {
	if m := Model(s); slices.Contains(Models, m) {
		return m, nil
	}
	return "", fmt.Errorf("no server model %q (want one of %v)", s, Models)
}

// bufSize is each read's buffer: per connection in the blocking models, one for all in the loop.
const bufSize = 4096

// EventKind is what happened to a connection.
type EventKind string

// Event kinds.
const (
	Accepted EventKind = "accept" // the server took the connection from the accept queue
	Closed   EventKind = "close"  // the server closed it (for a process: the child exited)
)

// Event is one entry of a server's ordered log.
type Event struct {
	Seq  int           // 0, 1, 2, … in the order the server logged them
	At   time.Duration // since the server started
	Kind EventKind
	Peer string // the client's address, "127.0.0.1:54321": the client's LocalAddr
}

// eventLog is a server's ordered log of accepts and closes.
type eventLog struct {
	start time.Time
	mu    sync.Mutex
	ev    []Event
}

func (l *eventLog) add(k EventKind, peer string) {
	l.mu.Lock()
	l.ev = append(l.ev, Event{Seq: len(l.ev), At: time.Since(l.start), Kind: k, Peer: peer})
	l.mu.Unlock()
}

func (l *eventLog) events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ev)
}
