package astrobot

import (
	"slices"
	"strings"
	"time"
)

// Status is where a request stands.
type Status string

// Request statuses; see the state machine in DESIGN.md.
const (
	StatusSubmitted         Status = "submitted"
	StatusApproved          Status = "approved"
	StatusPendingAcceptance Status = "pending_acceptance"
	StatusConfiguring       Status = "configuring"
	StatusActive            Status = "active"
	StatusRejected          Status = "rejected"
	StatusCancelled         Status = "cancelled"
	StatusFailed            Status = "failed"
	StatusExpired           Status = "expired"
	StatusDeclined          Status = "declined"
	StatusDeleted           Status = "deleted"
)

// Statuses returns every status in the order of the workflow.
func Statuses() []Status {
	return []Status{StatusSubmitted, StatusApproved, StatusPendingAcceptance, StatusConfiguring, StatusActive,
		StatusRejected, StatusCancelled, StatusFailed, StatusExpired, StatusDeclined, StatusDeleted}
}

// Known reports whether s is one of Statuses.
func (s Status) Known() bool { return slices.Contains(Statuses(), s) }

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

// Terminal reports whether nothing more can happen to a request in status s.
func (s Status) Terminal() bool {
	return s == StatusRejected || s == StatusCancelled || s == StatusDeleted
}

// Ended reports whether the request reached an outcome the requester must hear
// about: it is active, or it stopped (terminal, failed, expired or declined).
func (s Status) Ended() bool {
	return s.Terminal() || s == StatusActive || s == StatusFailed || s == StatusExpired || s == StatusDeclined
}

// Owner returns who acts next in status s.
func (s Status) Owner() Owner {
	switch s {
	case StatusSubmitted, StatusFailed, StatusExpired, StatusDeclined:
		return OwnerSupport
	case StatusApproved, StatusConfiguring:
		return OwnerBot
	case StatusPendingAcceptance:
		return OwnerCustomer
	default:
		return OwnerNone
	}
}

// Next returns the sentence that tells everyone what happens next in status s.
func (s Status) Next() string {
	switch s {
	case StatusSubmitted:
		return "Support will review the request and approve or reject it."
	case StatusApproved:
		return "The peering connection is being created from the Astro VPC."
	case StatusPendingAcceptance:
		return "The customer must accept the peering connection in their AWS account within 7 days."
	case StatusConfiguring:
		return "Routes and DNS options are being set up on the Astro side."
	case StatusActive:
		return "The peering is active. The customer adds routes to the Astro CIDRs on their side."
	case StatusRejected:
		return "Support rejected the request; nothing more will happen."
	case StatusCancelled:
		return "The request was cancelled; nothing more will happen."
	case StatusFailed:
		return "AWS could not set up the peering. Support will look into it and retry."
	case StatusExpired:
		return "The peering was not accepted within 7 days. Support can retry it."
	case StatusDeclined:
		return "The peering was rejected in the customer's account. Support can retry it."
	case StatusDeleted:
		return "The peering connection was deleted in AWS; nothing more will happen."
	}
	return ""
}

// Action is something a person or the bot does to a request.
type Action string

// Actions.
const (
	ActSubmit         Action = "submit"
	ActClaim          Action = "claim"
	ActApprove        Action = "approve"
	ActReject         Action = "reject"
	ActCancel         Action = "cancel"
	ActNote           Action = "note"
	ActRetry          Action = "retry"
	ActPeeringCreated Action = "peering_created"
	ActAccepted       Action = "accepted"
	ActConfigured     Action = "configured"
	ActFail           Action = "fail"
	ActExpire         Action = "expire"
	ActDecline        Action = "decline"
	ActDelete         Action = "delete"
	ActNudgeSupport   Action = "nudge_support"  // reminder: unclaimed past the support SLA
	ActNudgeCustomer  Action = "nudge_customer" // reminder: waiting on the customer past their SLA
	ActAlert          Action = "alert"          // the bot tells support something went wrong; the request stays where it is
	ActCleanup        Action = "cleanup"        // the bot deleted the pending peering of a cancelled request
)

// Role is the capacity in which an actor acts.
type Role string

// Roles.
const (
	RoleRequester Role = "requester"
	RoleSupport   Role = "support"
	RoleBot       Role = "bot"
)

// Rule is one row of the transition table: action may be done by one of Who in
// any of From, and moves the request to To ("" leaves the status as it is).
type Rule struct {
	Action Action
	From   []Status
	To     Status
	Who    []Role
	Verb   string // past tense for messages: "approved"
}

