package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// homeLimit bounds the requests App Home shows, within Slack's 100 blocks.
const homeLimit = 30

// publishHome shows a user's App Home tab: a requester sees their requests
// with the next step; support sees the open queue, grouped by status, with the
// buttons valid for each request. Both can start a new request.
func (h *Handler) publishHome(ctx context.Context, userID, teamID string) error {
	c := h.caller(ctx, userID, teamID, "")
	newRequest := slack.NewButtonBlockElement(ActionNewRequest, "new", plain("New request"))
	newRequest.Style = slack.StylePrimary
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("astrobot")),
		section(mdf("`%s` shows a cluster's external IPs and VPC. `%s` requests a private connection: %s; `%s help` says more.",
			CommandIP, CommandConnect, kindTitles(), CommandConnect)),
		slack.NewActionBlock(BlockHomeNew, newRequest),
		slack.NewDividerBlock(),
	}
	rs, err := h.myRequests(ctx, c, homeLimit)
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

// kindTitles names every kind of request.
func kindTitles() string {
	var titles []string
	for _, d := range astrobot.Kinds() {
		titles = append(titles, d.Title())
	}
	return strings.Join(titles, ", ")
}

func (h *Handler) homeLine(r astrobot.Request) md {
	return mdf("%s · %s ago\n_Next:_ %s", requestLine(&r), age(h.now(), r.CreatedAt), escMessage(r.Next()))
}

func (h *Handler) requesterBlocks(rs []astrobot.Request) []slack.Block {
	if len(rs) == 0 {
		return []slack.Block{section(mdf("You have no requests. *New request* above, or `%s`, opens the request form.", CommandConnect))}
	}
	blocks := []slack.Block{section("*Your requests*, newest first")}
	for _, r := range rs {
		blocks = append(blocks, section(h.homeLine(r)))
		if r.Allowed(astrobot.ActCancel, astrobot.RoleRequester) {
			cancel, _ := buttonFor(r.Def(), astrobot.ActCancel)
			blocks = append(blocks, actionsBlock(BlockHomeActions+r.Ref(), r, []button{cancel}))
		}
		if f := followUpBlock(r); f != nil {
			blocks = append(blocks, f)
		}
	}
	return blocks
}

func (h *Handler) queueBlocks(rs []astrobot.Request) []slack.Block {
	if len(rs) == 0 {
		return []slack.Block{section("The queue is empty: no open requests.")}
	}
	blocks := []slack.Block{section(mdf("*Open requests* (oldest %d at most), by status", homeLimit))}
	for _, s := range astrobot.OpenStatuses() {
		group := slices.DeleteFunc(slices.Clone(rs), func(r astrobot.Request) bool { return r.Status != s })
		if len(group) == 0 {
			continue
		}
		blocks = append(blocks, section(mdf("*%s* (%d) — %s acts next", s.Label(), len(group), group[0].Owner())))
		for _, r := range group {
			line := h.homeLine(r)
			if r.Assignee != "" {
				line += "\n_Assignee:_ " + mention(r.Assignee)
			}
			blocks = append(blocks, section(line))
			var quick []button
			for _, b := range h.validButtons(r) {
				if b.action == astrobot.ActClaim || b.action == astrobot.ActApprove {
					quick = append(quick, b)
				}
			}
			if a := actionsBlock(BlockHomeActions+r.Ref(), r, quick); a != nil {
				blocks = append(blocks, a)
			}
		}
	}
	return blocks
}
