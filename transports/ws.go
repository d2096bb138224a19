package transports

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WSEchoConfig tunes the WebSocket echo endpoint; zero fields take defaults.
type WSEchoConfig struct {
	ReadLimit   int64         // largest message accepted; default 64 KiB
	IdleTimeout time.Duration // close a connection with no message for this long; default 60 s
	MaxConns    int           // concurrent connections; more get 503; default 1024
}

// WSEchoHandler upgrades to WebSocket and echoes each message, text or binary, as it came. A message
// over the read limit closes that connection with status 1009 (message too big).
func WSEchoHandler(cfg WSEchoConfig) http.Handler {
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = 64 << 10
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 1024
	}
	slots := make(chan struct{}, cfg.MaxConns)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			http.Error(w, "too many WebSocket connections", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has written the HTTP error
		}
		defer c.CloseNow()
		c.SetReadLimit(cfg.ReadLimit)
		// One idle timer per connection, rather than a deadline context (and its timer) per
		// message, and not moved per message either: each message notes its time, and the timer,
		// when it fires, sets itself again for IdleTimeout after the last one.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		start := time.Now()
		var last atomic.Int64 // time of the last message, since start
		var mu sync.Mutex     // idle is set before its function reads it
		var idle *time.Timer
		mu.Lock()
		idle = time.AfterFunc(cfg.IdleTimeout, func() {
			mu.Lock()
			defer mu.Unlock()
			if left := time.Duration(last.Load()) + cfg.IdleTimeout - time.Since(start); left > 0 {
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
			if err == nil {
				last.Store(int64(time.Since(start)))
				err = c.Write(ctx, typ, msg)
			}
			if err != nil {
				return
			}
		}
	})
}
