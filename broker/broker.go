// Package broker is the small publish/subscribe interface that wireplay's rooms (the chat room of
// package chat, and later the instructor's lesson runs) go through, so that several wireplay
// instances behind a load balancer can share a room.
//
// Two implementations satisfy it: Memory (NewMemory, the default: one process, nothing to install)
// and package natsbroker (a client of a NATS server, github.com/nats-io/nats.go). One contract test
// suite, package brokertest, runs against both.
//
// # Delivery guarantees
//
// These hold for every implementation; brokertest checks them.
//
//   - At most once. A message reaches each subscription at most once, and may not reach it at all:
//     when the subscription's buffer is full (below), and, with NATS, while the connection to the
//     server is down (nats.go reconnects by itself and restores its subscriptions, but what was
//     published in the gap is not replayed), or when the server restarts. Core NATS keeps nothing:
//     a room that must resync (a page reloaded, an instance restarted) asks for the room's state
//     again over the broker; the broker itself keeps no history.
//   - Published after subscribed. Subscribe returns once the subscription is in place on the bus:
//     every message published after that, by any instance on the bus, is offered to it. A message
//     published before is not (for another NATS instance, "before" means before its Publish reached
//     the server).
//   - Order per publisher. Messages that one instance publishes on one subject, one Publish after
//     the other, reach every subscription in that order. Messages from two publishers may
//     interleave differently at different subscriptions.
//   - Own messages. An instance's subscriptions receive what the same instance publishes.
//   - One delivery at a time. deliver is called from one goroutine per subscription, never
//     concurrently with itself, in arrival order. It must not modify msg; msg stays valid after
//     deliver returns.
//   - Bounded buffering. A subscription holds at most Options.Buffer messages (and about
//     Options.BufferBytes bytes), counting the one being delivered and, with NATS, the messages
//     still arriving in fragments (below). A message that arrives when it is full is dropped and
//     counted (Subscription.Dropped): a slow subscriber loses messages, it never makes the
//     publisher or the other subscribers wait, and its memory stays bounded. A message larger
//     than BufferBytes is never delivered to that subscription (dropped and counted).
//   - Messages up to MaxMessage (16 MiB). Publish refuses a larger one with an error wrapping
//     ErrTooLarge, on every broker. NATS refuses messages over the server's max_payload (1 MB by
//     default), so natsbroker sends a larger message as fragments, each one NATS message, and the
//     subscription reassembles them: the guarantees above hold for the whole message. A message
//     is delivered whole and byte-identical or not at all — a lost fragment loses the message,
//     counted in Dropped, never a partial or corrupt delivery — and in the position of its last
//     fragment. Publish calls of one instance that follow one another stay in order whatever
//     their sizes; calls that overlap in time have no order between them (a small message may be
//     delivered before a large one whose Publish began first).
//   - Unsubscribe and Close stop delivery. Once Unsubscribe (or the broker's Close) returns, no new
//     deliver call begins; one already under way finishes. Unsubscribe does not wait for it, so it
//     may be called from deliver itself. After Close, Publish and Subscribe return ErrClosed.
package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Broker carries messages between the parts of rooms, in one process or across instances.
type Broker interface {
	// Publish offers msg to every subscription of subject on the bus. It returns once the
	// broker has taken the message (for NATS: written to the connection's buffer), not once it is
	// delivered. It does not keep msg.
	Publish(ctx context.Context, subject string, msg []byte) error
	// Subscribe calls deliver with each message published on subject after Subscribe returns.
	// ctx bounds the wait for the subscription to be in place on the bus.
	Subscribe(ctx context.Context, subject string, deliver func(msg []byte)) (Subscription, error)
	// Close ends every subscription of this instance and its connection to the bus; the other
	// instances on the bus go on. Close is idempotent.
	Close() error
}

// Subscription is one Subscribe's interest in a subject.
type Subscription interface {
	// Unsubscribe stops delivery; the messages still buffered are discarded. Idempotent.
	Unsubscribe() error
	// Dropped counts the messages dropped because the subscription's buffer was full, or (NATS)
	// because one of their fragments was lost. With NATS, a large message that a full buffer
	// cut may count once per fragment dropped and once more: Dropped is at least the number of
	// messages lost these ways (not those lost on the network as a whole, such as while a NATS
	// connection is down).
	Dropped() uint64
}

// ErrClosed is returned by Publish and Subscribe on a closed broker.
var ErrClosed = errors.New("broker closed")

// ErrTooLarge is wrapped by the error of a Publish whose message is larger than MaxMessage.
var ErrTooLarge = errors.New("message too large")

// MaxMessage is the largest message (in bytes) that Publish takes, on every broker.
const MaxMessage = 16 << 20

// CheckSize returns an error wrapping ErrTooLarge if a message of n bytes is larger than
// MaxMessage; implementations call it in Publish.
func CheckSize(n int) error {
	if n > MaxMessage {
		return fmt.Errorf("publish %d bytes: %w (at most %d)", n, ErrTooLarge, MaxMessage)
	}
	return nil
}

// Defaults for Options. DefaultBufferBytes holds a message of MaxMessage with room to spare.
const (
	DefaultBuffer      = 1024
	DefaultBufferBytes = 2 * MaxMessage
)

// Options bound what a broker buffers for each subscription.
type Options struct {
	// Buffer is how many messages a subscription holds, counting the one being delivered.
	Buffer int
	// BufferBytes is about how many bytes of messages a subscription holds.
	BufferBytes int
}

// Option sets one of the Options.
type Option func(*Options)

// WithBuffer sets Options.Buffer (messages) and Options.BufferBytes; zero keeps the default.
func WithBuffer(messages, bytes int) Option {
	return func(o *Options) {
		if messages > 0 {
			o.Buffer = messages
		}
		if bytes > 0 {
			o.BufferBytes = bytes
		}
	}
}

// NewOptions applies opts to the defaults; implementations call it.
func NewOptions(opts ...Option) Options {
	o := Options{Buffer: DefaultBuffer, BufferBytes: DefaultBufferBytes}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// ValidSubject reports whether s can name a subject on every broker: dot-separated tokens, none
// empty, with no white space, no control characters and no NATS wildcard (* or >).
func ValidSubject(s string) error {
	if s == "" {
		return errors.New("subject: empty")
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return fmt.Errorf("subject %q: empty token", s)
		}
		if tok == "*" || tok == ">" {
			return fmt.Errorf("subject %q: wildcards are not subjects", s)
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f || r == '*' || r == '>' {
				return fmt.Errorf("subject %q: %q not allowed", s, r)
			}
		}
	}
	return nil
}
