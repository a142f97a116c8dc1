package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// listLimit bounds the requests one list answer shows.
const listLimit = 20

// findRequest returns a request with its history if c may see it: its
// requester, support, or someone acting for the cluster's organization. Any
// other request is reported as missing, like one that does not exist, and so
// is a reference whose prefix is not that of the request's kind.
func (h *Handler) findRequest(ctx context.Context, c astrobot.Caller, ref string) (astrobot.Request, []astrobot.Event, error) {
	example := astrobot.FormatID(astrobot.Kinds()[0], 42)
	if strings.TrimSpace(ref) == "" {
		return astrobot.Request{}, nil, astrobot.Errorf(astrobot.EInvalid, "Name the request, like `%s status %s`; `%s list` shows yours.", CommandConnect, example, CommandConnect)
	}
	id, err := astrobot.ParseRequestID(ref)
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	named := strconv.FormatUint(uint64(id), 10)
	if prefix, _, ok := strings.Cut(strings.TrimSpace(ref), "-"); ok {
		named = fmt.Sprintf("%s-%04d", strings.ToUpper(prefix), uint64(id))
	}
	notFound := astrobot.Errorf(astrobot.ENotFound, "No request %s is visible to you. `%s list` shows yours.", named, CommandConnect)
	r, events, err := h.requests.History(ctx, id)
	if astrobot.ErrorCodeOf(err) == astrobot.ENotFound {
		return astrobot.Request{}, nil, notFound
	}
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	if !r.Matches(ref) {
		return astrobot.Request{}, nil, notFound
	}
	if c.Support || r.Requester.UserID == c.UserID {
		return r, events, nil
	}
	clusters, err := h.clusters(ctx)
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	if _, err := h.tenancy.FindCluster(c, clusters, r.ClusterID); err != nil {
		return astrobot.Request{}, nil, notFound
	}
	return r, events, nil
}

// role is the capacity in which c may do action to r, or an EUnauthorized
// error: support for everything, the requester to cancel their own.
func role(c astrobot.Caller, r astrobot.Request, action astrobot.Action) (astrobot.Role, error) {
	switch {
	case c.Support:
		return astrobot.RoleSupport, nil
	case action == astrobot.ActCancel && r.Requester.UserID == c.UserID:
		return astrobot.RoleRequester, nil
	case action == astrobot.ActCancel:
		return "", astrobot.Errorf(astrobot.EUnauthorized, "Only <@%s>, who filed %s, or support can cancel it; nothing was changed.", r.Requester.UserID, r.Ref())
	}
	return "", astrobot.Errorf(astrobot.EUnauthorized, "Only support can %s %s; nothing was changed.", action, r.Ref())
}

// myRequests returns what c follows: support the open queue, oldest first,
// anyone else their own requests, newest first.
func (h *Handler) myRequests(ctx context.Context, c astrobot.Caller, limit int) ([]astrobot.Request, error) {
	if c.Support {
		return h.requests.RequestsByStatus(ctx, astrobot.OpenStatuses(), limit)
	}
	return h.requests.RequestsByRequester(ctx, c.UserID, limit)
}

func (h *Handler) listRequests(ctx context.Context, c astrobot.Caller) *slack.Msg {
	rs, err := h.myRequests(ctx, c, listLimit)
	if err != nil {
		return ephemeral(h.errorText(ctx, "list", err))
	}
	if len(rs) == 0 {
		if c.Support {
			return ephemeral("The queue is empty: no open requests.")
		}
		return ephemeral(mdf("You have no requests. `%s` opens the request form.", CommandConnect))
	}
	title := md("Your requests, newest first")
	if c.Support {
		title = "Open requests, oldest first"
	}
	now := h.now()
	lines := []string{string(mdf("*%s* (at most %d):", title, listLimit))}
	for _, r := range rs {
		lines = append(lines, string(mdf("• %s · %s ago", requestLine(&r), age(now, r.CreatedAt))))
	}
	lines = append(lines, string(mdf("`%s status %s` shows one with its history.", CommandConnect, rs[0].Ref())))
	return ephemeral(title, sections(md(strings.Join(lines, "\n")), maxMessageBlock)...)
}

