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
