package zeromq

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
	"github.com/wireplay/wireplay/netx"
)

// Net is the name of a transport ("net://ID/HOST:PORT") registered with zmq4 that runs ZMTP over
// TCP on any netx.Network, the emulated link's hosts included: endpoints made by a Networks carry
// its ID, and a socket listens on its listen network and dials on its dial network.
const Net = "net"

func init() {
	if err := zmq4.RegisterTransport(Net, netTransport{}); err != nil {
		panic(err)
	}
}

// Networks joins ZeroMQ sockets across two networks (a link's server and client hosts). Close it
// when done.
type Networks struct {
	id             string
	listen, dial   netx.Network
	refused, dials atomic.Int64
}

var nets = struct {
	sync.Mutex
	next int
	m    map[string]*Networks
}{m: map[string]*Networks{}}

// NewNetworks registers listen and dial for endpoints made by Endpoint.
func NewNetworks(listen, dial netx.Network) *Networks {
	nets.Lock()
	defer nets.Unlock()
	nets.next++
	n := &Networks{id: strconv.Itoa(nets.next), listen: listen, dial: dial}
	nets.m[n.id] = n
	return n
}

// Endpoint is the zmq4 endpoint for TCP address hostport on n.
func (n *Networks) Endpoint(hostport string) string { return Net + "://" + n.id + "/" + hostport }

// Dials is how many TCP connects sockets made on n, and Refused how many of them failed (a
// socket dialling before its peer listens).
func (n *Networks) Dials() int64   { return n.dials.Load() }
func (n *Networks) Refused() int64 { return n.refused.Load() }

// Close forgets n: its endpoints no longer listen or dial.
func (n *Networks) Close() {
	nets.Lock()
	delete(nets.m, n.id)
	nets.Unlock()
}

func lookupNet(addr string) (*Networks, string, error) {
	id, hostport, ok := strings.Cut(addr, "/")
	nets.Lock()
	n := nets.m[id]
	nets.Unlock()
	if !ok || n == nil {
		return nil, "", fmt.Errorf("net://%s: no such networks", addr)
	}
	return n, hostport, nil
}

type netTransport struct{}

func (netTransport) Dial(ctx context.Context, _ transport.Dialer, addr string) (net.Conn, error) {
	n, hp, err := lookupNet(addr)
	if err != nil {
		return nil, err
	}
	n.dials.Add(1)
	c, err := n.dial.Dial(ctx, "tcp", hp)
	if err != nil {
		n.refused.Add(1)
		return nil, err
	}
	return c, nil
}

func (netTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	n, hp, err := lookupNet(addr)
	if err != nil {
		return nil, err
	}
	return n.listen.Listen(ctx, "tcp", hp)
}

func (netTransport) Addr(ep string) (string, error) { return ep, nil }
