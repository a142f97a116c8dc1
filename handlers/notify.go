package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// Delivery is one outbox entry to send to Slack.
type Delivery struct {
	Entry        uint64 // the outbox entry, named in the metadata of the message it posts
	MaybeSent    bool   // an earlier attempt may have posted it: look for it before posting
	Notification astrobot.Notification
	Request      astrobot.Request // as it is now
	Event        astrobot.Event   // the event the notification is about
}

// Deliver sends one notification of the outbox to Slack, rendered from the
// request as it is now and the event it is about. When it posts the support
// card it returns the card's reference, for the store to keep.
//
// Every message it posts carries metadata naming the outbox entry. A delivery
// that may have happened already (d.MaybeSent: the entry was handed out
// before, and its outcome never recorded) first looks for that message in its
// conversation and adopts it rather than posting it twice. Updates of the card
// and App Home are idempotent and look for nothing. When the bot lacks the
// history scopes, it warns once and posts: at least once, as before.
func (h *Handler) Deliver(ctx context.Context, d Delivery) (*astrobot.MessageRef, error) {
	r, e := d.Request, d.Event
	switch d.Notification.Kind {
	case astrobot.NotifyCard:
		blocks := slack.MsgOptionBlocks(h.card(r)...)
		text := slack.MsgOptionText(string(mdf("%s · %s · %s · %s", r.Ref(), r.Def().Title(), r.Status.Label(), r.ClusterID)), false)
		if r.Card.TS != "" {
			if _, _, _, err := h.slack.UpdateMessageContext(ctx, r.Card.Channel, r.Card.TS, text, blocks); err != nil {
				return nil, fmt.Errorf("update support card: %w", err)
			}
			return nil, nil
		}
		ch, ts, err := h.post(ctx, d, h.supportChannel, "", text, blocks)
		if err != nil {
			return nil, fmt.Errorf("post support card: %w", err)
		}
		return &astrobot.MessageRef{Channel: ch, TS: ts}, nil
	case astrobot.NotifyThread:
		text := slack.MsgOptionText(string(clip(mdf("%s: %s", r.Ref(), eventLine(r, e)), maxMessageText)), false)
		channel, thread := h.supportChannel, ""
		if r.Card.TS != "" {
			channel, thread = r.Card.Channel, r.Card.TS
		}
		if _, _, err := h.post(ctx, d, channel, thread, text); err != nil {
			return nil, fmt.Errorf("post thread line: %w", err)
		}
	case astrobot.NotifyRequester:
		text, err := h.requesterMessage(ctx, r, e)
		if err != nil {
			return nil, err
		}
		ch, _, _, err := h.slack.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{r.Requester.UserID}, ReturnIM: true})
		if err != nil {
			return nil, fmt.Errorf("open DM with requester: %w", err)
		}
		blocks := sections(text, maxMessageBlock)
		if f := followUpBlock(r); f != nil {
			blocks = append(sections(text, maxMessageBlock-1), f)
		}
		if _, _, err := h.post(ctx, d, ch.ID, "", slack.MsgOptionText(string(clip(text, maxMessageText)), false),
			slack.MsgOptionBlocks(blocks...)); err != nil {
			return nil, fmt.Errorf("send DM to requester: %w", err)
		}
	case astrobot.NotifyHome:
		if err := h.publishHome(ctx, r.Requester.UserID, r.Requester.TeamID); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("deliver: unknown notification kind %q", d.Notification.Kind)
	}
	return nil, nil
}

// Conversation names where delivery d posts a message, for pacing: the
// support channel, or the requester's DM; "" for the card's updates and App
// Home, which Slack paces otherwise.
func (h *Handler) Conversation(d Delivery) string {
	switch {
	case d.Notification.Kind == astrobot.NotifyCard && d.Request.Card.TS == "", d.Notification.Kind == astrobot.NotifyThread:
		if d.Request.Card.Channel != "" {
			return d.Request.Card.Channel
		}
		return h.supportChannel
	case d.Notification.Kind == astrobot.NotifyRequester:
		return "im:" + d.Request.Requester.UserID
	}
	return ""
}

// post posts a message of delivery d to channel (in thread, unless ""), with
// metadata naming d's outbox entry. When d may have been delivered already,
// it first looks for its message and returns that one instead.
func (h *Handler) post(ctx context.Context, d Delivery, channel, thread string, opts ...slack.MsgOption) (string, string, error) {
	if d.MaybeSent {
		ts, err := h.findDelivered(ctx, d, channel, thread)
		switch {
		case err == nil && ts != "":
			h.countLookup("found")
			return channel, ts, nil
		case err == nil:
			h.countLookup("not_found")
		case isMissingScope(err):
			h.countLookup("missing_scope")
			h.noHistory.Do(func() {
				h.log.WarnContext(ctx, "Slack refuses to let astrobot read conversation history, so a message that may have been posted before a restart is posted again: add the history scopes of manifest.yml and reinstall the app",
					"channel", channel, "err", err)
			})
		default:
			return "", "", fmt.Errorf("look for an earlier delivery: %w", err)
		}
	}
	meta := slack.SlackMetadata{EventType: DeliveryEventType, EventPayload: map[string]any{
		"entry": strconv.FormatUint(d.Entry, 10), "request": d.Request.Ref()}}
	opts = append(opts, slack.MsgOptionMetadata(meta))
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	return h.slack.PostMessageContext(ctx, channel, opts...)
}

