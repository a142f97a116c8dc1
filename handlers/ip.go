package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// followUpTimeout bounds a look-up that outlived the ack and is answered
// through the response URL (Slack accepts it for 30 minutes).
const followUpTimeout = 2 * time.Minute

// SlashCommand answers a slash command and returns the message to acknowledge
// it with (nil acknowledges with an empty body).
func (h *Handler) SlashCommand(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	switch cmd.Command {
	case CommandIP:
		return h.astroIP(ctx, cmd)
	case CommandPeer:
		return h.astroPeer(ctx, cmd)
	}
	return ephemeral(fmt.Sprintf(":warning: astrobot does not know the command %s. Try %s help or %s help.", cmd.Command, CommandIP, CommandPeer))
}

func (h *Handler) astroIP(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	arg := strings.TrimSpace(cmd.Text)
	if strings.EqualFold(arg, "help") {
		return ephemeral(ipUsage())
	}
	c := h.caller(ctx, cmd.UserID, cmd.TeamID, cmd.ChannelID)
	lctx, cancel := context.WithTimeout(ctx, h.lookupTimeout)
	clusters, err := h.dir.Clusters(lctx)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && cmd.ResponseURL != "" {
		h.goAfterAck(func(bg context.Context) {
			bg, cancel := context.WithTimeout(bg, followUpTimeout)
			defer cancel()
			clusters, err := h.dir.Clusters(bg)
			h.respond(bg, cmd.ResponseURL, h.ipAnswer(bg, c, clusters, err, arg))
		})
		return ephemeral(":hourglass_flowing_sand: Looking it up in AWS; I'll post the answer here in a moment.")
	}
	return h.ipAnswer(ctx, c, clusters, err, arg)
}

func (h *Handler) ipAnswer(ctx context.Context, c astrobot.Caller, clusters []astrobot.Cluster, err error, arg string) *slack.Msg {
	if err != nil {
		return ephemeral(h.errorText(ctx, CommandIP, err))
	}
	if arg == "" {
		return visibleClusters(h.tenancy.Visible(c, clusters))
	}
	cl, err := h.tenancy.FindCluster(c, clusters, arg)
	if err != nil {
		msg := visibleClusters(h.tenancy.Visible(c, clusters))
		msg.Text = h.errorText(ctx, CommandIP, err) + "\n" + msg.Text
		msg.Blocks.BlockSet = append([]slack.Block{section(h.errorText(ctx, CommandIP, err))}, msg.Blocks.BlockSet...)
		return msg
	}
	return ephemeral(clusterText(cl)) // mrkdwn text alone: half the bytes of text plus blocks
}

// respond posts msg to a slash command's response URL, replacing the
// "looking it up" message.
func (h *Handler) respond(ctx context.Context, url string, msg *slack.Msg) {
	wm := &slack.WebhookMessage{Text: msg.Text, Blocks: &msg.Blocks, ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: true}
	if err := slack.PostWebhookCustomHTTPContext(ctx, url, h.http, wm); err != nil {
		h.log.ErrorContext(ctx, "posting to response_url failed", "err", err)
	}
}

func ipUsage() string {
	return "*" + CommandIP + "* shows the external IP addresses, VPC ID and CIDRs of your Astro clusters.\n" +
		"• `" + CommandIP + " <cluster ID or name>` — one cluster\n" +
		"• `" + CommandIP + "` — every cluster you can see\n" +
		"• `" + CommandIP + " help` — this help\n" +
		"Allow-list the external IPs in Snowflake, Databricks or your firewall; use the VPC ID to associate a private hosted zone."
}

// clusterText is the full answer about one cluster.
func clusterText(cl astrobot.Cluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* (`%s`) · %s\n", cl.Name, cl.ID, cl.Region)
	b.WriteString("*External IPs* — fixed for the cluster's lifetime; allow-list them for each cluster you connect from:\n")
	b.WriteString(ipBlock(cl))
	fmt.Fprintf(&b, "*VPC ID:* `%s`\n*VPC CIDRs:* %s", cl.VPCID, cidrList(cl))
	return b.String()
}

func ipBlock(cl astrobot.Cluster) string {
	if len(cl.ExternalIPs) == 0 {
		return "_no external IPs found yet_\n"
	}
	ips := make([]string, len(cl.ExternalIPs))
	for i, ip := range cl.ExternalIPs {
		ips[i] = ip.String()
	}
	return "```\n" + strings.Join(ips, "\n") + "\n```\n"
}

func cidrList(cl astrobot.Cluster) string {
	s := make([]string, len(cl.CIDRs))
	for i, p := range cl.CIDRs {
		s[i] = "`" + p.String() + "`"
	}
	return strings.Join(s, ", ")
}

// visibleClusters lists clusters with their IPs. Sections hold at most 3000
// characters, and the whole reply stays well under the 20 KB a Socket Mode ack
// may carry; what does not fit is counted.
func visibleClusters(clusters []astrobot.Cluster) *slack.Msg {
	if len(clusters) == 0 {
		return ephemeral("You can see no clusters from here. If you expected some, ask support to map your Slack workspace or this channel to your organization.")
	}
	head := fmt.Sprintf("Clusters visible to you (%d). `%s <cluster>` shows one with its VPC.", len(clusters), CommandIP)
	blocks := []slack.Block{section(head)}
	const sectionMax, replyMax = 2900, 12000
	var cur strings.Builder
	total := 0
	for i, cl := range clusters {
		entry := fmt.Sprintf("*%s* (`%s`) · %s\n%s", cl.Name, cl.ID, cl.Region, ipBlock(cl))
		if total+len(entry) > replyMax {
			cur.WriteString(fmt.Sprintf("…and %d more: use `%s <cluster>`.", len(clusters)-i, CommandIP))
			break
		}
		if cur.Len()+len(entry) > sectionMax {
			blocks = append(blocks, section(cur.String()))
			cur.Reset()
		}
		cur.WriteString(entry)
		total += len(entry)
	}
	blocks = append(blocks, section(cur.String()))
	return ephemeral(head, blocks...)
}
