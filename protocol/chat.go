package protocol

// Chat request types, client to server: the chat protocol. Beside /relay, a workshop room's chat
// is a WebSocket too (package chat serves it at /r/CODE/chat, see RoomJoin; the room's own
// socket carries the same messages wrapped, see RoomChat; ChatLines is the same chat over plain
// TCP). Every message either way is one JSON object in one text frame, carrying "v" (Version)
// and "type". A client first joins with a display name:
//
//	→ {"v":1,"type":"join","name":"Ada"}
//	← {"v":1,"type":"welcome","name":"Ada","members":[{"name":"Ada"},{"name":"Bo","moderator":true}],
//	   "history":[{"v":1,"type":"message","id":"3f9c01aa.2.7","from":"Bo","text":"hi","at_ms":1733300000000}],
//	   "limits":{"max_text":500,"max_name":32,"per_second":1,"burst":5,"history":100}}
//
// The name is trimmed, runs of white space become one space, control and format characters are
// removed; it must then be 1..max_name runes and unlike every other member's name ignoring case.
// A refused join is answered with an "error" (code bad_name or name_taken) and the client may try
// again on the same connection. The welcome lists the room's members (the client among them) and
// its last "history" messages, oldest first. Then:
//
//	→ {"v":1,"type":"say","text":"hello"}          a message to the room (max_text bytes)
//	← {"v":1,"type":"message","id":"3f9c01aa.1.1","from":"Ada","text":"hello","at_ms":...}
//	← {"v":1,"type":"joined","name":"Cy"}           presence: a member came ...
//	← {"v":1,"type":"left","name":"Cy","reason":"left"}   ... or went: reason left, dropped (too
//	                                                slow to read, see below), removed (with "by")
//	                                                or lost (its server stopped answering)
//	→ {"v":1,"type":"mute","name":"Cy"}            moderator only; also "unmute" and "remove"
//	← {"v":1,"type":"muted","name":"Cy","by":"Bo"}  ("unmuted" likewise)
//	← {"v":1,"type":"history","history":[...]}      the history again, when this instance learnt
//	                                                an older one from another instance
//	← {"v":1,"type":"error","code":"rate_limited","error":"..."}
//
// Every member, the sender too, sees the room's messages in one order per sender: a client shows
// its own message when it comes back as "message". A refused request is never dropped silently:
// it is answered by an "error" whose code is one of the ChatErr constants. A member is allowed
// "burst" messages at once and "per_second" after that; refused messages do not count. A message's
// text loses its control characters (but newline and tab) and surrounding white space; invalid
// UTF-8 in a JSON string reads as U+FFFD. A member whose outgoing queue is full
// because it does not read is dropped: its connection is closed with status 1008 (policy
// violation) and the others see it leave with reason "dropped"; they lose nothing. A removed
// member is sent its own "left" and then closed with 1008. A frame over 4 KiB closes the
// connection with 1009.
//
// Across instances (package broker), order per sender holds; messages of two senders on two
// instances sent at the same moment may interleave differently on each. Delivery between
// instances is at most once: an instance that restarts forgets its rooms, and a client that
// reconnects gets the room's members and history anew in its welcome.
const (
	ChatJoin   = "join"
	ChatSay    = "say"
	ChatMute   = "mute"
	ChatUnmute = "unmute"
	ChatRemove = "remove"
)

// Chat event types, server to client.
const (
	ChatWelcome = "welcome"
	ChatMessage = "message"
	ChatJoined  = "joined"
	ChatLeft    = "left"
	ChatMuted   = "muted"
	ChatUnmuted = "unmuted"
	ChatHistory = "history"
	ChatError   = "error"
)

// Reasons a member left.
const (
	ChatLeftLeft    = "left"
	ChatLeftDropped = "dropped"
	ChatLeftRemoved = "removed"
	// ChatLeftLost: the member's server stopped answering the others (it died, or lost the
	// broker that joins the servers).
	ChatLeftLost = "lost"
)

