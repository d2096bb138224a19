package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/zeromq"
)

// TestZeroMQEndpoints: with ZMQAddr and ZMQPubAddr the server answers a ZeroMQ REQ with its
// request and publishes [topic, n] to a SUB on its topic alone; a non-loopback ZeroMQ address is
// refused like the other raw endpoints'.
func TestZeroMQEndpoints(t *testing.T) {
	s := startServer(t, server.Config{ZMQAddr: "127.0.0.1:0", ZMQPubAddr: "127.0.0.1:0", ZMQPubInterval: 10 * time.Millisecond})
	a := s.Addrs()
	if a.ZMQ == "" || a.ZMQPub == "" {
		t.Fatalf("addrs %+v: want both ZeroMQ endpoints", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := zmq4.NewReq(context.Background())
	defer zeromq.Close(req)
	if err := req.Dial("tcp://" + a.ZMQ); err != nil {
		t.Fatal(err)
	}
	if err := zeromq.Send(ctx, req, []byte("hi"), []byte("there")); err != nil {
		t.Fatal(err)
	}
	m, err := zeromq.Recv(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(zeromq.Frames(m), "|"); got != "hi|there" {
		t.Errorf("reply %q, want hi|there", got)
	}
	sub := zmq4.NewSub(context.Background())
	defer zeromq.Close(sub)
	if err := sub.Dial("tcp://" + a.ZMQPub); err != nil {
		t.Fatal(err)
	}
	sub.SetOption(zmq4.OptionSubscribe, "weather")
	for range 5 {
		m, err := zeromq.Recv(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if f := zeromq.Frames(m); len(f) != 2 || f[0] != "weather" {
			t.Fatalf("SUB weather got %q", f)
		}
	}

	bad := server.New(server.Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", QUICAddr: "127.0.0.1:0", ZMQAddr: "0.0.0.0:0"})
	if err := bad.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "--zmq-addr 0.0.0.0:0 is not a loopback address") {
		t.Errorf("ZMQAddr 0.0.0.0:0: %v", err)
	}
}
