package handlers

import (
	"context"
	"fmt"
	"slices"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// homeLimit bounds the requests App Home shows, within Slack's 100 blocks.
const homeLimit = 30

// publishHome shows a user's App Home tab: a requester sees their requests
// with the next step; support sees the open queue, grouped by status, with the
// buttons valid for each request.
func (h *Handler) publishHome(ctx context.Context, userID, teamID string) error {
	c := h.caller(ctx, userID, teamID, "")
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("astrobot")),
		section("`" + CommandIP + "` shows a cluster's external IPs and VPC. `" + CommandPeer + "` requests VPC peering; `" + CommandPeer + " help` says more."),
		slack.NewDividerBlock(),
	}
	var (
		rs  []astrobot.Request
		err error
	)
	if c.Support {
		rs, err = h.requests.RequestsByStatus(ctx, openStatuses(), homeLimit)
	} else {
		rs, err = h.requests.RequestsByRequester(ctx, userID, homeLimit)
	}
	if err != nil {
		return fmt.Errorf("app home of %s: %w", userID, err)
	}
	if c.Support {
		blocks = append(blocks, h.queueBlocks(rs)...)
	} else {
		blocks = append(blocks, h.requesterBlocks(rs)...)
	}
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
	if _, err := h.slack.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: userID, View: view}); err != nil {
		return fmt.Errorf("publish app home of %s: %w", userID, err)
	}
	return nil
}

func (h *Handler) requestLine(r astrobot.Request) string {
	return fmt.Sprintf("*%s* · %s · cluster `%s` ↔ `%s` (%s) · %s ago\n_Next:_ %s",
		r.ID, statusLabel(r.Status), r.ClusterID, r.Peer.VPCID, r.Peer.Region, age(h.now(), r.CreatedAt), nextStep(r))
}

func (h *Handler) requesterBlocks(rs []astrobot.Request) []slack.Block {
	if len(rs) == 0 {
		return []slack.Block{section("You have no requests. `" + CommandPeer + "` opens the request form.")}
	}
	blocks := []slack.Block{section("*Your requests*, newest first")}
	for _, r := range rs {
		blocks = append(blocks, section(h.requestLine(r)))
		if astrobot.Allowed(astrobot.ActCancel, r.Status, astrobot.RoleRequester) {
			cancel, _ := buttonFor(ActionCancel)
			blocks = append(blocks, actionsBlock(BlockHomeActions+r.ID.String(), r, []button{cancel}))
		}
	}
	return blocks
}

func (h *Handler) queueBlocks(rs []astrobot.Request) []slack.Block {
	if len(rs) == 0 {
		return []slack.Block{section("The queue is empty: no open requests.")}
	}
	blocks := []slack.Block{section(fmt.Sprintf("*Open requests* (oldest %d at most), by status", homeLimit))}
	for _, s := range openStatuses() {
		group := slices.DeleteFunc(slices.Clone(rs), func(r astrobot.Request) bool { return r.Status != s })
		if len(group) == 0 {
			continue
		}
		blocks = append(blocks, section(fmt.Sprintf("*%s* (%d) — %s acts next", statusLabel(s), len(group), s.Owner())))
		for _, r := range group {
			line := h.requestLine(r)
			if r.Assignee != "" {
				line += fmt.Sprintf("\n_Assignee:_ <@%s>", r.Assignee)
			}
			blocks = append(blocks, section(line))
			var quick []button
			for _, b := range h.validButtons(r) {
				if b.action == astrobot.ActClaim || b.action == astrobot.ActApprove {
					quick = append(quick, b)
				}
			}
			if a := actionsBlock(BlockHomeActions+r.ID.String(), r, quick); a != nil {
				blocks = append(blocks, a)
			}
		}
	}
	return blocks
}
