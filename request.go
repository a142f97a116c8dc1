package astrobot

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of connection a request asks for. VPC peering is the first;
// transit gateway attachments and PrivateLink endpoints are meant to follow as
// further kinds with their own fields and rules.
type Kind string

// Connection kinds.
const (
	KindPeering Kind = "vpc_peering"
)

// RequestID identifies a request. Users see it as PEER-0042.
type RequestID uint64

// String returns the human form of the ID, PEER-0042.
func (id RequestID) String() string { return fmt.Sprintf("PEER-%04d", uint64(id)) }

// ParseRequestID parses "PEER-0042", "peer-42" or "42".
func ParseRequestID(s string) (RequestID, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 5 && strings.EqualFold(t[:5], "PEER-") {
		t = t[5:]
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil || n == 0 {
		return 0, Errorf(EInvalid, "%s is not a request ID: they look like PEER-0042.", Quote(s))
	}
	return RequestID(n), nil
}

// Requester is who filed a request and where.
type Requester struct {
	UserID    string
	TeamID    string
	ChannelID string
}

// Peer is the customer side of a peering: their account, region, VPC and CIDRs.
type Peer struct {
	AccountID string
	Region    string
	VPCID     string
	CIDRs     []netip.Prefix
}

// MessageRef points at a Slack message.
type MessageRef struct {
	Channel string
	TS      string
}

// Request is a customer's request for a connection to one cluster.
type Request struct {
	ID        RequestID
	Kind      Kind
	Status    Status
	Requester Requester
	ClusterID string
	Peer      Peer
	Note      string
	Warnings  []string

	Assignee  string    // support user who claimed it
	PeeringID string    // pcx-… once the peering exists
	ExpiresAt time.Time // when AWS expires the pending peering

	CreatedAt  time.Time
	UpdatedAt  time.Time
	UpdatedBy  string    // actor of the last event
	RemindedAt time.Time // when the bot last sent a reminder about it
	Attempt    int       // retries so far: each makes a new peering
	LastAlert  string    // the last alert raised, so the same one is not repeated

	Card MessageRef // the support card, once posted
}

// Open reports whether the request still holds its CIDRs and VPC: every status
// but rejected, cancelled and deleted.
func (r *Request) Open() bool { return !r.Status.Terminal() }

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
	// NotifyCleanup deletes the pending peering of a cancelled request in
	// AWS (in manual mode support does it by hand).
	NotifyCleanup NotificationKind = "cleanup"
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
	case e.Action == ActCancel && r.PeeringID != "":
		return []Notification{n(NotifyCard), n(NotifyThread), n(NotifyRequester), n(NotifyHome), n(NotifyCleanup)}
	case e.From != e.To && (e.To.Owner() == OwnerCustomer || e.To.Ended()):
		return []Notification{n(NotifyCard), n(NotifyThread), n(NotifyRequester), n(NotifyHome)}
	case e.From != e.To:
		return []Notification{n(NotifyCard), n(NotifyThread), n(NotifyHome)}
	default:
		return []Notification{n(NotifyCard), n(NotifyThread)}
	}
}

// MaxPeeringsPerCluster is how many open or active peering requests one
// cluster may have: AWS's hard limit of peering connections per VPC.
const MaxPeeringsPerCluster = 125

// CheckConflicts checks a new request against the open requests of the same
// cluster: there may be at most MaxPeeringsPerCluster, the same VPC of the same
// account may not be asked for twice, and its CIDRs may not overlap those of
// another open or active peering.
func CheckConflicts(r *Request, open []Request) error {
	n := 0
	for i := range open {
		if open[i].Open() && open[i].ClusterID == r.ClusterID && open[i].ID != r.ID {
			n++
		}
	}
	if n >= MaxPeeringsPerCluster {
		msg := fmt.Sprintf("This cluster already has %d open or active peering requests, the most AWS allows on one VPC. Cancel the ones you no longer need, or ask support.", n)
		return &Error{Code: EConflict, Message: msg, Fields: map[string]string{FieldCluster: msg}}
	}
	for i := range open {
		o := &open[i]
		if !o.Open() || o.ClusterID != r.ClusterID || o.ID == r.ID {
			continue
		}
		if o.Peer.AccountID == r.Peer.AccountID && o.Peer.VPCID == r.Peer.VPCID {
			return &Error{Code: EConflict,
				Message: fmt.Sprintf("%s already asks to peer %s with this cluster (status %s). Follow it with /astro-peer status %s.", o.ID, o.Peer.VPCID, o.Status, o.ID),
				Fields:  map[string]string{FieldVPC: fmt.Sprintf("%s is already requested in %s (%s).", o.Peer.VPCID, o.ID, o.Status)}}
		}
		for _, p := range r.Peer.CIDRs {
			for _, q := range o.Peer.CIDRs {
				if p.Overlaps(q) {
					msg := fmt.Sprintf("%s overlaps %s, already peered with this cluster by %s (%s).", p, q, o.ID, o.Status)
					return &Error{Code: EConflict, Message: msg, Fields: map[string]string{FieldCIDRs: msg}}
				}
			}
		}
	}
	return nil
}

// CheckClusterOverlap checks that none of cidrs overlaps the cluster's own VPC.
func CheckClusterOverlap(c Cluster, cidrs []netip.Prefix) error {
	for _, p := range cidrs {
		for _, q := range c.CIDRs {
			if p.Overlaps(q) {
				return Errorf(EInvalid, "%s overlaps %s, the VPC of cluster %s: peered VPCs need distinct ranges.", p, q, c.Name)
			}
		}
	}
	return nil
}
