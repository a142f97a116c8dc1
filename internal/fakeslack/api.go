package fakeslack

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// result is the JSON object a Web API method answers with.
type result map[string]any

// fail returns the answer of a method that failed with a Slack error code.
func fail(code string) result {
	return result{"ok": false, "error": code}
}

// serveAPI answers /api/<method>: it records the call, then answers with a
// queued failure, an authentication error or the method's result.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	c, bad := s.readCall(r, r.PathValue("method"))
	if f, ok := s.record(c); ok {
		writeFailure(w, f)
		return
	}
	if retryAfter, limited := s.throttle(c); limited {
		writeRateLimited(w, retryAfter)
		return
	}
	var res result
	switch {
	case bad != "":
		res = fail(bad)
	case c.Token == "":
		res = fail("not_authed")
	default:
		res = s.dispatch(c)
	}
	writeJSON(w, http.StatusOK, res)
}

// serveResponseURL answers POST /response/<id> the way Slack answers a post to
// a response_url: 200 with the text body "ok".
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	c, bad := s.readCall(r, "response_url")
	if f, ok := s.record(c); ok {
		writeFailure(w, f)
		return
	}
	if bad != "" {
		writeJSON(w, http.StatusOK, fail(bad))
		return
	}
	if s.checkResponseURL(w, c) {
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

// readCall reads r into a Call. When the body cannot be parsed it also returns
// the Slack error code to answer with.
func (s *Server) readCall(r *http.Request, method string) (Call, string) {
	c := Call{Method: method, Path: r.URL.EscapedPath(), Form: r.URL.Query(), At: s.now()}
	raw, err := io.ReadAll(r.Body)
	c.Raw = raw
	if err != nil {
		return c, "request_timeout"
	}
	var bad string
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ctype {
	case "application/json":
		if len(strings.TrimSpace(string(raw))) > 0 {
			if err := json.Unmarshal(raw, &c.JSON); err != nil {
				bad = "invalid_json"
			}
		}
	case "application/x-www-form-urlencoded":
		body, err := url.ParseQuery(string(raw))
		if err != nil {
			bad = "invalid_form_data"
		}
		for k, vs := range body {
			c.Form[k] = append(c.Form[k], vs...)
		}
	}
	c.Token = c.Form.Get("token")
	if c.Token == "" {
		c.Token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	return c, bad
}

// dispatch runs the Web API method of an authenticated call.
func (s *Server) dispatch(c Call) result {
	appToken := strings.HasPrefix(c.Token, "xapp-")
	if c.Method == "apps.connections.open" {
		if !appToken {
			return fail("not_allowed_token_type")
		}
		return s.appsConnectionsOpen()
	}
	if appToken {
		return fail("not_allowed_token_type")
	}
	if res, refused := s.checkCall(c); refused {
		return res
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.Method {
	case "auth.test":
		return result{"ok": true, "url": s.URL + "/", "team": "Fake Workspace", "user": "astrobot",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID}
	case "chat.postMessage":
		return s.chatPostMessageKeptLocked(c)
	case "chat.update":
		return s.chatUpdateKeptLocked(c)
	case "chat.postEphemeral":
		return s.chatPostEphemeralLocked(c)
	case "conversations.open":
		return conversationsOpen(c)
	case "views.open":
		return s.viewsOpenLocked(c)
	case "views.update":
		return s.viewsUpdateLocked(c)
	case "views.publish":
		return s.viewsPublishLocked(c)
	case "usergroups.users.list":
		return s.userGroupsUsersListLocked(c)
	case "conversations.history":
		return s.conversationsHistoryLocked(c)
	case "conversations.replies":
		return s.conversationsRepliesLocked(c)
	default:
		return fail("unknown_method")
	}
}

// chatPostMessageLocked answers chat.postMessage. A user ID as channel posts
// to the DM with that user, whose channel ID is "D" + the user ID.
func (s *Server) chatPostMessageLocked(c Call) result {
	channel := c.Param("channel")
	if channel == "" {
		return fail("channel_not_found")
	}
	if isUserID(channel) {
		channel = "D" + channel
	}
	msg, bad := message(c)
	if bad != "" {
		return fail(bad)
	}
	ts := s.messageTSLocked()
	msg["ts"] = ts
	return result{"ok": true, "channel": channel, "ts": ts, "message": msg}
}

// chatUpdate answers chat.update. Like Slack it refuses a user ID as channel:
// a DM message is updated through its D… channel.
func chatUpdate(c Call) result {
	channel, ts := c.Param("channel"), c.Param("ts")
	if channel == "" || isUserID(channel) {
		return fail("channel_not_found")
	}
	if ts == "" {
		return fail("message_not_found")
	}
	msg, bad := message(c)
	if bad != "" {
		return fail(bad)
	}
	msg["ts"] = ts
	return result{"ok": true, "channel": channel, "ts": ts, "text": c.Param("text"), "message": msg}
}

// chatPostEphemeralLocked answers chat.postEphemeral.
func (s *Server) chatPostEphemeralLocked(c Call) result {
	if c.Param("channel") == "" {
		return fail("channel_not_found")
	}
	if c.Param("user") == "" {
		return fail("user_not_in_channel")
	}
	if _, bad := message(c); bad != "" {
		return fail(bad)
	}
	return result{"ok": true, "message_ts": s.messageTSLocked()}
}

// message builds the message object chat.postMessage and chat.update echo
// back, or returns the error code Slack gives for the call's content.
func message(c Call) (result, string) {
	text, blocks, attachments := c.Param("text"), c.Param("blocks"), c.Param("attachments")
	if text == "" && blocks == "" && attachments == "" {
		return nil, "no_text"
	}
	msg := result{"type": "message", "user": BotUserID, "bot_id": BotID, "app_id": AppID, "team": TeamID, "text": text}
	if blocks != "" {
		if !json.Valid([]byte(blocks)) {
			return nil, "invalid_blocks"
		}
		msg["blocks"] = json.RawMessage(blocks)
	}
	if attachments != "" && !json.Valid([]byte(attachments)) {
		return nil, "invalid_attachments"
	}
	if thread := c.Param("thread_ts"); thread != "" {
		msg["thread_ts"] = thread
	}
	return msg, ""
}

// conversationsOpen answers conversations.open. The DM with user U… is
// "D" + "U…"; a group DM is "G" followed by its members' IDs.
func conversationsOpen(c Call) result {
	if channel := c.Param("channel"); channel != "" {
		return result{"ok": true, "channel": result{"id": channel}, "no_op": true, "already_open": true}
	}
	users := slices.DeleteFunc(strings.Split(c.Param("users"), ","), func(u string) bool { return u == "" })
	switch len(users) {
	case 0:
		return fail("users_list_not_supplied")
	case 1:
		return result{"ok": true, "channel": result{"id": "D" + users[0], "is_im": true, "user": users[0]}}
	default:
		return result{"ok": true, "channel": result{"id": "G" + strings.Join(users, ""), "is_mpim": true}}
	}
}

// viewsOpenLocked answers views.open: the modal gets a new view ID.
func (s *Server) viewsOpenLocked(c Call) result {
	view, ok := c.object("view")
	if !ok || c.Param("trigger_id") == "" || view["type"] != "modal" {
		return fail("invalid_arguments")
	}
	ext, _ := view["external_id"].(string)
	if ext != "" {
		if _, dup := s.external[ext]; dup {
			return fail("duplicate_external_id")
		}
	}
	id := fmt.Sprintf("V%08d", s.nextLocked())
	if ext != "" {
		s.external[ext] = id
	}
	return s.viewResultLocked(id, view)
}

// viewsUpdateLocked answers views.update: the view, found by view_id or
// external_id, keeps its ID and gets a new hash. A hash that is not the
// view's current one is a conflict, as in Slack.
func (s *Server) viewsUpdateLocked(c Call) result {
	view, ok := c.object("view")
	if !ok {
		return fail("invalid_arguments")
	}
	id := c.Param("view_id")
	if id == "" {
		id = s.external[c.Param("external_id")]
	}
	hash, found := s.views[id]
	if !found {
		return fail("not_found")
	}
	if h := c.Param("hash"); h != "" && h != hash {
		return fail("hash_conflict")
	}
	return s.viewResultLocked(id, view)
}

// viewsPublishLocked answers views.publish: each user has one App Home view,
// whose ID stays the same across publishes.
func (s *Server) viewsPublishLocked(c Call) result {
	view, ok := c.object("view")
	user := c.Param("user_id")
	if !ok || user == "" || view["type"] != "home" {
		return fail("invalid_arguments")
	}
	id, found := s.homes[user]
	if !found {
		id = fmt.Sprintf("V%08d", s.nextLocked())
		s.homes[user] = id
	} else if h := c.Param("hash"); h != "" && h != s.views[id] {
		return fail("hash_conflict")
	}
	return s.viewResultLocked(id, view)
}

// viewResultLocked gives view id a new hash and returns the views.* answer:
// the view as sent, completed with the fields Slack adds.
func (s *Server) viewResultLocked(id string, view map[string]any) result {
	hash := fmt.Sprintf("1700000000.%08d", s.nextLocked())
	s.views[id] = hash
	v := maps.Clone(view)
	v["id"] = id
	v["hash"] = hash
	v["team_id"] = TeamID
	v["app_id"] = AppID
	v["bot_id"] = BotID
	v["root_view_id"] = id
	v["state"] = result{"values": result{}}
	return result{"ok": true, "view": v}
}

// userGroupsUsersListLocked answers usergroups.users.list from SetUserGroup.
func (s *Server) userGroupsUsersListLocked(c Call) result {
	users, ok := s.groups[c.Param("usergroup")]
	if !ok {
		return fail("no_such_subteam")
	}
	return result{"ok": true, "users": append([]string{}, users...)}
}

// appsConnectionsOpen answers apps.connections.open with the URL of the fake's
// websocket. The URL carries a ticket that is good for one connection.
func (s *Server) appsConnectionsOpen() result {
	s.mu.Lock()
	defer s.mu.Unlock()
	ticket := strconv.FormatInt(s.nextLocked(), 10)
	s.tickets[ticket] = true
	wsURL := "ws" + strings.TrimPrefix(s.URL, "http") + "/ws?ticket=" + ticket
	return result{"ok": true, "url": wsURL}
}

// isUserID reports whether id names a user (U… or, in Enterprise Grid, W…).
func isUserID(id string) bool {
	return strings.HasPrefix(id, "U") || strings.HasPrefix(id, "W")
}

// timestamp formats us, microseconds since the epoch, as a message timestamp
// such as "1748768400.000123".
func timestamp(us int64) string {
	return fmt.Sprintf("%d.%06d", us/1000000, us%1000000)
}

// writeFailure answers with an injected failure.
func writeFailure(w http.ResponseWriter, f Failure) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	if f.SlackError != "" {
		writeJSON(w, cmp.Or(f.Status, http.StatusOK), fail(f.SlackError))
		return
	}
	status := cmp.Or(f.Status, http.StatusInternalServerError)
	http.Error(w, http.StatusText(status), status)
}

// writeJSON answers with status and v as a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
