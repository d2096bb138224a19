package link

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a link.
type Config struct {
	// Settings are the initial impairments of each direction.
	Settings
	// Seed seeds each flow's random stream in each direction (see the package doc): the same
	// seed and settings drop, duplicate and jitter the same packets of each flow — its k-th
	// packet in a direction — on every run, however flows interleave. Queue drops and waits,
	// and the FIFO hold of jittered packets, also depend on timing and on the other flows.
	Seed int64
	// CongestionControl is netstack TCP's algorithm on both hosts: "cubic" (default) or "reno".
	CongestionControl string
	// MTU of both NICs, in bytes; default 1500.
	MTU int
	// LogSize is how many packets Packets (and WritePcapng) keeps at most, the oldest dropped
	// first; default 10,000; negative keeps none.
	LogSize int
	// LogBytes bounds the log's memory as well: the packets' kept bytes plus their records;
	// default 16 MiB (10,000 full-size packets); negative bounds the log by LogSize alone.
	LogBytes int
	// SnapLen is how many bytes of each packet the log (and WritePcapng) keeps; default 65535,
	// the whole packet.
	SnapLen int
	// TCPBufferBytes is the default TCP send and receive buffer; netstack's receive-buffer
	// auto-tuning may grow it up to 4×. Default 4 MiB.
	TCPBufferBytes int
}

// Defaults.
const (
	DefaultMTU            = 1500
	DefaultLogSize        = 10_000
	DefaultLogBytes       = 16 << 20
	DefaultSnapLen        = 65535
	DefaultTCPBufferBytes = 4 << 20
)

// ClientAddr and ServerAddr are the addresses of the two hosts: in the loopback range, so they
// can never be mistaken for (or routed to) a real network.
var (
	DefaultClientAddr = netip.AddrFrom4([4]byte{127, 0, 1, 1})
	DefaultServerAddr = netip.AddrFrom4([4]byte{127, 0, 1, 2})
)

// Link is one emulated wire between a client host and a server host, each a gVisor netstack.
type Link struct {
	cfg    Config
	hosts  [2]*Host // indexed by the Direction the host sends on
	nics   [2]*nic
	wires  [2]*wire
	done   chan struct{}
	wg     sync.WaitGroup
	closed bool // guarded by mu

	mu        sync.Mutex
	seq       uint64
	log       packetLog
	subs      map[int]func(Packet)
	nextSub   int
	captures  map[int]*pcapngStream
	nextCap   int
	quicFlows map[[2]uint16]struct{}
	flows     flowTable // which flow each packet belongs to, for its random stream

	nat atomic.Pointer[wireNAT] // the client's NAT, once RebindClient installs it (migrate.go)
	// The TLS key log (KeyLog): every line once, at most maxKeyLogBytes.
	keyLog     []byte
	keySeen    map[string]struct{}
	keyPartial []byte
}

// New builds a link and starts its wire.
func New(cfg Config) (*Link, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := newWires(cfg)
	addrs := [2]netip.Addr{DefaultClientAddr, DefaultServerAddr}
	names := [2]string{"client", "server"}
	for _, dir := range Directions {
		h, err := newHost(names[dir], addrs[dir], l.nics[dir], cfg)
		if err != nil {
			for _, h := range l.hosts {
				if h != nil {
					h.s.Close()
					h.s.Wait()
				}
			}
			return nil, err
		}
		h.link = l
		l.hosts[dir] = h
	}
	l.start()
	return l, nil
}

