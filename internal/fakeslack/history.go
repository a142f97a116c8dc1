package fakeslack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Message is a message the fake posted and keeps, for conversations.history
// and conversations.replies to return. Blocks and Metadata are shared with the
// Server's own record: read them, do not modify them.
type Message struct {
	Channel   string          // the conversation: a C… channel, or the D… channel of a DM
	TS        string          // the message's timestamp, such as "1748768400.000123"
	ThreadTS  string          // the parent's ts for a thread reply, "" otherwise
	Broadcast bool            // a thread reply also shown in the channel (reply_broadcast)
	Text      string          // the text field as sent
	Blocks    json.RawMessage // the blocks as sent, nil when none
	Metadata  json.RawMessage // the message metadata as sent, nil when none
}

// reply reports whether m is a reply in a thread rather than a message of the
// channel.
func (m Message) reply() bool {
	return m.ThreadTS != "" && m.ThreadTS != m.TS
}

// history holds the messages the fake posted. It is guarded by Server.mu.
type history struct {
	channels map[string][]Message // channel → its messages, oldest first
	lastTS   int64                // the newest timestamp handed out, in microseconds
	scopes   []string             // the token's scopes (WithScopes)
	scoped   bool                 // whether scopes limits the token; without it every scope is granted
}

// WithScopes limits the bot token to scopes, such as "chat:write" and
// "commands": conversations.history and conversations.replies then answer
// {"ok":false,"error":"missing_scope","needed":…,"provided":…} for a
// conversation whose history scope is missing, as Slack does for an install
// that predates that scope. The scope needed is im:history for a D… channel,
// mpim:history for a G… one, channels:history for any other. Only those two
// methods check scopes. Without WithScopes the token has every scope.
func WithScopes(scopes ...string) Option {
	return func(s *Server) {
		s.hist.scopes = slices.Clone(scopes)
		s.hist.scoped = true
	}
}

// Messages returns the messages the fake holds in channel (a D… channel for a
// DM), oldest first, thread replies included.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hist.channels[channel])
}

// messageTSLocked returns a new message timestamp: the Server's clock, or a
// microsecond after the last timestamp when the clock has not moved past it,
// so that timestamps strictly increase. s.mu must be held.
func (s *Server) messageTSLocked() string {
	us := max(s.now().UnixMicro(), s.hist.lastTS+1)
	s.hist.lastTS = us
	return timestamp(us)
}

// chatPostMessageKeptLocked answers chat.postMessage and keeps the message it
// posted. The answer's message carries the metadata sent, as Slack's does.
func (s *Server) chatPostMessageKeptLocked(c Call) result {
	meta, _, bad := metadataParam(c)
	if bad != "" {
		return fail(bad)
	}
	res := s.chatPostMessageLocked(c)
	if res["ok"] != true {
		return res
	}
	channel, _ := res["channel"].(string)
	ts, _ := res["ts"].(string)
	if msg, ok := res["message"].(result); ok && meta != nil {
		msg["metadata"] = meta
	}
	if s.hist.channels == nil {
		s.hist.channels = make(map[string][]Message)
	}
	s.hist.channels[channel] = append(s.hist.channels[channel], Message{
		Channel:   channel,
		TS:        ts,
		ThreadTS:  c.Param("thread_ts"),
		Broadcast: c.Param("thread_ts") != "" && isTrue(c.Param("reply_broadcast")),
		Text:      c.Param("text"),
		Blocks:    rawOrNil(c.Param("blocks")),
		Metadata:  meta,
	})
	return res
}

// chatUpdateKeptLocked answers chat.update and applies it to the message the
// fake keeps, if it has it: the text and blocks are replaced (blocks not sent
// are removed), and the metadata is replaced only when the call sends the
// metadata field, removed when that field is empty ({} or no event_type), and
// kept otherwise, as Slack documents for chat.update. Like the fake always
// has, it answers ok for a message it does not hold.
func (s *Server) chatUpdateKeptLocked(c Call) result {
	meta, sent, bad := metadataParam(c)
	if bad != "" {
		return fail(bad)
	}
	res := chatUpdate(c)
	if res["ok"] != true {
		return res
	}
	msgs := s.hist.channels[c.Param("channel")]
	i := slices.IndexFunc(msgs, func(m Message) bool { return m.TS == c.Param("ts") })
	if i < 0 {
		return res
	}
	msgs[i].Text = c.Param("text")
	msgs[i].Blocks = rawOrNil(c.Param("blocks"))
	if sent {
		msgs[i].Metadata = meta
	}
	return res
}

