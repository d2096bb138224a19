//go:build js && wasm

package main

import "strconv"

// fmtMicros shows a duration given in microseconds with about three significant digits.
func fmtMicros(us int64) string {
	return fmtMillis(float64(us) / 1000)
}

// fmtMillis shows a duration given in milliseconds with about three significant digits.
func fmtMillis(ms float64) string {
	switch {
	case ms < 0:
		return "—"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	default:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	}
}

// fmtOffset shows how long after a message's write something happened.
func fmtOffset(us int64) string {
	if us < 0 {
		us = 0
	}
	return "+" + fmtMicros(us)
}

// fmtBytes shows a byte count.
func fmtBytes[T ~int | ~uint64 | ~int64](n T) string {
	f := float64(n)
	switch {
	case f < 1024:
		return strconv.FormatInt(int64(n), 10) + " B"
	case f < 1<<20:
		return strconv.FormatFloat(f/1024, 'f', 1, 64) + " KiB"
	case f < 1<<30:
		return strconv.FormatFloat(f/(1<<20), 'f', 1, 64) + " MiB"
	default:
		return strconv.FormatFloat(f/(1<<30), 'f', 2, 64) + " GiB"
	}
}

func itoa[T ~int | ~uint64 | ~uint32 | ~int64](n T) string {
	if n < 0 {
		return strconv.FormatInt(int64(n), 10)
	}
	return strconv.FormatUint(uint64(n), 10)
}
