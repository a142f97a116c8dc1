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
		switch cb.View.CallbackID {
		case CallbackPick:
			return h.submitPick(ctx, cb)
		case CallbackRequest:
			return h.submitRequest(ctx, cb)
		case CallbackReject, CallbackAddNote, CallbackResource:
			return h.submitStep(ctx, cb)
		}
	case slack.InteractionTypeBlockSuggestion:
		if cb.ActionID == ActionCluster {
			return h.clusterOptions(ctx, cb)
		}
	case slack.InteractionTypeBlockActions:
		h.blockAction(ctx, cb)
		return nil
	case slack.InteractionTypeViewClosed:
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
			if err := h.publishHome(ctx, e.User, ev.TeamID); err != nil {
				h.log.ErrorContext(ctx, "publishing App Home failed", "user", e.User, "err", err)
			}
		}
	default:
		h.log.DebugContext(ctx, "event ignored", "type", ev.InnerEvent.Type)
	}
}
