package cloud_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
)

// The transit gateway tests run cloud.TransitGateways against moto, for what
// it models (a transit gateway of the cluster's own account stands in for the
// customer's: moto shares none across accounts, has no RAM invitations and
// makes attachments available at once), and against tgwFake, an in-process
// AWS (a fakeaws.Server) speaking EC2 Query and RAM REST-JSON on one
// endpoint, for the rest.

const (
	tgwCustomer = "222222222222"
	tgwTGW      = "tgw-0123456789abcdef0"
	tgwShareARN = "arn:aws:ram:eu-central-1:222222222222:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
	tgwInvite   = "arn:aws:ram:eu-central-1:222222222222:resource-share-invitation/11111111-2222-4333-8444-555555555555"
	tgwARN      = "arn:aws:ec2:eu-central-1:222222222222:transit-gateway/" + tgwTGW
)

// tgwFiled is when the requests of the fake tests were filed.
var tgwFiled = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tgwRequest is request TGW-0007 of the fake cluster for tgwTGW, naming the
// RAM share share ("" for none).
func tgwRequest(share string) astrobot.Request {
	return astrobot.Request{ID: 7, Kind: astrobot.KindTransitGateway, ClusterID: "clx-9", CreatedAt: tgwFiled, Spec: astrobot.TransitGatewaySpec{
		AccountID: tgwCustomer, TGWID: tgwTGW, ShareARN: share,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.90.0.0/16"), netip.MustParsePrefix("10.91.0.0/16")},
	}}
}

// tgwFake is one AWS endpoint for the EC2 and RAM clients: EC2 Query calls
// go to one handler, RAM REST-JSON calls to another.
type tgwFake struct{ *fakeaws.Server }

// newTGWFake returns a tgwFake whose RAM calls go to handleRAM, or are
// refused when it is nil.
func newTGWFake(t *testing.T, handleEC2 func(http.ResponseWriter, fakeaws.Call), handleRAM func(http.ResponseWriter, fakeaws.Call)) *tgwFake {
	if handleRAM == nil {
		handleRAM = func(w http.ResponseWriter, c fakeaws.Call) { fakeaws.WriteJSONError(w, 400, "InvalidAction", c.Action) }
	}
	return &tgwFake{fakeaws.New(t, func(w http.ResponseWriter, c fakeaws.Call) {
		if c.Protocol == fakeaws.RESTJSON {
			handleRAM(w, c)
			return
		}
		handleEC2(w, c)
	}, fakeaws.RAMRoutes()...)}
}

// count returns how many calls of protocol the fake got.
func (f *tgwFake) count(protocol fakeaws.Protocol) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Protocol == protocol {
			n++
		}
	}
	return n
}

func (f *tgwFake) transitGateways(logs *bytes.Buffer, attempts int) *cloud.TransitGateways {
	return cloud.NewTransitGateways(f.RetryConfig(attempts), cloud.TransitGatewayOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
}

// ramInvitation is an invitation as RAM writes it.
func ramInvitation(arn, share, sender, status string, sent time.Time) map[string]any {
	return map[string]any{"resourceShareInvitationArn": arn, "resourceShareArn": share, "resourceShareName": "astro", "senderAccountId": sender,
		"receiverAccountId": fakeAccount, "status": status, "invitationTimestamp": float64(sent.Unix())}
}

// tgwXML describes a transit gateway as DescribeTransitGateways does.
func tgwXML(id, owner, state, autoAccept string) string {
	return fmt.Sprintf(`<transitGatewaySet><item><transitGatewayId>%s</transitGatewayId><ownerId>%s</ownerId><state>%s</state>
<options><autoAcceptSharedAttachments>%s</autoAcceptSharedAttachments></options></item></transitGatewaySet>`, id, owner, state, autoAccept)
}

// tgwAttachment is an attachment the fake knows.
type tgwAttachment struct {
	id, tgw, vpc, state string
	tags                map[string]string
}

func (a tgwAttachment) xml() string {
	return fmt.Sprintf(`<item><transitGatewayAttachmentId>%s</transitGatewayAttachmentId><transitGatewayId>%s</transitGatewayId><vpcId>%s</vpcId>
<vpcOwnerId>%s</vpcOwnerId><state>%s</state><subnetIds><item>subnet-1</item></subnetIds>%s</item>`, a.id, a.tgw, a.vpc, fakeAccount, a.state, fakeaws.TagSet(a.tags))
}

func attachmentsXML(as ...tgwAttachment) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(a.xml())
	}
	return "<transitGatewayVpcAttachments>" + b.String() + "</transitGatewayVpcAttachments>"
}

