package astrobot

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTransitionTable checks every (status, action, role) against the table:
// allowed changes move the request to the rule's status and record the event;
// refused ones leave it untouched with the right error code.
func TestTransitionTable(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, d := range Kinds() {
		res := d.Resource()
		for _, from := range append([]Status{StatusSubmitted, StatusRejected, StatusCancelled}, statusesOf(d)...) {
			for _, rule := range Rules(d) {
				for _, role := range []Role{RoleRequester, RoleSupport, RoleBot} {
					t.Run(d.Slug()+"/"+string(from)+"/"+string(rule.Action)+"/"+string(role), func(t *testing.T) {
						r := Request{ID: 7, Kind: d.Kind(), Status: from, UpdatedBy: "UPREV", UpdatedAt: at.Add(-time.Hour), Assignee: "UOTHER", Resource: res.Example}
						before := r
						c := Change{Action: rule.Action, Actor: "UME", Role: role, At: at, Note: "a reason", Resource: res.Example, ExpiresAt: at.Add(7 * 24 * time.Hour)}
						e, err := r.Apply(c, 3)
						allowed := slices.Contains(rule.From, from) && slices.Contains(rule.Who, role)
						if allowed != before.Allowed(rule.Action, role) {
							t.Fatalf("Allowed disagrees with Apply's table")
						}
						if !allowed {
							want := EConflict
							if !slices.Contains(rule.Who, role) {
								want = EUnauthorized
							}
							if ErrorCodeOf(err) != want {
								t.Fatalf("Apply = %v, want code %s", err, want)
							}
							if r.Status != before.Status || r.UpdatedBy != before.UpdatedBy || r.Assignee != before.Assignee || r.Resource != before.Resource {
								t.Fatalf("a refused change altered the request: %+v", r)
							}
							return
						}
						if err != nil {
							t.Fatalf("Apply = %v, want success", err)
						}
						wantTo := rule.To
						if wantTo == "" {
							wantTo = from
						}
						if r.Status != wantTo || e.From != from || e.To != wantTo || e.Seq != 3 || e.Actor != "UME" || e.Action != rule.Action || !e.At.Equal(at) {
							t.Fatalf("after %s: status %s, event %+v", rule.Action, r.Status, e)
						}
						if ownerOf(d, from) == "" || NextOf(d, wantTo) == "" {
							t.Fatalf("status without owner or next step")
						}
					})
				}
			}
		}
	}
}

func TestApplyConflictNamesWhoAndWhen(t *testing.T) {
	r := Request{ID: 42, Kind: KindPeering, Status: StatusApproved, UpdatedBy: "UALICE", UpdatedAt: time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)}
	_, err := r.Apply(Change{Action: ActApprove, Actor: "UBOB", Role: RoleSupport}, 2)
	if got, want := ErrorMessageOf(err), "PEER-0042 is approved: <@UALICE> changed it at 2026-11-28 09:30 UTC, so it cannot be approved now."; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}

func TestApplyStepRules(t *testing.T) {
	tests := []struct {
		name string
		r    Request
		c    Change
		code ErrorCode
	}{
		{"reject needs a reason", Request{Kind: KindPeering, Status: StatusSubmitted}, Change{Action: ActReject, Role: RoleSupport}, EInvalid},
		{"note needs text", Request{Kind: KindPeering, Status: StatusSubmitted}, Change{Action: ActNote, Role: RoleSupport}, EInvalid},
		{"peering needs a pcx ID", Request{Kind: KindPeering, Status: StatusApproved}, Change{Action: ActPeeringCreated, Role: RoleSupport, Resource: "vpc-0123abcd"}, EInvalid},
		{"claim twice by the same person", Request{Kind: KindPeering, Status: StatusSubmitted, Assignee: "U1"}, Change{Action: ActClaim, Actor: "U1", Role: RoleSupport}, EConflict},
		{"unknown action", Request{Kind: KindPeering, Status: StatusSubmitted}, Change{Action: "launch", Role: RoleSupport}, EInvalid},
		{"cleanup without a resource", Request{Kind: KindPeering, Status: StatusCancelled}, Change{Action: ActCleanup, Role: RoleBot}, EConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if _, err := r.Apply(tt.c, 1); ErrorCodeOf(err) != tt.code {
				t.Fatalf("Apply = %v, want %s", err, tt.code)
			}
			if r.Status != tt.r.Status || r.Assignee != tt.r.Assignee || r.Resource != tt.r.Resource {
				t.Fatalf("refused change altered the request")
			}
		})
	}
}

