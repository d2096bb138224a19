package link

// boundedMap is a map that keeps at most max keys: putting a new key into a full one forgets the
// oldest key put. The wire keeps its per-flow state in these, so a link that sees a great many
// flows (a SYN flood, port scans) holds a bounded amount of it. It reads no clock and takes no
// lock; its zero value with max set is empty and ready.
type boundedMap[K comparable, V any] struct {
	max   int
	m     map[K]V
	order []K // keys in the order they were first put; once full, a ring whose oldest is at next
	next  int
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

// put sets k's value. A key already held keeps its age; a new one, when the map is full,
// replaces the oldest.
func (b *boundedMap[K, V]) put(k K, v V) {
	if _, ok := b.m[k]; ok {
		b.m[k] = v
		return
	}
	if b.m == nil {
		b.m = make(map[K]V)
	}
	if len(b.order) < b.max {
		b.order = append(b.order, k)
	} else {
		delete(b.m, b.order[b.next])
		b.order[b.next] = k
		b.next = (b.next + 1) % b.max
	}
	b.m[k] = v
}

func (b *boundedMap[K, V]) len() int { return len(b.m) }
