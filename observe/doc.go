// Package observe is the one place where an emulated link's packets become the page's "packets"
// events: it attributes each packet to a transport, describes it (TCP sequence numbers relative
// to each direction's SYN, retransmission marks, QUIC packet numbers and frames from the
// endpoints' qlog), batches the descriptions with skip counts so that a slow reader never holds
// up the link, and counts every time from one epoch.
//
// The relay's Messages view (a session's own link) and the lessons (scenarios) both stream
// through a Stream, so the same packet reads the same in both.
package observe
