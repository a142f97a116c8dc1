package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// maxStaticOptions is Slack's limit on the options of a static select; past it
// the cluster select searches as the user types.
const maxStaticOptions = 100

// listLimit bounds the requests one list answer shows.
const listLimit = 20

// openStatuses are the statuses of requests still in the support queue.
func openStatuses() []astrobot.Status {
	return []astrobot.Status{astrobot.StatusSubmitted, astrobot.StatusApproved, astrobot.StatusPendingAcceptance,
		astrobot.StatusConfiguring, astrobot.StatusFailed, astrobot.StatusExpired, astrobot.StatusDeclined}
}

// modalMeta travels in the modal's private_metadata: what the submission
// itself does not say.
type modalMeta struct {
	Channel string `json:"c"`
}

func (h *Handler) astroPeer(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	verb, rest, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
	rest = strings.TrimSpace(rest)
	c := h.caller(ctx, cmd.UserID, cmd.TeamID, cmd.ChannelID)
	switch strings.ToLower(verb) {
	case "help":
		return ephemeral(peerUsage())
	case "list":
		return h.listRequests(ctx, c)
	case "status":
		return h.requestStatus(ctx, c, rest)
	case "cancel":
		return h.cancelRequest(ctx, c, rest)
	}
	return h.openPeerModal(ctx, c, cmd.TriggerID, strings.TrimSpace(cmd.Text))
}

func peerUsage() string {
	return "*" + CommandPeer + "* requests VPC peering between an Astro cluster and your VPC, and follows your requests.\n" +
		"• `" + CommandPeer + "` or `" + CommandPeer + " <cluster>` — open the request form\n" +
		"• `" + CommandPeer + " list` — your requests (support: the open queue)\n" +
		"• `" + CommandPeer + " status PEER-0042` — details and history of a request\n" +
		"• `" + CommandPeer + " cancel PEER-0042` — cancel a request before it is active\n" +
		"You will need your AWS account ID, the region and ID of your VPC, and its CIDR blocks."
}

func (h *Handler) openPeerModal(ctx context.Context, c astrobot.Caller, triggerID, clusterRef string) *slack.Msg {
	// The trigger expires 3 seconds after the command: look up with what is
	// in memory and open the modal at once.
	lctx, cancel := context.WithTimeout(ctx, h.lookupTimeout)
	defer cancel()
	clusters, err := h.dir.Clusters(lctx)
	if err != nil {
		return ephemeral(h.errorText(ctx, CommandPeer, err))
	}
	visible := h.tenancy.Visible(c, clusters)
	if len(visible) == 0 {
		return ephemeral("You can see no clusters from here, so there is nothing to peer with. Ask support to map your Slack workspace or this channel to your organization.")
	}
	var initial *astrobot.Cluster
	if clusterRef != "" {
		cl, err := h.tenancy.FindCluster(c, clusters, clusterRef)
		if err != nil {
			return ephemeral(h.errorText(ctx, CommandPeer, err) + " Run `" + CommandPeer + "` without a cluster to pick one.")
		}
		initial = &cl
	}
	meta, _ := json.Marshal(modalMeta{Channel: c.ChannelID})
	if _, err := h.slack.OpenViewContext(ctx, triggerID, peerModal(visible, initial, string(meta))); err != nil {
		return ephemeral(h.errorText(ctx, "views.open", fmt.Errorf("open peering modal: %w", err)))
	}
	return nil
}

