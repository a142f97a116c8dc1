package handlers

import (
	"context"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// followUpBlock is the actions block of the follow-ups of r, the kinds
// offered as its next step (astrobot.FollowUps): one button each, which opens
// that kind's form with r's cluster chosen. It is nil when r has none.
func followUpBlock(r astrobot.Request) *slack.ActionBlock {
	fs := astrobot.FollowUps(&r)
	if len(fs) == 0 {
		return nil
	}
	els := make([]slack.BlockElement, len(fs))
	for i, f := range fs {
		els[i] = slack.NewButtonBlockElement(FollowUpAction(f.Kind), r.ClusterID, plain(truncate(f.Label, maxPlainLabel)))
	}
	return slack.NewActionBlock(BlockFollowUps+r.Ref(), els...)
}

// openFollowUp answers a follow-up button: the form of kind d, with the
// cluster clusterID chosen when c may see it. A refusal is told to the
// presser alone.
func (h *Handler) openFollowUp(ctx context.Context, cb slack.InteractionCallback, c astrobot.Caller, d astrobot.KindDef, clusterID string) {
	if msg := h.openForm(ctx, c, cb.TriggerID, d, clusterID, CommandConnect); msg != nil {
		h.tell(ctx, cb, md(msg.Text))
	}
}
