package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// button is one workflow button: what it does to a request and how it looks.
type button struct {
	actionID string
	action   astrobot.Action
	label    string
	style    slack.Style
	modal    string // callback ID of the modal it opens first, if any
	manual   bool   // a step support records by hand in manual mode
}

// buttons returns every workflow button, in display order.
func buttons() []button {
	return []button{
		{ActionClaim, astrobot.ActClaim, "Claim", slack.StyleDefault, "", false},
		{ActionApprove, astrobot.ActApprove, "Approve", slack.StylePrimary, "", false},
		{ActionReject, astrobot.ActReject, "Reject", slack.StyleDanger, CallbackReject, false},
		{ActionPeeringCreated, astrobot.ActPeeringCreated, "Peering requested", slack.StylePrimary, CallbackPeering, true},
		{ActionAccepted, astrobot.ActAccepted, "Customer accepted", slack.StylePrimary, "", true},
		{ActionConfigured, astrobot.ActConfigured, "Routes and DNS done", slack.StylePrimary, "", true},
		{ActionRetry, astrobot.ActRetry, "Retry", slack.StyleDefault, "", false},
		{ActionAddNote, astrobot.ActNote, "Add note", slack.StyleDefault, CallbackAddNote, false},
		{ActionCancel, astrobot.ActCancel, "Cancel request", slack.StyleDanger, "", false},
	}
}

func buttonFor(actionID string) (button, bool) {
	for _, b := range buttons() {
		if b.actionID == actionID {
			return b, true
		}
	}
	return button{}, false
}

// validButtons returns the buttons support may press on r now. The manual
// steps show only in manual mode; in AWS mode the bot takes them.
func (h *Handler) validButtons(r astrobot.Request) []button {
	var out []button
	for _, b := range buttons() {
		if b.manual && !h.manual {
			continue
		}
		if astrobot.Allowed(b.action, r.Status, astrobot.RoleSupport) {
			out = append(out, b)
		}
	}
	return out
}

// actionsBlock renders buttons for request r, or nil when there are none.
func actionsBlock(blockID string, r astrobot.Request, bs []button) *slack.ActionBlock {
	if len(bs) == 0 {
		return nil
	}
	els := make([]slack.BlockElement, len(bs))
	for i, b := range bs {
		btn := slack.NewButtonBlockElement(b.actionID, r.ID.String(), plain(b.label))
		btn.Style = b.style
		if b.action == astrobot.ActCancel {
			btn.Confirm = slack.NewConfirmationBlockObject(plain("Cancel "+r.ID.String()+"?"),
				plain("The request stops here; a new one must be filed to peer again."), plain("Cancel it"), plain("Keep it"))
		}
		els[i] = btn
	}
	return slack.NewActionBlock(blockID, els...)
}

// blockAction handles a workflow button. Every press is authorized: support
// buttons need support, cancel needs the requester or support. A refusal is
// told to the presser alone and changes nothing.
func (h *Handler) blockAction(ctx context.Context, cb slack.InteractionCallback) {
	if len(cb.ActionCallback.BlockActions) == 0 {
		return
	}
	act := cb.ActionCallback.BlockActions[0]
	b, ok := buttonFor(act.ActionID)
	if !ok {
		h.log.WarnContext(ctx, "unknown action ignored", "action_id", act.ActionID)
		return
	}
	team := cb.User.TeamID
	if team == "" {
		team = cb.Team.ID
	}
	c := h.caller(ctx, cb.User.ID, team, cb.Channel.ID)
	r, _, err := h.findRequest(ctx, c, act.Value)
	if err != nil {
		h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
		return
	}
	role, err := h.role(c, r, b.action)
	if err != nil {
		h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
		return
	}
	if b.modal != "" {
		if _, err := r.Check(b.action, role); err != nil {
			h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
			return
		}
		if _, err := h.slack.OpenViewContext(ctx, cb.TriggerID, stepModal(b, r)); err != nil {
			h.tell(ctx, cb, h.errorText(ctx, "views.open", fmt.Errorf("open %s modal: %w", b.modal, err)))
		}
		return
	}
	if _, _, err := h.requests.Apply(ctx, r.ID, astrobot.Change{Action: b.action, Actor: c.UserID, Role: role, At: h.now()}); err != nil {
		h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
	}
}

