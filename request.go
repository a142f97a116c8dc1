package astrobot

import (
	"fmt"
	"strings"
	"time"
)

// Requester is who filed a request and where.
type Requester struct {
	UserID    string
	TeamID    string
	ChannelID string
}

// MessageRef points at a Slack message.
type MessageRef struct {
	Channel string
	TS      string
}

// Request is a customer's request for a connection to one cluster: an
// envelope common to every kind, around the Spec of its kind.
type Request struct {
	ID        RequestID
	Kind      Kind
	Status    Status
	Requester Requester
	ClusterID string
	Spec      Spec // what the customer asks for; its type belongs to Kind
	Note      string
	Warnings  []string

	Assignee  string            // support user who claimed it
	Resource  string            // the AWS resource carrying the connection once made: pcx-…
	ExpiresAt time.Time         // when AWS expires Resource unless the customer acts; zero if it does not
	Details   map[string]string // what the bot learned in AWS for messages, by name, per kind

	CreatedAt  time.Time
	UpdatedAt  time.Time
	UpdatedBy  string    // actor of the last event
	RemindedAt time.Time // when the bot last sent a reminder about it
	Attempt    int       // retries so far: each makes a new resource in AWS
	LastAlert  string    // the last alert raised, so the same one is not repeated

	Card MessageRef // the support card, once posted
}

// Def returns the definition of r's kind. Every stored request has a known
// kind (Submit and the store check it); Def panics on one without.
func (r *Request) Def() KindDef {
	d, ok := KindOf(r.Kind)
	if !ok {
		panic(fmt.Sprintf("astrobot: request %d has the unknown kind %q", r.ID, r.Kind))
	}
	return d
}

// Ref returns the reference users see and type for r: PEER-0042.
func (r *Request) Ref() string { return FormatID(r.Def(), r.ID) }

// Matches reports whether ref, as a user typed it, names r: its number with
// r's prefix or with none.
func (r *Request) Matches(ref string) bool {
	id, err := ParseRequestID(ref)
	if err != nil || id != r.ID {
		return false
	}
	prefix, _, ok := strings.Cut(strings.TrimSpace(ref), "-")
	return !ok || asciiEqualFold(prefix, r.Def().Prefix())
}

// Open reports whether the request still holds its CIDRs and its place on
// the cluster: every status but rejected, cancelled and deleted.
func (r *Request) Open() bool { return !r.Status.Terminal() }

// State returns the state of r's status in its kind.
func (r *Request) State() (State, bool) { return stateOf(r.Def(), r.Status) }

// Owner returns who acts next on r.
func (r *Request) Owner() Owner { return ownerOf(r.Def(), r.Status) }

// Next says what happens next for r, with its details.
func (r *Request) Next() string { return r.Def().Next(r) }

// ownerOf returns who acts next in status s of kind d.
func ownerOf(d KindDef, s Status) Owner {
	st, _ := stateOf(d, s)
	return st.Owner
}

// NextOf returns the sentence of status s of kind d: what happens next.
func NextOf(d KindDef, s Status) string {
	st, _ := stateOf(d, s)
	return st.Next
}

// Event is one entry of a request's audit history.
type Event struct {
	Seq    int // 0 for the submission, then 1, 2, …
	At     time.Time
	Actor  string // a Slack user ID, or ActorAWS
	Action Action
	From   Status
	To     Status
	Note   string
}

// Actors that are not Slack users.
const (
	ActorAWS = "aws"      // changes the AWS watcher observes
	ActorBot = "astrobot" // the bot's own doings, such as reminders
)

// NotificationKind says what a notification updates in Slack.
type NotificationKind string

// Notification kinds.
const (
	// NotifyCard posts the support card, or updates it in place once posted.
	NotifyCard NotificationKind = "card"
	// NotifyThread posts one line about an event in the card's thread.
	NotifyThread NotificationKind = "thread"
	// NotifyRequester sends the requester a direct message about an event.
	NotifyRequester NotificationKind = "requester"
	// NotifyHome refreshes the requester's App Home tab.
	NotifyHome NotificationKind = "home"
)