func TestReminderDue(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	sla := SLAs{Unclaimed: 4 * time.Hour, Customer: 48 * time.Hour}
	tests := []struct {
		name string
		r    Request
		now  time.Time
		want Action
	}{
		{"fresh submission", Request{Kind: KindPeering, Status: StatusSubmitted, UpdatedAt: t0}, t0.Add(time.Hour), ""},
		{"unclaimed 4h", Request{Kind: KindPeering, Status: StatusSubmitted, UpdatedAt: t0}, t0.Add(4 * time.Hour), ActNudgeSupport},
		{"claimed: no nudge", Request{Kind: KindPeering, Status: StatusSubmitted, UpdatedAt: t0, Assignee: "U1"}, t0.Add(10 * time.Hour), ""},
		{"nudged 1h ago", Request{Kind: KindPeering, Status: StatusSubmitted, UpdatedAt: t0, RemindedAt: t0.Add(5 * time.Hour)}, t0.Add(6 * time.Hour), ""},
		{"next window", Request{Kind: KindPeering, Status: StatusSubmitted, UpdatedAt: t0, RemindedAt: t0.Add(5 * time.Hour)}, t0.Add(9 * time.Hour), ActNudgeSupport},
		{"customer 2 days", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0}, t0.Add(48 * time.Hour), ActNudgeCustomer},
		{"customer 1 day", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0}, t0.Add(24 * time.Hour), ""},
		{"active", Request{Kind: KindPeering, Status: StatusActive, UpdatedAt: t0}, t0.Add(100 * time.Hour), ""},
		{"AWS peering, day 2", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour)}, t0.Add(2 * 24 * time.Hour), ""},
		{"AWS peering, day 3", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour)}, t0.Add(3 * 24 * time.Hour), ActNudgeCustomer},
		{"AWS peering, day 4 after day 3's", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), RemindedAt: t0.Add(3 * 24 * time.Hour)}, t0.Add(4 * 24 * time.Hour), ""},
		{"AWS peering, day 5", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), RemindedAt: t0.Add(3 * 24 * time.Hour)}, t0.Add(5 * 24 * time.Hour), ActNudgeCustomer},
		{"AWS peering, day 6", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), RemindedAt: t0.Add(5 * 24 * time.Hour)}, t0.Add(6*24*time.Hour + time.Hour), ActNudgeCustomer},
		{"AWS peering, day 6 reminded", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), RemindedAt: t0.Add(6 * 24 * time.Hour)}, t0.Add(6*24*time.Hour + time.Hour), ""},
		{"AWS peering, expired", Request{Kind: KindPeering, Status: StatusPendingAcceptance, UpdatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), RemindedAt: t0.Add(6 * 24 * time.Hour)}, t0.Add(8 * 24 * time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, due := tt.r.ReminderDue(tt.now, sla)
			if got != tt.want || due != (tt.want != "") {
				t.Fatalf("ReminderDue = %q %v, want %q", got, due, tt.want)
			}
		})
	}
	// A reminder is recorded without moving the request or its last change.
	r := Request{Kind: KindPeering, Status: StatusSubmitted, UpdatedAt: t0, UpdatedBy: "U1"}
	if _, err := r.Apply(Change{Action: ActNudgeSupport, Actor: ActorBot, Role: RoleBot, At: t0.Add(4 * time.Hour)}, 1); err != nil {
		t.Fatal(err)
	}
	if !r.UpdatedAt.Equal(t0) || r.UpdatedBy != "U1" || !r.RemindedAt.Equal(t0.Add(4*time.Hour)) {
		t.Fatalf("after a nudge: %+v", r)
	}
}

