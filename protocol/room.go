package protocol

// The room protocol: a workshop room (issue 10), where an instructor runs lessons that every
// participant watches live, and participants share their own results. Package rooms serves it.
//
// # HTTP
//
// Rooms exist only on a server started with an instructor token (`wireplay serve
// --instructor-token T`, or WIREPLAY_INSTRUCTOR_TOKEN). An instructor creates a room with
//
//	POST /api/rooms
//	Authorization: Bearer T
//
//	201 Created
//	{"code":"K7QW3M","secret":"…","url":"/r/K7QW3M","instructor_url":"/r/K7QW3M#instructor=…"}
//
// (RoomCreated; `wireplay room create --server URL --token T` does the same). A missing or
// wrong token is answered 401, and a server without a token answers 404 "rooms are off". The
// code is RoomCodeLen characters of RoomCodeAlphabet (no look-alikes: no 0, O, 1, I, L). The
// secret makes its holder the room's instructor; it travels in the URL's fragment, which a
// browser never sends to a server (so it stays out of logs and Referer headers), and the page
// sends it in its "join".
//
//	GET /r/CODE          the page in room mode; 404 for an unknown or expired code
//	GET /r/CODE/ws       the room's WebSocket (below)
//	GET /r/CODE/chat     the room's chat (the chat protocol, at ChatJoin); with ?member=MEMBER
//	                     (the member id of the page's room socket) the chat member is the
//	                     moderator when that member is in the room as instructor
//
// For an unknown code, /ws answers 404 and /chat 403, before upgrading. A room lives while
// someone is in it, and for a grace period after the last one left (`--room-grace`, 10 minutes
// by default; a new room that nobody joins lives as long).
//
// # The room WebSocket
//
// Every message either way is one JSON object in one text frame carrying "v" (Version) and
// "type". The client first joins:
//
//	→ {"v":1,"type":"join","name":"Ada","member":"m-5f0c…","secret":"…"}
//	← {"v":1,"type":"room","room":{"code":"K7QW3M","you":{"id":"9b1e…","name":"Ada"},
//	     "members":[{"id":"9b1e…","name":"Ada"},{"id":"03aa…","name":"Bo","instructor":true}],
//	     "run":{…},"events":[…],"report":{…},"aggregate":[…]}}
//
// "member" is an id the page makes up once (RoomMemberMin..RoomMemberMax of A-Z a-z 0-9 _ -,
// kept in localStorage): joining again with the same member (a reload, a dropped connection,
// another instance behind the load balancer) resumes the same participant, with its name, for
// the room's grace period after it went; a second connection of the same member replaces the
// first, which is closed (1000). "secret", when it is the room's, makes the member instructor;
// a wrong secret refuses the join (forbidden). The name is sanitised as a chat name (see
// ChatJoin) and must be unlike every other member's ignoring case; a refused join is answered
// by an "error" and the client may try again on the same connection. Members are listed by a
// public "id" derived from their member id, never the member id itself (which would let anyone
// resume them).
//
// The "room" event is the room's whole state: who is there, the lesson running now or the last
// one ("run", with "done" once it ended), that run's events so far ("events", the last
// RoomMaxRecent of them; "events_skipped" counts the earlier ones left out), its "report" when
// it is done, and the aggregate of what was shared. A page rebuilds its view from it on every
// (re)connect; every later event is a change to it (member_joined and member_left update the
// member of that id: a member_joined may name a member the state already listed):
//
//	← {"v":1,"type":"member_joined","member":{"id":"03aa…","name":"Bo","instructor":true}}
//	← {"v":1,"type":"member_left","member":{"id":"03aa…","name":"Bo"}}
//	← {"v":1,"type":"lesson_started","run":{"id":"4c1d.1","lesson":"handshake","by":"Bo","request":{…}}}
//	← {"v":1,"type":"lesson_event","run_id":"4c1d.1","event":{…}}   one protocol.Event of the run,
//	                                                                exactly as /relay streams a
//	                                                                lesson's ("packets", …)
//	← {"v":1,"type":"lesson_done","run_id":"4c1d.1","report":{…}}  or with "error" (stopped, failed)
//	← {"v":1,"type":"shared","share":{"member":"9b1e…","name":"Ada","lesson":"handshake","metrics":[…]}}
//	← {"v":1,"type":"aggregate","aggregate":[{"lesson":"handshake","transport":"tcp",
//	     "name":"first_byte_ms","unit":"ms","values":[{"member":"9b1e…","name":"Ada","value":1.2}]}]}
//	← {"v":1,"type":"error","code":"forbidden","error":"only the instructor can run lessons"}
//
// The instructor drives the room:
//
//	→ {"v":1,"type":"run","run":{"name":"handshake","preset":"wifi","params":{"requests":"3"}}}
//	→ {"v":1,"type":"stop"}
//
// "run" takes the ScenarioRequest the Lessons tab sends on /relay (lesson, parameters, link
// preset and overrides, seed, repeat). The server runs it once, under the same server-wide lesson
// slots as /relay's lessons, and its events go to every member: one run for the room, not one
// per participant. One run at a time per room ("busy" otherwise); "stop" ends it (its
// "lesson_done" then carries the error "stopped by the instructor").
//
// The instructor also sends one message across a room-owned emulated link, for everyone to see
// it travel:
//
//	→ {"v":1,"type":"send","send":{"text":"hello","link":{"preset":"wifi","seed":7}}}
//	← {"v":1,"type":"message_started","send":{"id":"4c1d.2","by":"Bo","text":"hello","link":{…}}}
//	← {"v":1,"type":"message_event","send_id":"4c1d.2","event":{…}}  one protocol.Event, exactly
//	                                                                as /relay streams a page in
//	                                                                link mode ("connected",
//	                                                                "write", "read", "complete",
//	                                                                "stats", "packets", …)
//	← {"v":1,"type":"message_done","send_id":"4c1d.2"}               or with "error"
//
// The server builds an emulated link for it ("link" as a page's link request: preset, up, down,
// seed; "mode" is ignored), sends the text once over every transport across it, as a page's
// "send" in link mode does, and passes the events of that one exchange to every member (one send
// for the room, not one per participant; the link counts against the server's emulated links).
// One message at a time per room ("busy" otherwise); a participant's "send" is refused
// (forbidden). The "room" state carries the latest message and its events ("message",
// "message_events", "message_done"), so a page that joins later shows it too.
//
// A participant shares the outcome of one of its own runs (made on /relay):
//
//	→ {"v":1,"type":"share","share":{"lesson":"handshake","metrics":[{"transport":"tcp",
//	     "name":"first_byte_ms","unit":"ms","value":1.2}]}}
//
// The server stamps it with the member's id and name, keeps the latest share of each member per
// lesson (at most RoomMaxShareMetrics metrics each, RoomMaxShareLessons lessons), sends "shared" to everyone and then the
// lesson's new "aggregate" (every member's value of each transport and metric, with their names,
// for the instructor's histogram). Shares are rate limited like chat messages.
//
// # The chat on the room's socket
//
// The room's chat (the chat protocol, at ChatJoin) rides the room's WebSocket too, so a page
// holds one socket, not two: a chat request goes in a "chat" request and every chat event comes
// back in a "chat" event, otherwise exactly as on /r/CODE/chat:
//
//	→ {"v":1,"type":"chat","chat":{"v":1,"type":"join"}}
//	← {"v":1,"type":"chat","chat":{"v":1,"type":"welcome","name":"Ada","members":[…],"history":[…],"limits":{…}}}
//	→ {"v":1,"type":"chat","chat":{"v":1,"type":"say","text":"hello"}}
//	← {"v":1,"type":"chat","chat":{"v":1,"type":"message","id":"…","from":"Ada","text":"hello","at_ms":…}}
//
// The chat's "join" needs no name: the member joins the chat under its room name, as moderator
// when it is the room's instructor, after its room "join". The chat's own rules hold (rate and
// size limits, refusals as chat "error" events, which do not count as refused room requests);
// the room's and the chat's events share the socket's one queue, and a member whose queue is
// full is closed with 1008 and leaves both. A member the moderator removes from the chat is
// closed with 1008, leaving the room too.
//
// A request that is refused is answered by an "error" whose code is one of the RoomErr constants;
// RoomMaxBadRequests refused requests in a row (a participant's "run" among them) close the
// socket with 1008, as on /relay. A member whose outgoing queue is full because it does not read
// is closed with 1008 ("too slow"); the others lose nothing. A frame over RoomMaxFrame closes the
// connection with 1009.
//
// # Across instances
//
// Everything a room does goes through a broker (package broker): two `wireplay serve` instances
// on one NATS server (`--broker nats://HOST:4222`) share their rooms, and a participant on one
// sees the run the instructor started on the other. Delivery between instances is at most once
// (core NATS): an instance that restarts, or whose connection to NATS drops, misses what was
// published meanwhile; its pages see their socket close (or miss events) and, on reconnecting,
// rebuild their view from the "room" event, which the instance assembles from the other
// instances' state. An instance not heard from for 15 s (it beats every 5 s where it has members,
// a run or a message)
// is taken for gone: its members get a "member_left", its run a "lesson_done" with an error.
const (
	RoomJoin  = "join"
	RoomRun   = "run"
	RoomStop  = "stop"
	RoomShare = "share"
	RoomSend  = "send"
	// RoomChat carries a chat request (and, server to client, a chat event): the room's chat on
	// the room's socket.
	RoomChat = "chat"
)