func TestTransitGatewayShareFake(t *testing.T) {
	before, since := tgwFiled.Add(-48*time.Hour), tgwFiled.Add(time.Hour)
	other := "arn:aws:ram:eu-central-1:222222222222:resource-share-invitation/99999999-2222-4333-8444-555555555555"
	tests := []struct {
		name        string
		share       string           // the share the request names
		tgw         string           // DescribeTransitGateways' answer before any acceptance; "" for none, "notfound" for AWS's error
		afterAccept string           // its answer after an acceptance
		invitations []map[string]any // what GetResourceShareInvitations lists
		resources   map[string]bool  // invitation → whether it holds the transit gateway
		acceptErr   string           // the error code AcceptResourceShareInvitation answers
		want        cloud.Share
		wantErr     string // in an EConflict error
		accepts     int
		lists       int // ListPendingInvitationResources calls
		noRAM       bool
	}{
		{name: "visible inside one organization", tgw: tgwXML(tgwTGW, tgwCustomer, "available", "disable"),
			want: cloud.Share{TGW: &cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer, State: "available"}}, noRAM: true},
		{name: "visible, accepting attachments by itself", tgw: tgwXML(tgwTGW, tgwCustomer, "available", "enable"),
			want: cloud.Share{TGW: &cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer, State: "available", AutoAccept: true}}, noRAM: true},
		{name: "another account's transit gateway", tgw: tgwXML(tgwTGW, "333333333333", "available", "disable"), noRAM: true,
			wantErr: "The transit gateway " + tgwTGW + " belongs to account 333333333333, not to 222222222222 as the request says"},
		{name: "a deleted transit gateway", tgw: tgwXML(tgwTGW, tgwCustomer, "deleted", "disable"), noRAM: true,
			wantErr: "The transit gateway " + tgwTGW + " is deleted in account 222222222222, so nothing can attach to it"},
		{name: "not shared yet: no invitation", want: cloud.Share{}},
		{name: "not shared yet, as AWS says it", tgw: "notfound", want: cloud.Share{}},
		{name: "a pending invitation holding it is accepted", afterAccept: tgwXML(tgwTGW, tgwCustomer, "available", "disable"),
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "PENDING", since)}, resources: map[string]bool{tgwInvite: true},
			want: cloud.Share{TGW: &cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer, State: "available"}, Accepted: true,
				Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "ACCEPTED", SentAt: since}},
			accepts: 1, lists: 1},
		{name: "a pending invitation shared before the request is accepted too", afterAccept: tgwXML(tgwTGW, tgwCustomer, "available", "disable"),
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "PENDING", before)}, resources: map[string]bool{tgwInvite: true},
			want: cloud.Share{TGW: &cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer, State: "available"}, Accepted: true,
				Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "ACCEPTED", SentAt: before}},
			accepts: 1, lists: 1},
		{name: "a pending invitation without it is left alone",
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "PENDING", since)}, resources: map[string]bool{tgwInvite: false},
			want: cloud.Share{}, lists: 1},
		{name: "a pending invitation from another account is left alone",
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, "333333333333", "PENDING", since)}, resources: map[string]bool{tgwInvite: true},
			want: cloud.Share{}},
		{name: "the named share's pending invitation", share: tgwShareARN, afterAccept: tgwXML(tgwTGW, tgwCustomer, "available", "disable"),
			invitations: []map[string]any{ramInvitation(other, "arn:aws:ram:eu-central-1:222222222222:resource-share/aaaaaaaa-2222-4333-8444-555555555555", tgwCustomer, "PENDING", since),
				ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "PENDING", since)},
			resources: map[string]bool{tgwInvite: true, other: true},
			want: cloud.Share{TGW: &cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer, State: "available"}, Accepted: true,
				Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "ACCEPTED", SentAt: since}},
			accepts: 1, lists: 1},
		{name: "accepted, but the transit gateway does not show up", afterAccept: "",
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "PENDING", since)}, resources: map[string]bool{tgwInvite: true},
			want: cloud.Share{Accepted: true,
				Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "ACCEPTED", SentAt: since}},
			accepts: 1, lists: 1},
		{name: "accepted meanwhile", acceptErr: "ResourceShareInvitationAlreadyAcceptedException", afterAccept: tgwXML(tgwTGW, tgwCustomer, "available", "disable"),
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "PENDING", since)}, resources: map[string]bool{tgwInvite: true},
			want: cloud.Share{TGW: &cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer, State: "available"}, Accepted: true,
				Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "ACCEPTED", SentAt: since}},
			accepts: 1, lists: 1},
		{name: "expired meanwhile", acceptErr: "ResourceShareInvitationExpiredException",
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "PENDING", since)}, resources: map[string]bool{tgwInvite: true},
			want:    cloud.Share{Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "EXPIRED", SentAt: since}},
			accepts: 1, lists: 1},
		{name: "rejected since the request",
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "REJECTED", since)},
			want:        cloud.Share{Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "REJECTED", SentAt: since}}},
		{name: "expired since the request",
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "EXPIRED", since)},
			want:        cloud.Share{Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "EXPIRED", SentAt: since}}},
		{name: "an account's old rejected invitation may be of another share",
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "REJECTED", before)}, want: cloud.Share{}},
		{name: "the named share's old expired invitation counts", share: tgwShareARN,
			invitations: []map[string]any{ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "EXPIRED", before)},
			want:        cloud.Share{Invitation: &cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer, Status: "EXPIRED", SentAt: before}}},
		{name: "the named share's newest invitation decides", share: tgwShareARN,
			invitations: []map[string]any{ramInvitation(other, tgwShareARN, tgwCustomer, "EXPIRED", before), ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "ACCEPTED", since)},
			want:        cloud.Share{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			accepted := false
			fake := newTGWFake(t, func(w http.ResponseWriter, call fakeaws.Call) {
				if call.Action != "DescribeTransitGateways" {
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", call.Action)
					return
				}
				if got := fakeaws.List(call.Form, "TransitGatewayIds"); !slices.Equal(got, []string{tgwTGW}) {
					t.Errorf("DescribeTransitGateways asks for %v", got)
				}
				mu.Lock()
				answer := tt.tgw
				if accepted {
					answer = tt.afterAccept
				}
				mu.Unlock()
				if answer == "notfound" {
					fakeaws.WriteEC2Error(w, 400, "InvalidTransitGatewayID.NotFound", "Transit Gateway "+tgwTGW+" was deleted or does not exist.")
					return
				}
				if answer == "" {
					answer = "<transitGatewaySet/>"
				}
				fakeaws.WriteEC2(w, call.Action, answer)
			}, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "GetResourceShareInvitations":
					if got, want := fmt.Sprint(call.JSON["resourceShareArns"]), fmt.Sprint([]any{tt.share}); tt.share != "" && got != want {
						t.Errorf("GetResourceShareInvitations asks for the shares %s, want %s", got, want)
					}
					if tt.share == "" && call.JSON["resourceShareArns"] != nil {
						t.Errorf("GetResourceShareInvitations names shares: %v", call.JSON)
					}
					fakeaws.WriteJSON(w, map[string]any{"resourceShareInvitations": tt.invitations})
				case "ListPendingInvitationResources":
					inv, _ := call.JSON["resourceShareInvitationArn"].(string)
					var res []map[string]any
					if tt.resources[inv] {
						res = append(res, map[string]any{"arn": tgwARN, "type": "ec2:TransitGateway", "resourceShareArn": tgwShareARN, "status": "AVAILABLE"})
					}
					res = append(res, map[string]any{"arn": "arn:aws:ec2:eu-central-1:222222222222:subnet/subnet-0123456789abcdef0", "type": "ec2:Subnet"})
					fakeaws.WriteJSON(w, map[string]any{"resources": res})
				case "AcceptResourceShareInvitation":
					if call.JSON["resourceShareInvitationArn"] != tgwInvite || call.JSON["clientToken"] != "astrobot-TGW-0007-1" {
						t.Errorf("AcceptResourceShareInvitation %v, want %s with the token astrobot-TGW-0007-1", call.JSON, tgwInvite)
					}
					mu.Lock()
					accepted = true
					mu.Unlock()
					if tt.acceptErr != "" {
						fakeaws.WriteJSONError(w, 400, tt.acceptErr, "no")
						return
					}
					fakeaws.WriteJSON(w, map[string]any{"resourceShareInvitation": ramInvitation(tgwInvite, tgwShareARN, tgwCustomer, "ACCEPTED", since)})
				}
			})
			var logs bytes.Buffer
			got, err := fake.transitGateways(&logs, 1).Share(context.Background(), fakeCluster(), tgwRequest(tt.share))
			if tt.wantErr != "" {
				if astrobot.ErrorCodeOf(err) != astrobot.EConflict || !strings.Contains(astrobot.ErrorMessageOf(err), tt.wantErr) {
					t.Fatalf("Share = %+v, %v; want a conflict saying %q", got, err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Share: %v\n%s", err, logs.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" && tt.wantErr == "" {
				t.Errorf("Share (-want +got):\n%s", diff)
			}
			if n := len(fake.Calls("AcceptResourceShareInvitation")); n != tt.accepts {
				t.Errorf("%d acceptances, want %d", n, tt.accepts)
			}
			if n := len(fake.Calls("ListPendingInvitationResources")); n != tt.lists {
				t.Errorf("%d ListPendingInvitationResources calls, want %d", n, tt.lists)
			}
			gets := fake.Calls("GetResourceShareInvitations")
			if tt.noRAM && len(gets) > 0 || !tt.noRAM && len(gets) != 1 {
				t.Errorf("%d GetResourceShareInvitations calls; want them only when the transit gateway is not visible", len(gets))
			}
			for _, c := range gets {
				if c.Region != fakeRegion {
					t.Errorf("RAM asked in %q, want the cluster's region %s", c.Region, fakeRegion)
				}
			}
		})
	}
}

