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

// formMeta travels in the private_metadata of the picker and the form: what
// the submission itself does not say.
type formMeta struct {
	Channel string `json:"c"`            // where the command ran, for visibility
	Kind    string `json:"k,omitempty"`  // the form's kind
	Cluster string `json:"cl,omitempty"` // the picker's preset cluster
}

// readMeta reads private_metadata. A form whose metadata does not name a
// known kind was not made by astrobot (or by another version): it is refused.
func readMeta(v slack.View, wantKind bool) (formMeta, astrobot.KindDef, error) {
	var m formMeta
	damaged := astrobot.Errorf(astrobot.EInvalid, "This form is damaged or from another version of astrobot, so nothing was filed: close it and run %s again.", CommandConnect)
	if err := json.Unmarshal([]byte(v.PrivateMetadata), &m); err != nil {
		return formMeta{}, nil, damaged
	}
	if !wantKind {
		return m, nil, nil
	}
	d, ok := astrobot.KindOf(astrobot.Kind(m.Kind))
	if !ok {
		return formMeta{}, nil, damaged
	}
	return m, d, nil
}

func encodeMeta(m formMeta) string {
	b, _ := json.Marshal(m) // a struct of strings always encodes
	return string(b)
}

// astroConnect answers /astro-connect: the picker, a kind's form, or the
// verbs every kind shares.
func (h *Handler) astroConnect(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	word, rest, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
	rest = strings.TrimSpace(rest)
	c := h.caller(ctx, cmd.UserID, cmd.TeamID, cmd.ChannelID)
	if msg, ok := h.requestVerb(ctx, c, CommandConnect, word, rest); ok {
		return msg
	}
	if word == "" {
		return h.openPicker(ctx, c, cmd.TriggerID, "")
	}
	if d, ok := astrobot.KindBySlug(word); ok {
		return h.openForm(ctx, c, cmd.TriggerID, d, rest, CommandConnect)
	}
	// /astro-connect <cluster>: the picker, with that cluster chosen.
	clusters, err := h.clusters(ctx)
	if err != nil {
		return ephemeral(h.errorText(ctx, CommandConnect, err))
	}
	if cl, err := h.tenancy.FindCluster(c, clusters, cmd.Text); err == nil {
		return h.openPicker(ctx, c, cmd.TriggerID, cl.ID)
	}
	return ephemeral(mdf(":warning: %s is neither a kind of request (%s) nor a cluster you can see. `%s help` says more.",
		astrobot.Quote(word), strings.Join(slugs(), ", "), CommandConnect))
}

// astroPeer answers /astro-peer: the peering form, or the verbs every kind
// shares.
func (h *Handler) astroPeer(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	word, rest, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
	c := h.caller(ctx, cmd.UserID, cmd.TeamID, cmd.ChannelID)
	if msg, ok := h.requestVerb(ctx, c, CommandPeer, word, strings.TrimSpace(rest)); ok {
		return msg
	}
	d, _ := astrobot.KindOf(astrobot.KindPeering)
	return h.openForm(ctx, c, cmd.TriggerID, d, strings.TrimSpace(cmd.Text), CommandPeer)
}

// requestVerb answers the verbs both commands share: help, list, status and
// cancel. ok is false for any other word.
func (h *Handler) requestVerb(ctx context.Context, c astrobot.Caller, command, verb, rest string) (*slack.Msg, bool) {
	switch strings.ToLower(verb) {
	case "help":
		return ephemeral(usage(command)), true
	case "list":
		return h.listRequests(ctx, c), true
	case "status":
		return h.requestStatus(ctx, c, rest), true
	case "cancel":
		return h.cancelRequest(ctx, c, rest), true
	}
	return nil, false
}

func slugs() []string {
	var out []string
	for _, d := range astrobot.Kinds() {
		out = append(out, d.Slug())
	}
	return out
}