// withDefaults checks a Config and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > 65535 {
		return cfg, fmt.Errorf("link: MTU %d out of range [576, 65535]", cfg.MTU)
	}
	if cfg.LogSize == 0 {
		cfg.LogSize = DefaultLogSize
	}
	if cfg.LogBytes == 0 {
		cfg.LogBytes = DefaultLogBytes
	}
	if cfg.SnapLen <= 0 || cfg.SnapLen > DefaultSnapLen {
		cfg.SnapLen = DefaultSnapLen
	}
	if cfg.TCPBufferBytes <= 0 {
		cfg.TCPBufferBytes = DefaultTCPBufferBytes
	}
	switch cfg.CongestionControl {
	case "":
		cfg.CongestionControl = "cubic"
	case "cubic", "reno":
	default:
		return cfg, fmt.Errorf("link: unknown congestion control %q (want cubic or reno)", cfg.CongestionControl)
	}
	for _, dir := range Directions {
		if err := cfg.Settings.Get(dir).validate(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// newWires builds a link's wires and NICs, without hosts and not yet started.
func newWires(cfg Config) *Link {
	l := &Link{
		cfg:       cfg,
		done:      make(chan struct{}),
		subs:      map[int]func(Packet){},
		log:       packetLog{max: cfg.LogSize, maxBytes: cfg.LogBytes},
		captures:  map[int]*pcapngStream{},
		quicFlows: map[[2]uint16]struct{}{},
		flows:     newFlowTable(),
		keySeen:   map[string]struct{}{},
	}
	now := time.Now()
	for _, dir := range Directions {
		w := newWire(l, dir, cfg.Seed)
		w.fates.apply(cfg.Settings.Get(dir), now)
		l.wires[dir] = w
		l.nics[dir] = &nic{l: l, dir: dir, mtu: uint32(cfg.MTU)}
	}
	return l
}

// start starts the wires' delivery goroutines.
func (l *Link) start() {
	for _, w := range l.wires {
		l.wg.Add(1)
		go w.run()
	}
}

// Client is the client host's network.
func (l *Link) Client() *Host { return l.hosts[ClientToServer] }

// Server is the server host's network.
func (l *Link) Server() *Host { return l.hosts[ServerToClient] }

// ClientAddr is the client host's IPv4 address.
func (l *Link) ClientAddr() netip.Addr { return l.hosts[ClientToServer].addr }

// ServerAddr is the server host's IPv4 address.
func (l *Link) ServerAddr() netip.Addr { return l.hosts[ServerToClient].addr }

// Close stops both hosts (closing every socket on them) and the wire. Packets still in flight
// are discarded.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("link: already closed")
	}
	l.closed = true
	l.mu.Unlock()
	for _, h := range l.hosts {
		if h != nil {
			h.s.Close()
		}
	}
	for _, h := range l.hosts {
		if h != nil {
			h.s.Wait()
		}
	}
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	for _, w := range l.wires {
		for _, it := range w.pending {
			it.v.Release()
		}
		w.pending = nil
	}
	caps := l.takeCaptures()
	l.mu.Unlock()
	var errs []error
	for _, c := range caps {
		errs = append(errs, c.finish())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("link pcapng: %w", err)
	}
	return nil
}

// takeCaptures drains and detaches every streaming capture; l.mu held.
func (l *Link) takeCaptures() []*pcapngStream {
	var caps []*pcapngStream
	for id, c := range l.captures {
		c.drain()
		caps = append(caps, c)
		delete(l.captures, id)
	}
	return caps
}

// SetImpairment changes one direction's impairment, effective from the next packet. Packets
// already on the wire keep their fate and delivery time.
func (l *Link) SetImpairment(dir Direction, imp Impairment) error {
	if !dir.valid() {
		return fmt.Errorf("link: bad direction %d", dir)
	}
	if err := imp.validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wires[dir].fates.apply(imp, time.Now())
	return nil
}

// Apply sets both directions at once (e.g. a Preset).
func (l *Link) Apply(s Settings) error {
	for _, dir := range Directions {
		if err := s.Get(dir).validate(); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, dir := range Directions {
		l.wires[dir].fates.apply(s.Get(dir), now)
	}
	return nil
}

// Impairment returns one direction's current impairment, as last set.
func (l *Link) Impairment(dir Direction) Impairment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wires[dir].fates.imp
}

// Counts returns a direction's counters.
func (l *Link) Counts(dir Direction) Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.wires[dir].counts
	c.Dropped = make(map[Rule]uint64, len(Rules))
	for r, n := range l.wires[dir].dropped {
		c.Dropped[r] = n
	}
	return c
}

// Packets returns the logged packets in the order they entered the wire, oldest first: the
// last packets, in either direction, that fit in Config.LogSize and Config.LogBytes.
func (l *Link) Packets() []Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.all()
}

// LogEvicted is how many packets the log has dropped, oldest first, to stay within
// Config.LogSize and Config.LogBytes: when it is not 0, Packets and WritePcapng hold only the
// latest packets (and WritePcapng's section header says so in its comment).
func (l *Link) LogEvicted() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.evicted
}

// pcapngPacketOverhead bounds what an EPB adds to its packet's data: block header and trailer
// (32 bytes), padding, the fate comment and the flags option.
const pcapngPacketOverhead = 160

