package bot

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
	"github.com/astrobot-dev/astrobot/internal/mototest"
)

// The transit gateway tests run the watcher with the transit gateway
// provisioner and the real cloud.TransitGateways, against tgwAWS (an
// in-process AWS speaking EC2 Query and RAM REST-JSON on one fakeaws.Server,
// for the cross-account states moto does not model) or moto.

const (
	tgwCustomer = "444455556666"
	tgwGateway  = "tgw-0123456789abcdef0"
	tgwShare    = "arn:aws:ram:us-east-1:444455556666:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
)

// tgwAWS is an in-process AWS (a fakeaws.Server speaking EC2 Query and RAM
// REST-JSON) that keeps transit gateways, RAM share invitations, subnets,
// route tables and attachments, and answers the calls of
// cloud.TransitGateways. Tests change its state directly, under mu, or with
// its methods, and make calls fail with Fail.
type tgwAWS struct {
	*fakeaws.Server

	mu          sync.Mutex
	gateways    map[string]*fakeTGW // by ID
	invitations []*tgwInvitation
	subnets     []tgwSubnet
	tables      map[string]map[string]map[string]string // VPC → route table → CIDR → target
	attachments map[string]*tgwAttachment
	next        int
	onCreate    func() // called when an attachment is created
}

type fakeTGW struct {
	id, owner, region string
	visible           bool // to the clusters' account
	autoAccept        bool
	hides             bool // stays invisible once its share is accepted (taken out of the share meanwhile)
}

type tgwInvitation struct {
	arn, share, sender, status string
	sent                       time.Time
	gateway                    string // the transit gateway it shares
}

type tgwSubnet struct {
	id, vpc, zone string
	tagged        bool
}

type tgwAttachment struct {
	id, tgw, vpc, state string
	subnets             []string
	tags                map[string]string
}

func newTGWAWS(t *testing.T) *tgwAWS {
	f := &tgwAWS{gateways: map[string]*fakeTGW{}, tables: map[string]map[string]map[string]string{},
		attachments: map[string]*tgwAttachment{}}
	f.Server = fakeaws.New(t, f.serve, fakeaws.RAMRoutes()...)
	return f
}

// invite makes the customer share gateway with the clusters' account: a
// pending invitation sent at sent.
func (f *tgwAWS) invite(share, gateway string, sent time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	arn := fmt.Sprintf("arn:aws:ram:us-east-1:%s:resource-share-invitation/%08d-2222-4333-8444-555555555555", tgwCustomer, f.next)
	f.invitations = append(f.invitations, &tgwInvitation{arn: arn, share: share, sender: tgwCustomer, status: "PENDING", sent: sent, gateway: gateway})
	return arn
}

func (f *tgwAWS) setInvitation(arn, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, inv := range f.invitations {
		if inv.arn == arn {
			inv.status = status
		}
	}
}

func (f *tgwAWS) set(id, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attachments[id].state = state
}

func (f *tgwAWS) attachment(id string) tgwAttachment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.attachments[id]
}

// live returns the attachments of vpc that have not ended.
func (f *tgwAWS) live(vpc string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, a := range f.attachments {
		if a.vpc == vpc && a.state != "deleted" && a.state != "rejected" && a.state != "failed" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// gateway edits the transit gateway id.
func (f *tgwAWS) gateway(id string, edit func(g *fakeTGW)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f.gateways[id])
}

// routes returns the routes of the route tables of vpc: table → CIDR → target.
func (f *tgwAWS) routes(vpc string) map[string]map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[string]string{}
	for id, rs := range f.tables[vpc] {
		out[id] = maps.Clone(rs)
	}
	return out
}

func (f *tgwAWS) serve(w http.ResponseWriter, c fakeaws.Call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Protocol == fakeaws.RESTJSON {
		f.serveRAM(w, c)
		return
	}
	f.serveEC2(w, c)
}

func (f *tgwAWS) serveRAM(w http.ResponseWriter, call fakeaws.Call) {
	body := call.JSON
	invitation := func(inv *tgwInvitation) map[string]any {
		return map[string]any{"resourceShareInvitationArn": inv.arn, "resourceShareArn": inv.share, "resourceShareName": "astro-share",
			"senderAccountId": inv.sender, "receiverAccountId": watchAccount, "status": inv.status, "invitationTimestamp": float64(inv.sent.Unix())}
	}
	find := func() *tgwInvitation {
		for _, inv := range f.invitations {
			if inv.arn == body["resourceShareInvitationArn"] {
				return inv
			}
		}
		return nil
	}
	switch call.Action {
	case "GetResourceShareInvitations":
		shares, _ := body["resourceShareArns"].([]any)
		var out []map[string]any
		for _, inv := range f.invitations {
			if len(shares) == 0 || slices.Contains(shares, any(inv.share)) {
				out = append(out, invitation(inv))
			}
		}
		fakeaws.WriteJSON(w, map[string]any{"resourceShareInvitations": out})
	case "ListPendingInvitationResources":
		inv := find()
		if inv == nil || inv.status != "PENDING" {
			fakeaws.WriteJSONError(w, 400, "ResourceShareInvitationArnNotFoundException", "no pending invitation")
			return
		}
		g := f.gateways[inv.gateway]
		fakeaws.WriteJSON(w, map[string]any{"resources": []map[string]any{{"arn": fmt.Sprintf("arn:aws:ec2:%s:%s:transit-gateway/%s", g.region, g.owner, g.id), "type": "ec2:TransitGateway"}}})
	case "AcceptResourceShareInvitation":
		inv := find()
		switch {
		case inv == nil:
			fakeaws.WriteJSONError(w, 400, "ResourceShareInvitationArnNotFoundException", "no invitation")
			return
		case inv.status == "EXPIRED":
			fakeaws.WriteJSONError(w, 400, "ResourceShareInvitationExpiredException", "expired")
			return
		}
		inv.status = "ACCEPTED"
		if g := f.gateways[inv.gateway]; !g.hides {
			g.visible = true
		}
		fakeaws.WriteJSON(w, map[string]any{"resourceShareInvitation": invitation(inv)})
	default:
		fakeaws.WriteJSONError(w, 404, "UnknownOperationException", "the fake does not know "+call.Action)
	}
}

