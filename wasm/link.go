//go:build js && wasm

package main

import (
	"net/url"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// impKeys are the advanced panel's per-direction inputs ("up-"+key, "down-"+key), as in
// server/page.go's impFields.
var impKeys = []string{"delay", "jitter", "reorder", "loss", "dup", "rate", "queue", "drop"}

// dirCounts are one direction's packets seen in "packets" events since the last "link" event.
type dirCounts struct{ sent, delivered, dropped, dup uint64 }

// linkUI is the network bar: mode, preset, advanced settings, the link in force and its counters,
// and the capture downloads.
type linkUI struct {
	bar, mode, preset, adv, seed, state, counts js.Value
	pcap, qlog, qlogDgram                       js.Value
	fields                                      map[string]js.Value // "up-delay", …

	presets []protocol.PresetInfo
	want    protocol.LinkRequest // what the controls ask for
	cur     protocol.LinkState   // what the server says is in force
	extra   [2]dirCounts         // up, down
	skipped uint64               // packets the relay did not stream because the page fell behind
	drops   [2]*dropWatch        // up, down: "drop packet #k" in force or fired (linkdrop.go)
	session string
	notify  func(string) // shows a download's failure
	lastReq uint64       // the latest "link" request sent; answers to older ones leave the controls be
	urlOff  bool         // the address belongs to another view (lessons) for now
}

func newLinkUI() *linkUI {
	l := &linkUI{
		bar:       byID("linkbar"),
		mode:      byID("link-mode"),
		preset:    byID("link-preset"),
		adv:       byID("link-advanced"),
		seed:      byID("link-seed"),
		state:     byID("link-state"),
		counts:    byID("link-counts"),
		pcap:      byID("download-pcapng"),
		qlog:      byID("download-qlog"),
		qlogDgram: byID("download-qlog-dgram"),
		fields:    map[string]js.Value{},
		notify:    func(string) {},
		want:      protocol.LinkRequest{Mode: protocol.ModeKernel},
		cur:       protocol.LinkState{Mode: protocol.ModeKernel},
	}
	for _, d := range []string{"up", "down"} {
		for _, k := range impKeys {
			l.fields[d+"-"+k] = byID(d + "-" + k)
		}
	}
	// The page's address carries the choice, so a link reproduces it (in the lessons view, preset
	// and seed are the lesson's).
	q := currentQuery()
	if q.Get("view") == "lessons" {
		q = url.Values{}
	}
	if q.Get("mode") == protocol.ModeLink {
		l.want.Mode = protocol.ModeLink
	}
	l.want.Preset = q.Get("preset")
	l.want.Seed, _ = strconv.ParseInt(q.Get("seed"), 10, 64)
	l.mode.Set("value", l.want.Mode)
	if l.want.Seed != 0 {
		l.seed.Set("value", strconv.FormatInt(l.want.Seed, 10))
	}
	l.wireDownload(l.pcap, "/relay/pcapng")
	l.wireDownload(l.qlog, "/relay/qlog?transport=quic-stream")
	l.wireDownload(l.qlogDgram, "/relay/qlog?transport=quic-dgram")
	l.showState()
	return l
}

// welcome fills the presets and download links for a new relay session. It returns the request
// that restores the wanted link on it, if any.
func (l *linkUI) welcome(ev protocol.Event) *protocol.LinkRequest {
	l.session = ev.Session
	if len(ev.Presets) > 0 {
		l.presets = ev.Presets
		clear(l.preset)
		for _, p := range ev.Presets {
			o := el("option", "", p.Name)
			o.Set("value", p.Name)
			o.Set("title", p.Description)
			l.preset.Call("append", o)
		}
	}
	l.preset.Set("value", orClean(l.want.Preset))
	l.showPresetHelp()
	l.cur = protocol.LinkState{Mode: protocol.ModeKernel}
	if ev.Link != nil {
		l.cur = *ev.Link
	}
	l.extra = [2]dirCounts{}
	l.drops = [2]*dropWatch{}
	l.pcap.Set("download", "wireplay-"+ev.Session+".pcapng")
	l.qlog.Set("download", "wireplay-"+ev.Session+"-quic-stream.qlog")
	l.qlogDgram.Set("download", "wireplay-"+ev.Session+"-quic-dgram.qlog")
	l.showState()
	if l.want.Mode == protocol.ModeLink && l.cur.Mode != protocol.ModeLink {
		r := l.want
		return &r
	}
	return nil
}

func orClean(p string) string {
	if p == "" {
		return "clean"
	}
	return p
}

// enable turns the controls on or off with the relay connection.
func (l *linkUI) enable(on bool) {
	l.mode.Set("disabled", !on)
	l.preset.Set("disabled", !on)
}

// changed reads the controls after the user changed the one named by id, and returns the
// "link" request that asks for them.
func (l *linkUI) changed(id string) protocol.LinkRequest {
	switch {
	case id == "link-mode":
		l.want.Mode = l.mode.Get("value").String()
	case id == "link-preset":
		l.want.Preset = l.preset.Get("value").String()
		l.want.Up, l.want.Down = nil, nil
		l.want.Mode = protocol.ModeLink
	case id == "link-seed":
		l.want.Seed, _ = strconv.ParseInt(strings.TrimSpace(l.seed.Get("value").String()), 10, 64)
		l.want.Seed = max(0, l.want.Seed)
	default: // an advanced setting: both directions as the panel shows them
		up, down := l.readImp("up", id == "up-drop"), l.readImp("down", id == "down-drop")
		l.want.Up, l.want.Down = &up, &down
		l.want.Mode = protocol.ModeLink
	}
	l.mode.Set("value", l.want.Mode)
	l.showPresetHelp()
	l.saveURL()
	r := l.want
	// A drop of packet #k is a one-off: ask for it once, not with every later change.
	if l.want.Up != nil {
		u := *l.want.Up
		l.want.Up.DropNth = 0
		r.Up = &u
	}
	if l.want.Down != nil {
		d := *l.want.Down
		l.want.Down.DropNth = 0
		r.Down = &d
	}
	return r
}

func (l *linkUI) readImp(dir string, withDrop bool) protocol.Impairment {
	num := func(k string) float64 {
		f, err := strconv.ParseFloat(strings.TrimSpace(l.fields[dir+"-"+k].Get("value").String()), 64)
		if err != nil || f < 0 {
			return 0
		}
		return f
	}
	// The panel shows some of the fields; the others (queue bytes, MTU, burst loss, blackhole)
	// stay the preset's, so editing one field of "3g" keeps its 64 KB queue.
	im := l.presetDir(dir)
	im.DelayMs = num("delay")
	im.JitterMs = num("jitter")
	im.Reorder = l.fields[dir+"-reorder"].Get("checked").Truthy()
	im.LossPct = num("loss")
	im.DuplicatePct = num("dup")
	im.RateKbps = int64(num("rate"))
	im.QueuePackets = int(num("queue"))
	im.JitterMs = min(im.JitterMs, im.DelayMs)
	im.DropNth = 0
	if withDrop {
		im.DropNth = uint64(num("drop"))
	}
	return im
}

// presetDir is direction dir ("up" or "down") of the wanted preset, as the welcome listed it.
func (l *linkUI) presetDir(dir string) protocol.Impairment {
	for _, p := range l.presets {
		if p.Name == orClean(l.want.Preset) {
			if dir == "down" {
				return p.Down
			}
			return p.Up
		}
	}
	return protocol.Impairment{}
}

// saveURL records mode, preset and seed in the page's address (unless another view owns it).
func (l *linkUI) saveURL() {
	if l.urlOff {
		return
	}
	rewriteURL(func(q url.Values) {
		set := func(k, v string) {
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
		}
		set("mode", map[bool]string{true: protocol.ModeLink}[l.want.Mode == protocol.ModeLink])
		set("preset", l.want.Preset)
		set("seed", map[bool]string{true: strconv.FormatInt(l.want.Seed, 10)}[l.want.Seed != 0])
	})
}

// applied shows the link the server put in force; it reports whether the mode changed. The
// answer to request req updates the controls only if no later request is on its way, so that a
// quick series of edits is not undone by the answers to its first ones.
//
// linkChanged says the network itself changed (mode, preset, seed or either direction's
// settings): figures measured on the previous one no longer describe this one.
func (l *linkUI) applied(st protocol.LinkState, req uint64) (changed, linkChanged bool) {
	changed = st.Mode != l.cur.Mode
	linkChanged = changed || st.Preset != l.cur.Preset || st.Seed != l.cur.Seed || st.Up != l.cur.Up || st.Down != l.cur.Down
	l.cur = st
	l.extra = [2]dirCounts{}
	l.skipped = 0
	l.armDrops(st)
	if req != 0 && req != l.lastReq {
		l.showState()
		return changed, linkChanged
	}
	l.want.Mode = st.Mode
	l.mode.Set("value", st.Mode)
	if st.Preset != "" {
		l.want.Preset = st.Preset
		l.preset.Set("value", st.Preset)
	}
	if st.Seed != 0 {
		l.seed.Set("value", strconv.FormatInt(st.Seed, 10))
	}
	l.fillImp("up", st.Up)
	l.fillImp("down", st.Down)
	l.showPresetHelp()
	l.showState()
	l.saveURL()
	return changed, linkChanged
}

func (l *linkUI) fillImp(dir string, im protocol.Impairment) {
	set := func(k string, v float64) {
		s := ""
		if v != 0 {
			s = strconv.FormatFloat(v, 'f', -1, 64)
		}
		l.fields[dir+"-"+k].Set("value", s)
	}
	set("delay", im.DelayMs)
	set("jitter", im.JitterMs)
	set("loss", im.LossPct)
	set("dup", im.DuplicatePct)
	set("rate", float64(im.RateKbps))
	set("queue", float64(im.QueuePackets))
	set("drop", float64(im.DropNth))
	l.fields[dir+"-reorder"].Set("checked", im.Reorder)
}

func (l *linkUI) showPresetHelp() {
	for _, p := range l.presets {
		if p.Name == orClean(l.want.Preset) {
			l.preset.Set("title", p.Description)
		}
	}
}

// packet counts a packet of the link, of any transport or none.
func (l *linkUI) packet(p protocol.PacketInfo) {
	i := 0
	if p.Dir == "down" {
		i = 1
	}
	c := &l.extra[i]
	l.dropPacket(i, p)
	c.sent++
	if p.Fate == "dropped" {
		c.dropped++
	} else {
		c.delivered++
	}
	if p.Duplicated {
		c.dup++
	}
}

// showState shows the link in force and its counters.
func (l *linkUI) showState() {
	link := l.cur.Mode == protocol.ModeLink
	mode := protocol.ModeKernel
	if link {
		mode = protocol.ModeLink
	}
	l.bar.Get("dataset").Set("mode", mode)
	document.Get("body").Get("dataset").Set("mode", mode)
	for _, a := range []js.Value{l.pcap} {
		a.Call("setAttribute", "aria-disabled", strconv.FormatBool(!link || l.session == ""))
		if link {
			a.Set("title", "every packet of this session's link, for Wireshark")
		} else {
			a.Set("title", "switch to the emulated link to capture packets")
		}
	}
	for _, a := range []js.Value{l.qlog, l.qlogDgram} {
		a.Call("setAttribute", "aria-disabled", strconv.FormatBool(l.session == ""))
	}
	if !link {
		setText(l.state, "kernel loopback · no impairment")
		l.state.Set("title", "real sockets over the kernel's loopback: nothing is lost or delayed")
		clear(l.counts)
		return
	}
	name := orClean(l.cur.Preset)
	if l.want.Up != nil || l.want.Down != nil {
		name += " (edited)"
	}
	up, down := describeImp(l.cur.Up), describeImp(l.cur.Down)
	setText(l.state, "")
	l.state.Call("append", el("b", "", name), el("span", "", " ↑ "+up+" · ↓ "+down))
	l.state.Set("title", "emulated link "+name+", seed "+strconv.FormatInt(l.cur.Seed, 10)+"\nup (client→server): "+up+"\ndown (server→client): "+down)
	l.showCounts()
}

func (l *linkUI) showCounts() {
	if l.cur.Mode != protocol.ModeLink {
		return
	}
	clear(l.counts)
	for i, base := range []protocol.LinkCounts{l.cur.UpCounts, l.cur.DownCounts} {
		x := l.extra[i]
		var dropped uint64
		for _, n := range base.Dropped {
			dropped += n
		}
		sent, deliv, drop, dup := base.Sent+x.sent, base.Delivered+x.delivered, dropped+x.dropped, base.Duplicated+x.dup
		arrow, title := "↑", "up, client → server"
		if i == 1 {
			arrow, title = "↓", "down, server → client"
		}
		g := el("span", "dir", "")
		g.Set("title", title+": "+itoa(sent)+" packets sent, "+itoa(deliv)+" delivered, "+itoa(drop)+" dropped, "+itoa(dup)+" duplicated")
		g.Call("append", el("span", "arrow", arrow), el("span", "n", itoa(sent)+" sent"))
		d := el("span", "n drop", itoa(drop)+" dropped")
		if drop == 0 {
			d.Set("className", "n")
		}
		g.Call("append", d)
		if dup > 0 {
			g.Call("append", el("span", "n", itoa(dup)+" dup"))
		}
		l.counts.Call("append", g)
	}
	if l.skipped > 0 {
		sk := el("span", "dir skipped", itoa(l.skipped)+" not shown")
		sk.Set("title", "packets the server did not stream to this page because it fell behind; the pcapng download has them all")
		l.counts.Call("append", sk)
	}
	l.showDrops()
}

// describeImp is one direction's settings in a few words.
func describeImp(im protocol.Impairment) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	var p []string
	if im.DelayMs > 0 {
		s := f(im.DelayMs) + " ms"
		if im.JitterMs > 0 {
			s += " ±" + f(im.JitterMs)
		}
		p = append(p, s)
	}
	if im.Reorder {
		p = append(p, "reorder")
	}
	if im.LossPct > 0 {
		p = append(p, f(im.LossPct)+"% loss")
	}
	if im.DuplicatePct > 0 {
		p = append(p, f(im.DuplicatePct)+"% dup")
	}
	if im.RateKbps > 0 {
		p = append(p, fmtRate(im.RateKbps))
	}
	if im.QueuePackets > 0 {
		p = append(p, "queue "+itoa(im.QueuePackets))
	}
	if im.QueueBytes > 0 {
		p = append(p, "queue "+fmtBytes(im.QueueBytes))
	}
	if im.Burst != (protocol.BurstLoss{}) {
		p = append(p, "bursty loss")
	}
	if im.MTU > 0 {
		p = append(p, "MTU "+itoa(im.MTU))
	}
	if im.Blackhole {
		p = append(p, "dead")
	}
	if im.DropNth > 0 {
		p = append(p, "drop packet #"+itoa(im.DropNth))
	}
	if im.BlackholeMs > 0 {
		p = append(p, "dead "+f(im.BlackholeMs)+" ms")
	}
	if len(p) == 0 {
		return "clean"
	}
	return strings.Join(p, ", ")
}

func fmtRate(kbps int64) string {
	switch {
	case kbps >= 1_000_000:
		return strconv.FormatFloat(float64(kbps)/1e6, 'f', -1, 64) + " Gbit/s"
	case kbps >= 1000:
		return strconv.FormatFloat(float64(kbps)/1e3, 'f', -1, 64) + " Mbit/s"
	}
	return itoa(kbps) + " kbit/s"
}