// Notification is a message owed to Slack because of an event. It is written in
// the same transaction as the event and delivered later, in order per request.
type Notification struct {
	RequestID RequestID
	Kind      NotificationKind
	Event     int // Event.Seq the notification is about
}

// Notifications returns the messages owed for event e of r, in delivery order.
func Notifications(r *Request, e Event) []Notification {
	n := func(k NotificationKind) Notification { return Notification{RequestID: r.ID, Kind: k, Event: e.Seq} }
	switch {
	case e.Action == ActSubmit: // filed from a modal: the requester's App Home shows it when they open it
		return []Notification{n(NotifyCard), n(NotifyRequester)}
	case e.Action == ActNote || e.Action == ActNudgeSupport || e.Action == ActAlert || e.Action == ActCleanup:
		return []Notification{n(NotifyThread)}
	case e.Action == ActNudgeCustomer:
		return []Notification{n(NotifyThread), n(NotifyRequester)}
	case e.From != e.To && (ownerOf(r.Def(), e.To) == OwnerCustomer || e.To.Ended()):
		return []Notification{n(NotifyCard), n(NotifyThread), n(NotifyRequester), n(NotifyHome)}
	case e.From != e.To:
		return []Notification{n(NotifyCard), n(NotifyThread), n(NotifyHome)}
	default:
		return []Notification{n(NotifyCard), n(NotifyThread)}
	}
}

// JobKind says what a job does in AWS.
type JobKind string

// Job kinds.
const (
	// JobCleanup deletes the AWS resource of a cancelled request (in manual
	// mode support does it by hand).
	JobCleanup JobKind = "cleanup"
)

// Job is work the bot owes in AWS because of an event. Like a notification it
// is written in the same transaction as the event and done later, retried
// until it succeeds.
type Job struct {
	RequestID RequestID
	Kind      JobKind
	Event     int // Event.Seq the job is about
}

// Jobs returns the work in AWS owed for event e of r: a request cancelled
// while it holds an AWS resource owes its cleanup.
func Jobs(r *Request, e Event) []Job {
	if e.To == StatusCancelled && e.From != e.To && r.Resource != "" {
		return []Job{{RequestID: r.ID, Kind: JobCleanup, Event: e.Seq}}
	}
	return nil
}

// Submit makes r a new request at now: it checks the envelope (a known kind
// with a spec of that kind, a requester, a cluster) and returns r in status
// submitted with its submission event. The store then gives it an ID.
func Submit(r Request, now time.Time) (Request, Event, error) {
	d, ok := KindOf(r.Kind)
	if !ok {
		return Request{}, Event{}, ErrUnknownKind(r.Kind)
	}
	switch {
	case r.Spec == nil:
		return Request{}, Event{}, Errorf(EInvalid, "A %s request needs what it asks for; nothing was filed.", d.Title())
	case r.Requester.UserID == "" || r.ClusterID == "":
		return Request{}, Event{}, Errorf(EInvalid, "A request needs a requester and a cluster; nothing was filed.")
	}
	for _, s := range []string{r.Requester.UserID, r.ClusterID} {
		if strings.IndexByte(s, 0) >= 0 {
			return Request{}, Event{}, Errorf(EInvalid, "%q contains a NUL character: user and cluster IDs cannot.", s)
		}
	}
	if r.Spec.Kind() != r.Kind {
		return Request{}, Event{}, Errorf(EInvalid, "The request's details are not those of a %s request; nothing was filed.", d.Title())
	}
	r.Status = StatusSubmitted
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	r.UpdatedBy = r.Requester.UserID
	e := Event{Seq: 0, At: r.CreatedAt, Actor: r.Requester.UserID, Action: ActSubmit, To: StatusSubmitted, Note: r.Note}
	return r, e, nil
}