func (f *tgwAWS) serveEC2(w http.ResponseWriter, call fakeaws.Call) {
	form := call.Form
	fs := fakeaws.Filters(form)
	switch call.Action {
	case "DescribeTransitGateways":
		var b strings.Builder
		for _, id := range fakeaws.List(form, "TransitGatewayIds") {
			if g, ok := f.gateways[id]; ok && g.visible && g.region == call.Region {
				accept := "disable"
				if g.autoAccept {
					accept = "enable"
				}
				fmt.Fprintf(&b, "<item><transitGatewayId>%s</transitGatewayId><ownerId>%s</ownerId><state>available</state><options><autoAcceptSharedAttachments>%s</autoAcceptSharedAttachments></options></item>", g.id, g.owner, accept)
			}
		}
		fakeaws.WriteEC2(w, call.Action, "<transitGatewaySet>"+b.String()+"</transitGatewaySet>")
	case "DescribeSubnets":
		var b strings.Builder
		for _, s := range f.subnets {
			if slices.Contains(fs["vpc-id"], s.vpc) && s.tagged {
				fmt.Fprintf(&b, "<item><subnetId>%s</subnetId><vpcId>%s</vpcId><availabilityZoneId>%s</availabilityZoneId>%s</item>", s.id, s.vpc, s.zone,
					fakeaws.TagSet(map[string]string{cloud.SubnetTag: cloud.PrivateSubnet}))
			}
		}
		fakeaws.WriteEC2(w, call.Action, "<subnetSet>"+b.String()+"</subnetSet>")
	case "CreateTransitGatewayVpcAttachment":
		g, ok := f.gateways[form.Get("TransitGatewayId")]
		if !ok || !g.visible || g.region != call.Region {
			fakeaws.WriteEC2Error(w, 400, "InvalidTransitGatewayID.NotFound", "Transit Gateway "+form.Get("TransitGatewayId")+" was deleted or does not exist.")
			return
		}
		vpc := form.Get("VpcId")
		for _, a := range f.attachments {
			if a.vpc == vpc && a.tgw == g.id && a.state != "deleted" && a.state != "rejected" && a.state != "failed" {
				fakeaws.WriteEC2Error(w, 400, "DuplicateTransitGatewayAttachment", "tgw has non-deleted Transit Gateway Attachments with same VPC ID.")
				return
			}
		}
		f.next++
		a := &tgwAttachment{id: fmt.Sprintf("tgw-attach-%017x", 0xa0000+f.next), tgw: g.id, vpc: vpc, state: "pendingAcceptance", subnets: fakeaws.List(form, "SubnetIds"),
			tags: fakeaws.Tags(form, "TagSpecifications.1")}
		if g.autoAccept || g.owner == watchAccount {
			a.state = "pending"
		}
		f.attachments[a.id] = a
		if f.onCreate != nil {
			f.onCreate()
		}
		fakeaws.WriteEC2(w, call.Action, "<transitGatewayVpcAttachment>"+a.xml()+"</transitGatewayVpcAttachment>")
	case "DescribeTransitGatewayVpcAttachments":
		var out []*tgwAttachment
		if ids := fakeaws.List(form, "TransitGatewayAttachmentIds"); len(ids) > 0 {
			for _, id := range ids {
				a, ok := f.attachments[id]
				if !ok {
					fakeaws.WriteEC2Error(w, 400, "InvalidTransitGatewayAttachmentID.NotFound", "Transit Gateway Attachment "+id+" was deleted or does not exist.")
					return
				}
				out = append(out, a)
			}
		} else {
			for _, id := range slices.Sorted(maps.Keys(f.attachments)) {
				a := f.attachments[id]
				if vs, ok := fs["vpc-id"]; ok && !slices.Contains(vs, a.vpc) {
					continue
				}
				if vs, ok := fs["transit-gateway-id"]; ok && !slices.Contains(vs, a.tgw) {
					continue
				}
				if vs, ok := fs["transit-gateway-attachment-id"]; ok && !slices.Contains(vs, a.id) {
					continue
				}
				out = append(out, a)
			}
		}
		var b strings.Builder
		for _, a := range out {
			b.WriteString("<item>" + a.xml() + "</item>")
		}
		fakeaws.WriteEC2(w, call.Action, "<transitGatewayVpcAttachments>"+b.String()+"</transitGatewayVpcAttachments>")
	case "DeleteTransitGatewayVpcAttachment":
		a, ok := f.attachments[form.Get("TransitGatewayAttachmentId")]
		switch {
		case !ok:
			fakeaws.WriteEC2Error(w, 400, "InvalidTransitGatewayAttachmentID.NotFound", "no such attachment")
			return
		case a.state == "deleted" || a.state == "deleting":
			fakeaws.WriteEC2Error(w, 400, "IncorrectState", "the attachment is "+a.state)
			return
		}
		a.state = "deleted"
		fakeaws.WriteEC2(w, call.Action, "<transitGatewayVpcAttachment>"+a.xml()+"</transitGatewayVpcAttachment>")
	case "DescribeRouteTables":
		var b strings.Builder
		for _, vpc := range slices.Sorted(maps.Keys(f.tables)) {
			if vs, ok := fs["vpc-id"]; ok && !slices.Contains(vs, vpc) {
				continue
			}
			for _, id := range slices.Sorted(maps.Keys(f.tables[vpc])) {
				if ids := fakeaws.List(form, "RouteTableId"); len(ids) > 0 && !slices.Contains(ids, id) {
					continue
				}
				fmt.Fprintf(&b, "<item><routeTableId>%s</routeTableId><vpcId>%s</vpcId><routeSet>", id, vpc)
				routes := f.tables[vpc][id]
				for _, cidr := range slices.Sorted(maps.Keys(routes)) {
					elem := map[string]string{"tgw-": "transitGatewayId", "pcx-": "vpcPeeringConnectionId", "loca": "gatewayId"}[routes[cidr][:4]]
					fmt.Fprintf(&b, "<item><destinationCidrBlock>%s</destinationCidrBlock><%s>%s</%s><state>active</state></item>", cidr, elem, routes[cidr], elem)
				}
				b.WriteString("</routeSet></item>")
			}
		}
		fakeaws.WriteEC2(w, call.Action, "<routeTableSet>"+b.String()+"</routeTableSet>")
	case "CreateRoute", "DeleteRoute":
		table, cidr := form.Get("RouteTableId"), form.Get("DestinationCidrBlock")
		for _, tables := range f.tables {
			routes, ok := tables[table]
			if !ok {
				continue
			}
			_, exists := routes[cidr]
			switch {
			case call.Action == "DeleteRoute" && !exists:
				fakeaws.WriteEC2Error(w, 400, "InvalidRoute.NotFound", "no route")
			case call.Action == "DeleteRoute":
				delete(routes, cidr)
				fakeaws.WriteEC2(w, call.Action, "<return>true</return>")
			case exists:
				fakeaws.WriteEC2Error(w, 400, "RouteAlreadyExists", "The route identified by "+cidr+" already exists.")
			default:
				routes[cidr] = form.Get("TransitGatewayId")
				fakeaws.WriteEC2(w, call.Action, "<return>true</return>")
			}
			return
		}
		fakeaws.WriteEC2Error(w, 400, "InvalidRouteTableID.NotFound", "no route table "+table)
	default:
		fakeaws.WriteEC2Error(w, 400, "InvalidAction", "The fake does not know "+call.Action)
	}
}

