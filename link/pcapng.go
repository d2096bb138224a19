package link

import (
	"encoding/binary"
	"strconv"
	"time"
)

// pcapng block types and options (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html).
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006
	blockDSB = 0x0000000A // Decryption Secrets Block

	optEnd     = 0
	optComment = 1
	optIfName  = 2 // in an IDB
	optIfDesc  = 3 // in an IDB
	optEPBFlag = 2 // in an EPB
	optTsresol = 9 // in an IDB

	linkTypeRaw = 101 // LINKTYPE_RAW: each packet begins with an IPv4 or IPv6 header

	secretsTLSKeyLog = 0x544c534b // "TLSK": NSS key log lines

	epbInbound  = 1 // epb_flags direction bits, as seen at the capture point
	epbOutbound = 2
)

// The capture point of every pcapng capture: the client host's NIC. What the client sends is
// stamped when it sends it, what the server sends when the link hands it to the client, so a
// round trip in the capture (Wireshark's ACK RTT, a handshake) is the round trip the client sees.
var ifaceDesc = [2]string{
	ClientToServer: "client to server, as seen at the client host's NIC: stamped when the client sent it (dropped packets included, stamped the same)",
	ServerToClient: "server to client, as seen at the client host's NIC: stamped when the link delivered it to the client; a dropped packet never arrives and is stamped when the server sent it",
}

// captureTime is when the capture point sees pk: see ifaceDesc.
func captureTime(pk *Packet) time.Time {
	if pk.Dir == ServerToClient && pk.Fate == Delivered {
		return pk.Time.Add(pk.Latency)
	}
	return pk.Time
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

// appendBlock appends a block of type typ whose body body(b) appends (padded to 4 bytes): type,
// total length, body, total length.
func appendBlock(b []byte, typ uint32, body func([]byte) []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, 0) // total length, set below
	b = body(b)
	total := uint32(len(b) - start + 4)
	binary.LittleEndian.PutUint32(b[start+4:], total)
	return binary.LittleEndian.AppendUint32(b, total)
}

// appendHeader appends the section header and one raw-IPv4 interface per direction: interface
// 0 is c2s, 1 is s2c, timestamps in nanoseconds since the Unix epoch (if_tsresol 9), both
// stamped at one capture point (ifaceDesc). A comment, when not empty, goes in the section
// header's opt_comment.
func appendHeader(b []byte, snapLen int, comment string) []byte {
	b = appendBlock(b, blockSHB, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint32(b, 0x1A2B3C4D) // byte-order magic
		b = binary.LittleEndian.AppendUint16(b, 1)          // major
		b = binary.LittleEndian.AppendUint16(b, 0)          // minor
		b = binary.LittleEndian.AppendUint64(b, ^uint64(0)) // section length: unknown
		if comment != "" {
			b = appendOpt(b, optComment, []byte(comment))
		}
		b = appendOpt(b, 4, []byte("wireplay link")) // shb_userappl
		return appendOpt(b, optEnd, nil)
	})
	for _, dir := range Directions {
		b = appendBlock(b, blockIDB, func(b []byte) []byte {
			b = binary.LittleEndian.AppendUint16(b, linkTypeRaw)
			b = binary.LittleEndian.AppendUint16(b, 0)
			b = binary.LittleEndian.AppendUint32(b, uint32(snapLen))
			b = appendOpt(b, optIfName, []byte(dir.String()))
			b = appendOpt(b, optIfDesc, []byte(ifaceDesc[dir]))
			b = appendOpt(b, optTsresol, []byte{9})
			return appendOpt(b, optEnd, nil)
		})
	}
	return b
}

// appendSecrets appends a Decryption Secrets Block holding TLS key log lines (each ending in a
// newline), which Wireshark uses to decrypt the TLS and QUIC packets after it.
func appendSecrets(b []byte, keyLog []byte) []byte {
	return appendBlock(b, blockDSB, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint32(b, secretsTLSKeyLog)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(keyLog)))
		b = append(b, keyLog...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	})
}

// appendPacket appends an EPB stamped at captureTime. data may be shorter than pk.Size (it is
// cut to snapLen). The packet's fate is in an opt_comment ("delivered", "dropped by loss", ...)
// and its direction as the capture point sees it in epb_flags.
func appendPacket(b []byte, pk *Packet, data []byte, snapLen int) []byte {
	if len(data) > snapLen {
		data = data[:snapLen]
	}
	ts := uint64(captureTime(pk).UnixNano())
	flag := uint32(epbOutbound)
	if pk.Dir == ServerToClient {
		flag = epbInbound
	}
	return appendBlock(b, blockEPB, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint32(b, uint32(pk.Dir))
		b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
		b = binary.LittleEndian.AppendUint32(b, uint32(ts))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
		b = binary.LittleEndian.AppendUint32(b, uint32(pk.Size))
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		// opt_comment, its length set once the comment is written
		at := len(b)
		b = binary.LittleEndian.AppendUint16(b, optComment)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = appendFate(b, pk)
		binary.LittleEndian.PutUint16(b[at+2:], uint16(len(b)-at-4))
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		b = appendOpt(b, optEPBFlag, binary.LittleEndian.AppendUint32(nil, flag))
		return appendOpt(b, optEnd, nil)
	})
}

// appendFate appends the packet's comment: "c2s #12 delivered queued 1ms latency 21ms",
// "s2c #3 dropped by loss".
func appendFate(b []byte, pk *Packet) []byte {
	b = append(b, pk.Dir.String()...)
	b = append(b, " #"...)
	b = strconv.AppendUint(b, pk.Index, 10)
	if pk.Fate == Dropped {
		return append(append(b, " dropped by "...), pk.Rule...)
	}
	b = append(b, " delivered"...)
	if pk.Duplicated {
		b = append(b, " duplicated"...)
	}
	if pk.Queued > 0 {
		b = append(append(b, " queued "...), pk.Queued.String()...)
	}
	if pk.Latency > 0 {
		b = append(append(b, " latency "...), pk.Latency.String()...)
	}
	return b
}