// usage is the help of /astro-connect or /astro-peer.
func usage(command string) md {
	var b strings.Builder
	example := astrobot.FormatID(astrobot.Kinds()[0], 42)
	if command == CommandPeer {
		b.WriteString(string(mdf("*%s* requests VPC peering between an Astro cluster and your VPC, and follows your requests.\n", command)))
		b.WriteString(string(mdf("• `%s` or `%s <cluster>` — open the peering form\n", command, command)))
	} else {
		b.WriteString(string(mdf("*%s* requests a private connection to an Astro cluster, and follows your requests.\n", command)))
		b.WriteString(string(mdf("• `%s` or `%s <cluster>` — choose what you need, then fill in its form\n", command, command)))
		for _, d := range astrobot.Kinds() {
			b.WriteString(string(mdf("• `%s %s [cluster]` — %s: %s\n", command, d.Slug(), d.Title(), d.Choose())))
		}
	}
	b.WriteString(string(mdf("• `%s list` — your requests (support: the open queue)\n", command)))
	b.WriteString(string(mdf("• `%s status %s` — details and history of a request\n", command, example)))
	b.WriteString(string(mdf("• `%s cancel %s` — cancel a request before it is active\n", command, example)))
	b.WriteString(string(mdf("Public IPs to allow-list need no request: `%s <cluster>` shows them.", CommandIP)))
	return md(b.String())
}

// clusters reads the directory within the look-up timeout: a trigger
// expires 3 seconds after the command, so look up what is in memory and open
// the modal at once.
func (h *Handler) clusters(ctx context.Context) ([]astrobot.Cluster, error) {
	lctx, cancel := context.WithTimeout(ctx, h.lookupTimeout)
	defer cancel()
	return h.dir.Clusters(lctx)
}

// visible returns every cluster and those c may see, or an error saying c
// sees none.
func (h *Handler) visible(ctx context.Context, c astrobot.Caller) ([]astrobot.Cluster, []astrobot.Cluster, error) {
	clusters, err := h.clusters(ctx)
	if err != nil {
		return nil, nil, err
	}
	visible := h.tenancy.Visible(c, clusters)
	if len(visible) == 0 {
		return nil, nil, astrobot.Errorf(astrobot.ENotFound, "You can see no clusters from here, so there is nothing to connect to. Ask support to map your Slack workspace or this channel to your organization.")
	}
	return clusters, visible, nil
}

// openPicker opens the modal in which the requester picks the kind of
// request, with clusterID chosen in the form that follows ("" for none).
func (h *Handler) openPicker(ctx context.Context, c astrobot.Caller, triggerID, clusterID string) *slack.Msg {
	if _, _, err := h.visible(ctx, c); err != nil {
		return ephemeral(h.errorText(ctx, CommandConnect, err))
	}
	if _, err := h.slack.OpenViewContext(ctx, triggerID, pickerModal(formMeta{Channel: c.ChannelID, Cluster: clusterID})); err != nil {
		return ephemeral(h.errorText(ctx, "views.open", fmt.Errorf("open the picker: %w", err)))
	}
	return nil
}

// pickerModal lists the kinds of request, one line each on when to choose it.
func pickerModal(meta formMeta) slack.ModalViewRequest {
	var lines []string
	var opts []*slack.OptionBlockObject
	for _, d := range astrobot.Kinds() {
		lines = append(lines, string(mdf("*%s* — %s", d.Title(), d.Choose())))
		opts = append(opts, slack.NewOptionBlockObject(d.Slug(), plain(truncate(d.Title(), maxPlainLabel)), nil))
	}
	lines = append(lines, string(mdf("_Only allow-listing the cluster's public IPs? No request needed: `%s <cluster>` shows them._", CommandIP)))
	radio := slack.NewRadioButtonsBlockElement(ActionKind, opts...)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackPick,
		Title:           plain("Connect to Astro"),
		Submit:          plain("Next"),
		Close:           plain("Cancel"),
		PrivateMetadata: encodeMeta(meta),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(md(strings.Join(lines, "\n"))),
			slack.NewInputBlock(BlockKind, plain("What do you need?"), nil, radio),
		}},
	}
}

// submitPick answers the picker's submission with the chosen kind's form, in
// the same modal.
func (h *Handler) submitPick(ctx context.Context, cb slack.InteractionCallback) *slack.ViewSubmissionResponse {
	meta, _, err := readMeta(cb.View, false)
	if err != nil {
		return h.viewErrors(ctx, CallbackPick, err, BlockKind)
	}
	slug := stateValue(cb.View, BlockKind, ActionKind).SelectedOption.Value
	d, ok := astrobot.KindBySlug(slug)
	if !ok {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockKind: "Choose one of the kinds of request above."})
	}
	c := h.callerOf(ctx, cb, meta.Channel)
	clusters, visible, err := h.visible(ctx, c)
	if err != nil {
		return h.viewErrors(ctx, CallbackPick, err, BlockKind)
	}
	var initial *astrobot.Cluster
	if cl, err := h.tenancy.FindCluster(c, clusters, meta.Cluster); meta.Cluster != "" && err == nil {
		initial = &cl
	}
	form := requestForm(d, visible, initial, formMeta{Channel: meta.Channel, Kind: string(d.Kind())})
	return slack.NewUpdateViewSubmissionResponse(&form)
}

