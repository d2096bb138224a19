package link

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"io"
	"time"
	"unsafe"
)

// packetLog is the bounded log behind Packets: at most max packets and maxBytes bytes (each
// packet's kept data plus its record), the oldest evicted first.
type packetLog struct {
	max, maxBytes int // maxBytes ≤ 0: no byte bound
	buf           []Packet
	head, n       int
	bytes         int
	evicted       uint64 // packets dropped from the log to make room
}

// packetRecordBytes is what a logged packet costs beyond its data.
const packetRecordBytes = int(unsafe.Sizeof(Packet{}))

func packetCost(pk *Packet) int {
	return packetRecordBytes + len(pk.Data) + len(pk.Decoded.DCID) + len(pk.Decoded.SACK)*int(unsafe.Sizeof(SACKBlock{}))
}

func (g *packetLog) add(pk Packet) {
	if g.max <= 0 {
		return
	}
	cost := packetCost(&pk)
	for g.n > 0 && (g.n >= g.max || (g.maxBytes > 0 && g.bytes+cost > g.maxBytes)) {
		g.bytes -= packetCost(&g.buf[g.head])
		g.buf[g.head] = Packet{}
		g.head = (g.head + 1) % len(g.buf)
		g.n--
		g.evicted++
	}
	if g.n == len(g.buf) { // grow (doubling, up to max)
		nb := make([]Packet, min(max(2*len(g.buf), 64), g.max))
		g.copyTo(nb)
		g.buf, g.head = nb, 0
	}
	g.buf[(g.head+g.n)%len(g.buf)] = pk
	g.n++
	g.bytes += cost
}

// copyTo copies the logged packets, oldest first, to the front of dst.
func (g *packetLog) copyTo(dst []Packet) {
	if g.n == 0 {
		return
	}
	end := g.head + g.n
	if end <= len(g.buf) {
		copy(dst, g.buf[g.head:end])
		return
	}
	k := copy(dst, g.buf[g.head:])
	copy(dst[k:], g.buf[:end-len(g.buf)])
}

func (g *packetLog) all() []Packet {
	out := make([]Packet, g.n)
	g.copyTo(out)
	return out
}

// maxKeyLogBytes bounds the TLS key log a link keeps (a connection logs about 500 bytes).
const maxKeyLogBytes = 1 << 20

// keyLogWriter is the io.Writer of (*Link).KeyLog.
type keyLogWriter struct{ l *Link }

// Write takes NSS key log lines; a line may come in pieces. Each line is kept once (both ends of
// a connection log the same secrets) and goes to every streaming capture at once.
func (k keyLogWriter) Write(p []byte) (int, error) {
	l := k.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keyPartial = append(l.keyPartial, p...)
	now := time.Now()
	for {
		i := bytes.IndexByte(l.keyPartial, '\n')
		if i < 0 {
			break
		}
		line := l.keyPartial[:i+1]
		if _, seen := l.keySeen[string(line)]; !seen && len(l.keyLog)+len(line) <= maxKeyLogBytes {
			l.keySeen[string(line)] = struct{}{}
			l.keyLog = append(l.keyLog, line...)
			for _, c := range l.captures {
				c.secrets(line, now)
			}
		}
		l.keyPartial = l.keyPartial[i+1:]
	}
	if len(l.keyPartial) == 0 {
		l.keyPartial = nil
	} else if len(l.keyPartial) > 4096 { // not a key log
		l.keyPartial = nil
	}
	return len(p), nil
}

// KeyLog is the link's key log (Link.KeyLog): quic-go endpoints on this socket (package
// transports) write their TLS secrets to it.
func (c *UDPConn) KeyLog() io.Writer {
	if c.link == nil {
		return io.Discard
	}
	return c.link.KeyLog()
}

