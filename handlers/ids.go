package handlers

import (
	"strings"

	"github.com/astrobot-dev/astrobot"
)

// Every Slack identifier astrobot uses: slash commands, callback IDs, block IDs
// and action IDs. Nothing else in the project spells one out; the IDs made
// from a name (a form field, an action) are made by the functions below.
const (
	CommandIP      = "/astro-ip"
	CommandConnect = "/astro-connect"
	CommandPeer    = "/astro-peer" // the shortcut to the peering form

	// CallbackPick is the modal in which the requester picks the kind of
	// request; its input is BlockKind with the radio buttons ActionKind.
	CallbackPick = "connect_pick"
	BlockKind    = "connect_kind"
	ActionKind   = "connect_kind_input"

	// CallbackRequest is the request form of every kind. Its
	// private_metadata names the kind; its inputs are FieldBlock(name) with
	// the element FieldAction(name), for the cluster, the note and the
	// kind's fields.
	CallbackRequest = "connect_request"

	// Buttons on the support card and App Home: ActionButton(action), with
	// the request's reference as value.
	actionPrefix = "req_"

	// ActionNewRequest is App Home's "New request" button.
	ActionNewRequest = "home_new_request"

	// Follow-up buttons on the DM and App Home entry of an active request
	// (astrobot.FollowUps): FollowUpAction(kind), with the request's cluster
	// as value, opens the form of that kind with the cluster chosen. They
	// stand in the block BlockFollowUps followed by the request's reference.
	followUpPrefix = "follow_up_"
	BlockFollowUps = "follow_ups_"

	// BlockCardActions is the actions block of the support card;
	// BlockHomeActions, followed by the request ID, the actions of one request
	// on App Home; BlockHomeNew the block of the New request button.
	BlockCardActions = "req_actions"
	BlockHomeActions = "home_actions_"
	BlockHomeNew     = "home_new"

	// Modals that ask support for one more value before a change, with their
	// single input. Their private_metadata is the request's reference.
	CallbackReject   = "req_reject_modal"
	CallbackAddNote  = "req_note_modal"
	CallbackResource = "req_peering_modal" // the ID of the kind's resource; named when peering was the only kind
	BlockReason      = "req_reason"
	ActionReason     = "req_reason_input"
	BlockResource    = "req_pcx"
	ActionResource   = "req_pcx_input"
)

// DeliveryEventType is the event_type of the metadata of every message the
// bot posts from its outbox; the payload names the outbox entry
// ("entry") and the request ("request"), so that a delivery that may have
// happened already finds its message instead of posting it twice.
const DeliveryEventType = "astrobot_delivery"

// fieldPrefix starts the block and action IDs of form fields.
const fieldPrefix = "f_"

// FieldBlock is the input block of form field name.
func FieldBlock(name string) string { return fieldPrefix + name }

// FieldAction is the element of form field name.
func FieldAction(name string) string { return fieldPrefix + name + "_input" }

// ActionCluster is FieldAction(astrobot.FieldCluster): the cluster select of
// every form, which searches as the user types when there are many clusters
// (block_suggestion).
const ActionCluster = fieldPrefix + astrobot.FieldCluster + "_input"

// ActionButton is the action ID of the button that does action.
func ActionButton(a astrobot.Action) string { return actionPrefix + string(a) }

// buttonAction returns the action of a button's action ID.
func buttonAction(actionID string) (astrobot.Action, bool) {
	a, ok := strings.CutPrefix(actionID, actionPrefix)
	return astrobot.Action(a), ok && a != ""
}

// FollowUpAction is the action ID of the follow-up button that opens the
// form of kind d.
func FollowUpAction(d astrobot.KindDef) string { return followUpPrefix + d.Slug() }

// followUpKind returns the kind whose form the follow-up button actionID
// opens: a kind offered as a follow-up, named by its slug exactly.
func followUpKind(actionID string) (astrobot.KindDef, bool) {
	slug, ok := strings.CutPrefix(actionID, followUpPrefix)
	d, known := astrobot.KindBySlug(slug)
	if !ok || !known || d.Slug() != slug {
		return nil, false
	}
	_, offered := d.(astrobot.FollowUpper)
	return d, offered
}

// KnownID reports whether id is one of the callback or action IDs astrobot
// made. The transports label their metrics with known IDs only, so that
// forged payloads cannot grow the number of series.
func KnownID(id string) bool {
	switch id {
	case CallbackPick, CallbackRequest, CallbackReject, CallbackAddNote, CallbackResource, ActionCluster, ActionNewRequest:
		return true
	}
	if _, ok := followUpKind(id); ok {
		return true
	}
	a, ok := buttonAction(id)
	if !ok {
		return false
	}
	for _, d := range astrobot.Kinds() {
		if _, ok := astrobot.RuleFor(d, a); ok {
			return true
		}
	}
	return false
}