func TestTransitGatewayCreateFake(t *testing.T) {
	mine := func(attempt, state string) tgwAttachment {
		return tgwAttachment{id: "tgw-attach-0000000000000000" + attempt, tgw: tgwTGW, vpc: fakeClusterVPC, state: state,
			tags: map[string]string{"astrobot:request-id": "TGW-0007", "astrobot:attempt": attempt, "astro:cluster-id": "clx-9", "Name": "TGW-0007"}}
	}
	subnet := func(id, zone string, tagged bool) string {
		tags := ""
		if tagged {
			tags = "<tagSet><item><key>astro:subnet</key><value>private</value></item></tagSet>"
		}
		return fmt.Sprintf("<item><subnetId>%s</subnetId><vpcId>%s</vpcId><availabilityZone>x</availabilityZone><availabilityZoneId>%s</availabilityZoneId>%s</item>", id, fakeClusterVPC, zone, tags)
	}
	subnets := subnet("subnet-0000000000000000c", "euc1-az1", true) + subnet("subnet-0000000000000000a", "euc1-az2", true) +
		subnet("subnet-0000000000000000b", "euc1-az1", true) + subnet("subnet-00000000000000001", "euc1-az3", false)
	tests := []struct {
		name     string
		existing []tgwAttachment
		subnets  string
		attempt  int
		want     string // the attachment Create returns
		wantErr  string // in the error
		creates  int
		deletes  []string
		waits    bool // a *DetachingError
	}{
		{name: "new: one tagged subnet per zone", subnets: subnets, attempt: 1, want: "tgw-attach-000000000000000aa", creates: 1},
		{name: "the same attempt is reused", existing: []tgwAttachment{mine("1", "pendingAcceptance")}, attempt: 1, want: mine("1", "").id},
		{name: "the same attempt in another VPC does not count", subnets: subnets, attempt: 1, want: "tgw-attach-000000000000000aa", creates: 1,
			existing: []tgwAttachment{func() tgwAttachment { a := mine("1", "available"); a.vpc = "vpc-0cccccccccccccccc"; return a }()}},
		{name: "a rejected attachment of the same attempt is replaced", existing: []tgwAttachment{mine("1", "rejected")}, subnets: subnets, attempt: 1,
			want: "tgw-attach-000000000000000aa", creates: 1},
		{name: "an earlier attempt's live attachment is deleted first", existing: []tgwAttachment{mine("1", "available")}, subnets: subnets, attempt: 2,
			deletes: []string{mine("1", "").id}, waits: true},
		{name: "an earlier attempt's attachment going away is waited for", existing: []tgwAttachment{mine("1", "deleting")}, subnets: subnets, attempt: 2, waits: true},
		{name: "an earlier attempt's deleted attachment is history", existing: []tgwAttachment{mine("1", "deleted"), mine("2", "failed")}, subnets: subnets, attempt: 3,
			want: "tgw-attach-000000000000000aa", creates: 1},
		{name: "an attachment astrobot did not make", attempt: 1,
			existing: []tgwAttachment{{id: "tgw-attach-0000000000000abcd", tgw: tgwTGW, vpc: fakeClusterVPC, state: "available"}},
			wantErr:  "VPC " + fakeClusterVPC + " of cluster clx-9 (account 111111111111, eu-central-1) is already attached to the transit gateway " + tgwTGW + " through tgw-attach-0000000000000abcd, and astrobot did not make it"},
		{name: "another request's attachment", attempt: 1,
			existing: []tgwAttachment{{id: "tgw-attach-0000000000000abcd", tgw: tgwTGW, vpc: fakeClusterVPC, state: "pending", tags: map[string]string{"astrobot:request-id": "TGW-0003"}}},
			wantErr:  "through tgw-attach-0000000000000abcd, and it belongs to TGW-0003"},
		{name: "no tagged subnet", subnets: subnet("subnet-00000000000000001", "euc1-az3", false), attempt: 1,
			wantErr: "VPC " + fakeClusterVPC + " of cluster clx-9 (account 111111111111, eu-central-1) has no subnet tagged astro:subnet=private"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newTGWFake(t, func(w http.ResponseWriter, call fakeaws.Call) {
				form := call.Form
				switch call.Action {
				case "DescribeTransitGatewayVpcAttachments":
					if diff := cmp.Diff(map[string][]string{"vpc-id": {fakeClusterVPC}, "transit-gateway-id": {tgwTGW}}, fakeaws.Filters(form)); diff != "" {
						t.Errorf("DescribeTransitGatewayVpcAttachments filters (-want +got):\n%s", diff)
					}
					fakeaws.WriteEC2(w, call.Action, attachmentsXML(tt.existing...))
				case "DescribeSubnets":
					if diff := cmp.Diff(map[string][]string{"vpc-id": {fakeClusterVPC}, "tag:astro:subnet": {"private"}}, fakeaws.Filters(form)); diff != "" {
						t.Errorf("DescribeSubnets filters (-want +got):\n%s", diff)
					}
					fakeaws.WriteEC2(w, call.Action, "<subnetSet>"+tt.subnets+"</subnetSet>")
				case "CreateTransitGatewayVpcAttachment":
					want := url.Values{"Action": {call.Action}, "Version": {"2016-11-15"}, "TransitGatewayId": {tgwTGW}, "VpcId": {fakeClusterVPC},
						"SubnetIds.1": {"subnet-0000000000000000b"}, "SubnetIds.2": {"subnet-0000000000000000a"},
						"TagSpecifications.1.ResourceType": {"transit-gateway-attachment"},
						"TagSpecifications.1.Tag.1.Key":    {"astrobot:request-id"}, "TagSpecifications.1.Tag.1.Value": {"TGW-0007"},
						"TagSpecifications.1.Tag.2.Key": {"astrobot:attempt"}, "TagSpecifications.1.Tag.2.Value": {fmt.Sprint(tt.attempt)},
						"TagSpecifications.1.Tag.3.Key": {"astro:cluster-id"}, "TagSpecifications.1.Tag.3.Value": {"clx-9"},
						"TagSpecifications.1.Tag.4.Key": {"Name"}, "TagSpecifications.1.Tag.4.Value": {"TGW-0007"}}
					if diff := cmp.Diff(want, form); diff != "" {
						t.Errorf("CreateTransitGatewayVpcAttachment (-want +got):\n%s", diff)
					}
					fakeaws.WriteEC2(w, call.Action, "<transitGatewayVpcAttachment>"+strings.TrimSuffix(strings.TrimPrefix(
						tgwAttachment{id: "tgw-attach-000000000000000aa", tgw: tgwTGW, vpc: fakeClusterVPC, state: "pendingAcceptance"}.xml(), "<item>"), "</item>")+"</transitGatewayVpcAttachment>")
				case "DeleteTransitGatewayVpcAttachment":
					fakeaws.WriteEC2(w, call.Action, "<transitGatewayVpcAttachment><state>deleting</state></transitGatewayVpcAttachment>")
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", call.Action)
				}
			}, nil)
			var logs bytes.Buffer
			tgw := cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer, State: "available"}
			got, err := fake.transitGateways(&logs, 1).Create(context.Background(), fakeCluster(), tgwRequest(""), tt.attempt, tgw)
			var detaching *cloud.DetachingError
			switch {
			case tt.waits:
				if !errors.As(err, &detaching) {
					t.Fatalf("Create = %+v, %v; want a *DetachingError", got, err)
				}
			case tt.wantErr != "":
				if astrobot.ErrorCodeOf(err) != astrobot.EInternal || !strings.Contains(astrobot.ErrorMessageOf(err), tt.wantErr) {
					t.Fatalf("Create = %+v, %v; want an error saying %q", got, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Create: %v\n%s", err, logs.String())
			case got.ID != tt.want:
				t.Errorf("Create returned %s, want %s", got.ID, tt.want)
			}
			if n := len(fake.Calls("CreateTransitGatewayVpcAttachment")); n != tt.creates {
				t.Errorf("%d creations, want %d", n, tt.creates)
			}
			var deleted []string
			for _, c := range fake.Calls("DeleteTransitGatewayVpcAttachment") {
				deleted = append(deleted, c.Form.Get("TransitGatewayAttachmentId"))
			}
			if !slices.Equal(deleted, tt.deletes) {
				t.Errorf("deleted %v, want %v", deleted, tt.deletes)
			}
		})
	}
}

