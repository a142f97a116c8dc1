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
		if _, _, err := h.slack.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(sections(text)...)); err != nil {
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

// sections splits text into section blocks under Slack's 3000-character
// limit, at line breaks, keeping code blocks whole where they fit.
func sections(text string) []slack.Block {
	const max = 2900
	var (
		blocks  []slack.Block
		cur     strings.Builder
		inFence bool
	)
	for _, line := range strings.SplitAfter(text, "\n") {
		if cur.Len()+len(line) > max && (!inFence || cur.Len() > max/2) && cur.Len() > 0 {
			blocks = append(blocks, section(cur.String()))
			cur.Reset()
		}
		cur.WriteString(truncate(line, max))
		if strings.Count(line, "```")%2 == 1 {
			inFence = !inFence
		}
	}
	return append(blocks, section(cur.String()))
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
	switch {
	case r.Status == astrobot.StatusPendingAcceptance && r.PeeringID != "":
		b.WriteString("\n" + acceptSteps(r))
	case r.Status == astrobot.StatusActive:
		clusters, err := h.dir.Clusters(ctx)
		if err != nil {
			return "", fmt.Errorf("message for %s: %w", r.ID, err)
		}
		for _, cl := range clusters {
			if cl.ID == r.ClusterID {
				b.WriteString("\n" + remainingSteps(r, cl))
			}
		}
	}
	return b.String(), nil
}

// acceptSteps tells the customer exactly how to accept the peering, three ways.
func acceptSteps(r astrobot.Request) string {
	return fmt.Sprintf("*Accept it in account %[2]s, region %[3]s*, one of three ways:\n"+
		"• Console: VPC → Peering connections (region %[3]s) → select `%[1]s` → Actions → Accept request.\n"+
		"• AWS CLI:\n```aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id %[1]s --region %[3]s```\n"+
		"• Terraform:\n```resource \"aws_vpc_peering_connection_accepter\" \"astro\" {\n  vpc_peering_connection_id = \"%[1]s\"\n  auto_accept               = true\n}```",
		r.PeeringID, r.Peer.AccountID, r.Peer.Region)
}

// remainingSteps lists what the customer still does on their side once the
// peering is active, with every value filled in.
func remainingSteps(r astrobot.Request, cl astrobot.Cluster) string {
	var routesCLI, routesTF strings.Builder
	for i, p := range cl.CIDRs {
		fmt.Fprintf(&routesCLI, "aws ec2 create-route --route-table-id <your-route-table-id> --destination-cidr-block %s --vpc-peering-connection-id %s --region %s\n", p, r.PeeringID, r.Peer.Region)
		fmt.Fprintf(&routesTF, "resource \"aws_route\" \"astro_%d\" {\n  route_table_id            = \"<your-route-table-id>\"\n  destination_cidr_block    = \"%s\"\n  vpc_peering_connection_id = \"%s\"\n}\n", i, p, r.PeeringID)
	}
	first := ""
	if len(cl.CIDRs) > 0 {
		first = cl.CIDRs[0].String()
	}
	return fmt.Sprintf("*Your remaining steps* (the Astro side is done: VPC `%s`, CIDRs %s, region %s):\n"+
		"1. Route the Astro CIDRs through the peering in each route table of your VPC `%s`:\n```%s```\nor in Terraform:\n```%s```\n"+
		"2. Let Astro in through your security groups, for example:\n```aws ec2 authorize-security-group-ingress --group-id <your-sg-id> --protocol tcp --port <port> --cidr %s --region %s```\n"+
		"3. Resolve Astro's private DNS names from your side:\n```aws ec2 modify-vpc-peering-connection-options --vpc-peering-connection-id %s --accepter-peering-connection-options AllowDnsResolutionFromRemoteVpc=true --region %s```\n"+
		"4. To share a Route 53 private hosted zone with the Astro VPC, authorize the association, then tell support the zone ID:\n```aws route53 create-vpc-association-authorization --hosted-zone-id <your-zone-id> --vpc VPCRegion=%s,VPCId=%s```",
		cl.VPCID, prefixList(cl.CIDRs), cl.Region, r.Peer.VPCID, routesCLI.String(), routesTF.String(),
		first, r.Peer.Region, r.PeeringID, r.Peer.Region, cl.Region, cl.VPCID)
}