// role is the capacity in which c may do action to r, or an EUnauthorized error.
func (h *Handler) role(c astrobot.Caller, r astrobot.Request, action astrobot.Action) (astrobot.Role, error) {
	switch {
	case c.Support:
		return astrobot.RoleSupport, nil
	case action == astrobot.ActCancel && r.Requester.UserID == c.UserID:
		return astrobot.RoleRequester, nil
	case action == astrobot.ActCancel:
		return "", astrobot.Errorf(astrobot.EUnauthorized, "Only <@%s>, who filed %s, or support can cancel it; nothing was changed.", r.Requester.UserID, r.ID)
	}
	return "", astrobot.Errorf(astrobot.EUnauthorized, "Only support can %s %s; nothing was changed.", action, r.ID)
}

// tell sends the presser of a button a message only they see: ephemeral in
// the channel of the button, or a DM from App Home.
func (h *Handler) tell(ctx context.Context, cb slack.InteractionCallback, text string) {
	channel := cb.Channel.ID
	if channel == "" {
		ch, _, _, err := h.slack.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{cb.User.ID}, ReturnIM: true})
		if err != nil {
			h.log.ErrorContext(ctx, "telling the user failed", "user", cb.User.ID, "err", err)
			return
		}
		if _, _, err := h.slack.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(text, false)); err != nil {
			h.log.ErrorContext(ctx, "telling the user failed", "user", cb.User.ID, "err", err)
		}
		return
	}
	if _, err := h.slack.PostEphemeralContext(ctx, channel, cb.User.ID, slack.MsgOptionText(text, false)); err != nil {
		h.log.ErrorContext(ctx, "telling the user failed", "user", cb.User.ID, "err", err)
	}
}

// stepModal asks for the one value a step needs: a reason, a note or the
// peering connection ID.
func stepModal(b button, r astrobot.Request) slack.ModalViewRequest {
	var (
		title, label, hint, block, action string
		multiline                         bool
	)
	switch b.modal {
	case CallbackReject:
		title, label, hint, block, action, multiline = "Reject "+r.ID.String(), "Reason", "The requester reads this.", BlockReason, ActionReason, true
	case CallbackAddNote:
		title, label, hint, block, action, multiline = "Note on "+r.ID.String(), "Note", "Internal: support only, never shown to the requester.", BlockReason, ActionReason, true
	case CallbackPeering:
		title, label, hint, block, action = "Peering for "+r.ID.String(), "Peering connection ID", "The pcx-… ID of the peering you created from the Astro VPC.", BlockPeeringID, ActionPeeringID
	}
	in := slack.NewPlainTextInputBlockElement(nil, action)
	in.Multiline = multiline
	in.MaxLength = astrobot.MaxNoteLength
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      b.modal,
		Title:           plain(truncate(title, 24)),
		Submit:          plain("Save"),
		Close:           plain("Cancel"),
		PrivateMetadata: r.ID.String(),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(requestSummary(r)),
			slack.NewInputBlock(block, plain(label), plain(hint), in),
		}},
	}
}

// submitStep applies the step a modal asked a value for. Problems go back on
// the modal's input; nothing changes unless the step is allowed.
func (h *Handler) submitStep(ctx context.Context, cb slack.InteractionCallback) *slack.ViewSubmissionResponse {
	var (
		b     button
		block = BlockReason
		value = strings.TrimSpace(stateValue(cb.View, BlockReason, ActionReason).Value)
	)
	for _, x := range buttons() {
		if x.modal == cb.View.CallbackID {
			b = x
		}
	}
	if b.modal == CallbackPeering {
		block = BlockPeeringID
		value = strings.ToLower(strings.TrimSpace(stateValue(cb.View, BlockPeeringID, ActionPeeringID).Value))
	}
	team := cb.User.TeamID
	if team == "" {
		team = cb.Team.ID
	}
	c := h.caller(ctx, cb.User.ID, team, "")
	fail := func(err error) *slack.ViewSubmissionResponse {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{block: strings.TrimPrefix(h.errorText(ctx, cb.View.CallbackID, err), ":warning: ")})
	}
	r, _, err := h.findRequest(ctx, c, cb.View.PrivateMetadata)
	if err != nil {
		return fail(err)
	}
	role, err := h.role(c, r, b.action)
	if err != nil {
		return fail(err)
	}
	change := astrobot.Change{Action: b.action, Actor: c.UserID, Role: role, At: h.now(), Note: value}
	if b.modal == CallbackPeering {
		change.Note, change.PeeringID = "", value
	}
	if _, _, err := h.requests.Apply(ctx, r.ID, change); err != nil {
		return fail(err)
	}
	return nil
}
