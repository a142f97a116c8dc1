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
	case CommandConnect:
		return h.astroConnect(ctx, cmd)
	case CommandPeer:
		return h.astroPeer(ctx, cmd)
	}
	return ephemeral(mdf(":warning: astrobot does not know the command %s. Try `%s help` or `%s help`.", astrobot.Quote(cmd.Command), CommandIP, CommandConnect))
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
		warning := h.errorText(ctx, CommandIP, err)
		msg.Text = string(warning) + "\n" + msg.Text
		msg.Blocks.BlockSet = append([]slack.Block{section(warning)}, msg.Blocks.BlockSet...)
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

func ipUsage() md {
	return mdf("*%s* shows the external IP addresses, VPC ID and CIDRs of your Astro clusters.\n"+
		"• `%s <cluster ID or name>` — one cluster\n"+
		"• `%s` — every cluster you can see\n"+
		"• `%s help` — this help\n"+
		"Allow-list the external IPs in Snowflake, Databricks or your firewall; use the VPC ID to associate a private hosted zone. "+
		"For a private connection (peering, transit gateway, PrivateLink, a DNS zone), use `%s`.",
		CommandIP, CommandIP, CommandIP, CommandIP, CommandConnect)
}

// clusterText is the full answer about one cluster.
func clusterText(cl astrobot.Cluster) md {
	return mdf("*%s* (`%s`) · %s\n", cl.Name, cl.ID, cl.Region) +
		"*External IPs* — fixed for the cluster's lifetime; allow-list them for each cluster you connect from:\n" +
		ipBlock(cl, maxIPs) +
		mdf("*VPC ID:* `%s`\n*VPC CIDRs:* %s", cl.VPCID, codeList(firstOf(astrobot.Strings(cl.CIDRs), maxCIDRs)))
}

// How many IPs and CIDRs one answer shows, to stay well under the 20 KB a
// Socket Mode acknowledgement may carry.
const (
	maxIPs        = 300
	maxCIDRs      = 50
	maxIPsInList  = 20
	replyMaxBytes = 12000
)

// ipBlock is the external IPs of cl, one per line to copy, at most max.
func ipBlock(cl astrobot.Cluster, max int) md {
	if len(cl.ExternalIPs) == 0 {
		return "_no external IPs found yet_\n"
	}
	ips := astrobot.Strings(cl.ExternalIPs)
	b := codeBlock(ips[:min(len(ips), max)]...) + "\n"
	if len(ips) > max {
		b += mdf("… and %d more IPs: `%s %s` lists every one.\n", len(ips)-max, CommandIP, cl.ID)
	}
	return b
}

// firstOf returns the first max values, and a last one saying how many were
// left out.
func firstOf(values []string, max int) []string {
	if len(values) <= max {
		return values
	}
	return append(values[:max:max], fmt.Sprintf("… and %d more", len(values)-max))
}

// visibleClusters lists clusters with their IPs. Sections hold at most 3000
// characters, and the whole reply stays well under the 20 KB a Socket Mode ack
// may carry; what does not fit is counted.
func visibleClusters(clusters []astrobot.Cluster) *slack.Msg {
	if len(clusters) == 0 {
		return ephemeral("You can see no clusters from here. If you expected some, ask support to map your Slack workspace or this channel to your organization.")
	}
	head := mdf("Clusters visible to you (%d). `%s <cluster>` shows one with its VPC.", len(clusters), CommandIP)
	blocks := []slack.Block{section(head)}
	var cur md
	total := 0
	for i, cl := range clusters {
		entry := mdf("*%s* (`%s`) · %s\n", cl.Name, cl.ID, cl.Region) + ipBlock(cl, maxIPsInList)
		if total+len(entry) > replyMaxBytes {
			cur += mdf("… and %d more clusters: use `%s <cluster>`.", len(clusters)-i, CommandIP)
			break
		}
		if len(cur)+len(entry) > sectionRoom {
			blocks = append(blocks, section(cur))
			cur = ""
		}
		cur += entry
		total += len(entry)
	}
	blocks = append(blocks, section(cur))
	return ephemeral(head, blocks...)
}
