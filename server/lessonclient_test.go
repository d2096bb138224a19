package server

import "testing"

// TestLessonClient: lessons are counted per IPv4 address and per IPv6 /64.
func TestLessonClient(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.2:5000":             "127.0.0.2",
		"[::ffff:10.0.0.1]:80":       "10.0.0.1",
		"[2001:db8:1:2:aaaa::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:1":   "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:1":        "2001:db8:1:3::/64",
		"not an address":             "not an address",
	} {
		if got := lessonClient(addr); got != want {
			t.Errorf("lessonClient(%q) = %q, want %q", addr, got, want)
		}
	}
}
