package transports

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// WSEchoConfig tunes the WebSocket echo endpoint; zero fields take defaults.
type WSEchoConfig struct {
	ReadLimit   int64         // largest message accepted; default 64 KiB
	IdleTimeout time.Duration // close a connection with no message for this long; default 60 s
	MaxConns    int           // concurrent connections; more get 503; default 1024
	// MaxConnsPerIP caps one client's (an IPv4 address's, an IPv6 /64's) connections; more get
	// 429. 0: no cap (`wireplay serve` sets 32; the relay's own endpoint has none).
	MaxConnsPerIP int
	// OnRefuse, when set, is told of each upgrade refused.
	OnRefuse func(*Refusal)
}

// WSEchoHandler upgrades to WebSocket and echoes each message, text or binary, as it came. A message
// over the read limit closes that connection with status 1009 (message too big), a text message
// that is not UTF-8 with 1007 (invalid payload, RFC 6455 8.1). A client over its cap is refused
// with 429, any client over the cap in all with 503, each with the reason in one line of text.
func WSEchoHandler(cfg WSEchoConfig) *WSEcho {
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = 64 << 10
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 1024
	}
	perIP := cfg.MaxConnsPerIP
	if perIP <= 0 {
		perIP = math.MaxInt
	}
	return &WSEcho{cfg: cfg, limit: NewConnLimit(perIP, cfg.MaxConns)}
}

// WSEcho is the WebSocket echo handler (WSEchoHandler).
type WSEcho struct {
	cfg   WSEchoConfig
	limit *ConnLimit
}

// Open is how many connections the handler holds now.
func (e *WSEcho) Open() int { return e.limit.Open() }

func (e *WSEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var from net.Addr = &net.TCPAddr{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		from = net.TCPAddrFromAddrPort(ap)
	}
	release, err := e.limit.Acquire(from)
	if err != nil {
		ref := err.(*Refusal)
		if e.cfg.OnRefuse != nil {
			e.cfg.OnRefuse(ref)
		}
		code := http.StatusTooManyRequests
		if ref.Reason == "total" {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, "wireplay ws echo: "+ref.Error(), code)
		return
	}
	defer release()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has written the HTTP error
	}
	defer c.CloseNow()
	c.SetReadLimit(e.cfg.ReadLimit)
	// One idle timer per connection, rather than a deadline context (and its timer) per
	// message, and not moved per message either: each message notes its time, and the timer,
	// when it fires, sets itself again for IdleTimeout after the last one.
	idleTimeout := e.cfg.IdleTimeout
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	start := time.Now()
	var last atomic.Int64 // time of the last message, since start
	var mu sync.Mutex     // idle is set before its function reads it
	var idle *time.Timer
	mu.Lock()
	idle = time.AfterFunc(idleTimeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if left := time.Duration(last.Load()) + idleTimeout - time.Since(start); left > 0 {
			idle.Reset(left)
			return
		}
		cancel()
	})
	mu.Unlock()
	defer func() {
		mu.Lock()
		idle.Stop()
		mu.Unlock()
	}()
	for {
		typ, msg, err := c.Read(ctx)
		if err == nil && typ == websocket.MessageText && !utf8.Valid(msg) {
			// coder/websocket does not check text frames; RFC 6455 wants them closed.
			c.Close(websocket.StatusInvalidFramePayloadData, "text message is not valid UTF-8")
			return
		}
		if err == nil {
			last.Store(int64(time.Since(start)))
			err = c.Write(ctx, typ, msg)
		}
		if err != nil {
			return
		}
	}
}