// requestLine is a request in one line, for lists.
func requestLine(r *astrobot.Request) md {
	return mdf("*%s* · %s · %s · cluster `%s` ↔ %s · %s acts next", r.Ref(), r.Status.Label(), r.Def().Title(), r.ClusterID, r.Spec.Key(), r.Owner())
}

func (h *Handler) requestStatus(ctx context.Context, c astrobot.Caller, ref string) *slack.Msg {
	r, events, err := h.findRequest(ctx, c, ref)
	if err != nil {
		return ephemeral(h.errorText(ctx, "status", err))
	}
	head := requestSummary(r) + "\n*Next:* " + escMessage(r.Next())
	var lines []string
	for _, e := range events {
		if e.Action == astrobot.ActNote && !c.Support {
			continue // internal notes stay with support
		}
		lines = append(lines, "• "+string(eventLine(r, e)))
	}
	// Keep the newest events when the history is longer than its sections.
	const room = 2 * (sectionRoom - 200)
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	dropped := 0
	for size > room && len(lines) > 1 {
		size -= len(lines[0]) + 1
		lines, dropped = lines[1:], dropped+1
	}
	if dropped > 0 {
		lines = append([]string{string(mdf("• … %d earlier events left out", dropped))}, lines...)
	}
	blocks := sections(head, 3)
	blocks = append(blocks, sections("*History:*\n"+md(strings.Join(lines, "\n")), 3)...)
	return ephemeral(mdf("%s · %s", r.Ref(), r.Status.Label()), blocks...)
}

func (h *Handler) cancelRequest(ctx context.Context, c astrobot.Caller, ref string) *slack.Msg {
	r, _, err := h.findRequest(ctx, c, ref)
	if err != nil {
		return ephemeral(h.errorText(ctx, "cancel", err))
	}
	rl, err := role(c, r, astrobot.ActCancel)
	if err != nil {
		return ephemeral(h.errorText(ctx, "cancel", err))
	}
	r, _, err = h.requests.Apply(ctx, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: c.UserID, Role: rl, At: h.now()})
	if err != nil {
		return ephemeral(h.errorText(ctx, "cancel", err))
	}
	return ephemeral(mdf(":no_entry_sign: %s is cancelled. Support has been told.", r.Ref()))
}

// factsLine is what a request asks for, in one line.
func factsLine(r *astrobot.Request) md {
	var parts []string
	for _, f := range r.Def().Facts(r) {
		parts = append(parts, string(mdf("*%s:* %s", f.Label, codeList(f.Values))))
	}
	return md(strings.Join(parts, " · "))
}

// summaryNote is how much of the note a summary shows: the card shows it all.
const summaryNote = 500

// requestSummary describes a request in a few lines.
func requestSummary(r astrobot.Request) md {
	lines := []string{
		string(mdf("*%s* · %s · %s", r.Ref(), r.Def().Title(), r.Status.Label())),
		string(mdf("*Requester:* %s  *Cluster:* `%s`", mention(r.Requester.UserID), r.ClusterID)),
		string(factsLine(&r)),
	}
	if r.Assignee != "" {
		lines = append(lines, string(mdf("*Assignee:* %s", mention(r.Assignee))))
	}
	if r.Note != "" {
		lines = append(lines, string(mdf("*Note:* %s", truncate(r.Note, summaryNote))))
	}
	for _, w := range r.Warnings {
		lines = append(lines, string(mdf(":information_source: %s", w)))
	}
	return md(strings.Join(lines, "\n"))
}

// eventLine is one event of r's history.
func eventLine(r astrobot.Request, e astrobot.Event) md {
	line := mdf("%s — %s %s", e.At.UTC().Format("2006-01-02 15:04 UTC"), actor(e.Actor), actionText(r.Def(), e))
	if e.Note != "" {
		line += mdf(": %s", e.Note)
	}
	return line
}

func actionText(d astrobot.KindDef, e astrobot.Event) string {
	if e.Action == astrobot.ActSubmit {
		return "submitted the request"
	}
	rule, ok := astrobot.RuleFor(d, e.Action)
	if !ok {
		return string(e.Action)
	}
	s := rule.Verb + " the request"
	if e.From != e.To {
		s += " (" + e.To.Label() + ")"
	}
	return s
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
