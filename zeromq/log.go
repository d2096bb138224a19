package zeromq

import (
	"log"
	"log/slog"
	"time"
)

// slogLogger is zmq4's logger writing to l at debug level (zmq4 logs a failed handshake of a
// stranger, which is no fault of the server's).
func slogLogger(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}

// lingerAfterSend waits Linger, for the socket's writer to send what it was handed.
func lingerAfterSend() { time.Sleep(Linger) }
