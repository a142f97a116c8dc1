package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// Directory lists the clusters astrobot knows. The slices it returns are
// shared: handlers read them and never modify them.
type Directory interface {
	Clusters(ctx context.Context) ([]astrobot.Cluster, error)
	Cluster(ctx context.Context, id string) (astrobot.Cluster, error)
}

// Requests stores requests.
type Requests interface {
	CreateRequest(ctx context.Context, r astrobot.Request, viewID string) (astrobot.Request, bool, error)
	History(ctx context.Context, id astrobot.RequestID) (astrobot.Request, []astrobot.Event, error)
	RequestsByRequester(ctx context.Context, userID string, limit int) ([]astrobot.Request, error)
	RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error)
	Apply(ctx context.Context, id astrobot.RequestID, c astrobot.Change) (astrobot.Request, astrobot.Event, error)
}

// Support tells whether a Slack user is a member of the support team.
type Support interface {
	IsSupport(ctx context.Context, userID string) bool
}

// Slack is the part of the Slack Web API the handlers call.
type Slack interface {
	OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error)
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	OpenConversationContext(ctx context.Context, params *slack.OpenConversationParameters) (*slack.Channel, bool, bool, error)
	PublishViewContext(ctx context.Context, req slack.PublishViewContextRequest) (*slack.ViewResponse, error)
	GetConversationHistoryContext(ctx context.Context, params *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error)
	GetConversationRepliesContext(ctx context.Context, params *slack.GetConversationRepliesParameters) ([]slack.Message, bool, string, error)
}

// Config holds what a Handler needs.
type Config struct {
	Directory      Directory
	Tenancy        astrobot.Tenancy
	Requests       Requests
	Support        Support
	Slack          Slack
	SupportChannel string       // where support cards go
	HTTPClient     *http.Client // for response URLs; default http.DefaultClient
	LookupTimeout  time.Duration
	Modes          map[astrobot.Kind]astrobot.Mode // how each kind's Astro side is done; manual when missing
	CountLookup    func(outcome string)            // counts the look-ups of deliveries that may have happened: found, not_found, missing_scope
	Now            func() time.Time
	Logger         *slog.Logger
}

// Handler answers Slack commands and interactions. Build it with New.
type Handler struct {
	dir            Directory
	tenancy        astrobot.Tenancy
	requests       Requests
	support        Support
	slack          Slack
	supportChannel string
	http           *http.Client
	lookupTimeout  time.Duration
	modes          map[astrobot.Kind]astrobot.Mode
	countLookup    func(outcome string)
	noHistory      sync.Once // warns once that Slack refuses the history look-ups
	now            func() time.Time
	log            *slog.Logger

	// Follow-ups run after the ack (slow look-ups answered through a
	// response URL); Close waits for them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Handler. Missing optional settings get defaults: a look-up
// timeout that keeps answers inside Slack's 3 seconds, the real clock and
// slog's default logger.
func New(c Config) *Handler {
	h := &Handler{
		dir: c.Directory, tenancy: c.Tenancy, requests: c.Requests, support: c.Support, slack: c.Slack,
		supportChannel: c.SupportChannel, http: c.HTTPClient, lookupTimeout: c.LookupTimeout, modes: c.Modes, countLookup: c.CountLookup, now: c.Now, log: c.Logger,
	}
	if h.http == nil {
		h.http = http.DefaultClient
	}
	if h.lookupTimeout <= 0 {
		h.lookupTimeout = 2 * time.Second
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.countLookup == nil {
		h.countLookup = func(string) {}
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// closeGrace is how long Close lets follow-ups finish before cancelling them.
const closeGrace = 3 * time.Second

// Close waits for follow-up work to finish, for at most closeGrace, then
// cancels what is left and waits for it to end.
func (h *Handler) Close() {
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeGrace):
	}
	h.cancel()
	<-done
}

// goAfterAck runs f after the ack, on the handler's own context.
func (h *Handler) goAfterAck(f func(ctx context.Context)) {
	h.wg.Go(func() { f(h.ctx) })
}

// manual reports whether support does the Astro side of kind k by hand.
func (h *Handler) manual(k astrobot.Kind) bool { return h.modes[k] != astrobot.ModeAWS }

// caller describes who ran a command or pressed a button.
func (h *Handler) caller(ctx context.Context, userID, teamID, channelID string) astrobot.Caller {
	return astrobot.Caller{UserID: userID, TeamID: teamID, ChannelID: channelID, Support: h.support.IsSupport(ctx, userID)}
}

// callerOf describes who sent an interaction, acting in channel: their team
// is the user's own (a Slack Connect guest keeps theirs), else the payload's.
func (h *Handler) callerOf(ctx context.Context, cb slack.InteractionCallback, channel string) astrobot.Caller {
	team := cb.User.TeamID
	if team == "" {
		team = cb.Team.ID
	}
	return h.caller(ctx, cb.User.ID, team, channel)
}

// errorSentence turns err into the sentence the user reads, as plain text.
// It is the one place where error codes meet Slack: internal errors are logged
// with a reference the user can quote, everything else is told as it is.
func (h *Handler) errorSentence(ctx context.Context, op string, err error) string {
	var e *astrobot.Error
	if errors.As(err, &e) && e.Code != astrobot.EInternal {
		return e.Message
	}
	ref := reference()
	h.log.ErrorContext(ctx, "request failed", "op", op, "ref", ref, "err", err)
	if e != nil && e.Message != "" {
		return e.Message + " (ref " + ref + ")"
	}
	return "Sorry, something went wrong on our side. Support can find it in the logs under ref " + ref + "."
}

// errorText is errorSentence as a warning in mrkdwn.
func (h *Handler) errorText(ctx context.Context, op string, err error) md {
	return ":warning: " + escMessage(h.errorSentence(ctx, op, err))
}

// viewErrors turns err into a view submission response: field errors on the
// input blocks they concern, or, when no field is named, the message on fallback.
func (h *Handler) viewErrors(ctx context.Context, op string, err error, fallback string) *slack.ViewSubmissionResponse {
	out := map[string]string{}
	var e *astrobot.Error
	if errors.As(err, &e) && e.Code != astrobot.EInternal {
		for f, msg := range e.Fields {
			out[FieldBlock(f)] = truncate(msg, 2000)
		}
	}
	if len(out) == 0 {
		out[fallback] = truncate(h.errorSentence(ctx, op, err), 2000)
	}
	return slack.NewErrorsViewSubmissionResponse(out)
}

func reference() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ephemeral is a reply only the caller sees.
func ephemeral(text md, blocks ...slack.Block) *slack.Msg {
	m := &slack.Msg{ResponseType: slack.ResponseTypeEphemeral, Text: string(clip(text, maxMessageText))}
	if len(blocks) > 0 {
		m.Blocks = slack.Blocks{BlockSet: blocks}
	}
	return m
}

// stateValue reads one input of a submitted view; a view without state (a
// forged or truncated payload) reads as empty.
func stateValue(v slack.View, block, action string) slack.BlockAction {
	if v.State == nil {
		return slack.BlockAction{}
	}
	return v.State.Values[block][action]
}
