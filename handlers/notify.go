package handlers

import (
	"context"
	"fmt"
	"strings"

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
		text := slack.MsgOptionText(fmt.Sprintf("%s · %s · %s", r.ID, statusLabel(r.Status), r.ClusterID), false)
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
		opts := []slack.MsgOption{slack.MsgOptionText(fmt.Sprintf("%s: %s", r.ID, eventLine(e)), false)}
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
		if _, _, err := h.slack.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(section(truncate(text, 2900)))); err != nil {
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
	field := func(k, v string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, "*"+k+"*\n"+v, false, false)
	}
	assignee := "_unclaimed_"
	if r.Assignee != "" {
		assignee = "<@" + r.Assignee + ">"
	}
	fields := []*slack.TextBlockObject{
		field("Requester", fmt.Sprintf("<@%s> (team %s)", r.Requester.UserID, r.Requester.TeamID)),
		field("Cluster", "`"+r.ClusterID+"`"),
		field("AWS account", "`"+r.Peer.AccountID+"`"),
		field("Region", "`"+r.Peer.Region+"`"),
		field("VPC", "`"+r.Peer.VPCID+"`"),
		field("CIDRs", prefixList(r.Peer.CIDRs)),
		field("Status", fmt.Sprintf("*%s* (%s acts next)", statusLabel(r.Status), r.Status.Owner())),
		field("Assignee", assignee),
		field("Submitted", slackDate(r.CreatedAt.Unix(), r.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))),
	}
	if r.PeeringID != "" {
		fields = append(fields, field("Peering", "`"+r.PeeringID+"`"))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(fmt.Sprintf("%s · VPC peering · %s", r.ID, statusLabel(r.Status)))),
		slack.NewSectionBlock(nil, fields, nil),
	}
	var extra []string
	if r.Note != "" {
		extra = append(extra, "*Note from requester:* "+escape(r.Note))
	}
	for _, w := range r.Warnings {
		extra = append(extra, ":information_source: "+w)
	}
	extra = append(extra, "*Next:* "+nextStep(r))
	blocks = append(blocks, section(truncate(strings.Join(extra, "\n"), 2900)))
	if a := actionsBlock(BlockCardActions, r, h.validButtons(r)); a != nil {
		blocks = append(blocks, a)
	}
	return blocks
}

// slackDate renders a time in each reader's own time zone.
func slackDate(unix int64, fallback string) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", unix, fallback)
}

// requesterMessage is the direct message a requester gets about event e.
func (h *Handler) requesterMessage(ctx context.Context, r astrobot.Request, e astrobot.Event) (string, error) {
	var b strings.Builder
	if e.Action == astrobot.ActSubmit {
		fmt.Fprintf(&b, ":inbox_tray: We received your VPC peering request *%s*.\n", r.ID)
		b.WriteString(requestSummary(r))
		fmt.Fprintf(&b, "*What happens next:* %s You will get a message here at every step; `%s status %s` shows where it stands.\n", r.Status.Next(), CommandPeer, r.ID)
		clusters, err := h.dir.Clusters(ctx)
		if err != nil {
			return "", fmt.Errorf("receipt for %s: %w", r.ID, err)
		}
		for _, cl := range clusters {
			if cl.ID == r.ClusterID {
				fmt.Fprintf(&b, "*The Astro side, for your routes and security groups:* cluster *%s* in `%s`, VPC `%s`, CIDRs %s.", cl.Name, cl.Region, cl.VPCID, prefixList(cl.CIDRs))
			}
		}
		return b.String(), nil
	}
	fmt.Fprintf(&b, "*%s* is now *%s*.", r.ID, statusLabel(r.Status))
	if e.Note != "" && e.Action != astrobot.ActNote {
		fmt.Fprintf(&b, "\n> %s", escape(e.Note))
	}
	fmt.Fprintf(&b, "\n*What happens next:* %s", nextStep(r))
	return b.String(), nil
}
