package bot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// SlackHandler is the Slack logic both transports call.
type SlackHandler interface {
	SlashCommand(ctx context.Context, cmd slack.SlashCommand) *slack.Msg
	Interaction(ctx context.Context, cb slack.InteractionCallback) any
	Event(ctx context.Context, ev slackevents.EventsAPIEvent)
}

// maxBody caps a Slack request body. Slack's largest payloads, view
// submissions, stay far below it.
const maxBody = 512 << 10

// dispatcher runs handlers for either transport and keeps the metrics. It
// tracks work still running after an ack (events) so shutdown can wait for it.
type dispatcher struct {
	h       SlackHandler
	m       *Metrics
	log     *slog.Logger
	now     func() time.Time
	seen    *eventLog
	running sync.WaitGroup
}

func newDispatcher(h SlackHandler, m *Metrics, log *slog.Logger, now func() time.Time) *dispatcher {
	return &dispatcher{h: h, m: m, log: log, now: now, seen: newEventLog(10000)}
}

func (d *dispatcher) observe(kind, name string, start time.Time, outcome string) {
	d.m.Requests.WithLabelValues(kind, name, outcome).Inc()
	d.m.AckSeconds.WithLabelValues(kind, name).Observe(d.now().Sub(start).Seconds())
}

func (d *dispatcher) command(ctx context.Context, cmd slack.SlashCommand, start time.Time) *slack.Msg {
	msg := d.h.SlashCommand(ctx, cmd)
	d.observe("command", cmd.Command, start, "ok")
	return msg
}

func (d *dispatcher) interaction(ctx context.Context, cb slack.InteractionCallback, start time.Time) any {
	payload := d.h.Interaction(ctx, cb)
	d.observe("interaction", interactionName(cb), start, "ok")
	return payload
}

// event acknowledges at once and handles the event afterwards, once per event ID.
func (d *dispatcher) event(ev slackevents.EventsAPIEvent, eventID string, start time.Time) {
	name := ev.InnerEvent.Type
	if eventID != "" && !d.seen.first(eventID) {
		d.observe("event", name, start, "duplicate")
		return
	}
	d.observe("event", name, start, "ok")
	d.running.Go(func() { d.h.Event(context.Background(), ev) })
}

func interactionName(cb slack.InteractionCallback) string {
	id := cb.ActionID
	switch {
	case cb.View.CallbackID != "" && cb.Type != slack.InteractionTypeBlockSuggestion && cb.Type != slack.InteractionTypeBlockActions:
		id = cb.View.CallbackID
	case id == "" && len(cb.ActionCallback.BlockActions) > 0:
		id = cb.ActionCallback.BlockActions[0].ActionID
	}
	if !handlers.KnownID(id) {
		id = "other"
	}
	return string(cb.Type) + ":" + id
}

// eventLog remembers the last n event IDs, to drop Slack's retries.
type eventLog struct {
	mu    sync.Mutex
	n     int
	ids   map[string]bool
	order []string
}

func newEventLog(n int) *eventLog { return &eventLog{n: n, ids: make(map[string]bool, n)} }

// first reports whether id is seen for the first time, and remembers it.
func (l *eventLog) first(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[id] {
		return false
	}
	if len(l.order) == l.n {
		delete(l.ids, l.order[0])
		l.order = l.order[1:]
	}
	l.ids[id] = true
	l.order = append(l.order, id)
	return true
}

// HTTP serves POST /slack/events: slash commands, interactivity payloads and
// Events API callbacks, as Slack's Bolt frameworks do. The signature is checked
// before anything is parsed.
type HTTP struct {
	d *dispatcher
	v *Verifier
}

func (t *HTTP) reject(w http.ResponseWriter, status int, reason, msg string) {
	t.d.m.Rejected.WithLabelValues(reason).Inc()
	t.d.log.Warn("slack request refused", "reason", reason, "status", status)
	http.Error(w, msg, status)
}

// ServeHTTP implements http.Handler.
func (t *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := t.d.now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		t.reject(w, http.StatusMethodNotAllowed, "method", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			t.reject(w, http.StatusRequestEntityTooLarge, "too_large", "body too large")
			return
		}
		t.reject(w, http.StatusBadRequest, "read", "could not read body")
		return
	}
	if err := t.v.Verify(r.Header, body); err != nil {
		t.reject(w, http.StatusUnauthorized, "signature", err.Error())
		return
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ctype {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.reject(w, http.StatusBadRequest, "form", "malformed form body")
			return
		}
		if p := form.Get("payload"); p != "" {
			var cb slack.InteractionCallback
			if err := json.Unmarshal([]byte(p), &cb); err != nil {
				t.reject(w, http.StatusBadRequest, "payload", "malformed interaction payload")
				return
			}
			writeJSON(w, t.d.interaction(r.Context(), cb, start))
			return
		}
		if form.Get("command") != "" {
			writeJSON(w, t.d.command(r.Context(), slashCommand(form), start))
			return
		}
		t.reject(w, http.StatusBadRequest, "form", "neither a slash command nor an interaction payload")
	case "application/json":
		t.serveEvent(w, body, start)
	default:
		t.reject(w, http.StatusUnsupportedMediaType, "content_type", "expected a form or JSON body")
	}
}

func (t *HTTP) serveEvent(w http.ResponseWriter, body []byte, start time.Time) {
	var outer struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
		EventID   string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		t.reject(w, http.StatusBadRequest, "json", "malformed JSON")
		return
	}
	if outer.Type == slackevents.URLVerification {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, outer.Challenge)
		return
	}
	if outer.Type != slackevents.CallbackEvent && outer.Type != slackevents.AppRateLimited {
		t.reject(w, http.StatusBadRequest, "event", "not an Events API callback")
		return
	}
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		t.reject(w, http.StatusBadRequest, "event", "malformed event")
		return
	}
	t.d.event(ev, outer.EventID, start)
	w.WriteHeader(http.StatusOK)
}

func slashCommand(f url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		Token: f.Get("token"), TeamID: f.Get("team_id"), TeamDomain: f.Get("team_domain"),
		EnterpriseID: f.Get("enterprise_id"), EnterpriseName: f.Get("enterprise_name"),
		ChannelID: f.Get("channel_id"), ChannelName: f.Get("channel_name"),
		UserID: f.Get("user_id"), UserName: f.Get("user_name"),
		Command: f.Get("command"), Text: f.Get("text"),
		ResponseURL: f.Get("response_url"), TriggerID: f.Get("trigger_id"), APIAppID: f.Get("api_app_id"),
	}
}

// writeJSON writes an ack: the payload as JSON, or an empty 200.
func writeJSON(w http.ResponseWriter, payload any) {
	if isNil(payload) {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := json.Marshal(payload)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// isNil reports whether an ack payload is empty, including typed nil pointers.
func isNil(p any) bool {
	switch v := p.(type) {
	case nil:
		return true
	case *slack.Msg:
		return v == nil
	case *slack.ViewSubmissionResponse:
		return v == nil
	case *slack.OptionsResponse:
		return v == nil
	}
	return false
}
