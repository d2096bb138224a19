package transports

import (
	"context"
	"errors"
	"net"

	"github.com/quic-go/quic-go"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
)

// quicIO is the measuring client's QUIC connection: one stream (quic-stream) or the connection's
// datagrams (quic-dgram), on a socket of its own.
type quicIO struct {
	deadline writeDeadline
	qc       *QUICConn
	conn     *quic.Conn
	s        *quic.Stream // nil for datagrams
	dgram    bool
}

func dialQUIC(ctx context.Context, n netx.Network, target Target, dgram bool) (*quicIO, error) {
	qc, err := dialQUICConn(ctx, n, target.QUIC, QUICOptions{TLS: target.TLS, Config: target.QUICConfig})
	if err != nil {
		return nil, err
	}
	q := &quicIO{qc: qc, conn: qc.Conn, dgram: dgram}
	if dgram {
		if !q.conn.ConnectionState().SupportsDatagrams.Remote {
			q.close()
			return nil, errors.New("peer does not support QUIC datagrams")
		}
		return q, nil
	}
	if q.s, err = q.conn.OpenStreamSync(ctx); err != nil {
		q.close()
		return nil, err
	}
	return q, nil
}

func (q *quicIO) write(b []byte) error {
	if q.dgram {
		return q.conn.SendDatagram(b)
	}
	q.deadline.refresh(q.s.SetWriteDeadline)
	_, err := q.s.Write(b)
	return err
}

func (q *quicIO) read(b []byte) (int, error) {
	if q.dgram {
		d, err := q.conn.ReceiveDatagram(context.Background())
		return copy(b, d), err
	}
	return q.s.Read(b)
}

func (q *quicIO) close() error {
	err := q.conn.CloseWithError(0, "bye")
	q.qc.Endpoint.Close()
	return err
}
func (q *quicIO) datagrams() bool     { return q.dgram }
func (q *quicIO) localAddr() net.Addr { return q.qc.LocalAddr() }
func (q *quicIO) stats() *protocol.Stats {
	s := q.conn.ConnectionStats()
	return &protocol.Stats{QUIC: &protocol.QUICStats{
		SmoothedRTTMicros: s.SmoothedRTT.Microseconds(),
		MinRTTMicros:      s.MinRTT.Microseconds(),
		LatestRTTMicros:   s.LatestRTT.Microseconds(),
		Cwnd:              s.CongestionWindow,
		PacketsSent:       s.PacketsSent,
		PacketsReceived:   s.PacketsReceived,
		PacketsLost:       s.PacketsLost,
		BytesSent:         s.BytesSent,
		BytesReceived:     s.BytesReceived,
		BytesLost:         s.BytesLost,
	}}
}