// pcapngStream is a streaming capture (CapturePcapng). The wire encodes each block into a chunk
// under l.mu; full chunks go to a goroutine of the capture's own that writes them to w, so the
// writes are off the wire's hot path. At most streamChunks chunks wait: a writer that falls
// further behind slows the wire rather than losing packets.
//
// Blocks are written in capture-time order (see captureTime): a packet the client host receives
// later than now waits in pending until a packet entering the wire, a key log line or the end of
// the capture passes its time.
type pcapngStream struct {
	snapLen int
	pending stampHeap
	last    time.Time // the latest timestamp written
	chunk   []byte
	ch      chan []byte
	done    chan struct{}
	err     error // the writer's; read after done
}

const (
	streamChunkBytes = 256 << 10
	streamChunks     = 64
)

type stamped struct {
	at    time.Time
	seq   uint64
	block []byte
}

type stampHeap []stamped

func (h stampHeap) Len() int { return len(h) }
func (h stampHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h stampHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *stampHeap) Push(x any)   { *h = append(*h, x.(stamped)) }
func (h *stampHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = stamped{}
	*h = old[:len(old)-1]
	return x
}

// newPcapngStream starts a capture to w with the section header and the key log so far.
func newPcapngStream(w io.Writer, snapLen int, keyLog []byte) *pcapngStream {
	s := &pcapngStream{snapLen: snapLen, ch: make(chan []byte, streamChunks), done: make(chan struct{})}
	s.chunk = appendHeader(make([]byte, 0, streamChunkBytes), snapLen, "")
	if len(keyLog) > 0 {
		s.chunk = appendSecrets(s.chunk, keyLog)
	}
	go func() {
		defer close(s.done)
		for b := range s.ch {
			if s.err == nil {
				_, s.err = w.Write(b)
			}
		}
	}()
	return s
}

// packet adds a packet that entered the wire; l.mu held.
func (s *pcapngStream) packet(pk *Packet, data []byte) {
	s.release(pk.Time)
	at := captureTime(pk)
	if at.After(pk.Time) {
		n := min(len(data), s.snapLen)
		heap.Push(&s.pending, stamped{at: at, seq: pk.Seq, block: appendPacket(make([]byte, 0, n+128), pk, data, s.snapLen)})
		return
	}
	if at.Before(s.last) {
		// A packet that entered the wire a moment before one already written waited for l.mu:
		// it is written as if it came at the same time, so the capture stays in time order.
		p := *pk
		p.Time = s.last
		pk = &p
	} else {
		s.last = at
	}
	s.chunk = appendPacket(s.chunk, pk, data, s.snapLen)
	s.handoff(false)
}

// secrets adds a key log line, before every packet not yet written; l.mu held.
func (s *pcapngStream) secrets(line []byte, now time.Time) {
	s.release(now)
	s.chunk = appendSecrets(s.chunk, line)
	s.handoff(false)
}

// release writes the pending packets stamped at or before now.
func (s *pcapngStream) release(now time.Time) {
	for len(s.pending) > 0 && !s.pending[0].at.After(now) {
		p := heap.Pop(&s.pending).(stamped)
		if p.at.Before(s.last) { // see packet: stamped as the latest written
			ts := uint64(s.last.UnixNano())
			binary.LittleEndian.PutUint32(p.block[12:], uint32(ts>>32))
			binary.LittleEndian.PutUint32(p.block[16:], uint32(ts))
		} else {
			s.last = p.at
		}
		s.chunk = append(s.chunk, p.block...)
	}
}

// handoff passes the chunk to the writer when it is full (or when force is set and it is not
// empty).
func (s *pcapngStream) handoff(force bool) {
	if len(s.chunk) == 0 || (!force && len(s.chunk) < streamChunkBytes) {
		return
	}
	s.ch <- s.chunk
	s.chunk = make([]byte, 0, streamChunkBytes)
}

// drain writes everything pending and hands it to the writer; l.mu held.
func (s *pcapngStream) drain() {
	for len(s.pending) > 0 {
		s.release(s.pending[0].at)
	}
	s.handoff(true)
}

// finish ends a drained capture: it waits for the writer and returns its error. l.mu not held.
func (s *pcapngStream) finish() error {
	close(s.ch)
	<-s.done
	return s.err
}