func (a *tgwAttachment) xml() string {
	return fmt.Sprintf(`<transitGatewayAttachmentId>%s</transitGatewayAttachmentId><transitGatewayId>%s</transitGatewayId><vpcId>%s</vpcId><vpcOwnerId>%s</vpcOwnerId><state>%s</state><subnetIds>%s</subnetIds>%s`,
		a.id, a.tgw, a.vpc, watchAccount, a.state, fakeaws.Items(a.subnets, ""), fakeaws.TagSet(a.tags))
}

// tgwWorld is a watcher with the transit gateway provisioner on a real
// store, against tgwAWS: the clusters of watchClusters, each with two route
// tables and three subnets, two tagged private (zones az1 and az2), and the
// customer's transit gateway tgwGateway in us-east-1, not shared yet.
type tgwWorld struct {
	*watchEnv
	aws *tgwAWS
	tgw *cloud.TransitGateways
}

func newTGWWorld(t *testing.T) *tgwWorld {
	t.Helper()
	f := newTGWAWS(t)
	for i, cl := range watchClusters {
		for z := 1; z <= 3; z++ {
			f.subnets = append(f.subnets, tgwSubnet{id: fmt.Sprintf("subnet-%02d%015d", i, z), vpc: cl.VPCID, zone: fmt.Sprintf("%s-az%d", cl.Region, z), tagged: z < 3})
		}
		f.tables[cl.VPCID] = map[string]map[string]string{}
		for rt := 1; rt <= 2; rt++ {
			f.tables[cl.VPCID][fmt.Sprintf("rtb-%02d%015d", i, rt)] = map[string]string{cl.CIDRs[0].String(): "local"}
		}
	}
	f.gateways[tgwGateway] = &fakeTGW{id: tgwGateway, owner: tgwCustomer, region: "us-east-1"}
	e := newWatchEnv(t, newFakePeerer(), watchClusters)
	tg := cloud.NewTransitGateways(f.Config(), cloud.TransitGatewayOptions{Logger: e.log})
	e.provision(astrobot.KindTransitGateway, NewTransitGatewayProvisioner(tg, cloud.NewStatic(watchClusters), e.rec))
	return &tgwWorld{watchEnv: e, aws: f, tgw: tg}
}

// tgwCIDR is the customer CIDR of request n.
func tgwCIDR(n int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 20, byte(n), 0}), 24)
}

// file files request n for cl to gateway, naming share ("" for none), and
// approves it.
func (w *tgwWorld) file(t *testing.T, cl astrobot.Cluster, n int, gateway, share string) astrobot.Request {
	t.Helper()
	return w.fileApproved(t, cl, astrobot.TransitGatewaySpec{AccountID: tgwCustomer, TGWID: gateway, ShareARN: share, CIDRs: []netip.Prefix{tgwCIDR(n), tgwCIDR(n + 100)}})
}

// pending files and approves request n for cl with the transit gateway
// shared and lets the bot take it to pending acceptance.
func (w *tgwWorld) pending(t *testing.T, cl astrobot.Cluster, n int) astrobot.Request {
	t.Helper()
	w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.visible = true })
	r := w.file(t, cl, n, tgwGateway, "")
	w.advance(t)
	got, _ := w.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || astrobot.ValidateAttachmentID(got.Resource) != nil {
		t.Fatalf("after Advance: %s with attachment %q, want pending_acceptance with one\nlogs:\n%s", got.Status, got.Resource, w.logs.dump())
	}
	return got
}

func (w *tgwWorld) status(t *testing.T, id astrobot.RequestID) astrobot.Status {
	t.Helper()
	r, _ := w.history(t, id)
	return r.Status
}

// lastNote returns the note of the last event of id.
func (w *tgwWorld) lastNote(t *testing.T, id astrobot.RequestID) string {
	t.Helper()
	_, events := w.history(t, id)
	return events[len(events)-1].Note
}