func TestTransitGatewayDescribeFake(t *testing.T) {
	known := map[string]string{"tgw-attach-000000000000000a1": "pendingAcceptance", "tgw-attach-000000000000000a2": "Available", "tgw-attach-000000000000000a3": "deleted"}
	for _, refuses := range []bool{false, true} {
		t.Run(fmt.Sprintf("AWS refuses unknown IDs %v", refuses), func(t *testing.T) {
			fake := newTGWFake(t, func(w http.ResponseWriter, call fakeaws.Call) {
				form := call.Form
				ids := fakeaws.List(form, "TransitGatewayAttachmentIds")
				if len(ids) == 0 {
					ids = fakeaws.Filters(form)["transit-gateway-attachment-id"]
				} else if refuses {
					fakeaws.WriteEC2Error(w, 400, "InvalidTransitGatewayAttachmentID.NotFound", "Transit Gateway Attachment tgw-attach-000000000000000a4 not found")
					return
				}
				var as []tgwAttachment
				for _, id := range ids {
					if st, ok := known[id]; ok {
						as = append(as, tgwAttachment{id: id, tgw: tgwTGW, vpc: fakeClusterVPC, state: st})
					}
				}
				fakeaws.WriteEC2(w, call.Action, attachmentsXML(as...))
			}, nil)
			var logs bytes.Buffer
			got, err := fake.transitGateways(&logs, 1).Describe(context.Background(), fakeAccount, fakeRegion,
				[]string{"tgw-attach-000000000000000a2", "tgw-attach-000000000000000a1", "tgw-attach-000000000000000a4", "tgw-attach-000000000000000a3", "tgw-attach-000000000000000a1"})
			if err != nil {
				t.Fatalf("Describe: %v", err)
			}
			states := map[string]cloud.AttachmentState{}
			for id, a := range got {
				states[id] = a.State
			}
			want := map[string]cloud.AttachmentState{"tgw-attach-000000000000000a1": cloud.AttachmentPendingAcceptance, "tgw-attach-000000000000000a2": cloud.AttachmentAvailable,
				"tgw-attach-000000000000000a3": cloud.AttachmentDeleted, "tgw-attach-000000000000000a4": cloud.AttachmentDeleted}
			if diff := cmp.Diff(want, states); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			calls := fake.Calls("DescribeTransitGatewayVpcAttachments")
			wantCalls := 1
			if refuses {
				wantCalls = 2
			}
			if len(calls) != wantCalls || !slices.Equal(fakeaws.List(calls[0].Form, "TransitGatewayAttachmentIds"),
				[]string{"tgw-attach-000000000000000a1", "tgw-attach-000000000000000a2", "tgw-attach-000000000000000a3", "tgw-attach-000000000000000a4"}) {
				t.Errorf("%d describe calls, the first for %v; want %d, the first by the four IDs", len(calls), calls[0].Form, wantCalls)
			}
		})
	}
}

