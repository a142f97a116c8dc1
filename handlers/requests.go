package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// findRequest returns a request with its history if c may see it: its
// requester, support, or someone acting for the cluster's organization. Any
// other request is reported as missing, like one that does not exist.
func (h *Handler) findRequest(ctx context.Context, c astrobot.Caller, ref string) (astrobot.Request, []astrobot.Event, error) {
	if strings.TrimSpace(ref) == "" {
		return astrobot.Request{}, nil, astrobot.Errorf(astrobot.EInvalid, "Name the request, like `%s status PEER-0042`; `%s list` shows yours.", CommandPeer, CommandPeer)
	}
	id, err := astrobot.ParseRequestID(ref)
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	notFound := astrobot.Errorf(astrobot.ENotFound, "No request %s is visible to you. `%s list` shows yours.", id, CommandPeer)
	r, events, err := h.requests.History(ctx, id)
	if astrobot.ErrorCodeOf(err) == astrobot.ENotFound {
		return astrobot.Request{}, nil, notFound
	}
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	if c.Support || r.Requester.UserID == c.UserID {
		return r, events, nil
	}
	lctx, cancel := context.WithTimeout(ctx, h.lookupTimeout)
	defer cancel()
	clusters, err := h.dir.Clusters(lctx)
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	if _, err := h.tenancy.FindCluster(c, clusters, r.ClusterID); err != nil {
		return astrobot.Request{}, nil, notFound
	}
	return r, events, nil
}

func (h *Handler) listRequests(ctx context.Context, c astrobot.Caller) *slack.Msg {
	var (
		rs    []astrobot.Request
		err   error
		title string
	)
	if c.Support {
		rs, err = h.requests.RequestsByStatus(ctx, openStatuses(), listLimit)
		title = "Open requests, oldest first"
	} else {
		rs, err = h.requests.RequestsByRequester(ctx, c.UserID, listLimit)
		title = "Your requests, newest first"
	}
	if err != nil {
		return ephemeral(h.errorText(ctx, "list", err))
	}
	if len(rs) == 0 {
		if c.Support {
			return ephemeral("The queue is empty: no open requests.")
		}
		return ephemeral("You have no requests. `" + CommandPeer + "` opens the request form.")
	}
	now := h.now()
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* (at most %d):\n", title, listLimit)
	for _, r := range rs {
		fmt.Fprintf(&b, "• *%s* · %s · cluster `%s` ↔ `%s` · %s · %s ago\n", r.ID, statusLabel(r.Status), r.ClusterID, r.Peer.VPCID, r.Status.Owner(), age(now, r.CreatedAt))
	}
	b.WriteString("`" + CommandPeer + " status PEER-0042` shows one with its history.")
	return ephemeral(title, section(truncate(b.String(), 2900)))
}

func (h *Handler) requestStatus(ctx context.Context, c astrobot.Caller, ref string) *slack.Msg {
	r, events, err := h.findRequest(ctx, c, ref)
	if err != nil {
		return ephemeral(h.errorText(ctx, "status", err))
	}
	var b strings.Builder
	b.WriteString(requestSummary(r))
	fmt.Fprintf(&b, "\n*Next:* %s\n*History:*\n", nextStep(r))
	var lines []string
	for _, e := range events {
		if e.Action == astrobot.ActNote && !c.Support {
			continue // internal notes stay with support
		}
		lines = append(lines, "• "+eventLine(e)+"\n")
	}
	// Keep the newest events when the history is too long for one section.
	size := b.Len()
	for _, l := range lines {
		size += len(l)
	}
	for size > 2800 && len(lines) > 1 {
		size -= len(lines[0])
		lines = lines[1:]
		if !strings.HasPrefix(lines[0], "• …") {
			lines[0] = "• …earlier events left out\n" + lines[0]
		}
	}
	b.WriteString(strings.Join(lines, ""))
	return ephemeral(fmt.Sprintf("%s · %s", r.ID, statusLabel(r.Status)), section(truncate(b.String(), 2900)))
}

func (h *Handler) cancelRequest(ctx context.Context, c astrobot.Caller, ref string) *slack.Msg {
	r, _, err := h.findRequest(ctx, c, ref)
	if err != nil {
		return ephemeral(h.errorText(ctx, "cancel", err))
	}
	role := astrobot.RoleRequester
	switch {
	case c.Support:
		role = astrobot.RoleSupport
	case r.Requester.UserID != c.UserID:
		return ephemeral(h.errorText(ctx, "cancel", astrobot.Errorf(astrobot.EUnauthorized,
			"Only <@%s>, who filed %s, or support can cancel it; nothing was changed.", r.Requester.UserID, r.ID)))
	}
	r, _, err = h.requests.Apply(ctx, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: c.UserID, Role: role, At: h.now()})
	if err != nil {
		return ephemeral(h.errorText(ctx, "cancel", err))
	}
	return ephemeral(fmt.Sprintf(":no_entry_sign: %s is cancelled. Support has been told.", r.ID))
}

// escape makes text a user typed safe to show in mrkdwn: no mentions such
// as <!channel>, no disguised links.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// requestSummary describes a request in a few lines.
func requestSummary(r astrobot.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* · %s\n", r.ID, statusLabel(r.Status))
	fmt.Fprintf(&b, "*Requester:* <@%s>  *Cluster:* `%s`\n", r.Requester.UserID, r.ClusterID)
	fmt.Fprintf(&b, "*Peer:* account `%s`, region `%s`, VPC `%s`, CIDRs %s\n", r.Peer.AccountID, r.Peer.Region, r.Peer.VPCID, prefixList(r.Peer.CIDRs))
	if r.PeeringID != "" {
		fmt.Fprintf(&b, "*Peering:* `%s`\n", r.PeeringID)
	}
	if r.Assignee != "" {
		fmt.Fprintf(&b, "*Assignee:* <@%s>\n", r.Assignee)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "*Note:* %s\n", escape(r.Note))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, ":information_source: %s\n", w)
	}
	return b.String()
}

// nextStep says who acts next and what happens.
func nextStep(r astrobot.Request) string {
	s := r.Status.Next()
	if r.Status == astrobot.StatusPendingAcceptance && r.PeeringID != "" {
		s += fmt.Sprintf(" Accept `%s` in account %s, region %s.", r.PeeringID, r.Peer.AccountID, r.Peer.Region)
	}
	return s
}

func eventLine(e astrobot.Event) string {
	who := "<@" + e.Actor + ">"
	switch e.Actor {
	case astrobot.ActorAWS:
		who = "AWS"
	case astrobot.ActorBot:
		who = "astrobot"
	}
	line := fmt.Sprintf("%s — %s %s", e.At.UTC().Format("2006-01-02 15:04 UTC"), who, actionText(e))
	if e.Note != "" {
		line += ": " + escape(e.Note)
	}
	return line
}

func actionText(e astrobot.Event) string {
	if e.Action == astrobot.ActSubmit {
		return "submitted the request"
	}
	rule, ok := astrobot.RuleFor(e.Action)
	if !ok {
		return string(e.Action)
	}
	s := rule.Verb + " the request"
	if e.From != e.To {
		s += " (" + statusLabel(e.To) + ")"
	}
	return s
}

func statusLabel(s astrobot.Status) string {
	return strings.ReplaceAll(string(s), "_", " ")
}

func prefixList[T fmt.Stringer](ps []T) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = "`" + p.String() + "`"
	}
	return strings.Join(s, ", ")
}

// age is a short duration: 5m, 3h, 2d.
func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
