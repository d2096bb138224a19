package zeromq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
)

// Echo is a REP socket that answers every request with the request itself, frame for frame.
type Echo struct {
	sock    zmq4.Socket
	log     *slog.Logger
	stop    context.CancelFunc
	stopped context.Context
	wg      sync.WaitGroup
	serveMu sync.Mutex // orders Serve's wg.Add before Close's wg.Wait
	served  atomic.Int64
	once    sync.Once
}

// ListenEcho binds a REP echo to endpoint ("tcp://127.0.0.1:7004", "ipc:///tmp/x",
// "inproc://name"); Serve answers.
func ListenEcho(endpoint string, log *slog.Logger) (*Echo, error) {
	if log == nil {
		log = slog.Default()
	}
	sock := zmq4.NewRep(context.Background(), zmq4.WithLogger(slogLogger(log)), zmq4.WithTimeout(CloseTimeout))
	if err := sock.Listen(endpoint); err != nil {
		Close(sock)
		return nil, fmt.Errorf("zmq listen %s: %w", endpoint, err)
	}
	e := &Echo{sock: sock, log: log}
	e.stopped, e.stop = context.WithCancel(context.Background())
	return e, nil
}

// Addr is the address the echo listens on (nil for inproc).
func (e *Echo) Addr() net.Addr { return e.sock.Addr() }

// Served is how many requests the echo has answered.
func (e *Echo) Served() int64 { return e.served.Load() }

// Serve answers requests until Close.
func (e *Echo) Serve() {
	e.serveMu.Lock()
	if e.stopped.Err() != nil {
		e.serveMu.Unlock()
		return
	}
	e.wg.Add(1)
	e.serveMu.Unlock()
	defer e.wg.Done()
	for {
		msg, err := Recv(e.stopped, e.sock)
		if err != nil {
			if e.stopped.Err() == nil {
				e.log.Warn("zmq echo: recv", "err", err)
			}
			return
		}
		// The reply goes out whatever Close does meanwhile: Close waits for this loop.
		if err := Send(context.Background(), e.sock, msg.Frames...); err != nil {
			e.log.Warn("zmq echo: send", "err", err)
			continue
		}
		e.served.Add(1)
	}
}

// Close stops answering, lets the last reply leave (Linger) and closes the socket.
func (e *Echo) Close() error {
	var err error
	e.once.Do(func() {
		e.serveMu.Lock()
		e.stop()
		e.serveMu.Unlock()
		e.wg.Wait()
		lingerAfterSend()
		if err = Close(e.sock); errors.Is(err, context.Canceled) {
			err = nil
		}
	})
	return err
}