// TestTransitGatewayWorkflowFake takes one request from approval to active
// and on to its deletion in AWS: waiting for the share, the invitation
// accepted, the attachment made once in the tagged subnets, accepted by the
// customer, routes in every route table.
func TestTransitGatewayWorkflowFake(t *testing.T) {
	w := newTGWWorld(t)
	cl := watchClusters[0]
	r := w.file(t, cl, 1, tgwGateway, "")
	w.outbox(t)

	// Nothing shared: the request waits for the share and the requester
	// is told how to share it, with the real IDs.
	w.advance(t)
	got, events := w.history(t, r.ID)
	if got.Status != astrobot.StatusWaitingShare {
		t.Fatalf("status with nothing shared = %s, want waiting_share\nlogs:\n%s", got.Status, w.logs.dump())
	}
	if diff := cmp.Diff(notes(r.ID, events[len(events)-1].Seq, astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyRequester, astrobot.NotifyHome), w.outbox(t)); diff != "" {
		t.Errorf("outbox after waiting_share (-want +got):\n%s", diff)
	}
	in := got.Def().Instructions(&got, cl)
	want := "aws ram create-resource-share --name astro-acme-use1-a --resource-arns arn:aws:ec2:us-east-1:" + tgwCustomer + ":transit-gateway/" + tgwGateway +
		" --principals " + watchAccount + " --allow-external-principals --region us-east-1"
	if in == nil || !slices.Contains(in.Steps[0].CLI, want) {
		t.Errorf("instructions while waiting for the share: %+v\nwant %s", in, want)
	}
	for range 2 {
		w.clock.Advance(time.Minute)
		w.advance(t) // waiting_share is the customer's: Advance leaves it
		w.watch(t)
	}
	if got := w.status(t, r.ID); got != astrobot.StatusWaitingShare {
		t.Fatalf("status while nothing is shared = %s", got)
	}

	// The customer shares it: the next watch accepts the invitation, the
	// next round attaches the VPC in the tagged subnets, one per zone.
	inv := w.aws.invite("arn:aws:ram:us-east-1:"+tgwCustomer+":resource-share/aaaaaaaa-2222-4333-8444-555555555555", tgwGateway, w.clock.Now())
	w.watch(t)
	got, _ = w.history(t, r.ID)
	if got.Status != astrobot.StatusAttaching || !strings.Contains(w.lastNote(t, r.ID), "astrobot accepted the invitation to the RAM share astro-share") {
		t.Fatalf("after the share: %s, note %q; want attaching, naming the share", got.Status, w.lastNote(t, r.ID))
	}
	if n := w.aws.Count("AcceptResourceShareInvitation"); n != 1 {
		t.Errorf("%d acceptances of %s, want 1", n, inv)
	}
	w.advance(t)
	got, _ = w.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || astrobot.ValidateAttachmentID(got.Resource) != nil || got.Details[astrobot.DetailAcceptance] != "required" {
		t.Fatalf("after Advance: %s, attachment %q, details %v; want pending_acceptance with an attachment the customer accepts", got.Status, got.Resource, got.Details)
	}
	a := w.aws.attachment(got.Resource)
	if diff := cmp.Diff([]string{"subnet-00000000000000001", "subnet-00000000000000002"}, a.subnets); diff != "" {
		t.Errorf("attachment subnets (-want +got), want the tagged ones:\n%s", diff)
	}
	if a.tags["astrobot:request-id"] != got.Ref() || a.tags["astrobot:attempt"] != "1" || a.vpc != cl.VPCID || a.tgw != tgwGateway {
		t.Errorf("attachment %+v: want %s to %s, tagged %s attempt 1", a, cl.VPCID, tgwGateway, got.Ref())
	}
	in = got.Def().Instructions(&got, cl)
	if in == nil || !slices.Contains(in.Steps[0].CLI, "aws ec2 accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id "+got.Resource+" --region us-east-1") {
		t.Errorf("instructions while pending acceptance: %+v", in)
	}

	// Accepted, set up, available: routes in both route tables, active.
	for _, state := range []string{"pendingAcceptance", "pending"} {
		w.aws.set(got.Resource, state)
		w.watch(t)
		if s := w.status(t, r.ID); s != astrobot.StatusPendingAcceptance {
			t.Fatalf("status while AWS says %s = %s", state, s)
		}
	}
	w.aws.set(got.Resource, "available")
	_, before := w.history(t, r.ID)
	w.outbox(t)
	w.watch(t)
	got, events = w.history(t, r.ID)
	if got.Status != astrobot.StatusActive {
		t.Fatalf("after acceptance: %s, want active\nlogs:\n%s", got.Status, w.logs.dump())
	}
	if diff := cmp.Diff([]astrobot.Action{astrobot.ActAccepted, astrobot.ActConfigured}, actionsOf(events[len(before):])); diff != "" {
		t.Errorf("actions after acceptance (-want +got):\n%s", diff)
	}
	wantRoutes := map[string]map[string]string{}
	for id := range w.aws.routes(cl.VPCID) {
		wantRoutes[id] = map[string]string{"10.1.0.0/16": "local", tgwCIDR(1).String(): tgwGateway, tgwCIDR(101).String(): tgwGateway}
	}
	if diff := cmp.Diff(wantRoutes, w.aws.routes(cl.VPCID)); diff != "" {
		t.Errorf("routes of the cluster VPC (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(notes(r.ID, len(events)-1, astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyRequester, astrobot.NotifyHome),
		w.outbox(t)[3:]); diff != "" {
		t.Errorf("outbox after active (-want +got):\n%s", diff)
	}
	if next := got.Next(); !strings.Contains(next, "attached to `"+tgwGateway+"` through `"+got.Resource+"`") {
		t.Errorf("Next at active: %s", next)
	}
	w.watch(t) // an active attachment stays active
	if _, again := w.history(t, r.ID); len(again) != len(events) {
		t.Errorf("a second watch added %v", actionsOf(again[len(events):]))
	}

	// Deleted in AWS after it was active.
	w.aws.set(got.Resource, "deleted")
	w.watch(t)
	if s, note := w.status(t, r.ID), w.lastNote(t, r.ID); s != astrobot.StatusDeleted || !strings.Contains(note, ":rotating_light: The attachment "+got.Resource+" of the cluster VPC to your transit gateway was deleted in AWS") {
		t.Errorf("after the deletion: %s, note %q", s, note)
	}
	if n := w.aws.Count("CreateTransitGatewayVpcAttachment"); n != 1 {
		t.Errorf("CreateTransitGatewayVpcAttachment called %d times, want 1", n)
	}
	w.noLoudLogs(t)
}

// TestTransitGatewayShareFake drives the share: visible at once, an
// invitation pending then accepted, missing, rejected, expired, a transit
// gateway that does not show up once shared, one of another account.
func TestTransitGatewayShareFake(t *testing.T) {
	tests := []struct {
		name    string
		share   string
		setup   func(w *tgwWorld)
		after   time.Duration // the clock moves on before a second round
		want    astrobot.Status
		note    string
		accepts int
	}{
		{name: "visible at once inside one organization: no invitation", want: astrobot.StatusPendingAcceptance,
			setup: func(w *tgwWorld) { w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.visible = true }) }, note: "visible to the cluster's account 111122223333 already"},
		{name: "a pending invitation is accepted", want: astrobot.StatusPendingAcceptance, accepts: 1,
			setup: func(w *tgwWorld) { w.aws.invite(tgwShare, tgwGateway, w.clock.Now()) }},
		{name: "the named share's pending invitation", share: tgwShare, want: astrobot.StatusPendingAcceptance, accepts: 1,
			setup: func(w *tgwWorld) {
				w.aws.invite("arn:aws:ram:us-east-1:"+tgwCustomer+":resource-share/bbbbbbbb-2222-4333-8444-555555555555", tgwGateway, w.clock.Now())
				w.aws.invite(tgwShare, tgwGateway, w.clock.Now())
			}},
		{name: "an invitation to another transit gateway is left alone", want: astrobot.StatusWaitingShare,
			setup: func(w *tgwWorld) {
				w.aws.mu.Lock()
				w.aws.gateways["tgw-0123456789abcdef9"] = &fakeTGW{id: "tgw-0123456789abcdef9", owner: tgwCustomer, region: "us-east-1"}
				w.aws.mu.Unlock()
				w.aws.invite(tgwShare, "tgw-0123456789abcdef9", w.clock.Now())
			}},
		{name: "no invitation: the customer is asked to share", want: astrobot.StatusWaitingShare, setup: func(*tgwWorld) {}},
		{name: "rejected", want: astrobot.StatusFailed, note: "was rejected in the cluster's account 111122223333",
			setup: func(w *tgwWorld) {
				w.aws.setInvitation(w.aws.invite(tgwShare, tgwGateway, w.clock.Now().Add(time.Minute)), "REJECTED")
			}},
		{name: "expired", want: astrobot.StatusExpired, note: "expired before it was accepted in the cluster's account 111122223333. To send a new invitation, remove account 111122223333",
			setup: func(w *tgwWorld) {
				w.aws.setInvitation(w.aws.invite(tgwShare, tgwGateway, w.clock.Now().Add(time.Minute)), "EXPIRED")
			}},
		{name: "accepted, but it does not show up: it waits a while", want: astrobot.StatusAttaching, accepts: 1, after: 10 * time.Minute,
			setup: func(w *tgwWorld) {
				w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.hides = true })
				w.aws.invite(tgwShare, tgwGateway, w.clock.Now())
			}},
		{name: "accepted, but it does not show up: then it fails, saying why", want: astrobot.StatusFailed, accepts: 1, after: 16 * time.Minute,
			note: "does not show up for the cluster's account 111122223333 in us-east-1, although its RAM share was accepted: the share does not hold it, or it is in another region. A VPC attaches only to a transit gateway of its own region (us-east-1)",
			setup: func(w *tgwWorld) {
				w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.hides = true })
				w.aws.invite(tgwShare, tgwGateway, w.clock.Now())
			}},
		{name: "in another region: never visible from the cluster's", want: astrobot.StatusWaitingShare, after: time.Hour,
			setup: func(w *tgwWorld) {
				w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.region, g.visible = "eu-west-1", true })
			}},
		{name: "another account's transit gateway", want: astrobot.StatusFailed, note: "belongs to account 999999999999, not to 444455556666",
			setup: func(w *tgwWorld) {
				w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.owner, g.visible = "999999999999", true })
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTGWWorld(t)
			tt.setup(w)
			r := w.file(t, watchClusters[1], 2, tgwGateway, tt.share)
			w.advance(t)
			w.clock.Advance(tt.after)
			w.watch(t)
			w.advance(t)
			if got := w.status(t, r.ID); got != tt.want {
				t.Fatalf("status %s, want %s\nlogs:\n%s", got, tt.want, w.logs.dump())
			}
			_, events := w.history(t, r.ID)
			if !slices.ContainsFunc(events, func(e astrobot.Event) bool { return strings.Contains(e.Note, tt.note) }) {
				t.Errorf("no event note contains %q: %+v", tt.note, events)
			}
			if n := w.aws.Count("AcceptResourceShareInvitation"); n != tt.accepts {
				t.Errorf("%d acceptances, want %d", n, tt.accepts)
			}
			if got := w.aws.Regions("GetResourceShareInvitations"); slices.ContainsFunc(got, func(r string) bool { return r != "us-east-1" }) {
				t.Errorf("RAM asked in %v, want only the cluster's region", got)
			}
			w.noLoudLogs(t)
		})
	}
}

