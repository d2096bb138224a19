package scenarios

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/wireplay/wireplay/link"
)

// runCapture is the pcapng of one run (Options.OutDir): every link the run builds (Env.NewLink)
// streams its packets from the start, whole, to a file of its own (link.CapturePcapng, which
// copies into memory on the wire and writes from a goroutine of its own, so the measurement is
// not slowed by the disk), and finish joins them, one pcapng section per link in the order they
// were built, into the run's file.
type runCapture struct {
	path string
	mu   sync.Mutex
	errs []error
	// links are the captured links, in the order they were built.
	links []*capturedLink
}

type capturedLink struct {
	l    *link.Link
	f    *os.File
	stop func() error
}

func newRunCapture(path string) *runCapture { return &runCapture{path: path} }

// add starts capturing l.
func (c *runCapture) add(l *link.Link) error {
	f, err := os.CreateTemp(filepath.Dir(c.path), "."+filepath.Base(c.path)+".link*")
	if err != nil {
		return fmt.Errorf("capture link: %w", err)
	}
	stop, err := l.CapturePcapng(f)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("capture link: %w", err)
	}
	c.mu.Lock()
	c.links = append(c.links, &capturedLink{l: l, f: f, stop: stop})
	c.mu.Unlock()
	return nil
}

// finish ends every link's capture (their links are closed by now, so each holds every packet its
// link sent) and writes the run's file. It returns how many packets the links sent, by their own
// counters, both directions.
func (c *runCapture) finish() (sent uint64, err error) {
	c.mu.Lock()
	links := c.links
	c.links = nil
	c.mu.Unlock()
	out, err := os.Create(c.path)
	errs := []error{err}
	for _, cl := range links {
		errs = append(errs, cl.stop())
		for _, d := range link.Directions {
			sent += cl.l.Counts(d).Sent
		}
		if out != nil {
			if _, err := cl.f.Seek(0, io.SeekStart); err != nil {
				errs = append(errs, err)
			} else if _, err := io.Copy(out, cl.f); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, cl.f.Close(), os.Remove(cl.f.Name()))
	}
	if out != nil {
		errs = append(errs, out.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return sent, fmt.Errorf("write pcapng: %w", err)
	}
	return sent, nil
}

// NewLink builds a link for the run (link.New): a scenario that needs links of its own (one per
// transport or grid point) builds them here, so the run's capture (Options.OutDir) holds them
// all. The scenario closes it.
func (e *Env) NewLink(cfg link.Config) (*link.Link, error) {
	l, err := link.New(cfg)
	if err != nil {
		return nil, err
	}
	if e.capture != nil {
		if err := e.capture.add(l); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}