// openForm opens the form of kind d, with the cluster clusterRef chosen when
// it is not empty.
func (h *Handler) openForm(ctx context.Context, c astrobot.Caller, triggerID string, d astrobot.KindDef, clusterRef, command string) *slack.Msg {
	clusters, visible, err := h.visible(ctx, c)
	if err != nil {
		return ephemeral(h.errorText(ctx, command, err))
	}
	var initial *astrobot.Cluster
	if clusterRef != "" {
		cl, err := h.tenancy.FindCluster(c, clusters, clusterRef)
		if err != nil {
			return ephemeral(h.errorText(ctx, command, err) + mdf(" Run `%s` without a cluster to pick one.", command))
		}
		initial = &cl
	}
	form := requestForm(d, visible, initial, formMeta{Channel: c.ChannelID, Kind: string(d.Kind())})
	if _, err := h.slack.OpenViewContext(ctx, triggerID, form); err != nil {
		return ephemeral(h.errorText(ctx, "views.open", fmt.Errorf("open the %s form: %w", d.Slug(), err)))
	}
	return nil
}

func clusterOption(cl astrobot.Cluster) *slack.OptionBlockObject {
	return slack.NewOptionBlockObject(cl.ID, plain(truncate(cl.Name+" ("+cl.ID+", "+cl.Region+")", maxPlainLabel)), nil)
}

// requestForm is the form of kind d: the cluster, the kind's fields, a note.
func requestForm(d astrobot.KindDef, clusters []astrobot.Cluster, initial *astrobot.Cluster, meta formMeta) slack.ModalViewRequest {
	var clusterEl *slack.SelectBlockElement
	if len(clusters) <= maxStaticOptions {
		opts := make([]*slack.OptionBlockObject, len(clusters))
		for i, cl := range clusters {
			opts[i] = clusterOption(cl)
		}
		clusterEl = slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a cluster"), ActionCluster, opts...)
	} else {
		clusterEl = slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plain("Type to search your clusters"), ActionCluster)
		zero := 0
		clusterEl.MinQueryLength = &zero
	}
	if initial != nil {
		clusterEl.InitialOption = clusterOption(*initial)
	}
	blocks := []slack.Block{
		section(esc(d.Intro(initial))),
		slack.NewInputBlock(FieldBlock(astrobot.FieldCluster), plain("Astro cluster"), nil, clusterEl),
	}
	for _, f := range d.Fields() {
		blocks = append(blocks, fieldInput(f))
	}
	blocks = append(blocks, fieldInput(astrobot.Field{Name: astrobot.FieldNote, Label: "Note", Placeholder: "Anything support should know",
		Type: astrobot.InputLines, MaxLength: astrobot.MaxNoteLength, Optional: true}))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackRequest,
		Title:           plain(truncate(d.Title()+" request", maxModalTitle)),
		Submit:          plain("Submit"),
		Close:           plain("Cancel"),
		PrivateMetadata: encodeMeta(meta),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// fieldInput is the input block of one form field.
func fieldInput(f astrobot.Field) *slack.InputBlock {
	var el slack.BlockElement
	switch f.Type {
	case astrobot.InputRegion:
		regions := astrobot.Regions()
		opts := make([]*slack.OptionBlockObject, len(regions))
		for i, r := range regions {
			opts[i] = slack.NewOptionBlockObject(r, plain(r), nil)
		}
		el = slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a region"), FieldAction(f.Name), opts...)
	default:
		in := slack.NewPlainTextInputBlockElement(plain(truncate(f.Placeholder, 150)), FieldAction(f.Name))
		in.Multiline = f.Type == astrobot.InputLines
		in.MaxLength = f.MaxLength
		el = in
	}
	var hint *slack.TextBlockObject
	if f.Hint != "" {
		hint = plain(f.Hint)
	}
	b := slack.NewInputBlock(FieldBlock(f.Name), plain(f.Label), hint, el)
	b.Optional = f.Optional
	return b
}