func TestNotifications(t *testing.T) {
	r := &Request{ID: 1, Kind: KindPeering}
	kinds := func(e Event) []NotificationKind {
		var ks []NotificationKind
		for _, n := range Notifications(r, e) {
			if n.RequestID != 1 || n.Event != e.Seq {
				t.Fatalf("notification %+v not about event %d of PEER-0001", n, e.Seq)
			}
			ks = append(ks, n.Kind)
		}
		return ks
	}
	tests := []struct {
		name string
		e    Event
		want []NotificationKind
	}{
		{"submission: card first, then receipt", Event{Action: ActSubmit, To: StatusSubmitted}, []NotificationKind{NotifyCard, NotifyRequester}},
		{"claim: card and thread", Event{Seq: 1, Action: ActClaim, From: StatusSubmitted, To: StatusSubmitted}, []NotificationKind{NotifyCard, NotifyThread}},
		{"internal note: thread only", Event{Seq: 1, Action: ActNote, From: StatusSubmitted, To: StatusSubmitted}, []NotificationKind{NotifyThread}},
		{"approve: no DM", Event{Seq: 2, Action: ActApprove, From: StatusSubmitted, To: StatusApproved}, []NotificationKind{NotifyCard, NotifyThread, NotifyHome}},
		{"customer must act: DM", Event{Seq: 3, Action: ActPeeringCreated, From: StatusApproved, To: StatusPendingAcceptance}, []NotificationKind{NotifyCard, NotifyThread, NotifyRequester, NotifyHome}},
		{"ended: DM", Event{Seq: 3, Action: ActReject, From: StatusSubmitted, To: StatusRejected}, []NotificationKind{NotifyCard, NotifyThread, NotifyRequester, NotifyHome}},
		{"support nudge: thread", Event{Seq: 3, Action: ActNudgeSupport, From: StatusSubmitted, To: StatusSubmitted}, []NotificationKind{NotifyThread}},
		{"customer nudge: DM", Event{Seq: 3, Action: ActNudgeCustomer, From: StatusPendingAcceptance, To: StatusPendingAcceptance}, []NotificationKind{NotifyThread, NotifyRequester}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kinds(tt.e); !slices.Equal(got, tt.want) {
				t.Fatalf("kinds = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckConflicts(t *testing.T) {
	p := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	peer := func(account, vpc, cidr string) Request {
		return Request{Kind: KindPeering, ClusterID: "c1", Spec: PeeringSpec{AccountID: account, VPCID: vpc, CIDRs: p(cidr)}}
	}
	open := []Claim{
		{ID: 1, Kind: KindPeering, Status: StatusSubmitted, Key: "vpc-0000000a in account 111111111111", Routes: p("10.1.0.0/16")},
		{ID: 2, Kind: KindPeering, Status: StatusActive, Key: "vpc-0000000b in account 222222222222", Routes: p("10.2.0.0/16")},
		{ID: 4, Kind: "another_kind", Status: StatusActive, Key: "vpc-0000000e in account 111111111111", Routes: p("10.5.0.0/16")},
	}
	tests := []struct {
		name  string
		r     Request
		field string
		says  string
	}{
		{"fresh", peer("444444444444", "vpc-0000000d", "10.4.0.0/16"), "", ""},
		{"same VPC open", peer("111111111111", "vpc-0000000a", "10.9.0.0/16"), FieldVPC, "PEER-0001"},
		{"overlaps an active peering", peer("444444444444", "vpc-0000000d", "10.2.128.0/17"), FieldCIDRs, "PEER-0002"},
		{"overlaps a request of another kind", peer("444444444444", "vpc-0000000d", "10.5.0.0/24"), FieldCIDRs, "0004"},
		{"the same key in another kind is no duplicate", peer("111111111111", "vpc-0000000e", "10.6.0.0/16"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConflicts(&tt.r, open)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("CheckConflicts = %v, want nil", err)
				}
				return
			}
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Code != EConflict || !strings.Contains(e.Fields[tt.field], tt.says) {
				t.Fatalf("CheckConflicts = %v, want a conflict on %s naming %s", err, tt.field, tt.says)
			}
		})
	}
	var full []Claim
	for i := range MaxPeeringsPerCluster {
		full = append(full, Claim{ID: RequestID(i + 1), Kind: KindPeering, Status: StatusPendingAcceptance, Key: fmt.Sprint(i)})
	}
	r := peer("444444444444", "vpc-0000000d", "10.4.0.0/16")
	if e, ok := errors.AsType[*Error](CheckConflicts(&r, full)); !ok || e.Fields[FieldCluster] == "" {
		t.Fatalf("a cluster at AWS's limit accepts one more request: %v", e)
	}
	if err := CheckConflicts(&r, full[:MaxPeeringsPerCluster-1]); err != nil {
		t.Fatalf("one below the limit: %v", err)
	}
	other := append(full[:MaxPeeringsPerCluster-1:MaxPeeringsPerCluster-1], Claim{ID: 999, Kind: "another_kind", Status: StatusActive})
	if err := CheckConflicts(&r, other); err != nil {
		t.Fatalf("a request of another kind counts against the peering limit: %v", err)
	}
}