// TruncatedComment is how a capture that lost packets to the log's bounds begins its section
// header's comment.
const TruncatedComment = "truncated:"

func truncatedComment(evicted uint64, kept int, cfg Config) string {
	if evicted == 0 {
		return ""
	}
	return fmt.Sprintf("%s the capture holds the latest %d packets; %d earlier ones were dropped to keep the log within %d packets and %d bytes",
		TruncatedComment, kept, evicted, cfg.LogSize, cfg.LogBytes)
}

// OnPacket calls fn for every packet that enters the wire, from the sending stack's goroutine,
// after its fate is decided and before the other host can receive it; fn must be quick and must
// not call back into the Link's setters synchronously. The returned func unsubscribes.
func (l *Link) OnPacket(fn func(Packet)) (cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.nextSub
	l.nextSub++
	l.subs[id] = fn
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs, id)
	}
}

// WritePcapng writes the logged packets (see Packets) as a pcapng capture: one interface per
// direction (0 = c2s, 1 = s2c), link type raw IPv4, each packet cut to Config.SnapLen bytes
// (whole by default), its fate in the packet comment. Dropped packets are included: the capture
// shows what each host sent. Every packet is stamped at one capture point, the client host's NIC
// (see the interfaces' descriptions), and written in that order. The TLS key log (KeyLog) comes
// first, in a Decryption Secrets Block, so Wireshark and tshark decrypt the QUIC connections.
// When the log has dropped packets (LogEvicted), the section header's comment says so.
func (l *Link) WritePcapng(w io.Writer) error {
	l.mu.Lock()
	pkts := l.log.all()
	evicted := l.log.evicted
	keys := bytes.Clone(l.keyLog)
	l.mu.Unlock()
	slices.SortStableFunc(pkts, func(a, b Packet) int { return captureTime(&a).Compare(captureTime(&b)) })
	if g, ok := w.(interface{ Grow(int) }); ok { // a bytes.Buffer: sized once, not doubled as it fills
		n := 4096 + len(keys)
		for i := range pkts {
			n += pcapngPacketOverhead + min(len(pkts[i].Data), l.cfg.SnapLen)
		}
		g.Grow(n)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := appendHeader(nil, l.cfg.SnapLen, truncatedComment(evicted, len(pkts), l.cfg))
	if len(keys) > 0 {
		buf = appendSecrets(buf, keys)
	}
	for i := range pkts {
		buf = appendPacket(buf, &pkts[i], pkts[i].Data, l.cfg.SnapLen)
		if len(buf) >= 32<<10 {
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("link pcapng: %w", err)
			}
			buf = buf[:0]
		}
	}
	if _, err := bw.Write(buf); err != nil {
		return fmt.Errorf("link pcapng: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("link pcapng: %w", err)
	}
	return nil
}

// CapturePcapng streams every packet from now on, whole, to w as pcapng (see WritePcapng for
// the layout), and each TLS key log line (KeyLog) as it arrives, before the packets after it.
// The wire only copies each packet into memory: a goroutine of the capture's own writes to w,
// so a slow w does not slow the link until 16 MiB wait. A packet the client host receives later
// is written once its time has come (so the capture is in capture-time order). stop writes what
// is left and detaches the capture; Close does the same.
func (l *Link) CapturePcapng(w io.Writer) (stop func() error, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("link pcapng: link closed")
	}
	p := newPcapngStream(w, DefaultSnapLen, l.keyLog)
	id := l.nextCap
	l.nextCap++
	l.captures[id] = p
	var once sync.Once
	return func() error {
		once.Do(func() {
			l.mu.Lock()
			_, ok := l.captures[id]
			if ok {
				p.drain()
				delete(l.captures, id)
			}
			l.mu.Unlock()
			if ok {
				err = p.finish()
			} else {
				<-p.done // Close finished it
				err = p.err
			}
			if err != nil {
				err = fmt.Errorf("link pcapng: %w", err)
			}
		})
		return err
	}, nil
}

// KeyLog is where TLS endpoints on this link write their secrets (tls.Config.KeyLogWriter, NSS
// key log format): WritePcapng and CapturePcapng embed them, so Wireshark decrypts the QUIC and
// TLS traffic the capture holds. Each line is kept once, up to 1 MiB.
func (l *Link) KeyLog() io.Writer { return keyLogWriter{l} }