// Rules returns the transition table. Submission is not in it: it creates a
// request rather than moving one.
func Rules() []Rule {
	open := []Status{StatusSubmitted, StatusApproved, StatusPendingAcceptance, StatusConfiguring,
		StatusFailed, StatusExpired, StatusDeclined}
	live := append(open[:len(open):len(open)], StatusActive)
	support := []Role{RoleSupport}
	worker := []Role{RoleBot, RoleSupport} // the bot in AWS mode, support in manual mode
	return []Rule{
		{ActClaim, open, "", support, "claimed"},
		{ActNote, live, "", support, "added a note to"},
		{ActApprove, []Status{StatusSubmitted}, StatusApproved, support, "approved"},
		{ActReject, []Status{StatusSubmitted}, StatusRejected, support, "rejected"},
		{ActCancel, []Status{StatusSubmitted, StatusApproved, StatusPendingAcceptance, StatusFailed, StatusExpired, StatusDeclined},
			StatusCancelled, []Role{RoleRequester, RoleSupport}, "cancelled"},
		{ActRetry, []Status{StatusFailed, StatusExpired, StatusDeclined}, StatusApproved, support, "retried"},
		{ActPeeringCreated, []Status{StatusApproved}, StatusPendingAcceptance, worker, "created the peering for"},
		{ActAccepted, []Status{StatusPendingAcceptance}, StatusConfiguring, worker, "saw the customer accept"},
		{ActConfigured, []Status{StatusConfiguring}, StatusActive, worker, "finished routes and DNS for"},
		{ActFail, []Status{StatusApproved, StatusPendingAcceptance, StatusConfiguring}, StatusFailed, worker, "marked failed"},
		{ActExpire, []Status{StatusPendingAcceptance}, StatusExpired, worker, "marked expired"},
		{ActDecline, []Status{StatusPendingAcceptance}, StatusDeclined, worker, "saw the customer decline"},
		{ActDelete, []Status{StatusActive}, StatusDeleted, worker, "saw the deletion of"},
		{ActNudgeSupport, []Status{StatusSubmitted}, "", []Role{RoleBot}, "reminded support of"},
		{ActNudgeCustomer, []Status{StatusPendingAcceptance}, "", []Role{RoleBot}, "reminded the requester of"},
		{ActAlert, live, "", []Role{RoleBot}, "raised an alert on"},
		{ActCleanup, []Status{StatusCancelled}, "", []Role{RoleBot}, "deleted the pending peering of"},
	}
}

// RuleFor returns the rule of action a.
func RuleFor(a Action) (Rule, bool) {
	for _, r := range Rules() {
		if r.Action == a {
			return r, true
		}
	}
	return Rule{}, false
}

// Allowed reports whether role may do action a in status s.
func Allowed(a Action, s Status, role Role) bool {
	r, ok := RuleFor(a)
	return ok && slices.Contains(r.From, s) && slices.Contains(r.Who, role)
}

// Change is an action someone asks to apply to a request.
type Change struct {
	Action    Action
	Actor     string
	Role      Role
	At        time.Time
	Note      string    // reason, note or AWS message
	PeeringID string    // with ActPeeringCreated
	ExpiresAt time.Time // with ActPeeringCreated
}

// Check reports whether role may do action to r in its current status: an
// EUnauthorized error when the role may never do it, an EConflict error that
// says who changed the request last, and when, when the status forbids it.
func (r *Request) Check(action Action, role Role) (Rule, error) {
	rule, ok := RuleFor(action)
	if !ok {
		return Rule{}, Errorf(EInvalid, "%s is not something that can be done to a request.", Quote(string(action)))
	}
	if !slices.Contains(rule.Who, role) {
		return Rule{}, Errorf(EUnauthorized, "Only %s can %s a request; nothing was changed.", whoList(rule.Who), action)
	}
	if !slices.Contains(rule.From, r.Status) {
		return Rule{}, Errorf(EConflict, "%s is %s: %s changed it at %s, so it cannot be %s now.",
			r.ID, statusWords(r.Status), actorName(r.UpdatedBy), r.UpdatedAt.UTC().Format("2006-01-02 15:04 MST"), rule.Verb)
	}
	return rule, nil
}

func statusWords(s Status) string { return strings.ReplaceAll(string(s), "_", " ") }

