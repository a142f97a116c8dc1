package handlers

import (
	"context"
	"fmt"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// Deliver sends one notification of the outbox to Slack, rendered from the
// request as it is now and the event it is about. When it posts the support
// card it returns the card's reference, for the store to keep.
func (h *Handler) Deliver(ctx context.Context, n astrobot.Notification, r astrobot.Request, e astrobot.Event) (*astrobot.MessageRef, error) {
	switch n.Kind {
	case astrobot.NotifyCard:
		blocks := slack.MsgOptionBlocks(h.card(r)...)
		text := slack.MsgOptionText(string(mdf("%s · %s · %s · %s", r.Ref(), r.Def().Title(), r.Status.Label(), r.ClusterID)), false)
		if r.Card.TS == "" {
			ch, ts, err := h.slack.PostMessageContext(ctx, h.supportChannel, text, blocks)
			if err != nil {
				return nil, fmt.Errorf("post support card: %w", err)
			}
			return &astrobot.MessageRef{Channel: ch, TS: ts}, nil
		}
		if _, _, _, err := h.slack.UpdateMessageContext(ctx, r.Card.Channel, r.Card.TS, text, blocks); err != nil {
			return nil, fmt.Errorf("update support card: %w", err)
		}
	case astrobot.NotifyThread:
		opts := []slack.MsgOption{slack.MsgOptionText(string(clip(mdf("%s: %s", r.Ref(), eventLine(r, e)), maxMessageText)), false)}
		channel := h.supportChannel
		if r.Card.TS != "" {
			channel = r.Card.Channel
			opts = append(opts, slack.MsgOptionTS(r.Card.TS))
		}
		if _, _, err := h.slack.PostMessageContext(ctx, channel, opts...); err != nil {
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
		if _, _, err := h.slack.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(string(clip(text, maxMessageText)), false),
			slack.MsgOptionBlocks(sections(text, maxMessageBlock)...)); err != nil {
			return nil, fmt.Errorf("send DM to requester: %w", err)
		}
	case astrobot.NotifyHome:
		if err := h.publishHome(ctx, r.Requester.UserID, r.Requester.TeamID); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("deliver: unknown notification kind %q", n.Kind)
	}
	return nil, nil
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
