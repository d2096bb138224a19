package transports

import (
	"errors"
	"sync"
)

// Group closes what a run opened: listeners, conns, endpoints, servers, cancel funcs. Close runs
// them last added first, then waits for the goroutines started with Go. It is safe for concurrent
// use (an accept loop may add the conns it accepts), and what is added after Close is closed at
// once. The zero value is ready to use.
//
// Every lesson, experiment and benchmark tears its transports down with one Group instead of its
// own list of closers.
type Group struct {
	mu      sync.Mutex
	closers []func() error
	closed  bool
	wg      sync.WaitGroup
}

// Add registers close to run at Close. After Close it runs close at once.
func (g *Group) Add(close func() error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		close()
		return
	}
	g.closers = append(g.closers, close)
	g.mu.Unlock()
}

// Defer is Add for a func without an error (a cancel func, CloseNow).
func (g *Group) Defer(f func()) { g.Add(func() error { f(); return nil }) }

// Go runs f in a goroutine that Close waits for. Call it before Close, or from a goroutine the
// group already runs (an accept loop starting a handler), as with a sync.WaitGroup.
func (g *Group) Go(f func()) { g.wg.Go(f) }

// Close runs every registered closer, last first, then waits for the goroutines started with Go.
// It returns the closers' errors joined; a second Close only waits.
func (g *Group) Close() error {
	g.mu.Lock()
	cs := g.closers
	g.closers, g.closed = nil, true
	g.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		errs = append(errs, cs[i]())
	}
	g.wg.Wait()
	return errors.Join(errs...)
}
