package link

import (
	"container/heap"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
)

// wire is one direction of the link: it has each packet's fate decided, counts and logs it, and
// delivers survivors to the other host on time.
type wire struct {
	l   *Link
	dir Direction

	// guarded by l.mu
	fates   fates
	pending pendingHeap
	counts  Counts
	dropped map[Rule]uint64

	wake chan struct{}
}

func newWire(l *Link, dir Direction, seed int64) *wire {
	return &wire{
		l:       l,
		dir:     dir,
		fates:   newFates(seed, dir),
		dropped: map[Rule]uint64{},
		wake:    make(chan struct{}, 1),
	}
}

type pendingPacket struct {
	at  time.Time
	seq uint64
	v   *buffer.View
}

// pendingHeap orders delayed packets by delivery time, then by the order they entered.
type pendingHeap []pendingPacket

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pendingPacket)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = pendingPacket{}
	*h = old[:len(old)-1]
	return x
}

// run delivers delayed packets when they are due.
func (w *wire) run() {
	defer w.l.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*buffer.View
	for {
		w.l.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(w.pending) > 0 && !w.pending[0].at.After(now) {
			due = append(due, heap.Pop(&w.pending).(pendingPacket).v)
		}
		wait := time.Duration(-1)
		if len(w.pending) > 0 {
			wait = w.pending[0].at.Sub(now)
		}
		w.l.mu.Unlock()
		peer := w.l.nics[1-w.dir]
		for i, v := range due {
			peer.deliver(v)
			due[i] = nil
		}
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-w.l.done:
			return
		case <-w.wake:
		case <-timer.C:
		}
	}
}

// schedule counts a packet whose fate is decided and, if it is delivered late, puts it (and its
// duplicate) on the pending heap; l.mu held. It says whether the caller delivers the packet at
// once (inline) and returns the duplicate the caller then delivers too.
func (w *wire) schedule(pk *Packet, v *buffer.View) (inline bool, dup *buffer.View) {
	w.counts.Sent++
	w.counts.SentBytes += uint64(pk.Size)
	if pk.Fate == Dropped {
		w.dropped[pk.Rule]++
		return false, nil
	}
	w.counts.Delivered++
	if pk.Duplicated {
		w.counts.Duplicated++
		dup = v.Clone()
	}
	if pk.Latency <= 0 && len(w.pending) == 0 {
		return true, dup
	}
	at := pk.Time.Add(pk.Latency)
	heap.Push(&w.pending, pendingPacket{at: at, seq: pk.Seq, v: v})
	if dup != nil {
		heap.Push(&w.pending, pendingPacket{at: at, seq: pk.Seq, v: dup})
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return false, nil
}

// send is the wire's entry: a packet from the host that sends on dir. It owns v.
func (l *Link) send(dir Direction, v *buffer.View) {
	data := v.AsSlice()
	if nat := l.nat.Load(); nat != nil && dir == ServerToClient && !nat.outbound(data) {
		v.Release()
		return
	}
	now := time.Now()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		v.Release()
		return
	}
	w := l.wires[dir]
	vd := w.fates.decide(now, len(data), l.flows.classify(data))
	l.seq++
	pk := Packet{
		Seq: l.seq, Index: vd.Index, Time: now, Dir: dir, Size: len(data),
		Fate: Delivered, Rule: vd.Rule, Duplicated: vd.Duplicate, Queued: vd.Queued, Latency: vd.Latency,
	}
	if pk.Rule != "" {
		pk.Fate = Dropped
	}
	inline, dup := w.schedule(&pk, v)
	l.record(&pk, data)
	subs := l.subscribers()
	l.mu.Unlock()

	// Subscribers hear of a packet before the peer can act on it, so an observer never sees an
	// answer before its question, and whoever waits for an answer has had its question observed.
	for _, fn := range subs {
		fn(pk)
	}
	if pk.Fate == Dropped {
		v.Release()
	} else if inline {
		peer := l.nics[1-dir]
		peer.deliver(v)
		if dup != nil {
			peer.deliver(dup)
		}
	}
}

// record decodes a packet, streams it to the captures and keeps it in the log; l.mu held.
func (l *Link) record(pk *Packet, data []byte) {
	pk.Decoded = decode(data)
	l.classifyQUIC(&pk.Decoded)
	for _, c := range l.captures {
		c.packet(pk, data)
	}
	if l.cfg.LogSize <= 0 {
		return
	}
	n := min(len(data), l.cfg.SnapLen)
	pk.Data = append(make([]byte, 0, n), data[:n]...)
	l.log.add(*pk)
}

// subscribers copies the OnPacket callbacks, to call without l.mu; l.mu held.
func (l *Link) subscribers() []func(Packet) {
	if len(l.subs) == 0 {
		return nil
	}
	subs := make([]func(Packet), 0, len(l.subs))
	for _, fn := range l.subs {
		subs = append(subs, fn)
	}
	return subs
}

// classifyQUIC keeps "short header" only for flows that have carried a QUIC long header; l.mu
// held.
func (l *Link) classifyQUIC(d *Decoded) {
	if d.Proto != "udp" || d.QUIC == "" {
		return
	}
	a, b := d.Src.Port(), d.Dst.Port()
	if a > b {
		a, b = b, a
	}
	key := [2]uint16{a, b}
	if d.QUIC == "short header" {
		if _, ok := l.quicFlows[key]; !ok {
			d.QUIC = ""
		}
		return
	}
	if len(l.quicFlows) >= 4096 {
		clear(l.quicFlows)
	}
	l.quicFlows[key] = struct{}{}
}