// Codes of a chat "error" event.
const (
	ChatErrBadRequest   = "bad_request"  // not JSON, unknown type, wrong version, empty text
	ChatErrNotJoined    = "not_joined"   // anything but "join" before joining
	ChatErrJoined       = "joined"       // a second "join"
	ChatErrBadName      = "bad_name"     // empty or too long once sanitised
	ChatErrNameTaken    = "name_taken"   // another member has the name
	ChatErrTooLong      = "too_long"     // text over max_text bytes
	ChatErrRateLimited  = "rate_limited" // over the member's rate
	ChatErrMuted        = "muted"        // the member is muted
	ChatErrForbidden    = "forbidden"    // mute, unmute or remove by a member who is not moderator
	ChatErrNoSuchMember = "no_such_member"
	ChatErrRemoved      = "removed" // the moderator removed this participant (on a room's socket: for good)
)

// ChatLines names the chat's line protocol: the same rooms over plain TCP, one UTF-8 text line
// (ended by "\n" or "\r\n") per message either way, so that nc can join (`wireplay serve
// --chat-tcp-addr`, package chat's LineServer). The server asks for a room (a workshop room's
// code) and a name, each on a line; then every line the client sends is a "say", except "/who"
// (the members), "/quit", and "/mute NAME", "/unmute NAME", "/remove NAME" (refused: a line
// client is never the moderator). The server writes each event as one line:
//
//	wireplay chat · which room? (a workshop room's code)
//	→ K7QW3M
//	your name?
//	→ Ada
//	* you are Ada; here: Ada, Bo (a line: 500 bytes at most; 5 at once, then 1 a second; /who, /quit)
//	<Bo> hi                       a message (the history first, after the welcome line)
//	→ hello
//	<Ada> hello                   the client's own, back from the room as everyone gets it
//	* Cy joined                   presence; "* Cy left (dropped)" and the like
//	! rate_limited: slow down …   a refusal: "!", the ChatErr code, why
//
// A message's newlines become spaces (a line is a message: the newline is this protocol's only
// framing, where a WebSocket frame carries its own length). A line over max_text plus 64 bytes is
// refused (too_long) and read to its end without being kept; a client that does not read is
// dropped like a WebSocket member, its connection closed after "! closed: REASON".
const ChatLines = "lines"

// ChatMaxFrame bounds one frame from a chat client.
const ChatMaxFrame = 4 << 10

// ChatMaxEvent is the largest event a chat client should accept: a welcome carries the history
// and the member list (100 messages of 500 bytes and 1,000 members are ~120 KB), more than
// coder/websocket's default read limit of 32 KiB.
const ChatMaxEvent = 1 << 20

// ChatRequest is a message from a chat client.
type ChatRequest struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// Name is the display name of a "join", or the member a moderator acts on.
	Name string `json:"name,omitempty"`
	// Text is the message of a "say".
	Text string `json:"text,omitempty"`
}

// ChatEvent is a message from the chat server.
type ChatEvent struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// ID names a "message" uniquely in the room.
	ID   string `json:"id,omitempty"`
	From string `json:"from,omitempty"`
	// Name is the member a presence or moderation event is about; in "welcome", the client's own.
	Name     string       `json:"name,omitempty"`
	By       string       `json:"by,omitempty"`
	Reason   string       `json:"reason,omitempty"`
	Text     string       `json:"text,omitempty"`
	AtMillis int64        `json:"at_ms,omitempty"`
	Members  []ChatMember `json:"members,omitempty"`
	History  []ChatEvent  `json:"history,omitempty"`
	Limits   *ChatLimits  `json:"limits,omitempty"`
	Code     string       `json:"code,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// ChatMember is one entry of the presence list.
type ChatMember struct {
	Name      string `json:"name"`
	Moderator bool   `json:"moderator,omitempty"`
	Muted     bool   `json:"muted,omitempty"`
}

// ChatLimits tells a client the room's limits.
type ChatLimits struct {
	MaxText   int     `json:"max_text"`
	MaxName   int     `json:"max_name"`
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
	History   int     `json:"history"`
}
