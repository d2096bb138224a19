package transports_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports"
	"github.com/wireplay/wireplay/transports/transportstest"
	"go.uber.org/goleak"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEndpointsRawClients talks to each endpoint the way nc, websocat or any QUIC library would.
func TestEndpointsRawClients(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	target := transportstest.StartEcho(t, netx.Kernel, "127.0.0.1")

	t.Run("tcp echoes every byte", func(t *testing.T) {
		c, err := net.Dial("tcp", target.TCP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		want := bytes.Repeat([]byte("0123456789"), 10000) // 100 kB, several reads
		go c.Write(want)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Error("echo differs")
		}
	})

	t.Run("udp echoes each datagram", func(t *testing.T) {
		c, err := net.Dial("udp", target.UDP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for _, size := range []int{1, 100, 1400, 9000} {
			msg := bytes.Repeat([]byte{'u'}, size)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 65536)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if n != size {
				t.Errorf("reply of %d bytes to a %d byte datagram", n, size)
			}
		}
	})

	t.Run("quic echoes streams and datagrams", func(t *testing.T) {
		conn, err := quic.DialAddr(ctxT(t), target.QUIC, target.TLS, &quic.Config{EnableDatagrams: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseWithError(0, "")
		if conn.ConnectionState().TLS.NegotiatedProtocol != transports.ALPN {
			t.Errorf("ALPN %q", conn.ConnectionState().TLS.NegotiatedProtocol)
		}
		for i := range 3 { // independent streams
			s, err := conn.OpenStreamSync(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte(strings.Repeat("q", 1000*(i+1)))
			s.Write(msg)
			s.Close()
			got, err := io.ReadAll(s)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("stream %d: %d bytes, %v", i, len(got), err)
			}
		}
		if err := conn.SendDatagram([]byte("dgram")); err != nil {
			t.Fatal(err)
		}
		d, err := conn.ReceiveDatagram(ctxT(t))
		if err != nil || string(d) != "dgram" {
			t.Errorf("datagram %q, %v", d, err)
		}
	})

	t.Run("quic refuses a wrong ALPN", func(t *testing.T) {
		tc := target.TLS.Clone()
		tc.NextProtos = []string{"h3"}
		_, err := quic.DialAddr(ctxT(t), target.QUIC, tc, nil)
		if err == nil {
			t.Fatal("handshake with ALPN h3 succeeded")
		}
	})

	t.Run("websocket echoes text and binary", func(t *testing.T) {
		c, _, err := websocket.Dial(ctxT(t), target.WS, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
			if err := c.Write(ctxT(t), typ, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			gt, got, err := c.Read(ctxT(t))
			if err != nil || gt != typ || string(got) != "hi" {
				t.Errorf("got %v %q %v", gt, got, err)
			}
		}
	})

	t.Run("websocket over the read limit is closed with 1009", func(t *testing.T) {
		c, _, err := websocket.Dial(ctxT(t), target.WS, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.Write(ctxT(t), websocket.MessageBinary, make([]byte, 65<<10))
		_, _, err = c.Read(ctxT(t))
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Errorf("read after oversize message: %v, want close 1009", err)
		}
	})
}

func TestTCPEchoClosesIdleConnections(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	e, err := transports.ListenTCPEcho(ctxT(t), netx.Kernel, "127.0.0.1:0", transports.TCPEchoConfig{IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve()
	t.Cleanup(func() { e.Close() })
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read %v, want EOF from the server closing it", err)
	}
}

// TestTCPEchoActiveOutlivesIdleTimeout: a connection in use for several idle timeouts stays
// open (its read deadline, set once, is moved on when it passes with traffic since), and closes
// once idle.
func TestTCPEchoActiveOutlivesIdleTimeout(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const idle = 300 * time.Millisecond
	e, err := transports.ListenTCPEcho(ctxT(t), netx.Kernel, "127.0.0.1:0", transports.TCPEchoConfig{IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve()
	t.Cleanup(func() { e.Close() })
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	start := time.Now()
	n := 0
	for ; time.Since(start) < 4*idle; n++ {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("echo %d after %v of traffic: %v", n, time.Since(start), err)
		}
		time.Sleep(idle / 15)
	}
	if _, err = c.Read(buf[:1]); !errors.Is(err, io.EOF) {
		t.Errorf("after %d echoes, then idle: read %v, want EOF from the server closing it", n, err)
	}
}

// TestWSEchoActiveOutlivesIdleTimeout: a WebSocket in use for several idle timeouts stays open
// (the idle timer, not moved per message, sets itself again for the time after the last one),
// and closes once idle.
func TestWSEchoActiveOutlivesIdleTimeout(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const idle = 300 * time.Millisecond
	hs, err := transports.ListenWS(ctxT(t), netx.Kernel, "127.0.0.1:0", transports.WSEchoHandler(transports.WSEchoConfig{IdleTimeout: idle}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	c, err := transports.DialWS(ctxT(t), netx.Kernel, "ws://"+hs.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	start := time.Now()
	n := 0
	for ; time.Since(start) < 4*idle; n++ {
		if err := c.Write(ctxT(t), websocket.MessageText, []byte("ping")); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		if _, _, err := c.Read(ctxT(t)); err != nil {
			t.Fatalf("echo %d after %v of traffic: %v", n, time.Since(start), err)
		}
		time.Sleep(idle / 15)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*idle)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after %d echoes, then idle: read %v, want the server to close the connection", n, err)
	}
}

// TestUDPFloodFromOneSource: a flood from one source is answered only up to its token bucket, and
// no reply is larger than its request.
func TestUDPFloodFromOneSource(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	e, err := transports.ListenUDPEcho(ctxT(t), netx.Kernel, "127.0.0.1:0",
		transports.UDPEchoConfig{PerSourceRate: 100, PerSourceBurst: 50})
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve()
	t.Cleanup(func() { e.Close() })
	flood, err := net.Dial("udp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	other, err := net.Dial("udp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	const sent, size = 2000, 200
	start := time.Now()
	for range sent {
		flood.Write(make([]byte, size))
	}
	elapsed := time.Since(start)
	replies, replyBytes := 0, 0
	buf := make([]byte, 65536)
	for {
		flood.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := flood.Read(buf)
		if err != nil {
			break
		}
		replies++
		replyBytes += n
		if n > size {
			t.Fatalf("a reply of %d bytes to a %d byte request", n, size)
		}
	}
	if replyBytes > sent*size {
		t.Errorf("%d reply bytes for %d request bytes", replyBytes, sent*size)
	}
	limit := 50 + int(100*(elapsed+400*time.Millisecond).Seconds()) + 1
	if replies > limit || replies == 0 {
		t.Errorf("%d replies to a flood of %d, want 1..%d (burst 50 + 100/s)", replies, sent, limit)
	}
	if e.Dropped() == 0 {
		t.Error("no datagram was dropped")
	}
	// Another source is not starved by the flood.
	other.SetDeadline(time.Now().Add(2 * time.Second))
	other.Write([]byte("still here"))
	if n, err := other.Read(buf); err != nil || string(buf[:n]) != "still here" {
		t.Errorf("other source: %q %v", buf[:n], err)
	}
}

func TestWSEchoHandlerRejectsPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(transports.WSEchoHandler(transports.WSEchoConfig{}))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 {
		t.Errorf("plain GET got %d", res.StatusCode)
	}
}
