package link

import (
	"gvisor.dev/gvisor/pkg/tcpip"
)

// Listening ports. A Listen or ListenPacket for port 0 on a host of the link takes the host's next
// free port counting from firstListenPort, in the order of the calls, instead of netstack's random
// ephemeral port. The link is a network of its own, so fixed ports clash with nothing, and a
// lesson that opens its servers one after another finds them on the same ports on every run:
// the flows to them keep their random streams (see flow.go), and two captures of a seed compare
// port for port. The range lies below netstack's ephemeral ports (16000–65535), which Dial still
// picks at random, so the two never meet; a port still in use is skipped, and the count wraps
// after numListenPorts.
const (
	firstListenPort = 10000
	numListenPorts  = 6000
)

// bind binds ep to fa, choosing its port as above when fa asks for port 0.
func (h *Host) bind(ep tcpip.Endpoint, fa tcpip.FullAddress) tcpip.Error {
	if fa.Port != 0 {
		return ep.Bind(fa)
	}
	for range numListenPorts {
		fa.Port = firstListenPort + uint16((h.nextPort.Add(1)-1)%numListenPorts)
		terr := ep.Bind(fa)
		if _, inUse := terr.(*tcpip.ErrPortInUse); !inUse {
			return terr
		}
	}
	return &tcpip.ErrNoPortAvailable{}
}
