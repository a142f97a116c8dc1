package astrobot

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Status is where a request stands.
type Status string

// The statuses every kind shares. Kinds add their own between approved and
// active (KindDef.States); ARCHITECTURE.md draws the state machine.
const (
	StatusSubmitted Status = "submitted"
	StatusApproved  Status = "approved"
	StatusActive    Status = "active"
	StatusRejected  Status = "rejected"
	StatusCancelled Status = "cancelled"
	StatusFailed    Status = "failed"
	StatusExpired   Status = "expired"
	StatusDeclined  Status = "declined"
	StatusDeleted   Status = "deleted"
)

// Statuses returns every status of every kind, in the order of the
// workflow: submitted and approved, the kinds' own statuses, active, then the
// ends.
func Statuses() []Status {
	out := []Status{StatusSubmitted, StatusApproved}
	for _, d := range Kinds() {
		for _, st := range d.States() {
			if !slices.Contains(commonStatuses(), st.Status) && !slices.Contains(out, st.Status) {
				out = append(out, st.Status)
			}
		}
	}
	return append(out, StatusActive, StatusRejected, StatusCancelled, StatusFailed, StatusExpired, StatusDeclined, StatusDeleted)
}

func commonStatuses() []Status {
	return []Status{StatusSubmitted, StatusApproved, StatusActive, StatusRejected, StatusCancelled,
		StatusFailed, StatusExpired, StatusDeclined, StatusDeleted}
}

// OpenStatuses returns the statuses of requests still in the support queue:
// every status but active and the terminal ones, in workflow order.
func OpenStatuses() []Status {
	return slices.DeleteFunc(Statuses(), func(s Status) bool { return s == StatusActive || s.Terminal() })
}

// Known reports whether s is one of Statuses.
func (s Status) Known() bool { return slices.Contains(Statuses(), s) }

// Label returns the status as people read it: "pending acceptance".
func (s Status) Label() string { return strings.ReplaceAll(string(s), "_", " ") }

// Terminal reports whether nothing more can happen to a request in status s.
func (s Status) Terminal() bool {
	return s == StatusRejected || s == StatusCancelled || s == StatusDeleted
}

// Ended reports whether the request reached an outcome the requester must hear
// about: it is active, or it stopped (terminal, failed, expired or declined).
func (s Status) Ended() bool {
	return s.Terminal() || s == StatusActive || s == StatusFailed || s == StatusExpired || s == StatusDeclined
}

// Owner is who must act next on a request.
type Owner string

// Owners.
const (
	OwnerSupport  Owner = "support"
	OwnerCustomer Owner = "customer"
	OwnerBot      Owner = "bot"
	OwnerNone     Owner = "nobody"
)

// String returns the owner's name.
func (o Owner) String() string { return string(o) }

// Action is something a person or the bot does to a request.
type Action string

// The actions every kind shares. Kinds add their steps (KindDef.Steps).
const (
	ActSubmit        Action = "submit"
	ActClaim         Action = "claim"
	ActApprove       Action = "approve"
	ActReject        Action = "reject"
	ActCancel        Action = "cancel"
	ActNote          Action = "note"
	ActRetry         Action = "retry"
	ActNudgeSupport  Action = "nudge_support"  // reminder: unclaimed past the support SLA
	ActNudgeCustomer Action = "nudge_customer" // reminder: waiting on the customer past their SLA
	ActAlert         Action = "alert"          // the bot tells support something went wrong; the request stays where it is
	ActCleanup       Action = "cleanup"        // the bot deleted the AWS resource of a cancelled request
)

// Role is the capacity in which an actor acts.
type Role string

// Roles.
const (
	RoleRequester Role = "requester"
	RoleSupport   Role = "support"
	RoleBot       Role = "bot"
)

// Workers are who take a kind's steps: the bot in AWS mode, support in manual
// mode.
func Workers() []Role { return []Role{RoleBot, RoleSupport} }

// Rule is one row of a kind's transition table: action may be done by one of
// Who in any of From, and moves the request to To ("" leaves the status as it
// is).
type Rule struct {
	Action Action
	From   []Status
	To     Status
	Who    []Role
	Verb   string // past tense for messages: "approved"

	// For a kind's steps: Button labels the card's button with which support
	// records the step in manual mode ("" for a step only the bot sees), and
	// Resource says the step records the kind's Resource ID, which support
	// then types in a modal.
	Button   string
	Resource bool
	// Confirm, when set, is the text of a dialog the button asks to confirm
	// first: for a step that cannot be undone.
	Confirm string
}

