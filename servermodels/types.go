package servermodels

import "time"

// Nonblocking is what Nonblock saw: the primitives every model above is made of.
type Nonblocking struct {
	// DeadlineErr is the error of a Read whose deadline passed with nothing to read
	// (os.ErrDeadlineExceeded), after DeadlineWaited (the deadline was Deadline).
	DeadlineErr    error
	Deadline       time.Duration
	DeadlineWaited time.Duration
	// ReadErr is a non-blocking read(2)'s error on a socket with nothing to read (EAGAIN),
	// after ReadTook.
	ReadErr  error
	ReadTook time.Duration
	// One non-blocking write(2) of WriteAsked bytes into a socket whose peer does not read took
	// WriteTook bytes (a partial write, WriteTook < WriteAsked), after WritesBefore whole writes
	// (each of WriteAsked) filled the buffers. Writing on, the kernel took WrittenAfter bytes
	// more in WritesAfter writes (as the peer's receive buffer took in what was sent) until a
	// write failed with NextWriteErr: EAGAIN, the buffers full.
	WriteAsked, WriteTook, WritesBefore int
	WritesAfter, WrittenAfter           int
	NextWriteErr                        error
	SendBuffer                          int // the writer's SO_SNDBUF as the kernel set it
}
