//go:build !linux

package bench

// onOneCore runs fn; pinning processes to one core is done on Linux only.
func onOneCore(fn func() error) error { return fn() }