// readForm reads the values of the form of kind d, by field name.
func readForm(v slack.View, d astrobot.KindDef) astrobot.Input {
	in := astrobot.Input{}
	names := []string{astrobot.FieldCluster, astrobot.FieldNote}
	for _, f := range d.Fields() {
		names = append(names, f.Name)
	}
	for _, name := range names {
		a := stateValue(v, FieldBlock(name), FieldAction(name))
		in[name] = a.Value
		if a.SelectedOption.Value != "" {
			in[name] = a.SelectedOption.Value
		}
	}
	return in
}

// submitRequest validates a form and files the request. Every problem goes
// back on the field it concerns; nothing is stored unless all is well.
func (h *Handler) submitRequest(ctx context.Context, cb slack.InteractionCallback) *slack.ViewSubmissionResponse {
	clusterBlock := FieldBlock(astrobot.FieldCluster)
	meta, d, err := readMeta(cb.View, true)
	if err != nil {
		return h.viewErrors(ctx, CallbackRequest, err, clusterBlock)
	}
	in := readForm(cb.View, d)
	c := h.callerOf(ctx, cb, meta.Channel)

	fields := map[string]string{}
	note := strings.TrimSpace(in[astrobot.FieldNote])
	if len(note) > astrobot.MaxNoteLength {
		fields[astrobot.FieldNote] = fmt.Sprintf("Keep the note under %d characters.", astrobot.MaxNoteLength)
	}
	clusters, err := h.clusters(ctx)
	if err != nil {
		return h.viewErrors(ctx, CallbackRequest, err, clusterBlock)
	}
	var cl *astrobot.Cluster
	if ref := in[astrobot.FieldCluster]; ref == "" {
		fields[astrobot.FieldCluster] = "Choose the Astro cluster to connect to."
	} else if found, err := h.tenancy.FindCluster(c, clusters, ref); err != nil {
		fields[astrobot.FieldCluster] = astrobot.ErrorMessageOf(err)
	} else {
		cl = &found
	}
	spec, warnings, err := d.Parse(in, cl)
	if e, ok := err.(*astrobot.Error); ok {
		for f, msg := range e.Fields {
			fields[f] = msg
		}
	} else if err != nil {
		return h.viewErrors(ctx, CallbackRequest, err, clusterBlock)
	}
	if len(fields) > 0 {
		return h.viewErrors(ctx, CallbackRequest, &astrobot.Error{Code: astrobot.EInvalid, Message: "Some fields need fixing.", Fields: fields}, clusterBlock)
	}
	req := astrobot.Request{
		Kind:      d.Kind(),
		Requester: astrobot.Requester{UserID: c.UserID, TeamID: c.TeamID, ChannelID: c.ChannelID},
		ClusterID: cl.ID,
		Spec:      spec,
		Note:      note,
		Warnings:  warnings,
		CreatedAt: h.now(),
	}
	saved, _, err := h.requests.CreateRequest(ctx, req, cb.View.ID)
	if err != nil {
		return h.viewErrors(ctx, CallbackRequest, err, clusterBlock)
	}
	return slack.NewUpdateViewSubmissionResponse(filedModal(saved, *cl))
}

// filedModal replaces the form once the request is stored.
func filedModal(r astrobot.Request, cl astrobot.Cluster) *slack.ModalViewRequest {
	d := r.Def()
	text := mdf(":white_check_mark: *%s* is filed: %s for *%s*: %s.\n%s\nYou will get a direct message at every step.",
		r.Ref(), d.Title(), cl.Name, r.Spec.Key(), r.Next())
	for _, w := range r.Warnings {
		text += "\n:information_source: " + esc(w)
	}
	return &slack.ModalViewRequest{
		Type:   slack.VTModal,
		Title:  plain(truncate(d.Title()+" request", maxModalTitle)),
		Close:  plain("Done"),
		Blocks: slack.Blocks{BlockSet: sections(text, 10)},
	}
}

// clusterOptions answers the type-ahead search of the cluster select.
func (h *Handler) clusterOptions(ctx context.Context, cb slack.InteractionCallback) *slack.OptionsResponse {
	meta, _, err := readMeta(cb.View, false)
	if err != nil {
		return &slack.OptionsResponse{}
	}
	c := h.callerOf(ctx, cb, meta.Channel)
	clusters, err := h.clusters(ctx)
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