// How far back a delivery that may have happened looks for its message: it
// was posted after its event, by at most this many messages of the
// conversation.
const (
	lookupPage  = 200
	lookupPages = 5
	lookupSlack = time.Minute // clocks of the bot and of Slack differ
)

// findDelivered returns the ts of the message delivery d posted in channel
// (in thread, unless ""), or "" when there is none.
func (h *Handler) findDelivered(ctx context.Context, d Delivery, channel, thread string) (string, error) {
	oldest := strconv.FormatInt(d.Event.At.Add(-lookupSlack).Unix(), 10) + ".000000"
	entry := strconv.FormatUint(d.Entry, 10)
	cursor := ""
	for range lookupPages {
		var (
			msgs []slack.Message
			more bool
			err  error
		)
		if thread != "" {
			msgs, more, cursor, err = h.slack.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: thread, Oldest: oldest, Limit: lookupPage, Cursor: cursor, IncludeAllMetadata: true})
		} else {
			var resp *slack.GetConversationHistoryResponse
			resp, err = h.slack.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: channel, Oldest: oldest, Limit: lookupPage, Cursor: cursor, IncludeAllMetadata: true})
			if resp != nil {
				msgs, more, cursor = resp.Messages, resp.HasMore, resp.ResponseMetaData.NextCursor
			}
		}
		if err != nil {
			return "", err
		}
		for _, m := range msgs {
			if m.Metadata.EventType == DeliveryEventType && fmt.Sprint(m.Metadata.EventPayload["entry"]) == entry {
				return m.Timestamp, nil
			}
		}
		if !more || cursor == "" {
			return "", nil
		}
	}
	return "", nil
}

// isMissingScope reports whether Slack refused a call for a scope the app
// was not granted.
func isMissingScope(err error) bool {
	se, ok := errors.AsType[slack.SlackErrorResponse](err)
	return ok && se.Err == "missing_scope"
}

// card is the support card of a request: everything support needs to act, and
// the status as it is now.
func (h *Handler) card(r astrobot.Request) []slack.Block {
	field := func(k string, v md) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, string(clip(mdf("*%s*\n", k)+v, maxSectionField)), false, false)
	}
	assignee := md("_unclaimed_")
	if r.Assignee != "" {
		assignee = mention(r.Assignee)
	}
	fields := []*slack.TextBlockObject{
		field("Requester", mention(r.Requester.UserID)+mdf(" (team %s)", r.Requester.TeamID)),
		field("Cluster", code(r.ClusterID)),
	}
	for _, f := range r.Def().Facts(&r) {
		fields = append(fields, field(f.Label, codeList(f.Values)))
	}
	fields = append(fields,
		field("Status", mdf("*%s* (%s acts next)", r.Status.Label(), r.Owner())),
		field("Assignee", assignee),
		field("Submitted", slackDate(r.CreatedAt)),
	)
	blocks := []slack.Block{slack.NewHeaderBlock(plain(truncate(fmt.Sprintf("%s · %s · %s", r.Ref(), r.Def().Title(), r.Status.Label()), maxHeader)))}
	for len(fields) > 0 { // a section holds at most 10 fields
		n := min(len(fields), 10)
		blocks = append(blocks, slack.NewSectionBlock(nil, fields[:n], nil))
		fields = fields[n:]
	}
	var extra md
	if r.Note != "" {
		extra += mdf("*Note from requester:* %s\n", r.Note)
	}
	for _, w := range r.Warnings {
		extra += mdf(":information_source: %s\n", w)
	}
	extra += "*Next:* " + escMessage(r.Next())
	blocks = append(blocks, section(extra))
	if a := actionsBlock(BlockCardActions, r, h.validButtons(r)); a != nil {
		blocks = append(blocks, a)
	}
	return blocks
}

// requesterMessage is the direct message a requester gets about event e:
// what changed, what happens next and, when they have something to do, the
// exact steps.
func (h *Handler) requesterMessage(ctx context.Context, r astrobot.Request, e astrobot.Event) (md, error) {
	cl, err := h.dir.Cluster(ctx, r.ClusterID)
	if err != nil {
		return "", fmt.Errorf("message for %s: %w", r.Ref(), err)
	}
	var text md
	if e.Action == astrobot.ActSubmit {
		text = mdf(":inbox_tray: We received your %s request *%s*.\n", r.Def().Title(), r.Ref()) +
			requestSummary(r) +
			mdf("\n*What happens next:* %s You will get a message here at every step; `%s status %s` shows where it stands.\n", escMessage(r.Next()), CommandConnect, r.Ref()) +
			mdf("*The Astro side, for your routes and security groups:* cluster *%s* in `%s`, VPC `%s`, CIDRs %s.", cl.Name, cl.Region, cl.VPCID, codeList(astrobot.Strings(cl.CIDRs)))
	} else {
		text = mdf("*%s* is now *%s*.", r.Ref(), r.Status.Label())
		if e.Note != "" && e.Action != astrobot.ActNote {
			text += mdf("\n> %s", e.Note)
		}
		text += "\n*What happens next:* " + escMessage(r.Next())
	}
	if in := r.Def().Instructions(&r, cl); in != nil {
		text += "\n" + instructionsText(in)
	}
	return text, nil
}
