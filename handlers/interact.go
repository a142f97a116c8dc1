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
	h.log.DebugContext(ctx, "event ignored", "type", ev.InnerEvent.Type)
}
