package natsbroker

import "time"

// SetPartialTimeout shortens PartialTimeout for a test; the returned func restores it.
func SetPartialTimeout(d time.Duration) (restore func()) {
	old := partialTimeout
	partialTimeout = d
	return func() { partialTimeout = old }
}
