package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// button is one workflow button: what it does to a request and how it looks.
type button struct {
	action  astrobot.Action
	label   string
	style   slack.Style
	modal   string // callback ID of the modal it opens first, if any
	manual  bool   // a step the bot takes in AWS mode, which support records by hand in manual mode
	confirm string // the text of the dialog that confirms it first, if any
}

// buttons returns every workflow button of kind d, in display order: the
// ones every kind has, and the kind's steps that support records in manual
// mode.
func buttons(d astrobot.KindDef) []button {
	bs := []button{
		{action: astrobot.ActClaim, label: "Claim", style: slack.StyleDefault},
		{action: astrobot.ActApprove, label: "Approve", style: slack.StylePrimary},
		{action: astrobot.ActReject, label: "Reject", style: slack.StyleDanger, modal: CallbackReject},
	}
	for _, r := range d.Steps() {
		if r.Button == "" {
			continue
		}
		// A step the bot takes in AWS mode is support's by hand in manual
		// mode only; a step only support takes has its button in both.
		b := button{action: r.Action, label: r.Button, style: slack.StylePrimary, manual: slices.Contains(r.Who, astrobot.RoleBot), confirm: r.Confirm}
		if r.Resource {
			b.modal = CallbackResource
		}
		if r.Confirm != "" {
			b.style = slack.StyleDanger
		}
		bs = append(bs, b)
	}
	return append(bs,
		button{action: astrobot.ActRetry, label: "Retry", style: slack.StyleDefault},
		button{action: astrobot.ActNote, label: "Add note", style: slack.StyleDefault, modal: CallbackAddNote},
		button{action: astrobot.ActCancel, label: "Cancel request", style: slack.StyleDanger,
			confirm: "The request stops here; a new one must be filed to connect again."},
	)
}

func buttonFor(d astrobot.KindDef, a astrobot.Action) (button, bool) {
	for _, b := range buttons(d) {
		if b.action == a {
			return b, true
		}
	}
	return button{}, false
}

// validButtons returns the buttons support may press on r now. The manual
// steps show only in manual mode; in AWS mode the bot takes them.
func (h *Handler) validButtons(r astrobot.Request) []button {
	var out []button
	for _, b := range buttons(r.Def()) {
		if b.manual && !h.manual(r.Kind) {
			continue
		}
		if r.Allowed(b.action, astrobot.RoleSupport) {
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
		btn := slack.NewButtonBlockElement(ActionButton(b.action), r.Ref(), plain(b.label))
		btn.Style = b.style
		if b.confirm != "" {
			btn.Confirm = slack.NewConfirmationBlockObject(plain(truncate(b.label+" "+r.Ref()+"?", 100)),
				plain(truncate(b.confirm, 300)), plain("Yes, "+strings.ToLower(b.label)), plain("No, keep it"))
		}
		els[i] = btn
	}
	return slack.NewActionBlock(blockID, els...)
}

// blockAction handles a button. Every press is authorized: support buttons
// need support, cancel needs the requester or support. A refusal is told to
// the presser alone and changes nothing.
func (h *Handler) blockAction(ctx context.Context, cb slack.InteractionCallback) {
	if len(cb.ActionCallback.BlockActions) == 0 {
		return
	}
	act := cb.ActionCallback.BlockActions[0]
	c := h.callerOf(ctx, cb, cb.Channel.ID)
	if act.ActionID == ActionNewRequest {
		if msg := h.openPicker(ctx, c, cb.TriggerID, ""); msg != nil {
			h.tell(ctx, cb, md(msg.Text))
		}
		return
	}
	if d, ok := followUpKind(act.ActionID); ok {
		h.openFollowUp(ctx, cb, c, d, act.Value)
		return
	}
	action, ok := buttonAction(act.ActionID)
	if !ok {
		h.log.WarnContext(ctx, "unknown action ignored", "action_id", act.ActionID)
		return
	}
	r, _, err := h.findRequest(ctx, c, act.Value)
	if err != nil {
		h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
		return
	}
	b, ok := buttonFor(r.Def(), action)
	if !ok {
		h.tell(ctx, cb, h.errorText(ctx, act.ActionID, astrobot.Errorf(astrobot.EInvalid,
			"That button does nothing to a %s request; nothing was changed.", r.Def().Title())))
		return
	}
	rl, err := role(c, r, b.action)
	if err != nil {
		h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
		return
	}
	if b.modal != "" {
		if _, err := r.Check(b.action, rl); err != nil {
			h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
			return
		}
		if _, err := h.slack.OpenViewContext(ctx, cb.TriggerID, stepModal(b, r)); err != nil {
			h.tell(ctx, cb, h.errorText(ctx, "views.open", fmt.Errorf("open %s modal: %w", b.modal, err)))
		}
		return
	}
	if _, _, err := h.requests.Apply(ctx, r.ID, astrobot.Change{Action: b.action, Actor: c.UserID, Role: rl, At: h.now()}); err != nil {
		h.tell(ctx, cb, h.errorText(ctx, act.ActionID, err))
	}
}

// tell sends the presser of a button a message only they see: ephemeral in
// the channel of the button, or a DM from App Home.
func (h *Handler) tell(ctx context.Context, cb slack.InteractionCallback, text md) {
	channel := cb.Channel.ID
	if channel == "" {
		ch, _, _, err := h.slack.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{cb.User.ID}, ReturnIM: true})
		if err != nil {
			h.log.ErrorContext(ctx, "telling the user failed", "user", cb.User.ID, "err", err)
			return
		}
		if _, _, err := h.slack.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(string(text), false)); err != nil {
			h.log.ErrorContext(ctx, "telling the user failed", "user", cb.User.ID, "err", err)
		}
		return
	}
	if _, err := h.slack.PostEphemeralContext(ctx, channel, cb.User.ID, slack.MsgOptionText(string(text), false)); err != nil {
		h.log.ErrorContext(ctx, "telling the user failed", "user", cb.User.ID, "err", err)
	}
}