// Room event types, server to client.
const (
	RoomState          = "room"
	RoomMemberJoined   = "member_joined"
	RoomMemberLeft     = "member_left"
	RoomLessonStarted  = "lesson_started"
	RoomLessonEvent    = "lesson_event"
	RoomLessonDone     = "lesson_done"
	RoomMessageStarted = "message_started"
	RoomMessageEvent   = "message_event"
	RoomMessageDone    = "message_done"
	RoomShared         = "shared"
	RoomAggregateType  = "aggregate"
	RoomError          = "error"
)

// Codes of a room "error" event.
const (
	RoomErrBadRequest  = "bad_request"  // not JSON, unknown type, wrong version, missing fields
	RoomErrNotJoined   = "not_joined"   // anything but "join" before joining
	RoomErrJoined      = "joined"       // a second "join"
	RoomErrBadName     = "bad_name"     // empty or too long once sanitised
	RoomErrNameTaken   = "name_taken"   // another member has the name
	RoomErrBadMember   = "bad_member"   // the member id is not RoomMemberMin..RoomMemberMax of A-Z a-z 0-9 _ -
	RoomErrForbidden   = "forbidden"    // a wrong secret, or run/stop/send by a participant
	RoomErrFull        = "room_full"    // the room has its maximum of members
	RoomErrBusy        = "busy"         // a lesson (message) is running in this room, or the server's lesson slots (links) are taken
	RoomErrBadLesson   = "bad_lesson"   // an unknown lesson, parameter or link (of a "run" or a "send")
	RoomErrNoRun       = "no_run"       // "stop" with no lesson running
	RoomErrRateLimited = "rate_limited" // shares too fast
)

