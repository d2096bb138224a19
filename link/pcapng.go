package link

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// pcapng block types and options (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html).
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	optEnd     = 0
	optComment = 1
	optIfName  = 2 // in an IDB
	optIfDesc  = 3 // in an IDB
	optEPBFlag = 2 // in an EPB
	optTsresol = 9 // in an IDB

	linkTypeRaw = 101 // LINKTYPE_RAW: each packet begins with an IPv4 or IPv6 header
)

// pcapngWriter writes one section with one interface per direction: interface 0 is c2s, 1 is
// s2c. Timestamps are nanoseconds since the Unix epoch (if_tsresol 9).
type pcapngWriter struct {
	w       *bufio.Writer
	snapLen int
	err     error
	buf     []byte
}

func newPcapngWriter(w io.Writer, snapLen int) *pcapngWriter {
	p := &pcapngWriter{w: bufio.NewWriterSize(w, 64<<10), snapLen: snapLen}
	p.header()
	return p
}

func pad4(n int) int { return (n + 3) &^ 3 }

func appendOpt(b []byte, code uint16, val []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// block writes a block: type, total length, body (already padded), total length.
func (p *pcapngWriter) block(typ uint32, body []byte) {
	if p.err != nil {
		return
	}
	total := uint32(12 + len(body))
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], typ)
	binary.LittleEndian.PutUint32(hdr[4:], total)
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], total)
	if _, err := p.w.Write(hdr[:]); err != nil {
		p.err = err
		return
	}
	if _, err := p.w.Write(body); err != nil {
		p.err = err
		return
	}
	if _, err := p.w.Write(tail[:]); err != nil {
		p.err = err
	}
}

func (p *pcapngWriter) header() {
	b := binary.LittleEndian.AppendUint32(nil, 0x1A2B3C4D) // byte-order magic
	b = binary.LittleEndian.AppendUint16(b, 1)             // major
	b = binary.LittleEndian.AppendUint16(b, 0)             // minor
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))    // section length: unknown
	b = appendOpt(b, 4, []byte("wireplay link"))           // shb_userappl
	b = appendOpt(b, optEnd, nil)
	p.block(blockSHB, b)
	for _, dir := range Directions {
		b := binary.LittleEndian.AppendUint16(nil, linkTypeRaw)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(p.snapLen))
		b = appendOpt(b, optIfName, []byte(dir.String()))
		desc := "client to server"
		if dir == ServerToClient {
			desc = "server to client"
		}
		b = appendOpt(b, optIfDesc, []byte(desc))
		b = appendOpt(b, optTsresol, []byte{9})
		b = appendOpt(b, optEnd, nil)
		p.block(blockIDB, b)
	}
}

// packet writes an EPB. data may be shorter than pk.Size (it is cut to the snap length). The
// packet's fate is in an opt_comment ("delivered", "dropped by loss", ...) and the direction in
// epb_flags (outbound from the sending host).
func (p *pcapngWriter) packet(pk *Packet, data []byte) {
	if len(data) > p.snapLen {
		data = data[:p.snapLen]
	}
	ts := uint64(pk.Time.UnixNano())
	b := p.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(pk.Dir))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(pk.Size))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = appendOpt(b, optComment, []byte(fateComment(pk)))
	b = appendOpt(b, optEPBFlag, binary.LittleEndian.AppendUint32(nil, 2)) // outbound
	b = appendOpt(b, optEnd, nil)
	p.buf = b
	p.block(blockEPB, b)
}

func fateComment(pk *Packet) string {
	s := fmt.Sprintf("%s #%d ", pk.Dir, pk.Index)
	if pk.Fate == Dropped {
		return s + "dropped by " + string(pk.Rule)
	}
	s += "delivered"
	if pk.Duplicated {
		s += " duplicated"
	}
	if pk.Queued > 0 {
		s += fmt.Sprintf(" queued %v", pk.Queued)
	}
	if pk.Latency > 0 {
		s += fmt.Sprintf(" latency %v", pk.Latency)
	}
	return s
}

func (p *pcapngWriter) flush() error {
	if p.err != nil {
		return p.err
	}
	p.err = p.w.Flush()
	return p.err
}