// actorName is how messages name an actor: a Slack mention, or AWS.
func actorName(actor string) string {
	switch actor {
	case ActorAWS:
		return "AWS"
	case ActorBot:
		return "astrobot"
	}
	return "<@" + actor + ">"
}

// Apply checks c against the transition table and, when it is allowed, applies
// it to r and returns the event to record. seq is the event's sequence number.
// A refused change leaves r as it was.
func (r *Request) Apply(c Change, seq int) (Event, error) {
	rule, err := r.Check(c.Action, c.Role)
	if err != nil {
		return Event{}, err
	}
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
			return Event{}, Errorf(EConflict, "%s is already assigned to you.", r.ID)
		}
		r.Assignee = c.Actor
	case ActPeeringCreated:
		if err := ValidatePeeringID(c.PeeringID); err != nil {
			return Event{}, err
		}
		r.PeeringID, r.ExpiresAt = c.PeeringID, c.ExpiresAt
	case ActRetry:
		r.PeeringID, r.ExpiresAt, r.Attempt = "", time.Time{}, r.Attempt+1
	case ActNudgeSupport, ActNudgeCustomer:
		r.RemindedAt = c.At
	case ActAlert:
		if c.Note == "" {
			return Event{}, Errorf(EInvalid, "An alert needs a message.")
		}
		r.LastAlert = c.Note
	case ActCleanup:
		if r.PeeringID == "" {
			return Event{}, Errorf(EConflict, "%s has no peering to delete.", r.ID)
		}
		r.PeeringID = ""
	}
	e := Event{Seq: seq, At: c.At, Actor: c.Actor, Action: c.Action, From: r.Status, To: r.Status, Note: c.Note}
	if rule.To != "" {
		e.To = rule.To
	}
	switch c.Action {
	case ActNudgeSupport, ActNudgeCustomer, ActAlert, ActCleanup: // bookkeeping: the request did not move
	default:
		if e.To != e.From {
			r.LastAlert = "" // a new state may raise the same alert again
		}
		r.Status, r.UpdatedAt, r.UpdatedBy = e.To, c.At, c.Actor
	}
	return e, nil
}

// SLAs are how long a request may wait on someone before the bot reminds them.
type SLAs struct {
	Unclaimed time.Duration // a submitted request nobody claimed: nudge support
	Customer  time.Duration // a peering waiting for the customer's acceptance: DM the requester
}

// ReminderDue returns the reminder owed for r at now, if any: at most one per
// SLA window, counted from the last change or the last reminder. A peering
// whose AWS expiry is known is reminded 4, 2 and 1 days before it instead.
func (r *Request) ReminderDue(now time.Time, sla SLAs) (Action, bool) {
	since := r.UpdatedAt
	if r.RemindedAt.After(since) {
		since = r.RemindedAt
	}
	switch {
	case r.Status == StatusSubmitted && r.Assignee == "" && sla.Unclaimed > 0 && now.Sub(since) >= sla.Unclaimed:
		return ActNudgeSupport, true
	case r.Status == StatusPendingAcceptance && !r.ExpiresAt.IsZero():
		// AWS expires the peering 7 days after it was requested: remind on
		// days 3, 5 and 6, that is 4, 2 and 1 days before the expiry.
		for _, before := range []time.Duration{24 * time.Hour, 48 * time.Hour, 96 * time.Hour} {
			at := r.ExpiresAt.Add(-before)
			if !now.Before(at) && now.Before(r.ExpiresAt) {
				if r.RemindedAt.Before(at) {
					return ActNudgeCustomer, true
				}
				break
			}
		}
	case r.Status == StatusPendingAcceptance && sla.Customer > 0 && now.Sub(since) >= sla.Customer:
		return ActNudgeCustomer, true
	}
	return "", false
}

// ValidatePeeringID checks a VPC peering connection ID: "pcx-" and 8 or 17 hex digits.
func ValidatePeeringID(s string) error {
	if !strings.HasPrefix(s, "pcx-") || ValidateVPCID("vpc-"+strings.TrimPrefix(s, "pcx-")) != nil {
		return Errorf(EInvalid, "A peering connection ID is pcx- followed by 8 or 17 hex digits, like pcx-0abc12345678def90; got %s.", Quote(s))
	}
	return nil
}

func whoList(roles []Role) string {
	switch {
	case slices.Contains(roles, RoleRequester):
		return "the requester or support"
	default:
		return "support"
	}
}
