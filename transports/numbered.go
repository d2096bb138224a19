package transports

import "fmt"

// Numbered makes count messages of size bytes, each starting with its number: "#0001 abcdef…",
// so a reader can tell them apart however a transport splits or joins them.
func Numbered(count, size int) [][]byte {
	out := make([][]byte, count)
	for i := range out {
		m := make([]byte, size)
		head := fmt.Sprintf("#%04d ", i+1)
		for j := range m {
			if j < len(head) {
				m[j] = head[j]
			} else {
				m[j] = 'a' + byte((j-len(head))%26)
			}
		}
		out[i] = m
	}
	return out
}
