package handlers

import (
	"context"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Interaction answers a modal submission, a block action or an options
// request, and returns the payload to acknowledge with (nil for an empty ack).
func (h *Handler) Interaction(ctx context.Context, cb slack.InteractionCallback) any {
	switch cb.Type {
	case slack.InteractionTypeViewSubmission:
		if cb.View.CallbackID == CallbackPeerRequest {
			return h.submitPeerRequest(ctx, cb)
		}
	case slack.InteractionTypeBlockSuggestion:
		if cb.ActionID == ActionCluster {
			return h.clusterOptions(ctx, cb)
		}
	case slack.InteractionTypeViewClosed, slack.InteractionTypeBlockActions:
		return nil
	}
	h.log.WarnContext(ctx, "unknown interaction ignored", "type", cb.Type, "callback_id", cb.View.CallbackID, "action_id", cb.ActionID)
	return nil
}

// Event handles an Events API callback. Events are acknowledged at once and
// handled after the ack.
func (h *Handler) Event(ctx context.Context, ev slackevents.EventsAPIEvent) {
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		if e.Tab == "home" || e.Tab == "" {
			h.publishHome(ctx, e.User, ev.TeamID)
		}
	default:
		h.log.DebugContext(ctx, "event ignored", "type", ev.InnerEvent.Type)
	}
}

// publishHome shows a user their requests (support: the open queue) on the
// App Home tab.
func (h *Handler) publishHome(ctx context.Context, userID, teamID string) {
	c := h.caller(ctx, userID, teamID, "")
	msg := h.listRequests(ctx, c)
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("astrobot")),
		section("`" + CommandIP + "` shows a cluster's external IPs and VPC. `" + CommandPeer + "` requests VPC peering."),
		slack.NewDividerBlock(),
		section(truncate(msg.Text, 2900)),
	}
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
	if _, err := h.slack.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: userID, View: view}); err != nil {
		h.log.ErrorContext(ctx, "publishing App Home failed", "user", userID, "err", err)
	}
}