// Room limits.
const (
	RoomCodeLen      = 6
	RoomCodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ" // no 0/O, 1/I/L
	RoomMemberMin    = 8
	RoomMemberMax    = 64
	// RoomMaxFrame bounds one frame from a room client.
	RoomMaxFrame = 32 << 10
	// RoomMaxEvent is the largest message a room client should accept: a "room" state with its
	// run's recent events and report, or a "lesson_done" report (MaxReportMessage).
	RoomMaxEvent = 8 << 20
	// RoomMaxRecent is how many of the run's events a "room" state carries at most.
	RoomMaxRecent = 1000
	// RoomMaxShareMetrics bounds the metrics of one share, RoomMaxShareLessons the lessons one
	// member has shares of.
	RoomMaxShareMetrics = 64
	RoomMaxShareLessons = 32
	// RoomMaxBadRequests refused requests in a row close the socket with 1008.
	RoomMaxBadRequests = 5
)

// ValidRoomCode reports whether code is RoomCodeLen characters of RoomCodeAlphabet.
func ValidRoomCode(code string) bool {
	if len(code) != RoomCodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		ok := false
		for j := 0; j < len(RoomCodeAlphabet); j++ {
			if code[i] == RoomCodeAlphabet[j] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ValidRoomMember reports whether id can be a member id: RoomMemberMin..RoomMemberMax of A-Z,
// a-z, 0-9, _ and -.
func ValidRoomMember(id string) bool {
	if len(id) < RoomMemberMin || len(id) > RoomMemberMax {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RoomCreated is the answer to POST /api/rooms.
type RoomCreated struct {
	Code   string `json:"code"`
	Secret string `json:"secret"`
	// URL is the participants' link, InstructorURL the instructor's (URL#instructor=SECRET),
	// both relative to the server.
	URL           string `json:"url"`
	InstructorURL string `json:"instructor_url"`
}

// RoomRequest is a message from a room client.
type RoomRequest struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// Join fields: the display name, the member id, the instructor's secret (optional).
	Name   string `json:"name,omitempty"`
	Member string `json:"member,omitempty"`
	Secret string `json:"secret,omitempty"`
	// Run is the lesson of a "run".
	Run *ScenarioRequest `json:"run,omitempty"`
	// Share is a participant's result of a "share".
	Share *RoomShareData `json:"share,omitempty"`
	// Send is the instructor's message of a "send".
	Send *RoomSendData `json:"send,omitempty"`
	// Chat is the chat request of a "chat".
	Chat *ChatRequest `json:"chat,omitempty"`
}

// RoomSendData is a message the instructor sends across an emulated link.
type RoomSendData struct {
	// ID and By are stamped by the server ("message_started").
	ID   string `json:"id,omitempty"`
	By   string `json:"by,omitempty"`
	Text string `json:"text"`
	// Link is the emulated link the message crosses (nil: a clean one); its Mode is ignored.
	Link *LinkRequest `json:"link,omitempty"`
}

// RoomEvent is a message from the room server.
type RoomEvent struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// Room is the state of a "room" event.
	Room *RoomInfo `json:"room,omitempty"`
	// Member is whom a "member_joined" or "member_left" is about.
	Member *RoomMember `json:"member,omitempty"`
	// Run is the lesson of a "lesson_started".
	Run *RoomRunInfo `json:"run,omitempty"`
	// RunID names the run of a "lesson_event" or "lesson_done".
	RunID string `json:"run_id,omitempty"`
	// Event is one live event of the run ("lesson_event").
	Event *Event `json:"event,omitempty"`
	// Report is the run's outcome ("lesson_done").
	Report *ScenarioReport `json:"report,omitempty"`
	// Share is a "shared" result.
	Share *RoomShareData `json:"share,omitempty"`
	// Send is the message of a "message_started"; SendID names the message of a
	// "message_event" or "message_done".
	Send   *RoomSendData `json:"send,omitempty"`
	SendID string        `json:"send_id,omitempty"`
	// Aggregate is an "aggregate": every member's values of one lesson.
	Aggregate []RoomAggregate `json:"aggregate,omitempty"`
	// Chat is the chat event of a "chat" (ChatInRoom writes them).
	Chat *ChatEvent `json:"chat,omitempty"`
	// Code and Error explain an "error", or (Error alone) a "lesson_done" that did not finish.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// ChatInRoom wraps one encoded chat event as the room event that carries it on the room's
// socket: {"v":1,"type":"chat","chat":EVENT}.
func ChatInRoom(event []byte) []byte {
	const head = `{"v":1,"type":"chat","chat":`
	b := make([]byte, 0, len(head)+len(event)+1)
	b = append(b, head...)
	b = append(b, event...)
	return append(b, '}')
}

// RoomInfo is a room's state, sent on joining.
type RoomInfo struct {
	Code    string       `json:"code"`
	You     RoomMember   `json:"you"`
	Members []RoomMember `json:"members"`
	// Run is the lesson running now or the last one (nil before the first).
	Run *RoomRunInfo `json:"run,omitempty"`
	// Events are the run's events so far, oldest first; EventsSkipped counts those before them
	// that are not kept.
	Events        []Event `json:"events,omitempty"`
	EventsSkipped int     `json:"events_skipped,omitempty"`
	// Report is the run's outcome once it is done, Error why it did not finish.
	Report *ScenarioReport `json:"report,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Aggregate is everything shared, per lesson, transport and metric.
	Aggregate []RoomAggregate `json:"aggregate,omitempty"`
	// Message is the instructor's latest message (nil before the first), MessageEvents its
	// events so far (the last RoomMaxRecent; MessageSkipped counts those before them),
	// MessageDone set once its "message_done" came, with MessageError when it did not get through.
	Message        *RoomSendData `json:"message,omitempty"`
	MessageEvents  []Event       `json:"message_events,omitempty"`
	MessageSkipped int           `json:"message_skipped,omitempty"`
	MessageDone    bool          `json:"message_done,omitempty"`
	MessageError   string        `json:"message_error,omitempty"`
}

// RoomMember is one member of a room as others see it.
type RoomMember struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Instructor bool   `json:"instructor,omitempty"`
}

// RoomRunInfo is one lesson run of a room.
type RoomRunInfo struct {
	ID     string `json:"id"`
	Lesson string `json:"lesson"`
	// By is the instructor's name.
	By string `json:"by,omitempty"`
	// Request is the "run" as the instructor sent it.
	Request ScenarioRequest `json:"request"`
	// Done is set once the run ended ("room" state only).
	Done bool `json:"done,omitempty"`
}

// RoomShareData is one participant's shared result: the metrics of one run of one lesson.
type RoomShareData struct {
	// Member and Name are stamped by the server (a client's own are ignored).
	Member  string   `json:"member,omitempty"`
	Name    string   `json:"name,omitempty"`
	Lesson  string   `json:"lesson"`
	Metrics []Metric `json:"metrics"`
}

// RoomAggregate is every member's value of one metric of one transport in one lesson.
type RoomAggregate struct {
	Lesson    string            `json:"lesson"`
	Transport string            `json:"transport"`
	Name      string            `json:"name"`
	Unit      string            `json:"unit"`
	Values    []RoomSharedValue `json:"values"`
}

// RoomSharedValue is one member's value in a RoomAggregate.
type RoomSharedValue struct {
	Member string  `json:"member"`
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
}
