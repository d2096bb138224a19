package link

import "time"

// rateQueue is the rate limiter of one direction: a FIFO in which packets are serialized one
// after another at the link's rate, bounded in packets and bytes, with tail drop. It keeps, for
// each packet still in it, when its last bit leaves; it reads no clock of its own.
type rateQueue struct {
	busyUntil time.Time // when the last queued packet has left
	items     []queued  // items[head:] are in the queue
	head      int
	bytes     int
}

type queued struct {
	done time.Time
	size int
}

// reset empties the queue.
func (q *rateQueue) reset() { *q = rateQueue{} }

// limits is the queue bound in packets and bytes that imp sets: either or both, and
// DefaultQueuePackets when it sets neither.
func limits(imp Impairment) (packets, bytes int) {
	packets, bytes = imp.QueuePackets, imp.QueueBytes
	if packets == 0 && bytes == 0 {
		packets = DefaultQueuePackets
	}
	return packets, bytes
}

// serialization is how long size bytes take on a wire of rate bits per second.
func serialization(size int, rate int64) time.Duration {
	return time.Duration(int64(size) * 8 * int64(time.Second) / rate)
}

// admit queues a packet of size bytes arriving at now on a wire limited by imp: it starts going
// out at start (when the packets ahead of it have left) and has left at done. ok is false, and
// the queue unchanged, when the packet does not fit (tail drop).
func (q *rateQueue) admit(now time.Time, size int, imp Impairment) (start, done time.Time, ok bool) {
	q.leave(now)
	limP, limB := limits(imp)
	if (limP > 0 && q.len() >= limP) || (limB > 0 && q.bytes+size > limB) {
		return time.Time{}, time.Time{}, false
	}
	start = now
	if q.busyUntil.After(now) {
		start = q.busyUntil
	}
	q.busyUntil = start.Add(serialization(size, imp.RateBitsPerSec))
	q.items = append(q.items, queued{done: q.busyUntil, size: size})
	q.bytes += size
	return start, q.busyUntil, true
}

// len is the number of packets in the queue.
func (q *rateQueue) len() int { return len(q.items) - q.head }

// leave takes out the packets that have left by now. The slice is reused: emptied in place, and
// compacted when its dead front outgrows the live part, so a queue in use allocates nothing.
func (q *rateQueue) leave(now time.Time) {
	for q.head < len(q.items) && !q.items[q.head].done.After(now) {
		q.bytes -= q.items[q.head].size
		q.head++
	}
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 64 && q.head > q.len():
		q.items, q.head = q.items[:copy(q.items, q.items[q.head:])], 0
	}
}