// Rules returns the transition table of kind d: the rules every kind shares,
// then the kind's steps. Submission is not in it: it creates a request rather
// than moving one.
func Rules(d KindDef) []Rule {
	var open, live, cancel, customer []Status
	for _, s := range append([]Status{StatusSubmitted}, statusesOf(d)...) {
		st, _ := stateOf(d, s)
		if s != StatusActive && !s.Terminal() {
			open = append(open, s)
		}
		if !s.Terminal() {
			live = append(live, s)
		}
		if st.Cancel {
			cancel = append(cancel, s)
		}
		if st.Owner == OwnerCustomer {
			customer = append(customer, s)
		}
	}
	var retry []Status
	for _, s := range []Status{StatusFailed, StatusExpired, StatusDeclined} {
		if _, ok := stateOf(d, s); ok {
			retry = append(retry, s)
		}
	}
	support := []Role{RoleSupport}
	bot := []Role{RoleBot}
	rules := []Rule{
		{Action: ActClaim, From: open, Who: support, Verb: "claimed"},
		{Action: ActNote, From: live, Who: support, Verb: "added a note to"},
		{Action: ActApprove, From: []Status{StatusSubmitted}, To: StatusApproved, Who: support, Verb: "approved"},
		{Action: ActReject, From: []Status{StatusSubmitted}, To: StatusRejected, Who: support, Verb: "rejected"},
		{Action: ActCancel, From: cancel, To: StatusCancelled, Who: []Role{RoleRequester, RoleSupport}, Verb: "cancelled"},
		{Action: ActRetry, From: retry, To: StatusApproved, Who: support, Verb: "retried"},
		{Action: ActNudgeSupport, From: []Status{StatusSubmitted}, Who: bot, Verb: "reminded support of"},
		{Action: ActNudgeCustomer, From: customer, Who: bot, Verb: "reminded the requester of"},
		{Action: ActAlert, From: live, Who: bot, Verb: "raised an alert on"},
		{Action: ActCleanup, From: []Status{StatusCancelled}, Who: bot, Verb: "cleaned up the AWS side of"},
	}
	return append(rules, d.Steps()...)
}

// statusesOf returns the statuses kind d declares, in order.
func statusesOf(d KindDef) []Status {
	var out []Status
	for _, st := range d.States() {
		out = append(out, st.Status)
	}
	return out
}

// RuleFor returns the rule of action a in kind d.
func RuleFor(d KindDef, a Action) (Rule, bool) {
	for _, r := range Rules(d) {
		if r.Action == a {
			return r, true
		}
	}
	return Rule{}, false
}

// Allowed reports whether role may do action a to r in its current status.
func (r *Request) Allowed(a Action, role Role) bool {
	rule, ok := RuleFor(r.Def(), a)
	return ok && slices.Contains(rule.From, r.Status) && slices.Contains(rule.Who, role)
}

// Change is an action someone asks to apply to a request.
type Change struct {
	Action    Action
	Actor     string
	Role      Role
	At        time.Time
	Note      string            // reason, note or AWS message
	Resource  string            // with a step that records the kind's Resource
	ExpiresAt time.Time         // with it: when AWS expires the resource
	Details   map[string]string // facts learned in AWS, merged into Request.Details
}

// Check reports whether role may do action to r in its current status: an
// EUnauthorized error when the role may never do it, an EConflict error that
// says who changed the request last, and when, when the status forbids it.
func (r *Request) Check(action Action, role Role) (Rule, error) {
	rule, ok := RuleFor(r.Def(), action)
	if !ok {
		return Rule{}, Errorf(EInvalid, "%s is not something that can be done to a %s request.", Quote(string(action)), r.Def().Title())
	}
	if !slices.Contains(rule.Who, role) {
		return Rule{}, Errorf(EUnauthorized, "Only %s can %s a request; nothing was changed.", whoList(rule.Who), action)
	}
	if !slices.Contains(rule.From, r.Status) {
		return Rule{}, Errorf(EConflict, "%s is %s: %s changed it at %s, so it cannot be %s now.",
			r.Ref(), r.Status.Label(), ActorName(r.UpdatedBy), r.UpdatedAt.UTC().Format("2006-01-02 15:04 MST"), rule.Verb)
	}
	return rule, nil
}

// ActorName is how messages name an actor: a Slack mention, or AWS.
func ActorName(actor string) string {
	switch actor {
	case ActorAWS:
		return "AWS"
	case ActorBot:
		return "astrobot"
	}
	return "<@" + actor + ">"
}