// metadataParam returns the metadata field of a chat.postMessage or
// chat.update call. sent reports whether the call has the field; raw is nil
// when the field is empty: {} or an object without event_type. bad is the
// error code Slack answers for a field that is not a metadata object.
func metadataParam(c Call) (raw json.RawMessage, sent bool, bad string) {
	var text []byte
	if v, ok := c.JSON["metadata"]; ok {
		if str, isString := v.(string); isString {
			text = []byte(str)
		} else {
			text, _ = json.Marshal(v)
		}
	} else if c.Form.Has("metadata") {
		text = []byte(c.Form.Get("metadata"))
	} else {
		return nil, false, ""
	}
	var m map[string]any
	if err := json.Unmarshal(text, &m); err != nil || m == nil {
		return nil, true, "invalid_metadata_format"
	}
	eventType, typeOK := m["event_type"].(string)
	payload, payloadOK := m["event_payload"].(map[string]any)
	switch {
	case m["event_type"] != nil && !typeOK, m["event_payload"] != nil && !payloadOK:
		return nil, true, "invalid_metadata_schema"
	case eventType == "" && len(payload) > 0:
		return nil, true, "invalid_metadata_schema"
	case eventType == "":
		return nil, true, ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, text); err != nil {
		return nil, true, "invalid_metadata_format"
	}
	return buf.Bytes(), true, ""
}

// conversationsHistoryLocked answers conversations.history: the channel's
// messages without thread replies (a thread's parent is there, and so is a
// reply sent with reply_broadcast), newest first.
func (s *Server) conversationsHistoryLocked(c Call) result {
	channel := c.Param("channel")
	if res, denied := s.missingScopeLocked(channel); denied {
		return res
	}
	if !s.knownChannelLocked(channel) {
		return fail("channel_not_found")
	}
	p, bad := readPage(c, 100, 999)
	if bad != "" {
		return fail(bad)
	}
	msgs := s.hist.channels[channel]
	threads := threadsOf(msgs)
	var page []result
	for _, m := range slices.Backward(msgs) {
		us, _ := parseTS(m.TS)
		if m.reply() && !m.Broadcast || !p.within(us) || p.cursor != 0 && us > p.cursor {
			continue
		}
		if len(page) == p.limit {
			return pageResult(page, cursor(us))
		}
		page = append(page, render(m, threads[m.TS], p.metadata))
	}
	return pageResult(page, "")
}

// conversationsRepliesLocked answers conversations.replies: the thread's parent
// first, then its replies, oldest first. The ts may name the parent or any
// message of the thread. The parent is on the first page only, whatever the
// oldest and latest bounds, and counts towards its limit; the bounds and the
// cursor apply to the replies. A thread whose parent the fake does not hold,
// but which has replies, answers with the replies alone.
func (s *Server) conversationsRepliesLocked(c Call) result {
	channel := c.Param("channel")
	if res, denied := s.missingScopeLocked(channel); denied {
		return res
	}
	if !s.knownChannelLocked(channel) {
		return fail("channel_not_found")
	}
	p, bad := readPage(c, 1000, 1000)
	if bad != "" {
		return fail(bad)
	}
	msgs := s.hist.channels[channel]
	root := c.Param("ts")
	if i := slices.IndexFunc(msgs, func(m Message) bool { return m.TS == root }); i >= 0 && msgs[i].reply() {
		root = msgs[i].ThreadTS
	}
	parent := slices.IndexFunc(msgs, func(m Message) bool { return m.TS == root })
	thread := threadsOf(msgs)[root]
	if root == "" || parent < 0 && thread.count == 0 {
		return fail("thread_not_found")
	}
	var page []result
	if parent >= 0 && p.cursor == 0 {
		page = append(page, render(msgs[parent], thread, p.metadata))
	}
	for _, m := range msgs {
		us, _ := parseTS(m.TS)
		if m.ThreadTS != root || m.TS == root || !p.within(us) || us < p.cursor {
			continue
		}
		if len(page) == p.limit {
			return pageResult(page, cursor(us))
		}
		page = append(page, render(m, threadInfo{}, p.metadata))
	}
	return pageResult(page, "")
}

// missingScopeLocked returns the missing_scope answer of a history method for
// channel when the token lacks the scope to read it. s.mu must be held.
func (s *Server) missingScopeLocked(channel string) (result, bool) {
	needed := "channels:history"
	switch {
	case strings.HasPrefix(channel, "D"):
		needed = "im:history"
	case strings.HasPrefix(channel, "G"):
		needed = "mpim:history"
	}
	if !s.hist.scoped || slices.Contains(s.hist.scopes, needed) {
		return nil, false
	}
	res := fail("missing_scope")
	res["needed"] = needed
	res["provided"] = strings.Join(s.hist.scopes, ",")
	return res, true
}

// knownChannelLocked reports whether channel is a conversation the history
// methods can read: one the fake posted to, or any conversation ID (C…, D…,
// G…), since the fake lets the bot post to any. A user ID, a channel name or
// nothing is not. s.mu must be held.
func (s *Server) knownChannelLocked(channel string) bool {
	if len(s.hist.channels[channel]) > 0 {
		return true
	}
	return len(channel) > 1 && strings.ContainsAny(channel[:1], "CDG")
}