func TestTransitGatewayFollowsAWSFake(t *testing.T) {
	tests := []struct {
		name   string
		active bool   // from active (else pending acceptance)
		aws    string // the attachment's state as AWS spells it
		want   astrobot.Status
		note   string // in the last event's note
	}{
		{name: "still pending acceptance", aws: "pendingAcceptance", want: astrobot.StatusPendingAcceptance},
		{name: "accepted, being set up", aws: "pending", want: astrobot.StatusPendingAcceptance},
		{name: "available", aws: "available", want: astrobot.StatusActive},
		{name: "rejected", aws: "rejected", want: astrobot.StatusDeclined, note: "was rejected on your transit gateway. If that was a mistake, ask support to retry"},
		{name: "failed", aws: "failed", want: astrobot.StatusFailed, note: "AWS could not set up the attachment"},
		{name: "deleted before acceptance", aws: "deleted", want: astrobot.StatusFailed, note: "was deleted in AWS before it was accepted. Support can retry"},
		{name: "deleted after active", active: true, aws: "deleted", want: astrobot.StatusDeleted, note: "no longer reaches the networks behind the transit gateway"},
		{name: "failed after active", active: true, aws: "failed", want: astrobot.StatusDeleted, note: "AWS could not set up the attachment"},
		{name: "active stays active", active: true, aws: "available", want: astrobot.StatusActive},
		{name: "active while modifying", active: true, aws: "modifying", want: astrobot.StatusActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTGWWorld(t)
			r := w.pending(t, watchClusters[1], 3)
			if tt.active {
				w.aws.set(r.Resource, "available")
				w.watch(t)
				if got := w.status(t, r.ID); got != astrobot.StatusActive {
					t.Fatalf("setup: %s, want active", got)
				}
			}
			w.aws.set(r.Resource, tt.aws)
			_, events := w.watchTo(t, r, tt.want, tt.note)
			w.checkSettled(t, r, len(events)) // a second cycle changes nothing
		})
	}
}

// TestTransitGatewayAutoAcceptFake: a transit gateway that accepts shared
// attachments by itself tells the customer there is nothing to accept.
func TestTransitGatewayAutoAcceptFake(t *testing.T) {
	w := newTGWWorld(t)
	w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.autoAccept = true })
	r := w.pending(t, watchClusters[0], 4)
	if r.Details[astrobot.DetailAcceptance] != "automatic" || !strings.Contains(r.Next(), "accepts attachments by itself") || r.Def().Instructions(&r, watchClusters[0]) != nil {
		t.Errorf("an auto-accepting transit gateway: details %v, next %q", r.Details, r.Next())
	}
	w.aws.set(r.Resource, "available")
	w.watch(t)
	if got := w.status(t, r.ID); got != astrobot.StatusActive {
		t.Errorf("status %s, want active", got)
	}
}