func TestTransitGatewayConfigureFake(t *testing.T) {
	const pcx = "pcx-000000000000000bb"
	tests := []struct {
		name    string
		tables  map[string]map[string]string // route table → CIDR → target
		exists  string                       // CreateRoute answers RouteAlreadyExists for this CIDR, which then goes to the TGW
		want    []string                     // the routes created: "rtb 10.90.0.0/16"
		wantErr string
		code    astrobot.ErrorCode
	}{
		{name: "a route per CIDR in every table", tables: map[string]map[string]string{"rtb-1": nil, "rtb-2": nil},
			want: []string{"rtb-1 10.90.0.0/16", "rtb-1 10.91.0.0/16", "rtb-2 10.90.0.0/16", "rtb-2 10.91.0.0/16"}},
		{name: "an identical route is done", tables: map[string]map[string]string{"rtb-1": {"10.90.0.0/16": tgwTGW}, "rtb-2": {"10.91.0.0/16": tgwTGW}},
			want: []string{"rtb-1 10.91.0.0/16", "rtb-2 10.90.0.0/16"}},
		{name: "all done", tables: map[string]map[string]string{"rtb-1": {"10.90.0.0/16": tgwTGW, "10.91.0.0/16": tgwTGW}}},
		{name: "a route that appeared meanwhile", tables: map[string]map[string]string{"rtb-1": nil}, exists: "10.91.0.0/16",
			want: []string{"rtb-1 10.90.0.0/16", "rtb-1 10.91.0.0/16"}},
		{name: "a route elsewhere stops everything", tables: map[string]map[string]string{"rtb-1": nil, "rtb-2": {"10.91.0.0/16": pcx}},
			code:    astrobot.EConflict,
			wantErr: "Route table rtb-2 of cluster clx-9 (account 111111111111, eu-central-1) already sends 10.91.0.0/16 to " + pcx + ", not to the transit gateway " + tgwTGW + ": remove or change that route, then retry."},
		{name: "no route table", tables: map[string]map[string]string{}, code: astrobot.EInternal, wantErr: "AWS lists no route table in VPC " + fakeClusterVPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			appeared := false
			fake := newTGWFake(t, func(w http.ResponseWriter, call fakeaws.Call) {
				form := call.Form
				switch call.Action {
				case "DescribeRouteTables":
					var b strings.Builder
					for _, id := range slices.Sorted(maps.Keys(tt.tables)) {
						routes := maps.Clone(tt.tables[id])
						mu.Lock()
						if appeared && tt.exists != "" {
							if routes == nil {
								routes = map[string]string{}
							}
							routes[tt.exists] = tgwTGW
						}
						mu.Unlock()
						if ids := fakeaws.List(form, "RouteTableId"); len(ids) == 0 || slices.Contains(ids, id) {
							b.WriteString(routeTableXML(id, routes))
						}
					}
					fakeaws.WriteEC2(w, call.Action, "<routeTableSet>"+b.String()+"</routeTableSet>")
				case "CreateRoute":
					if form.Get("TransitGatewayId") != tgwTGW || form.Get("VpcPeeringConnectionId") != "" {
						t.Errorf("CreateRoute %v, want a route to %s", form, tgwTGW)
					}
					if form.Get("DestinationCidrBlock") == tt.exists {
						mu.Lock()
						appeared = true
						mu.Unlock()
						fakeaws.WriteEC2Error(w, 400, "RouteAlreadyExists", "The route identified by "+tt.exists+" already exists.")
						return
					}
					fakeaws.WriteEC2(w, call.Action, "<return>true</return>")
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", call.Action)
				}
			}, nil)
			var logs bytes.Buffer
			r := tgwRequest("")
			r.Resource = "tgw-attach-000000000000000aa"
			err := fake.transitGateways(&logs, 1).Configure(context.Background(), fakeCluster(), r)
			if tt.wantErr != "" {
				if astrobot.ErrorCodeOf(err) != tt.code || !strings.Contains(astrobot.ErrorMessageOf(err), tt.wantErr) {
					t.Fatalf("Configure = %v, want %s saying %q", err, tt.code, tt.wantErr)
				}
				if n := len(fake.Calls("CreateRoute")); n != 0 {
					t.Errorf("%d routes added before the conflict was found", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Configure: %v\n%s", err, logs.String())
			}
			var got []string
			for _, c := range fake.Calls("CreateRoute") {
				got = append(got, c.Form.Get("RouteTableId")+" "+c.Form.Get("DestinationCidrBlock"))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("routes created %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTransitGatewayCleanupFake(t *testing.T) {
	const att = "tgw-attach-000000000000000aa"
	tests := []struct {
		name      string
		deleteErr string // the error DeleteTransitGatewayVpcAttachment answers
		state     string // the attachment's state then
		wantErr   bool
	}{
		{name: "deleted"},
		{name: "gone already", deleteErr: "InvalidTransitGatewayAttachmentID.NotFound"},
		{name: "deleting already", deleteErr: "IncorrectState", state: "deleting"},
		{name: "in a state AWS does not delete", deleteErr: "IncorrectState", state: "modifying", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newTGWFake(t, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "DescribeRouteTables":
					fakeaws.WriteEC2(w, call.Action, "<routeTableSet>"+
						routeTableXML("rtb-1", map[string]string{"10.90.0.0/16": tgwTGW, "10.91.0.0/16": "pcx-000000000000000bb", "10.92.0.0/16": tgwTGW})+
						routeTableXML("rtb-2", map[string]string{"10.91.0.0/16": tgwTGW})+"</routeTableSet>")
				case "DeleteRoute":
					fakeaws.WriteEC2(w, call.Action, "<return>true</return>")
				case "DeleteTransitGatewayVpcAttachment":
					if tt.deleteErr != "" {
						fakeaws.WriteEC2Error(w, 400, tt.deleteErr, "no")
						return
					}
					fakeaws.WriteEC2(w, call.Action, "<transitGatewayVpcAttachment><state>deleting</state></transitGatewayVpcAttachment>")
				case "DescribeTransitGatewayVpcAttachments":
					fakeaws.WriteEC2(w, call.Action, attachmentsXML(tgwAttachment{id: att, tgw: tgwTGW, vpc: fakeClusterVPC, state: tt.state}))
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", call.Action)
				}
			}, nil)
			var logs bytes.Buffer
			r := tgwRequest("")
			r.Resource = att
			err := fake.transitGateways(&logs, 1).Cleanup(context.Background(), fakeCluster(), r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Cleanup = %v, want an error %v", err, tt.wantErr)
			}
			var routes []string
			for _, c := range fake.Calls("DeleteRoute") {
				routes = append(routes, c.Form.Get("RouteTableId")+" "+c.Form.Get("DestinationCidrBlock"))
			}
			if want := []string{"rtb-1 10.90.0.0/16", "rtb-2 10.91.0.0/16"}; !slices.Equal(routes, want) {
				t.Errorf("routes deleted %v, want only the request's CIDRs to the transit gateway: %v", routes, want)
			}
			if calls := fake.Calls("DeleteTransitGatewayVpcAttachment"); len(calls) != 1 || calls[0].Form.Get("TransitGatewayAttachmentId") != att {
				t.Errorf("DeleteTransitGatewayVpcAttachment calls: %d, want one for %s", len(calls), att)
			}
		})
	}
}

func TestTransitGatewayAWSErrors(t *testing.T) {
	share := func(tg *cloud.TransitGateways) error {
		_, err := tg.Share(context.Background(), fakeCluster(), tgwRequest(""))
		return err
	}
	create := func(tg *cloud.TransitGateways) error {
		_, err := tg.Create(context.Background(), fakeCluster(), tgwRequest(""), 1, cloud.TransitGateway{ID: tgwTGW, Owner: tgwCustomer})
		return err
	}
	// invisible answers the describe calls with nothing and a subnet.
	invisible := func(fail func(http.ResponseWriter, fakeaws.Call)) func(http.ResponseWriter, fakeaws.Call) {
		return func(w http.ResponseWriter, call fakeaws.Call) {
			switch call.Action {
			case "DescribeTransitGateways":
				fakeaws.WriteEC2(w, call.Action, "<transitGatewaySet/>")
			case "DescribeTransitGatewayVpcAttachments":
				fakeaws.WriteEC2(w, call.Action, attachmentsXML())
			case "DescribeSubnets":
				fakeaws.WriteEC2(w, call.Action, `<subnetSet><item><subnetId>subnet-1</subnetId><vpcId>`+fakeClusterVPC+`</vpcId><availabilityZoneId>euc1-az1</availabilityZoneId>
<tagSet><item><key>astro:subnet</key><value>private</value></item></tagSet></item></subnetSet>`)
			default:
				fail(w, call)
			}
		}
	}
	tests := []struct {
		name           string
		ec2            func(http.ResponseWriter, fakeaws.Call)
		ram            func(http.ResponseWriter, fakeaws.Call)
		do             func(*cloud.TransitGateways) error
		wantMsg        string
		wantPermission bool
		wantThrottle   bool
		wantCalls      int // RAM calls, or EC2 calls when ram is nil
	}{
		{name: "invitations denied", ec2: invisible(nil), do: share,
			ram: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteJSONError(w, 403, "AccessDeniedException", "User is not authorized to perform: ram:GetResourceShareInvitations")
			},
			wantMsg:        "astrobot may not look up resource share invitations in account 111111111111, eu-central-1 (AccessDeniedException): grant ram:GetResourceShareInvitations to the AWS identity astrobot uses there.",
			wantPermission: true, wantCalls: 1},
		{name: "invitations throttled", ec2: invisible(nil), do: share,
			ram: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteJSONError(w, 400, "ThrottlingException", "Rate exceeded")
			},
			wantMsg: "AWS is throttling astrobot in account 111111111111, eu-central-1 (ThrottlingException), so it could not look up resource share invitations; try again in a minute.",
			// the SDK retries throttling: 3 attempts
			wantThrottle: true, wantCalls: 3},
		{name: "transit gateways denied", do: share,
			ec2: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			wantMsg:        "astrobot may not look up transit gateways in account 111111111111, eu-central-1 (UnauthorizedOperation): grant ec2:DescribeTransitGateways to the AWS identity astrobot uses there.",
			wantPermission: true, wantCalls: 1},
		{name: "attaching denied", do: create,
			ec2: invisible(func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			}),
			wantMsg:        "astrobot may not create transit gateway VPC attachments in account 111111111111, eu-central-1 (UnauthorizedOperation): grant ec2:CreateTransitGatewayVpcAttachment and ec2:CreateTags to the AWS identity astrobot uses there.",
			wantPermission: true, wantCalls: 3},
		{name: "attaching throttled", do: create,
			ec2: invisible(func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 503, "RequestLimitExceeded", "Request limit exceeded.")
			}),
			wantMsg: "AWS is throttling astrobot in account 111111111111, eu-central-1 (RequestLimitExceeded), so it could not create transit gateway VPC attachments; try again in a minute.",
			// two describes, then three attempts
			wantThrottle: true, wantCalls: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newTGWFake(t, tt.ec2, tt.ram)
			var logs bytes.Buffer
			err := tt.do(fake.transitGateways(&logs, 3))
			if err == nil {
				t.Fatal("no error")
			}
			if got := cloud.IsPermission(err); got != tt.wantPermission {
				t.Errorf("IsPermission = %v, want %v (err %v)", got, tt.wantPermission, err)
			}
			if got := cloud.IsThrottle(err); got != tt.wantThrottle {
				t.Errorf("IsThrottle = %v, want %v (err %v)", got, tt.wantThrottle, err)
			}
			if diff := cmp.Diff(&astrobot.Error{Code: astrobot.EInternal, Message: tt.wantMsg}, mustAstrobotError(t, err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if entries := logEntries(t, &logs); len(entries) != 1 || entries[0]["account"] != fakeAccount || entries[0]["region"] != fakeRegion {
				t.Errorf("log entries %v, want one naming the account and region", entries)
			}
			n := fake.count(fakeaws.Query)
			if tt.ram != nil {
				n = fake.count(fakeaws.RESTJSON)
			}
			if n != tt.wantCalls {
				t.Errorf("AWS got %d calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestTransitGatewayExplain(t *testing.T) {
	cl := fakeCluster()
	inv := cloud.Invitation{ARN: tgwInvite, ShareARN: tgwShareARN, ShareName: "astro", Sender: tgwCustomer}
	tests := []struct {
		got  string
		want []string
	}{
		{cloud.ExplainAttachment(cloud.Attachment{ID: "tgw-attach-1", State: cloud.AttachmentRejected}), []string{"tgw-attach-1", "was rejected on your transit gateway", "ask support to retry"}},
		{cloud.ExplainAttachment(cloud.Attachment{ID: "tgw-attach-1", State: cloud.AttachmentFailed}), []string{"AWS could not set up the attachment tgw-attach-1", "retry the request, which makes a new attachment"}},
		{cloud.ExplainAttachment(cloud.Attachment{ID: "tgw-attach-1", State: cloud.AttachmentDeleted}), []string{"was deleted in AWS"}},
		{cloud.ExplainAttachment(cloud.Attachment{ID: "tgw-attach-1", State: "weird"}), []string{`the AWS state "weird"`}},
		{cloud.ExplainInvitation(func() cloud.Invitation { i := inv; i.Status = cloud.InvitationRejected; return i }(), cl),
			[]string{"The invitation to the RAM share astro (" + tgwShareARN + ") from account 222222222222 was rejected in the cluster's account 111111111111",
				"remove account 111111111111 from the share's principals and add it again; then support retries the request"}},
		{cloud.ExplainInvitation(func() cloud.Invitation { i := inv; i.Status = cloud.InvitationExpired; return i }(), cl),
			[]string{"expired before it was accepted in the cluster's account 111111111111", "To send a new invitation"}},
		{cloud.ExplainMissingTGW(tgwRequest("").Spec.(astrobot.TransitGatewaySpec), cl),
			[]string{"The transit gateway " + tgwTGW + " does not show up for the cluster's account 111111111111 in eu-central-1, although its RAM share was accepted",
				"A VPC attaches only to a transit gateway of its own region (eu-central-1)", "transit gateway peering"}},
	}
	for _, tt := range tests {
		for _, w := range tt.want {
			if !strings.Contains(tt.got, w) {
				t.Errorf("%q lacks %q", tt.got, w)
			}
		}
	}
}

// TestTransitGatewayMoto runs the Astro side against moto: the transit
// gateway is in the cluster's own account, so it is visible without a share;
// the attachment is made once, in one tagged subnet per zone; routes to the
// transit gateway go into every route table of the cluster VPC; the cleanup
// takes them and the attachment away.
func TestTransitGatewayMoto(t *testing.T) {
	ctx := context.Background()
	astro, operator := mototest.NewAccount(t), mototest.NewAccount(t)
	const region = "us-east-1"
	env := newEC2Env(t, astro, region)
	vpc := env.vpc("10.70.0.0/16", nil)
	if _, err := env.client.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(vpc)}); err != nil {
		t.Fatalf("CreateRouteTable: %v", err)
	}
	subnet := func(cidr, zone string, tagged bool) string {
		in := &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(zone)}
		if tagged {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeSubnet, Tags: []types.Tag{{Key: aws.String(cloud.SubnetTag), Value: aws.String(cloud.PrivateSubnet)}}}}
		}
		out, err := env.client.CreateSubnet(ctx, in)
		if err != nil {
			t.Fatalf("CreateSubnet: %v", err)
		}
		return aws.ToString(out.Subnet.SubnetId)
	}
	a1, a2, b := subnet("10.70.1.0/24", "us-east-1a", true), subnet("10.70.2.0/24", "us-east-1a", true), subnet("10.70.3.0/24", "us-east-1b", true)
	subnet("10.70.4.0/24", "us-east-1c", false)
	wantSubnets := slices.Sorted(slices.Values([]string{min(a1, a2), b}))
	created, err := env.client.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{Description: aws.String("the customer's, played by the cluster's account")})
	if err != nil {
		t.Fatalf("CreateTransitGateway: %v", err)
	}
	tgwID := aws.ToString(created.TransitGateway.TransitGatewayId)

	cl := astrobot.Cluster{ID: "clx-tgw", Name: "acme-tgw", Organization: "acme", Region: region, AccountID: astro, VPCID: vpc,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.70.0.0/16")}}
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.90.0.0/16"), netip.MustParsePrefix("10.91.0.0/16")}
	r := astrobot.Request{ID: 11, Kind: astrobot.KindTransitGateway, ClusterID: cl.ID, CreatedAt: time.Now(),
		Spec: astrobot.TransitGatewaySpec{AccountID: astro, TGWID: tgwID, CIDRs: cidrs}}

	counter := newActionCounter()
	cfg := mototest.Config(t, operator, region)
	cfg.HTTPClient = counter
	var logs bytes.Buffer
	tg := cloud.NewTransitGateways(cfg, cloud.TransitGatewayOptions{Roles: map[string]string{astro: "arn:aws:iam::" + astro + ":role/astrobot"},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})

	sh, err := tg.Share(ctx, cl, r)
	if err != nil || sh.TGW == nil || sh.TGW.ID != tgwID || sh.TGW.Owner != astro || sh.Accepted {
		t.Fatalf("Share = %+v, %v; want the transit gateway %s of %s, visible without an invitation\n%s", sh, err, tgwID, astro, logs.String())
	}
	if n := counter.count(""); n != 0 {
		t.Errorf("%d calls other than EC2 Query ones (RAM): a visible transit gateway needs no invitation", n)
	}

	first, err := tg.Create(ctx, cl, r, 1, *sh.TGW)
	if err != nil {
		t.Fatalf("Create: %v\n%s", err, logs.String())
	}
	if first.VPC != vpc || first.TGW != tgwID || !slices.Equal(first.Subnets, wantSubnets) {
		t.Errorf("attachment %+v, want %s to %s in %v (one tagged subnet per zone)", first, vpc, tgwID, wantSubnets)
	}
	attachments := func() []types.TransitGatewayVpcAttachment {
		t.Helper()
		out, err := env.client.DescribeTransitGatewayVpcAttachments(ctx, &ec2.DescribeTransitGatewayVpcAttachmentsInput{
			Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
		if err != nil {
			t.Fatalf("DescribeTransitGatewayVpcAttachments: %v", err)
		}
		return out.TransitGatewayVpcAttachments
	}
	if as := attachments(); len(as) != 1 || aws.ToString(as[0].TransitGatewayAttachmentId) != first.ID {
		t.Fatalf("attachments of the cluster VPC in moto: %+v, want only %s", as, first.ID)
	}

	// moto 5.2.1 drops the tags of CreateTransitGatewayVpcAttachment (it reads
	// the tag specification of transit-gateway-route-table): the untagged
	// attachment is refused as someone else's, and once it carries the tags
	// AWS gives it, Create finds it instead of making a second one.
	if _, err := tg.Create(ctx, cl, r, 1, *sh.TGW); !strings.Contains(astrobot.ErrorMessageOf(err), "through "+first.ID+", and astrobot did not make it") {
		t.Errorf("Create with an untagged attachment in the VPC = %v, want it refused as not astrobot's", err)
	}
	if _, err := env.client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{first.ID}, Tags: []types.Tag{
		{Key: aws.String("astrobot:request-id"), Value: aws.String(r.Ref())}, {Key: aws.String("astrobot:attempt"), Value: aws.String("1")}}}); err != nil {
		t.Fatalf("CreateTags: %v", err)
	}
	again, err := tg.Create(ctx, cl, r, 1, *sh.TGW)
	if err != nil || again.ID != first.ID {
		t.Errorf("Create again = %+v, %v; want %s", again, err, first.ID)
	}
	if n := counter.count("CreateTransitGatewayVpcAttachment"); n != 1 {
		t.Errorf("CreateTransitGatewayVpcAttachment called %d times, want 1", n)
	}
	if as := attachments(); len(as) != 1 {
		t.Errorf("%d attachments of the cluster VPC, want 1", len(as))
	}

	states, err := tg.Describe(ctx, astro, region, []string{first.ID, "tgw-attach-0123456789abcdef0"})
	if err != nil || states[first.ID].State != cloud.AttachmentAvailable || states["tgw-attach-0123456789abcdef0"].State != cloud.AttachmentDeleted {
		t.Errorf("Describe = %+v, %v; want %s available (moto skips acceptance) and the unknown one deleted", states, err, first.ID)
	}

	// Routes: one identical route exists already; Configure adds the rest,
	// to the transit gateway, in both route tables, and a second run adds
	// nothing.
	tables, err := env.client.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(tables.RouteTables) != 2 {
		t.Fatalf("route tables of the cluster VPC: %+v, %v; want 2", tables, err)
	}
	if _, err := env.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: tables.RouteTables[0].RouteTableId,
		DestinationCidrBlock: aws.String("10.90.0.0/16"), TransitGatewayId: aws.String(tgwID)}); err != nil {
		t.Fatalf("CreateRoute: %v", err)
	}
	r.Resource = first.ID
	for range 2 {
		if err := tg.Configure(ctx, cl, r); err != nil {
			t.Fatalf("Configure: %v\n%s", err, logs.String())
		}
	}
	if n := counter.count("CreateRoute"); n != 3 {
		t.Errorf("CreateRoute called %d times, want 3 (4 routes, 1 there already; the second run adds none)", n)
	}
	routes := tgwRoutesOf(t, env.client, vpc)
	want := map[string]map[string]string{}
	for _, tbl := range tables.RouteTables {
		want[aws.ToString(tbl.RouteTableId)] = map[string]string{"10.90.0.0/16": tgwID, "10.91.0.0/16": tgwID}
	}
	if diff := cmp.Diff(want, routes); diff != "" {
		t.Errorf("routes to the transit gateway in moto (-want +got):\n%s", diff)
	}

	// The cleanup of a cancelled request: the routes and the attachment go.
	if err := tg.Cleanup(ctx, cl, r); err != nil {
		t.Fatalf("Cleanup: %v\n%s", err, logs.String())
	}
	for id, rs := range tgwRoutesOf(t, env.client, vpc) {
		if len(rs) != 0 {
			t.Errorf("route table %s keeps routes to the transit gateway: %v", id, rs)
		}
	}
	for _, a := range attachments() {
		if a.State != types.TransitGatewayAttachmentStateDeleted {
			t.Errorf("attachment %s is %s after the cleanup, want deleted or gone", aws.ToString(a.TransitGatewayAttachmentId), a.State)
		}
	}
	if states, err := tg.Describe(ctx, astro, region, []string{first.ID}); err != nil || states[first.ID].State != cloud.AttachmentDeleted {
		t.Errorf("Describe after the cleanup = %+v, %v; want deleted", states, err)
	}
}

// tgwRoutesOf returns, for every route table of vpc, where each route to a
// transit gateway goes: table ID → CIDR → tgw ID.
func tgwRoutesOf(t *testing.T, client *ec2.Client, vpc string) map[string]map[string]string {
	t.Helper()
	out, err := client.DescribeRouteTables(context.Background(), &ec2.DescribeRouteTablesInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}},
	})
	if err != nil {
		t.Fatalf("DescribeRouteTables: %v", err)
	}
	m := make(map[string]map[string]string)
	for _, rt := range out.RouteTables {
		routes := make(map[string]string)
		for _, r := range rt.Routes {
			if r.TransitGatewayId != nil {
				routes[aws.ToString(r.DestinationCidrBlock)] = aws.ToString(r.TransitGatewayId)
			}
		}
		m[aws.ToString(rt.RouteTableId)] = routes
	}
	return m
}
