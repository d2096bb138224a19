//go:build !linux

package loadtest

import "syscall"

// narrow does nothing here (see sockopt_linux.go).
func narrow(network, address string, c syscall.RawConn) error { return nil }