func TestTransitGatewayThrottledFake(t *testing.T) {
	w := newTGWWorld(t)
	waiting := w.file(t, watchClusters[0], 1, tgwGateway, "")
	w.advance(t)
	pending := w.pending(t, watchClusters[1], 2)
	w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.visible = false })
	// The third cluster is in eu-west-1: its transit gateway is there.
	const west = "tgw-0123456789abcdef3"
	w.aws.mu.Lock()
	w.aws.gateways[west] = &fakeTGW{id: west, owner: tgwCustomer, region: "eu-west-1"}
	w.aws.mu.Unlock()
	approved := w.file(t, watchClusters[2], 3, west, "")
	describes := w.aws.Count("DescribeTransitGatewayVpcAttachments")
	w.aws.Fail("*", fakeaws.Failure{Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded."})
	w.aws.Fail("GetResourceShareInvitations", fakeaws.Failure{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"})
	rs := []astrobot.Request{waiting, pending, approved}
	w.checkThrottled(t, rs...)
	if n := w.aws.Count("DescribeTransitGatewayVpcAttachments") - describes; n != 3 {
		t.Errorf("DescribeTransitGatewayVpcAttachments called %d times over three throttled cycles, want one a cycle", n)
	}

	// AWS answers again: every request moves on.
	w.aws.Heal("*")
	w.aws.Heal("GetResourceShareInvitations")
	w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.visible = true })
	w.aws.gateway(west, func(g *fakeTGW) { g.visible = true })
	w.aws.set(pending.Resource, "available")
	w.watch(t)
	w.advance(t)
	for i, want := range []astrobot.Status{astrobot.StatusPendingAcceptance, astrobot.StatusActive, astrobot.StatusPendingAcceptance} {
		if got := w.status(t, rs[i].ID); got != want {
			t.Errorf("%s after the throttling: %s, want %s", rs[i].Ref(), got, want)
		}
	}
}

func TestTransitGatewayAccessDeniedFake(t *testing.T) {
	ec2Denied := fakeaws.Failure{Status: 403, Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}
	ramDenied := fakeaws.Failure{Status: 403, Code: "AccessDeniedException", Message: "User is not authorized to perform this action."}
	tests := []struct {
		name   string
		action string
		denied fakeaws.Failure
		setup  func(t *testing.T, w *tgwWorld) astrobot.Request
		stays  astrobot.Status
		grants []string // in the alert
		after  astrobot.Status
	}{
		{name: "looking for invitations", action: "GetResourceShareInvitations", denied: ramDenied, stays: astrobot.StatusWaitingShare, after: astrobot.StatusPendingAcceptance,
			grants: []string{"ram:GetResourceShareInvitations", "stays waiting share"},
			setup: func(t *testing.T, w *tgwWorld) astrobot.Request {
				r := w.file(t, watchClusters[0], 1, tgwGateway, "")
				w.advance(t)
				w.aws.invite(tgwShare, tgwGateway, w.clock.Now())
				return r
			}},
		{name: "accepting the invitation", action: "AcceptResourceShareInvitation", denied: ramDenied, stays: astrobot.StatusWaitingShare, after: astrobot.StatusPendingAcceptance,
			grants: []string{"ram:AcceptResourceShareInvitation", "stays waiting share"},
			setup: func(t *testing.T, w *tgwWorld) astrobot.Request {
				r := w.file(t, watchClusters[0], 1, tgwGateway, "")
				w.advance(t)
				w.aws.invite(tgwShare, tgwGateway, w.clock.Now())
				return r
			}},
		{name: "attaching", action: "CreateTransitGatewayVpcAttachment", denied: ec2Denied, stays: astrobot.StatusAttaching, after: astrobot.StatusPendingAcceptance,
			grants: []string{"ec2:CreateTransitGatewayVpcAttachment and ec2:CreateTags", "stays attaching"},
			setup: func(t *testing.T, w *tgwWorld) astrobot.Request {
				w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.visible = true })
				return w.file(t, watchClusters[0], 1, tgwGateway, "")
			}},
		{name: "watching attachments", action: "DescribeTransitGatewayVpcAttachments", denied: ec2Denied, stays: astrobot.StatusPendingAcceptance, after: astrobot.StatusActive,
			grants: []string{"ec2:DescribeTransitGatewayVpcAttachments", "stays pending acceptance"},
			setup: func(t *testing.T, w *tgwWorld) astrobot.Request {
				r := w.pending(t, watchClusters[0], 1)
				w.aws.set(r.Resource, "available")
				return r
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTGWWorld(t)
			r := tt.setup(t, w)
			w.checkDenied(t, w.aws.Server, r, tt.action, tt.denied, tt.stays, tt.grants, tt.after)
		})
	}
}

// The bot attached the VPC and crashed before storing the attachment's ID:
// the next round finds it by its tags instead of making a second one.
func TestTransitGatewayCrashBetweenCreateAndStoreFake(t *testing.T) {
	w := newTGWWorld(t)
	cl := watchClusters[0]
	w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.visible = true })
	r := w.file(t, cl, 1, tgwGateway, "")
	r = w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActShareAccepted, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot})
	ctx := testContext(t)
	sh, err := w.tgw.Share(ctx, cl, r)
	if err != nil || sh.TGW == nil {
		t.Fatalf("Share = %+v, %v", sh, err)
	}
	first, err := w.tgw.Create(ctx, cl, r, r.Attempt+1, *sh.TGW)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	w.checkResumed(t, r, first.ID)
	if live := w.aws.live(cl.VPCID); !slices.Equal(live, []string{first.ID}) {
		t.Errorf("attachments of the cluster VPC: %v, want only %s", live, first.ID)
	}
	if n := w.aws.Count("CreateTransitGatewayVpcAttachment"); n != 1 {
		t.Errorf("CreateTransitGatewayVpcAttachment called %d times, want 1", n)
	}
}