func clusterOption(cl astrobot.Cluster) *slack.OptionBlockObject {
	return slack.NewOptionBlockObject(cl.ID, plain(truncate(cl.Name+" ("+cl.ID+", "+cl.Region+")", 75)), nil)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// peerModal builds the peering request form.
func peerModal(clusters []astrobot.Cluster, initial *astrobot.Cluster, meta string) slack.ModalViewRequest {
	var clusterEl slack.BlockElement
	if len(clusters) <= maxStaticOptions {
		opts := make([]*slack.OptionBlockObject, len(clusters))
		for i, cl := range clusters {
			opts[i] = clusterOption(cl)
		}
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a cluster"), ActionCluster, opts...)
		if initial != nil {
			sel.InitialOption = clusterOption(*initial)
		}
		clusterEl = sel
	} else {
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plain("Type to search your clusters"), ActionCluster)
		zero := 0
		sel.MinQueryLength = &zero
		if initial != nil {
			sel.InitialOption = clusterOption(*initial)
		}
		clusterEl = sel
	}
	regions := astrobot.Regions()
	regionOpts := make([]*slack.OptionBlockObject, len(regions))
	for i, r := range regions {
		regionOpts[i] = slack.NewOptionBlockObject(r, plain(r), nil)
	}
	account := slack.NewPlainTextInputBlockElement(plain("123456789012"), ActionAccount)
	account.MaxLength = 12
	vpc := slack.NewPlainTextInputBlockElement(plain("vpc-0abc12345678def90"), ActionVPC)
	vpc.MaxLength = 21
	cidrs := slack.NewPlainTextInputBlockElement(plain("10.20.0.0/16"), ActionCIDRs)
	cidrs.Multiline = true
	cidrs.MaxLength = 200
	note := slack.NewPlainTextInputBlockElement(plain("Anything support should know"), ActionNote)
	note.Multiline = true
	note.MaxLength = astrobot.MaxNoteLength
	noteBlock := slack.NewInputBlock(BlockNote, plain("Note"), nil, note)
	noteBlock.Optional = true

	blocks := []slack.Block{
		section("Peer one of your Astro clusters with a VPC in your AWS account. Support reviews the request; you will then accept the peering in your account."),
		slack.NewInputBlock(BlockCluster, plain("Astro cluster"), nil, clusterEl),
		slack.NewInputBlock(BlockAccount, plain("Your AWS account ID"), plain("12 digits"), account),
		slack.NewInputBlock(BlockRegion, plain("Region of your VPC"), nil,
			slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a region"), ActionRegion, regionOpts...)),
		slack.NewInputBlock(BlockVPC, plain("Your VPC ID"), nil, vpc),
		slack.NewInputBlock(BlockCIDRs, plain("CIDR blocks of your VPC"), plain("One or more, separated by commas or new lines. They must not overlap the cluster's VPC."), cidrs),
		noteBlock,
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackPeerRequest,
		Title:           plain("VPC peering request"),
		Submit:          plain("Submit"),
		Close:           plain("Cancel"),
		PrivateMetadata: meta,
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// peerInput is what the form holds.
type peerInput struct {
	cluster, account, region, vpc, cidrs, note string
}

func readPeerInput(v slack.View) peerInput {
	get := func(block, action string) slack.BlockAction { return stateValue(v, block, action) }
	return peerInput{
		cluster: get(BlockCluster, ActionCluster).SelectedOption.Value,
		account: strings.NewReplacer("-", "", " ", "").Replace(get(BlockAccount, ActionAccount).Value), // the console shows 1234-5678-9012
		region:  get(BlockRegion, ActionRegion).SelectedOption.Value,
		vpc:     strings.ToLower(strings.TrimSpace(get(BlockVPC, ActionVPC).Value)),
		cidrs:   get(BlockCIDRs, ActionCIDRs).Value,
		note:    strings.TrimSpace(get(BlockNote, ActionNote).Value),
	}
}

// submitPeerRequest validates the form and files the request. Every problem
// goes back on the field it concerns; nothing is stored unless all is well.
func (h *Handler) submitPeerRequest(ctx context.Context, cb slack.InteractionCallback) *slack.ViewSubmissionResponse {
	in := readPeerInput(cb.View)
	var meta modalMeta
	_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta) // a missing channel only narrows visibility
	team := cb.User.TeamID
	if team == "" {
		team = cb.Team.ID
	}
	c := h.caller(ctx, cb.User.ID, team, meta.Channel)

	fields := map[string]string{}
	check := func(field string, err error) {
		if err != nil {
			fields[field] = astrobot.ErrorMessageOf(err)
		}
	}
	check(astrobot.FieldAccount, astrobot.ValidateAccountID(in.account))
	check(astrobot.FieldRegion, astrobot.ValidateRegion(in.region))
	check(astrobot.FieldVPC, astrobot.ValidateVPCID(in.vpc))
	cidrs, warnings, err := astrobot.ParseCIDRs(in.cidrs)
	check(astrobot.FieldCIDRs, err)
	if len(in.note) > astrobot.MaxNoteLength {
		fields[astrobot.FieldNote] = fmt.Sprintf("Keep the note under %d characters.", astrobot.MaxNoteLength)
	}

	lctx, cancel := context.WithTimeout(ctx, h.lookupTimeout)
	clusters, err := h.dir.Clusters(lctx)
	cancel()
	if err != nil {
		return h.viewErrors(ctx, CallbackPeerRequest, err, BlockCluster)
	}
	var cl astrobot.Cluster
	if in.cluster == "" {
		err = astrobot.Errorf(astrobot.EInvalid, "Choose the Astro cluster to peer with.")
	} else {
		cl, err = h.tenancy.FindCluster(c, clusters, in.cluster)
	}
	check(astrobot.FieldCluster, err)
	if err == nil && fields[astrobot.FieldCIDRs] == "" {
		check(astrobot.FieldCIDRs, astrobot.CheckClusterOverlap(cl, cidrs))
	}
	if len(fields) > 0 {
		return h.viewErrors(ctx, CallbackPeerRequest, &astrobot.Error{Code: astrobot.EInvalid, Message: "Some fields need fixing.", Fields: fields}, BlockCluster)
	}

	req := astrobot.Request{
		Kind:      astrobot.KindPeering,
		Requester: astrobot.Requester{UserID: c.UserID, TeamID: c.TeamID, ChannelID: c.ChannelID},
		ClusterID: cl.ID,
		Peer:      astrobot.Peer{AccountID: in.account, Region: in.region, VPCID: in.vpc, CIDRs: cidrs},
		Note:      in.note,
		Warnings:  warnings,
		CreatedAt: h.now(),
	}
	saved, _, err := h.requests.CreateRequest(ctx, req, cb.View.ID)
	if err != nil {
		return h.viewErrors(ctx, CallbackPeerRequest, err, BlockVPC)
	}
	return slack.NewUpdateViewSubmissionResponse(filedModal(saved, cl))
}

// filedModal replaces the form once the request is stored.
func filedModal(r astrobot.Request, cl astrobot.Cluster) *slack.ModalViewRequest {
	text := fmt.Sprintf(":white_check_mark: *%s* is filed: peering of *%s* with `%s` (%s, account %s).\n%s\nYou will get a direct message at every step.",
		r.ID, cl.Name, r.Peer.VPCID, r.Peer.Region, r.Peer.AccountID, r.Status.Next())
	for _, w := range r.Warnings {
		text += "\n:information_source: " + w
	}
	return &slack.ModalViewRequest{
		Type:   slack.VTModal,
		Title:  plain("VPC peering request"),
		Close:  plain("Done"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{section(text)}},
	}
}

// ClusterOptions answers the type-ahead search of the cluster select.
func (h *Handler) clusterOptions(ctx context.Context, cb slack.InteractionCallback) *slack.OptionsResponse {
	var meta modalMeta
	_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta)
	team := cb.User.TeamID
	if team == "" {
		team = cb.Team.ID
	}
	c := h.caller(ctx, cb.User.ID, team, meta.Channel)
	lctx, cancel := context.WithTimeout(ctx, h.lookupTimeout)
	defer cancel()
	clusters, err := h.dir.Clusters(lctx)
	if err != nil {
		h.errorText(ctx, "block_suggestion", err)
		return &slack.OptionsResponse{}
	}
	q := strings.ToLower(strings.TrimSpace(cb.Value))
	var opts []*slack.OptionBlockObject
	for _, cl := range h.tenancy.Visible(c, clusters) {
		if q == "" || strings.Contains(strings.ToLower(cl.Name), q) || strings.Contains(strings.ToLower(cl.ID), q) {
			opts = append(opts, clusterOption(cl))
			if len(opts) == maxStaticOptions {
				break
			}
		}
	}
	return &slack.OptionsResponse{Options: opts}
}