// stepModal asks for the one value a step needs: a reason, a note or the ID
// of the kind's resource.
func stepModal(b button, r astrobot.Request) slack.ModalViewRequest {
	var (
		title, label, hint, block, action string
		multiline                         bool
	)
	switch b.modal {
	case CallbackReject:
		title, label, hint, block, action, multiline = "Reject "+r.Ref(), "Reason", "The requester reads this.", BlockReason, ActionReason, true
	case CallbackAddNote:
		title, label, hint, block, action, multiline = "Note on "+r.Ref(), "Note", "Internal: support only, never shown to the requester.", BlockReason, ActionReason, true
	case CallbackResource:
		res := r.Def().Resource()
		title, label, hint, block, action = b.label+" "+r.Ref(), res.Label, res.Hint, BlockResource, ActionResource
	}
	in := slack.NewPlainTextInputBlockElement(nil, action)
	in.Multiline = multiline
	in.MaxLength = astrobot.MaxNoteLength
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      b.modal,
		Title:           plain(truncate(title, maxModalTitle)),
		Submit:          plain("Save"),
		Close:           plain("Cancel"),
		PrivateMetadata: r.Ref(),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(requestSummary(r)),
			slack.NewInputBlock(block, plain(label), plain(hint), in),
		}},
	}
}

// submitStep applies the step a modal asked a value for. Problems go back on
// the modal's input; nothing changes unless the step is allowed.
func (h *Handler) submitStep(ctx context.Context, cb slack.InteractionCallback) *slack.ViewSubmissionResponse {
	block := BlockReason
	if cb.View.CallbackID == CallbackResource {
		block = BlockResource
	}
	fail := func(err error) *slack.ViewSubmissionResponse {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{block: truncate(h.errorSentence(ctx, cb.View.CallbackID, err), 2000)})
	}
	c := h.callerOf(ctx, cb, "")
	r, _, err := h.findRequest(ctx, c, cb.View.PrivateMetadata)
	if err != nil {
		return fail(err)
	}
	var b button
	for _, x := range buttons(r.Def()) {
		if x.modal == cb.View.CallbackID {
			b = x
		}
	}
	rl, err := role(c, r, b.action)
	if err != nil {
		return fail(err)
	}
	change := astrobot.Change{Action: b.action, Actor: c.UserID, Role: rl, At: h.now()}
	if b.modal == CallbackResource {
		change.Resource = strings.ToLower(strings.TrimSpace(stateValue(cb.View, BlockResource, ActionResource).Value))
	} else {
		change.Note = strings.TrimSpace(stateValue(cb.View, BlockReason, ActionReason).Value)
	}
	if _, _, err := h.requests.Apply(ctx, r.ID, change); err != nil {
		return fail(err)
	}
	return nil
}