// A retry is a new attempt with a new attachment; an attachment of the
// failed attempt that is still live is deleted first, and the new one waits
// until it is gone. The history keeps every step.
func TestTransitGatewayRetryFake(t *testing.T) {
	w := newTGWWorld(t)
	cl := watchClusters[0]
	r := w.pending(t, cl, 1)
	old := r.Resource
	w.aws.set(old, "rejected")
	w.watch(t)
	if got := w.status(t, r.ID); got != astrobot.StatusDeclined {
		t.Fatalf("status after the rejection: %s", got)
	}
	w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActRetry, Actor: testSupportUser, Role: astrobot.RoleSupport})
	w.advance(t)
	got, events := w.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || got.Resource == old || got.Attempt != 1 {
		t.Fatalf("retried: %s with %q attempt %d; want pending_acceptance with a new attachment", got.Status, got.Resource, got.Attempt)
	}
	if a := w.aws.attachment(got.Resource); a.tags["astrobot:attempt"] != "2" {
		t.Errorf("the new attachment is tagged attempt %q, want 2", a.tags["astrobot:attempt"])
	}
	wantActions := []astrobot.Action{astrobot.ActSubmit, astrobot.ActApprove, astrobot.ActShareAccepted, astrobot.ActAttachmentCreated, astrobot.ActDecline,
		astrobot.ActRetry, astrobot.ActShareAccepted, astrobot.ActAttachmentCreated}
	if diff := cmp.Diff(wantActions, actionsOf(events)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	// The second attempt fails while its attachment is live (routes in the
	// way); the third deletes it and waits until AWS is done.
	second := got.Resource
	w.aws.set(second, "available")
	w.aws.mu.Lock()
	for id := range w.aws.tables[cl.VPCID] {
		w.aws.tables[cl.VPCID][id][tgwCIDR(1).String()] = "pcx-0ffffffffffffffff"
		break
	}
	w.aws.mu.Unlock()
	w.watch(t)
	if got := w.status(t, r.ID); got != astrobot.StatusConfiguring || len(w.alerts(t, r.ID)) != 1 || !strings.Contains(w.alerts(t, r.ID)[0].Note, "already sends "+tgwCIDR(1).String()+" to pcx-0ffffffffffffffff, not to the transit gateway") {
		t.Fatalf("with a route in the way: %s, alerts %+v; want configuring with one alert naming the route", got, w.alerts(t, r.ID))
	}
	w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActFail, Actor: testSupportUser, Role: astrobot.RoleSupport})
	w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActRetry, Actor: testSupportUser, Role: astrobot.RoleSupport})
	w.advance(t)
	if got := w.aws.attachment(second).state; got != "deleted" {
		t.Errorf("the second attempt's attachment is %s, want deleted", got)
	}
	w.advance(t)
	got, _ = w.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || got.Resource == second || got.Attempt != 2 {
		t.Errorf("third attempt: %s with %q attempt %d", got.Status, got.Resource, got.Attempt)
	}
	if live := w.aws.live(cl.VPCID); !slices.Equal(live, []string{got.Resource}) {
		t.Errorf("attachments left in the cluster VPC: %v, want only the new %s", live, got.Resource)
	}
}

// TestTransitGatewayNoPrivateSubnetFake: a cluster VPC without tagged
// subnets is alerted once; tagging them lets the bot go on.
func TestTransitGatewayNoPrivateSubnetFake(t *testing.T) {
	w := newTGWWorld(t)
	cl := watchClusters[0]
	w.aws.mu.Lock()
	w.aws.gateways[tgwGateway].visible = true
	for i := range w.aws.subnets {
		if w.aws.subnets[i].vpc == cl.VPCID {
			w.aws.subnets[i].tagged = false
		}
	}
	w.aws.mu.Unlock()
	r := w.file(t, cl, 1, tgwGateway, "")
	for range 3 {
		w.advance(t)
	}
	alerts := w.alerts(t, r.ID)
	if got := w.status(t, r.ID); got != astrobot.StatusAttaching || len(alerts) != 1 ||
		!strings.Contains(alerts[0].Note, "has no subnet tagged astro:subnet=private, so astrobot does not know where to attach it: tag the cluster's private subnets, one per availability zone. The request stays attaching") {
		t.Fatalf("status %s, alerts %+v", got, alerts)
	}
	w.aws.mu.Lock()
	w.aws.subnets[0].tagged = true
	w.aws.mu.Unlock()
	w.advance(t)
	if got := w.status(t, r.ID); got != astrobot.StatusPendingAcceptance {
		t.Errorf("once a subnet is tagged: %s", got)
	}
}

func TestTransitGatewayCleanupFake(t *testing.T) {
	w := newTGWWorld(t)
	cl := watchClusters[0]
	r := w.pending(t, cl, 1)
	r = w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	w.cleanupJob(t, r.ID)
	jobRound(t, w.jobs(NewMetrics(), w.provisioners), 1)
	if a := w.aws.attachment(r.Resource); a.state != "deleted" {
		t.Errorf("attachment after the cleanup: %s, want deleted", a.state)
	}
	got, events := w.history(t, r.ID)
	if got.Resource != "" || events[len(events)-1].Action != astrobot.ActCleanup || !strings.Contains(events[len(events)-1].Note, r.Resource) {
		t.Errorf("after the cleanup: attachment %q, last event %+v", got.Resource, events[len(events)-1])
	}
	w.checkJobsDone(t)

	// Cancelled while configuring: the routes go with the attachment.
	r2 := w.pending(t, watchClusters[1], 2)
	w.aws.set(r2.Resource, "available")
	w.apply(t, r2.ID, astrobot.Change{Action: astrobot.ActAccepted, Actor: testSupportUser, Role: astrobot.RoleSupport})
	if err := w.tgw.Configure(testContext(t), watchClusters[1], r2); err != nil {
		t.Fatal(err)
	}
	w.apply(t, r2.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testSupportUser, Role: astrobot.RoleSupport})
	jobRound(t, w.jobs(NewMetrics(), w.provisioners), 1)
	for id, routes := range w.aws.routes(watchClusters[1].VPCID) {
		if len(routes) != 1 {
			t.Errorf("route table %s keeps %v after the cleanup, want only the local route", id, routes)
		}
	}
	if a := w.aws.attachment(r2.Resource); a.state != "deleted" {
		t.Errorf("attachment after the cleanup: %s, want deleted", a.state)
	}
}

// A request cancelled while its attachment is made ends without one and owes
// no cleanup: the provisioner deletes what it made.
func TestTransitGatewayCancelledDuringCreateFake(t *testing.T) {
	w := newTGWWorld(t)
	cl := watchClusters[0]
	w.aws.gateway(tgwGateway, func(g *fakeTGW) { g.visible = true })
	r := w.file(t, cl, 1, tgwGateway, "")
	w.aws.mu.Lock()
	w.aws.onCreate = func() { // under the fake's lock; the store is apart
		w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	}
	w.aws.mu.Unlock()
	w.checkCancelledMeanwhile(t, r)
	if live := w.aws.live(cl.VPCID); len(live) != 0 {
		t.Errorf("the attachments %v of a request cancelled meanwhile are left in AWS", live)
	}
}

