package ipc

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// PipeEcho is an echo over two kernel pipes, since a pipe carries bytes one way: what is written
// to the PipeEcho goes into the first pipe, a goroutine reads it from there and writes it into
// the second, and reading the PipeEcho reads the second. No socket, no address, no protocol: the
// least a byte can go through on its way from one thread to another and back through the kernel.
type PipeEcho struct {
	toEcho, fromEcho *os.File // the client's ends: it writes the one, reads the other
	echoIn, echoOut  *os.File // the echo goroutine's ends
	done             chan struct{}
	err              error // the echo loop's, once done is closed
	closeOnce        sync.Once
}

// StartPipeEcho makes the two pipes and starts the echo goroutine; Close stops it.
func StartPipeEcho() (*PipeEcho, error) {
	echoIn, toEcho, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	fromEcho, echoOut, err := os.Pipe()
	if err != nil {
		echoIn.Close()
		toEcho.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	p := &PipeEcho{toEcho: toEcho, fromEcho: fromEcho, echoIn: echoIn, echoOut: echoOut, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = EchoStream(echoIn, echoOut)
	}()
	return p, nil
}

// Write writes into the first pipe, towards the echo.
func (p *PipeEcho) Write(b []byte) (int, error) { return p.toEcho.Write(b) }

// Read reads what the echo wrote back, from the second pipe.
func (p *PipeEcho) Read(b []byte) (int, error) { return p.fromEcho.Read(b) }

// SetReadDeadline sets the deadline of Read (a pipe's descriptor is in Go's poller, as a socket's).
func (p *PipeEcho) SetReadDeadline(t time.Time) error { return p.fromEcho.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of Write.
func (p *PipeEcho) SetWriteDeadline(t time.Time) error { return p.toEcho.SetWriteDeadline(t) }

// Close closes the client's ends — the echo then reads the end of its pipe, or fails writing into
// a pipe nobody reads — waits for the echo goroutine and closes its ends. It returns the echo
// loop's error, unless that is only the broken pipe this closing caused.
func (p *PipeEcho) Close() error {
	p.closeOnce.Do(func() {
		p.toEcho.Close()
		p.fromEcho.Close()
		<-p.done
		p.echoIn.Close()
		p.echoOut.Close()
	})
	if errors.Is(p.err, syscall.EPIPE) { // the client's read end was closed first
		return nil
	}
	return p.err
}
