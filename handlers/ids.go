package handlers

import "github.com/astrobot-dev/astrobot"

// Every Slack identifier astrobot uses: slash commands, callback IDs, block IDs
// and action IDs. Nothing else in the project spells one out.
const (
	CommandIP   = "/astro-ip"
	CommandPeer = "/astro-peer"

	// CallbackPeerRequest is the callback ID of the peering request modal.
	CallbackPeerRequest = "peer_request"

	// Input blocks of the peering request modal, with the action ID of the
	// element inside each.
	BlockCluster  = "peer_cluster"
	ActionCluster = "peer_cluster_select"
	BlockAccount  = "peer_account"
	ActionAccount = "peer_account_input"
	BlockRegion   = "peer_region"
	ActionRegion  = "peer_region_select"
	BlockVPC      = "peer_vpc"
	ActionVPC     = "peer_vpc_input"
	BlockCIDRs    = "peer_cidrs"
	ActionCIDRs   = "peer_cidrs_input"
	BlockNote     = "peer_note"
	ActionNote    = "peer_note_input"

	// Buttons on the support card and App Home. Each carries the request ID
	// as its value.
	ActionClaim          = "req_claim"
	ActionApprove        = "req_approve"
	ActionReject         = "req_reject"
	ActionAddNote        = "req_note"
	ActionRetry          = "req_retry"
	ActionCancel         = "req_cancel"
	ActionPeeringCreated = "req_peering_created"
	ActionAccepted       = "req_accepted"
	ActionConfigured     = "req_configured"

	// BlockCardActions is the actions block of the support card;
	// BlockHomeActions, followed by the request ID, the actions of one request
	// on App Home.
	BlockCardActions = "req_actions"
	BlockHomeActions = "home_actions_"

	// Modals that ask support for one more value before a change, with their
	// single input. Their private_metadata is the request ID.
	CallbackReject  = "req_reject_modal"
	CallbackAddNote = "req_note_modal"
	CallbackPeering = "req_peering_modal"
	BlockReason     = "req_reason"
	ActionReason    = "req_reason_input"
	BlockPeeringID  = "req_pcx"
	ActionPeeringID = "req_pcx_input"
)

// blockOfField maps the domain's field names to the input blocks that carry
// their errors.
func blockOfField(field string) string {
	switch field {
	case astrobot.FieldCluster:
		return BlockCluster
	case astrobot.FieldAccount:
		return BlockAccount
	case astrobot.FieldRegion:
		return BlockRegion
	case astrobot.FieldVPC:
		return BlockVPC
	case astrobot.FieldCIDRs:
		return BlockCIDRs
	case astrobot.FieldNote:
		return BlockNote
	}
	return ""
}

// KnownID reports whether id is one of the callback or action IDs above. The
// transports label their metrics with known IDs only, so that forged payloads
// cannot grow the number of series.
func KnownID(id string) bool {
	switch id {
	case CallbackPeerRequest, CallbackReject, CallbackAddNote, CallbackPeering,
		ActionCluster, ActionClaim, ActionApprove, ActionReject, ActionAddNote, ActionRetry, ActionCancel,
		ActionPeeringCreated, ActionAccepted, ActionConfigured:
		return true
	}
	return false
}
