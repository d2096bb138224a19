package bench

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// onOneCore runs fn (which starts processes) on a thread pinned to the first core this process
// may use: processes started meanwhile inherit that one core, and so does every thread they make.
func onOneCore(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fn()
	}
	first := 0
	for first < 1024 && !old.IsSet(first) {
		first++
	}
	var one unix.CPUSet
	one.Set(first)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return fn()
	}
	defer unix.SchedSetaffinity(0, &old)
	return fn()
}
