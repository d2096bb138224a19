//go:build js && wasm

package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"syscall/js"
)

// wsConn is the browser's own WebSocket seen from Go. The client talks to the relay through it
// rather than through a Go WebSocket library: such a library links net/http and crypto/tls into
// the wasm for its Dial's types, which made most of main.wasm.
type wsConn struct {
	ws        js.Value
	listeners []wsListener
	pagehide  js.Func // closes the connection when the page is left
	limit     int
	opened    chan struct{} // closed by the open event

	mu     sync.Mutex
	queue  [][]byte      // messages received and not yet read
	signal chan struct{} // has a value when queue or err changed
	err    error         // why the connection ended, once it has
}

type wsListener struct {
	event string
	fn    js.Func
}

// closeError is the close frame (or the browser's 1006 for an abnormal end) that ended a wsConn.
type closeError struct {
	Code   int
	Reason string
}

func (e closeError) Error() string {
	s := "websocket closed with status " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

var errWSDial = errors.New("dial websocket: the connection failed")

// openWS starts opening a WebSocket to url without waiting: the browser connects while Go goes
// on (main starts the relay's before it builds the page), and waitOpen waits until it is open,
// failed or its context is done. Messages are queued from the start, so none is lost before the
// first Read; messages longer than limit bytes close it with 1009.
func openWS(url string, limit int) *wsConn {
	c := &wsConn{ws: js.Global().Get("WebSocket").New(url), limit: limit, signal: make(chan struct{}, 1), opened: make(chan struct{})}
	c.ws.Set("binaryType", "arraybuffer")
	c.on("open", func(js.Value) { close(c.opened) })
	c.on("message", func(ev js.Value) {
		data := ev.Get("data")
		var b []byte
		if data.Type() == js.TypeString {
			b = []byte(data.String())
		} else {
			u := js.Global().Get("Uint8Array").New(data)
			b = make([]byte, u.Length())
			js.CopyBytesToGo(b, u)
		}
		if len(b) > c.limit {
			c.fail(closeError{Code: 1009, Reason: "message of " + strconv.Itoa(len(b)) + " bytes is over the limit"})
			c.ws.Call("close", 1009, "message too big")
			return
		}
		c.mu.Lock()
		c.queue = append(c.queue, b)
		c.mu.Unlock()
		c.wake()
	})
	c.on("close", func(ev js.Value) {
		c.fail(closeError{Code: ev.Get("code").Int(), Reason: ev.Get("reason").String()})
	})
	c.on("error", func(js.Value) {}) // a close event follows and says more
	// A page left for another (or kept in the back-forward cache) says so at once, so the server
	// ends its session, its work and its place in the lesson queue rather than wait for a timeout.
	// A page restored from the cache reconnects like after any other close.
	c.pagehide = js.FuncOf(func(js.Value, []js.Value) any {
		if s := c.ws.Get("readyState").Int(); s == 0 || s == 1 { // CONNECTING, OPEN
			c.ws.Call("close", 1000, "page left") // a page may send 1000 or 3000–4999 only
		}
		return nil
	})
	js.Global().Call("addEventListener", "pagehide", c.pagehide)
	return c
}

// waitOpen waits until c is open (nil), failed before opening or ctx is done; on an error c is
// closed.
func (c *wsConn) waitOpen(ctx context.Context) error {
	for {
		select {
		case <-c.opened:
			return nil
		case <-c.signal:
			select {
			case <-c.opened: // opened, and a message or the end came before this wait
				c.wake()
				return nil
			default:
			}
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			if err != nil {
				c.CloseNow()
				return errWSDial
			}
		case <-ctx.Done():
			c.CloseNow()
			return ctx.Err()
		}
	}
}

func (c *wsConn) on(event string, f func(ev js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		f(args[0])
		return nil
	})
	c.listeners = append(c.listeners, wsListener{event, fn})
	c.ws.Call("addEventListener", event, fn)
}

func (c *wsConn) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *wsConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.wake()
}

// Read returns the next message, or why the connection ended once every message was read.
func (c *wsConn) Read(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			b := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return b, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-c.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Write sends b as one text message.
func (c *wsConn) Write(b []byte) error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if c.ws.Get("readyState").Int() != 1 { // OPEN
		return closeError{Code: 1006, Reason: "not open"}
	}
	c.ws.Call("send", string(b))
	return nil
}

// CloseNow closes the connection without waiting for the other side and releases its callbacks.
func (c *wsConn) CloseNow() {
	c.fail(closeError{Code: 1000, Reason: ""})
	if s := c.ws.Get("readyState").Int(); s == 0 || s == 1 { // CONNECTING, OPEN
		c.ws.Call("close")
	}
	for _, l := range c.listeners {
		c.ws.Call("removeEventListener", l.event, l.fn)
		l.fn.Release()
	}
	c.listeners = nil
	if c.pagehide.Truthy() {
		js.Global().Call("removeEventListener", "pagehide", c.pagehide)
		c.pagehide.Release()
		c.pagehide = js.Func{}
	}
}
