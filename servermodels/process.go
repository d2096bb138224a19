package servermodels

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// ChildEnv is set to "1" in a child process that serves one connection (the Process model).
const ChildEnv = "WIREPLAY_SERVERMODELS_CHILD"

// childFD is the accepted socket's descriptor in the child: ExtraFiles[0] is fd 3.
const childFD = 3

// RunChild serves the connection handed over as fd 3 and exits, when this process is a Process
// model's child (ChildEnv is set); otherwise it returns at once. A binary that starts Process
// servers — wireplay's main, a test's TestMain — calls it first.
func RunChild() {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	f := os.NewFile(childFD, "accepted-conn")
	c, err := net.FileConn(f) // a dup of fd 3, made non-blocking for Go's netpoller
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "servermodels child: %v\n", err)
		os.Exit(1)
	}
	echo(c)
	c.Close()
	os.Exit(0)
}

// forking accepts connections and starts a child process for each, handing it the socket.
func (s *Server) forking(ln net.Listener, wg *sync.WaitGroup) {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "servermodels: process server: %v\n", err)
		ln.Close()
		return
	}
	for {
		c, err := s.accept(ln)
		if err != nil {
			return
		}
		cmd, err := s.spawn(self, c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "servermodels: %v\n", err)
			s.done(c)
			continue
		}
		// The parent's copy is closed: the child holds the connection now.
		s.mu.Lock()
		peer := s.conns[c]
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		wg.Go(func() { // what waitpid does: reap the child, and log the connection's end
			cmd.Wait()
			s.mu.Lock()
			delete(s.pids, cmd.Process.Pid)
			s.mu.Unlock()
			s.children.Add(-1)
			s.open.Add(-1)
			s.log.add(Closed, peer)
		})
	}
}

// spawn starts this binary again as a child serving c.
func (s *Server) spawn(self string, c net.Conn) (*exec.Cmd, error) {
	f, err := c.(*net.TCPConn).File() // a dup of the socket's descriptor
	if err != nil {
		return nil, fmt.Errorf("hand over %s: %w", c.RemoteAddr(), err)
	}
	defer f.Close()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), ChildEnv+"=1", "GOMAXPROCS=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start child for %s: %w", c.RemoteAddr(), err)
	}
	s.spawned.Add(1)
	s.children.Add(1)
	s.mu.Lock()
	s.pids[cmd.Process.Pid] = struct{}{}
	s.mu.Unlock()
	return cmd, nil
}

// killChildren kills every live child (Close); their waiters reap them.
func (s *Server) killChildren() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