// threadInfo is what a thread's parent shows of its replies.
type threadInfo struct {
	count  int    // the number of replies
	latest string // the ts of the newest reply
}

// threadsOf returns the threads of msgs, by the ts of their parent.
func threadsOf(msgs []Message) map[string]threadInfo {
	threads := make(map[string]threadInfo)
	for _, m := range msgs {
		if m.reply() {
			t := threads[m.ThreadTS]
			threads[m.ThreadTS] = threadInfo{count: t.count + 1, latest: m.TS}
		}
	}
	return threads
}

// render returns m as the history methods show it, with its metadata when
// withMetadata is set. t describes the thread m is the parent of, if any.
func render(m Message, t threadInfo, withMetadata bool) result {
	r := result{"type": "message", "user": BotUserID, "bot_id": BotID, "app_id": AppID, "team": TeamID,
		"text": m.Text, "ts": m.TS}
	if m.Blocks != nil {
		r["blocks"] = m.Blocks
	}
	if m.reply() {
		r["thread_ts"] = m.ThreadTS
		r["parent_user_id"] = BotUserID
	}
	if m.Broadcast {
		r["subtype"] = "thread_broadcast"
	}
	if t.count > 0 {
		r["thread_ts"] = m.TS
		r["reply_count"] = t.count
		r["reply_users"] = []string{BotUserID}
		r["reply_users_count"] = 1
		r["latest_reply"] = t.latest
	}
	if withMetadata && m.Metadata != nil {
		r["metadata"] = m.Metadata
	}
	return r
}

// pageResult returns the answer of a history method with page; next is the
// cursor of the next page, "" on the last page.
func pageResult(page []result, next string) result {
	res := result{"ok": true, "messages": append([]result{}, page...), "has_more": next != ""}
	if next != "" {
		res["response_metadata"] = result{"next_cursor": next}
	}
	return res
}

// page holds the paging parameters of the history methods.
type page struct {
	oldest, latest int64 // the bounds in microseconds; latest 0 is no bound
	inclusive      bool  // whether messages at a bound are in
	limit          int   // the page size
	cursor         int64 // the ts of the page's first message, from the cursor; 0 without one
	metadata       bool  // include_all_metadata
}

// readPage reads the paging parameters of a history call. limit defaults to
// def and is capped at most. Without latest there is no upper bound (Slack's
// default, now, would miss messages stamped after a clock that stands still).
func readPage(c Call, def, most int) (page, string) {
	p := page{inclusive: isTrue(c.Param("inclusive")), metadata: isTrue(c.Param("include_all_metadata")), limit: def}
	var ok bool
	if v := c.Param("oldest"); v != "" {
		if p.oldest, ok = parseTS(v); !ok {
			return p, "invalid_ts_oldest"
		}
	}
	if v := c.Param("latest"); v != "" {
		if p.latest, ok = parseTS(v); !ok {
			return p, "invalid_ts_latest"
		}
	}
	if v := c.Param("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, "invalid_limit"
		}
		if n > 0 {
			p.limit = min(n, most)
		}
	}
	if v := c.Param("cursor"); v != "" {
		if p.cursor, ok = parseCursor(v); !ok {
			return p, "invalid_cursor"
		}
	}
	return p, ""
}

// within reports whether the message at ts (in microseconds) is within the
// page's oldest and latest bounds.
func (p page) within(ts int64) bool {
	if p.inclusive {
		return ts >= p.oldest && (p.latest == 0 || ts <= p.latest)
	}
	return ts > p.oldest && (p.latest == 0 || ts < p.latest)
}

// cursor returns the opaque cursor of a page that starts with the message at
// ts, in microseconds. It has the shape of Slack's: base64 of "next_ts:<ts>".
func cursor(ts int64) string {
	return base64.StdEncoding.EncodeToString([]byte("next_ts:" + strconv.FormatInt(ts, 10)))
}

// parseCursor returns the ts, in microseconds, of a cursor made by cursor.
func parseCursor(c string) (int64, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	digits, ok := strings.CutPrefix(string(b), "next_ts:")
	if !ok {
		return 0, false
	}
	ts, err := strconv.ParseInt(digits, 10, 64)
	return ts, err == nil && ts > 0
}

// parseTS parses a message timestamp such as "1748768400.000123", or a Unix
// time in seconds such as "1748768400", into microseconds since the epoch.
// Digits past the sixth decimal are ignored.
func parseTS(ts string) (int64, bool) {
	secs, frac, _ := strings.Cut(ts, ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || n < 0 || secs[0] == '+' || strings.Trim(frac, "0123456789") != "" {
		return 0, false
	}
	frac = (frac + "000000")[:6]
	us, _ := strconv.ParseInt(frac, 10, 64)
	return n*1_000_000 + us, true
}

// isTrue reports whether a boolean argument is set, as "true" or "1".
func isTrue(v string) bool {
	return v == "1" || strings.EqualFold(v, "true")
}

// rawOrNil returns s as raw JSON, or nil when it is empty.
func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
