// Package zeromq is wireplay's ZeroMQ: a REP echo and a PUB of numbered messages on a few topics,
// spoken in ZMTP 3.0 (NULL security) by github.com/go-zeromq/zmq4, a pure-Go implementation that
// ordinary libzmq clients (pyzmq, czmq, …) talk to; and the calls around zmq4 that keep its known
// faults from losing a message or hanging a caller:
//
//   - zmq4's Recv has no deadline (a REQ socket reads its connection with none at all), and its
//     open deadlock (zmq4#132: a connection closing while a message is sent to it takes two locks
//     in opposite orders) can hold a Send, a Recv or a Close for ever. Recv and Send here take a
//     context; Close gives up after a bound.
//   - zmq4 has no linger: REP, PUB and ROUTER hand a message to a goroutine of the socket, and
//     Close cancels that goroutine whether or not it has written the message yet, so a Close right
//     after a Send dropped the last reply in 2 of 3 runs. Nothing here closes a socket right after a
//     Send: it waits for the peer's answer or an acknowledgement, or lingers Linger first.
//   - A PUB whose subscribers came and went could stop delivering (zmq4#151), its queue growing
//     without bound (no high-water mark by default). Publisher bounds its queue (HWM) and watches
//     its own delivery with a subscriber of its own, making the socket again if that stops.
package zeromq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
	"unsafe"

	"github.com/go-zeromq/zmq4"
)

// Linger is how long a socket is left open after its last Send before Close, for zmq4's writer
// goroutine to put the message on the wire (zmq4 has no ZMQ_LINGER of its own). On loopback a
// message is written within microseconds; 100 ms covers a busy machine.
const Linger = 100 * time.Millisecond

// CloseTimeout bounds Close: a socket caught in zmq4#132 holds the locks Close needs.
const CloseTimeout = 2 * time.Second

// ErrCloseTimeout is Close's error when the socket did not close within CloseTimeout.
var ErrCloseTimeout = errors.New("zmq close: still closing after " + CloseTimeout.String())

// Recv returns s's next message, or ctx's error once ctx is done. The zmq4 call goes on after ctx
// is done, and a message it receives then is lost: after an error the socket is spent, and the
// caller must Close it (and make a new one to go on — what the lazy-pirate client does).
func Recv(ctx context.Context, s zmq4.Socket) (zmq4.Msg, error) {
	type result struct {
		msg zmq4.Msg
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := s.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return r.msg, fmt.Errorf("zmq recv: %w", r.err)
		}
		return r.msg, nil
	case <-ctx.Done():
		return zmq4.Msg{}, fmt.Errorf("zmq recv: %w", ctx.Err())
	}
}

// Send sends msg (each frame a part), or returns ctx's error once ctx is done; as with Recv, the
// socket is spent after an error.
func Send(ctx context.Context, s zmq4.Socket, frames ...[]byte) error {
	msg := zmq4.NewMsgFrom(frames...)
	ch := make(chan error, 1)
	go func() {
		if len(frames) > 1 {
			ch <- s.SendMulti(msg)
		} else {
			ch <- s.Send(msg)
		}
	}()
	select {
	case err := <-ch:
		if err != nil {
			return fmt.Errorf("zmq send: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("zmq send: %w", ctx.Err())
	}
}

// Close closes s, giving up after CloseTimeout (zmq4#132). A PUB's writer goroutine is ended too:
// zmq4's Close leaves it waiting for messages for ever, a goroutine and a queue leaked per PUB.
func Close(s zmq4.Socket) error {
	ch := make(chan error, 1)
	go func() {
		err := s.Close()
		if s.Type() == zmq4.Pub {
			closePubWriter(s)
		}
		ch <- err
	}()
	select {
	case err := <-ch:
		return err
	case <-time.After(CloseTimeout):
		return ErrCloseTimeout
	}
}

// Frames returns msg's frames as strings, for logs and tests.
func Frames(msg zmq4.Msg) []string {
	out := make([]string, len(msg.Frames))
	for i, f := range msg.Frames {
		out[i] = string(f)
	}
	return out
}

// closePubWriter closes the writer of zmq4 v0.17.0's PUB socket (pubSocket.sck.w, a pubMWriter
// whose Close ends its goroutine), which the socket's own Close never does. It reaches the
// unexported field through reflect and unsafe; if zmq4's layout differs it does nothing (and
// the goroutine-leak checks of the tests fail, telling that it must be looked at again).
func closePubWriter(s zmq4.Socket) {
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	sck := v.Elem().FieldByName("sck")
	if !sck.IsValid() || sck.Kind() != reflect.Pointer || sck.IsNil() || sck.Elem().Kind() != reflect.Struct {
		return
	}
	w := sck.Elem().FieldByName("w")
	if !w.IsValid() || w.Kind() != reflect.Interface || w.IsNil() {
		return
	}
	w = reflect.NewAt(w.Type(), unsafe.Pointer(w.UnsafeAddr())).Elem()
	if c, ok := w.Interface().(io.Closer); ok {
		c.Close()
	}
}