func TestTransitGatewayDescribesOncePerAccountAndRegionFake(t *testing.T) {
	w := newTGWWorld(t)
	var rs []astrobot.Request
	for i, cl := range watchClusters {
		if cl.Region != "us-east-1" {
			// The clusters in eu-west-1 attach to a transit gateway there.
			id := fmt.Sprintf("tgw-0123456789abcde%02x", i)
			w.aws.mu.Lock()
			w.aws.gateways[id] = &fakeTGW{id: id, owner: tgwCustomer, region: cl.Region, visible: true}
			w.aws.mu.Unlock()
			r := w.file(t, cl, i+1, id, "")
			w.advance(t)
			rs = append(rs, r)
			continue
		}
		rs = append(rs, w.pending(t, cl, i+1))
	}
	if diff := cmp.Diff([]string{"eu-west-1", "us-east-1"}, w.watchRegions(t, w.aws.Server, "DescribeTransitGatewayVpcAttachments")); diff != "" {
		t.Errorf("DescribeTransitGatewayVpcAttachments regions in one cycle of 4 attachments in 2 regions (-want +got):\n%s", diff)
	}
	for _, r := range rs {
		if s := w.status(t, r.ID); s != astrobot.StatusPendingAcceptance {
			t.Errorf("%s: %s, want pending_acceptance", r.Ref(), s)
		}
	}
	w.noLoudLogs(t)
}

// TestTransitGatewayMoto runs two requests through the provisioner against
// moto, the transit gateway in the clusters' own account (moto shares none
// across accounts and makes attachments available at once): one to active
// with routes in every route table, one cancelled and cleaned up by the jobs
// queue.
func TestTransitGatewayMoto(t *testing.T) {
	ctx := testContext(t)
	astro := mototest.NewAccount(t)
	const region = "us-east-1"
	client := ec2.NewFromConfig(mototest.Config(t, astro, region))
	tgwOut, err := client.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{})
	if err != nil {
		t.Fatalf("CreateTransitGateway: %v", err)
	}
	gateway := aws.ToString(tgwOut.TransitGateway.TransitGatewayId)
	var clusters []astrobot.Cluster
	for i, cidr := range []string{"10.80.0.0/16", "10.81.0.0/16"} {
		vpc := motoVPC(t, client, cidr)
		if _, err := client.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(vpc)}); err != nil {
			t.Fatalf("CreateRouteTable: %v", err)
		}
		for j, zone := range []string{"us-east-1a", "us-east-1b"} {
			_, err := client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(fmt.Sprintf("10.%d.%d.0/24", 80+i, j+1)),
				AvailabilityZone: aws.String(zone), TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSubnet,
					Tags: []types.Tag{{Key: aws.String(cloud.SubnetTag), Value: aws.String(cloud.PrivateSubnet)}}}}})
			if err != nil {
				t.Fatalf("CreateSubnet: %v", err)
			}
		}
		clusters = append(clusters, astrobot.Cluster{ID: fmt.Sprintf("clx-tgw%d", i), Name: fmt.Sprintf("acme-tgw%d", i), Organization: "acme", Region: region,
			AccountID: astro, VPCID: vpc, CIDRs: []netip.Prefix{netip.MustParsePrefix(cidr)}})
	}

	e := newWatchEnv(t, newFakePeerer(), clusters)
	tg := cloud.NewTransitGateways(mototest.Config(t, astro, region), cloud.TransitGatewayOptions{Logger: e.log})
	e.provision(astrobot.KindTransitGateway, NewTransitGatewayProvisioner(tg, cloud.NewStatic(clusters), e.rec))
	var rs []astrobot.Request
	for _, cl := range clusters {
		rs = append(rs, e.fileApproved(t, cl, astrobot.TransitGatewaySpec{AccountID: astro, TGWID: gateway, CIDRs: []netip.Prefix{netip.MustParsePrefix("172.30.0.0/16")}}))
	}

	e.advance(t)
	e.advance(t) // nothing more to create
	for i, r := range rs {
		got, _ := e.history(t, r.ID)
		if got.Status != astrobot.StatusPendingAcceptance || got.Resource == "" || got.Details[astrobot.DetailAcceptance] != "automatic" {
			t.Fatalf("%s after Advance: %s with %q, details %v\nlogs:\n%s", r.Ref(), got.Status, got.Resource, got.Details, e.logs.dump())
		}
		out, err := client.DescribeTransitGatewayVpcAttachments(ctx, &ec2.DescribeTransitGatewayVpcAttachmentsInput{
			Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{clusters[i].VPCID}}}})
		if err != nil || len(out.TransitGatewayVpcAttachments) != 1 || aws.ToString(out.TransitGatewayVpcAttachments[0].TransitGatewayAttachmentId) != got.Resource ||
			len(out.TransitGatewayVpcAttachments[0].SubnetIds) != 2 {
			t.Fatalf("attachments of %s: %+v, %v; want only %s, in two subnets", clusters[i].VPCID, out, err, got.Resource)
		}
	}

	// moto makes attachments available at once: the watch routes the first
	// to the transit gateway and makes it active; the second is cancelled
	// and cleaned up.
	cancelled := e.apply(t, rs[1].ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	e.watch(t)
	if got, _ := e.history(t, rs[0].ID); got.Status != astrobot.StatusActive {
		t.Errorf("%s after Watch: %s, want active\nlogs:\n%s", got.Ref(), got.Status, e.logs.dump())
	}
	tables, err := client.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{clusters[0].VPCID}}}})
	if err != nil || len(tables.RouteTables) != 2 {
		t.Fatalf("route tables: %+v, %v", tables, err)
	}
	for _, tbl := range tables.RouteTables {
		if !slices.ContainsFunc(tbl.Routes, func(r types.Route) bool {
			return aws.ToString(r.DestinationCidrBlock) == "172.30.0.0/16" && aws.ToString(r.TransitGatewayId) == gateway
		}) {
			t.Errorf("route table %s has no route to 172.30.0.0/16 through %s: %+v", aws.ToString(tbl.RouteTableId), gateway, tbl.Routes)
		}
	}
	jobRound(t, e.jobs(NewMetrics(), e.provisioners), 1)
	out, err := client.DescribeTransitGatewayVpcAttachments(ctx, &ec2.DescribeTransitGatewayVpcAttachmentsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{clusters[1].VPCID}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out.TransitGatewayVpcAttachments {
		if a.State != types.TransitGatewayAttachmentStateDeleted {
			t.Errorf("the attachment %s of the cancelled request is %s, want deleted or gone", aws.ToString(a.TransitGatewayAttachmentId), a.State)
		}
	}
	if got, _ := e.history(t, cancelled.ID); got.Resource != "" {
		t.Errorf("the cancelled request keeps %q after its cleanup", got.Resource)
	}
	e.noLoudLogs(t)
}