// Apply checks c against the transition table of r's kind and, when it is
// allowed, applies it to r and returns the event to record. seq is the
// event's sequence number. A refused change leaves r as it was.
func (r *Request) Apply(c Change, seq int) (Event, error) {
	rule, err := r.Check(c.Action, c.Role)
	if err != nil {
		return Event{}, err
	}
	next := *r
	next.Details = maps.Clone(r.Details)
	switch c.Action {
	case ActReject:
		if c.Note == "" {
			return Event{}, &Error{Code: EInvalid, Message: "Give a reason: the requester will read it.", Fields: map[string]string{FieldNote: "Give a reason: the requester will read it."}}
		}
	case ActNote:
		if c.Note == "" {
			return Event{}, Errorf(EInvalid, "The note is empty.")
		}
	case ActClaim:
		if r.Assignee == c.Actor {
			return Event{}, Errorf(EConflict, "%s is already assigned to you.", r.Ref())
		}
		next.Assignee = c.Actor
	case ActRetry:
		next.Resource, next.ExpiresAt, next.Details, next.Attempt = "", time.Time{}, nil, r.Attempt+1
	case ActNudgeSupport, ActNudgeCustomer:
		next.RemindedAt = c.At
	case ActAlert:
		if c.Note == "" {
			return Event{}, Errorf(EInvalid, "An alert needs a message.")
		}
		next.LastAlert = c.Note
	case ActCleanup:
		if r.Resource == "" {
			return Event{}, Errorf(EConflict, "%s has nothing left in AWS to delete.", r.Ref())
		}
		next.Resource = ""
	}
	if rule.Resource {
		res := r.Def().Resource()
		if err := res.Validate(c.Resource); err != nil {
			return Event{}, err
		}
		next.Resource, next.ExpiresAt = c.Resource, c.ExpiresAt
	}
	for k, v := range c.Details {
		if next.Details == nil {
			next.Details = map[string]string{}
		}
		next.Details[k] = v
	}
	e := Event{Seq: seq, At: c.At, Actor: c.Actor, Action: c.Action, From: r.Status, To: r.Status, Note: c.Note}
	if rule.To != "" {
		e.To = rule.To
	}
	switch c.Action {
	case ActNudgeSupport, ActNudgeCustomer, ActAlert, ActCleanup: // bookkeeping: the request did not move
	default:
		if e.To != e.From {
			next.LastAlert = "" // a new state may raise the same alert again
		}
		next.Status, next.UpdatedAt, next.UpdatedBy = e.To, c.At, c.Actor
	}
	*r = next
	return e, nil
}

// SLAs are how long a request may wait on someone before the bot reminds them.
type SLAs struct {
	Unclaimed time.Duration // a submitted request nobody claimed: nudge support
	Customer  time.Duration // a request waiting for the customer: DM the requester
}

// ReminderDue returns the reminder owed for r at now, if any: at most one per
// SLA window, counted from the last change or the last reminder. A request
// waiting for the customer whose AWS expiry is known is reminded 4, 2 and 1
// days before it instead.
func (r *Request) ReminderDue(now time.Time, sla SLAs) (Action, bool) {
	since := r.UpdatedAt
	if r.RemindedAt.After(since) {
		since = r.RemindedAt
	}
	waitsCustomer := r.Owner() == OwnerCustomer
	switch {
	case r.Status == StatusSubmitted && r.Assignee == "" && sla.Unclaimed > 0 && now.Sub(since) >= sla.Unclaimed:
		return ActNudgeSupport, true
	case waitsCustomer && !r.ExpiresAt.IsZero():
		// AWS expires a pending peering 7 days after it was requested:
		// remind on days 3, 5 and 6, that is 4, 2 and 1 days before it.
		for _, before := range []time.Duration{24 * time.Hour, 48 * time.Hour, 96 * time.Hour} {
			at := r.ExpiresAt.Add(-before)
			if !now.Before(at) && now.Before(r.ExpiresAt) {
				if r.RemindedAt.Before(at) {
					return ActNudgeCustomer, true
				}
				break
			}
		}
	case waitsCustomer && sla.Customer > 0 && now.Sub(since) >= sla.Customer:
		return ActNudgeCustomer, true
	}
	return "", false
}

// WaitingStatuses returns the statuses in which a request may be owed a
// reminder: submitted, and those of every kind in which the customer acts.
func WaitingStatuses() []Status {
	out := []Status{StatusSubmitted}
	for _, d := range Kinds() {
		for _, st := range d.States() {
			if st.Owner == OwnerCustomer && !slices.Contains(out, st.Status) {
				out = append(out, st.Status)
			}
		}
	}
	return out
}

func whoList(roles []Role) string {
	switch {
	case slices.Contains(roles, RoleRequester):
		return "the requester or support"
	default:
		return "support"
	}
}
