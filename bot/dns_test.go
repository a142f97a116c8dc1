package bot

import (
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
)

// The private DNS zone tests run the watcher with the hosted zone
// provisioner and the real cloud.Zones against zoneAWS, an in-process AWS on
// a fakeaws.Server speaking Route 53's REST-XML protocol (and EC2's Query protocol for the
// VPC's DNS attributes), for the cross-account states moto does not model:
// the authorization, a change that stays PENDING, refusals.

// zoneAWS is an in-process Route 53 (a fakeaws.Server) that keeps hosted
// zones, the authorizations of their owners and the changes of associations,
// as AWS documents them: the VPC's owner (every caller) associates another
// account's zone only once that account has authorized it, a VPC has one
// zone per domain name, and a private zone keeps its last VPC. It answers
// DescribeVpcAttribute too. Tests change it through its fields under mu, and
// make calls fail with Fail.
type zoneAWS struct {
	*fakeaws.Server

	mu         sync.Mutex
	zones      map[string]*fakeZone // by ID
	authorized map[string]bool      // "zone vpc region"
	changes    map[string]int       // change ID → GetChange answers still PENDING
	pending    int                  // how many GetChange answers a new change stays PENDING
	noDNS      map[string][]string  // VPC → attributes that are off
	pageSize   int                  // of ListHostedZonesByVPC
	onAssoc    func()               // called as an association is made, outside mu
	next       int
}

// fakeZone is a private hosted zone: its name (with the final dot, as
// Route 53 keeps it), owner and associated VPCs ("vpc region").
type fakeZone struct {
	name, owner string
	vpcs        []string
}

// zoneCall is one call: the operation, and the zone, VPC and region it names.
type zoneCall struct{ op, zone, vpc, region string }

func newZoneAWS(t *testing.T) *zoneAWS {
	f := &zoneAWS{zones: map[string]*fakeZone{}, authorized: map[string]bool{}, changes: map[string]int{},
		noDNS: map[string][]string{}, pageSize: 100}
	f.Server = fakeaws.New(t, f.serve, fakeaws.Route53Routes()...)
	return f
}

// zone makes a private zone of owner, associated with the owner's own VPC.
func (f *zoneAWS) zone(id, name, owner string, vpcs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.zones[id] = &fakeZone{name: name + ".", owner: owner, vpcs: vpcs}
}

// authorize plays the zone's owner running create-vpc-association-authorization.
func (f *zoneAWS) authorize(zone, vpc, region string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authorized[zone+" "+vpc+" "+region] = true
}

// dnsOff turns the DNS attributes attrs of vpc off.
func (f *zoneAWS) dnsOff(vpc string, attrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noDNS[vpc] = attrs
}

// vpcsOf returns the VPCs zone is associated with.
func (f *zoneAWS) vpcsOf(zone string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if z, ok := f.zones[zone]; ok {
		return slices.Clone(z.vpcs)
	}
	return nil
}

// callsOf returns the calls of op, in order.
func (f *zoneAWS) callsOf(op string) []zoneCall {
	var out []zoneCall
	for _, c := range f.Calls(op) {
		zc, _ := zoneCallOf(c)
		out = append(out, zc)
	}
	return out
}

// vpcBody is the body of AssociateVPCWithHostedZone and
// DisassociateVPCFromHostedZone.
type vpcBody struct {
	XMLName xml.Name
	Comment string `xml:"Comment"`
	VPC     struct {
		ID     string `xml:"VPCId"`
		Region string `xml:"VPCRegion"`
	} `xml:"VPC"`
}

// zoneCallOf returns what c names; the error says that the body of an
// association or disassociation is not its request.
func zoneCallOf(c fakeaws.Call) (zoneCall, error) {
	call := zoneCall{op: c.Action, zone: c.PathValues["Id"]}
	switch c.Action {
	case "DescribeVpcAttribute":
		call.vpc = c.Form.Get("VpcId")
	case "ListHostedZonesByVPC":
		call.vpc, call.region = c.URLQuery.Get("vpcid"), c.URLQuery.Get("vpcregion")
	case "AssociateVPCWithHostedZone", "DisassociateVPCFromHostedZone":
		var body vpcBody
		if err := xml.Unmarshal(c.Body, &body); err != nil || body.XMLName.Space != fakeaws.Route53Namespace || body.XMLName.Local != c.Action+"Request" {
			return call, fmt.Errorf("bad body %q: %v", c.Body, err)
		}
		call.vpc, call.region = body.VPC.ID, body.VPC.Region
	}
	return call, nil
}

func (f *zoneAWS) serve(w http.ResponseWriter, c fakeaws.Call) {
	if c.Protocol == fakeaws.Query {
		f.serveEC2(w, c)
		return
	}
	call, err := zoneCallOf(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op := c.Action
	f.mu.Lock()
	vpc := call.vpc + " " + call.region
	switch op {
	case "ListHostedZonesByVPC":
		var ids []string
		for id, z := range f.zones {
			if slices.Contains(z.vpcs, vpc) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		from, _ := strconv.Atoi(c.URLQuery.Get("nexttoken"))
		var b strings.Builder
		for _, id := range ids[min(from, len(ids)):min(from+f.pageSize, len(ids))] {
			fmt.Fprintf(&b, "<HostedZoneSummary><HostedZoneId>%s</HostedZoneId><Name>%s</Name><Owner><OwningAccount>%s</OwningAccount></Owner></HostedZoneSummary>",
				id, f.zones[id].name, f.zones[id].owner)
		}
		next := ""
		if from+f.pageSize < len(ids) {
			next = fmt.Sprintf("<NextToken>%d</NextToken>", from+f.pageSize)
		}
		f.mu.Unlock()
		fakeaws.WriteRESTXML(w, fakeaws.Route53Namespace, op, fmt.Sprintf("<HostedZoneSummaries>%s</HostedZoneSummaries><MaxItems>%d</MaxItems>%s", b.String(), f.pageSize, next))
	case "GetChange":
		left, ok := f.changes[call.zone]
		if !ok {
			f.mu.Unlock()
			c.WriteError(w, http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist.")
			return
		}
		status := "INSYNC"
		if left > 0 {
			status, f.changes[call.zone] = "PENDING", left-1
		}
		f.mu.Unlock()
		fakeaws.WriteRESTXML(w, fakeaws.Route53Namespace, op, changeInfo(call.zone, status))
	case "AssociateVPCWithHostedZone":
		z, ok := f.zones[call.zone]
		switch {
		case !ok:
			f.mu.Unlock()
			c.WriteError(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+call.zone)
			return
		case !f.authorized[call.zone+" "+vpc]:
			f.mu.Unlock()
			c.WriteError(w, http.StatusUnauthorized, "NotAuthorizedException", "The VPC: "+call.vpc+" in region: "+call.region+" has not authorized to associate with your hosted zone.")
			return
		}
		for id, other := range f.zones {
			if other.name == z.name && slices.Contains(other.vpcs, vpc) {
				f.mu.Unlock()
				c.WriteError(w, http.StatusBadRequest, "ConflictingDomainExists", fmt.Sprintf("The VPC %s in %s region has already been associated with the hosted zone %s with the same domain name.", call.vpc, call.region, id))
				return
			}
		}
		z.vpcs = append(z.vpcs, vpc)
		f.next++
		id := fmt.Sprintf("C%04dASSOC", f.next)
		f.changes[id] = f.pending
		status := "INSYNC"
		if f.pending > 0 {
			status = "PENDING"
		}
		hook := f.onAssoc
		f.mu.Unlock()
		if hook != nil {
			hook()
		}
		fakeaws.WriteRESTXML(w, fakeaws.Route53Namespace, op, changeInfo(id, status))
	case "DisassociateVPCFromHostedZone":
		z, ok := f.zones[call.zone]
		switch {
		case !ok:
			f.mu.Unlock()
			c.WriteError(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+call.zone)
			return
		case !slices.Contains(z.vpcs, vpc):
			f.mu.Unlock()
			c.WriteError(w, http.StatusNotFound, "VPCAssociationNotFound", "The specified VPC and hosted zone are not currently associated.")
			return
		case len(z.vpcs) == 1:
			f.mu.Unlock()
			c.WriteError(w, http.StatusBadRequest, "LastVPCAssociation", "The VPC that you're trying to disassociate from the private hosted zone is the last VPC that is associated with the hosted zone.")
			return
		}
		z.vpcs = slices.DeleteFunc(z.vpcs, func(v string) bool { return v == vpc })
		f.next++
		id := fmt.Sprintf("C%04dDISSOC", f.next)
		f.mu.Unlock()
		fakeaws.WriteRESTXML(w, fakeaws.Route53Namespace, op, changeInfo(id, "PENDING"))
	}
}

// serveEC2 answers DescribeVpcAttribute in the EC2 Query protocol.
func (f *zoneAWS) serveEC2(w http.ResponseWriter, c fakeaws.Call) {
	if c.Action != "DescribeVpcAttribute" {
		http.Error(w, "not an EC2 call this fake answers", http.StatusBadRequest)
		return
	}
	vpc, attr := c.Form.Get("VpcId"), c.Form.Get("Attribute")
	f.mu.Lock()
	on := !slices.Contains(f.noDNS[vpc], attr)
	f.mu.Unlock()
	fakeaws.WriteEC2(w, c.Action, fmt.Sprintf("<vpcId>%s</vpcId><%s><value>%t</value></%s>", vpc, attr, on, attr))
}

func changeInfo(id, status string) string {
	return fmt.Sprintf("<ChangeInfo><Id>/change/%s</Id><Status>%s</Status><SubmittedAt>2025-03-04T15:04:05.000Z</SubmittedAt></ChangeInfo>", id, status)
}

// The customer of the zone tests, and their zone.
const (
	zoneCustomer = "444455556666"
	zoneID       = "Z0123456789CUSTOMER"
	zoneDomain   = "corp.example.com"
	zoneOwnVPC   = "vpc-0c0000000000000c1 us-west-2" // the customer's VPC, which the zone starts with
)

// zoneWorld is a watcher with the hosted zone provisioner on a real store,
// against zoneAWS with the customer's zone zoneID.
type zoneWorld struct {
	*watchEnv
	aws *zoneAWS
}

func newZoneWorld(t *testing.T) *zoneWorld {
	t.Helper()
	f := newZoneAWS(t)
	f.zone(zoneID, zoneDomain, zoneCustomer, zoneOwnVPC)
	e := newWatchEnv(t, newFakePeerer(), watchClusters)
	zones := cloud.NewZones(f.Config(), cloud.ZoneOptions{Logger: e.log})
	e.provision(astrobot.KindHostedZone, NewHostedZoneProvisioner(zones, cloud.NewStatic(watchClusters), e.rec))
	return &zoneWorld{watchEnv: e, aws: f}
}

// file files a request for zone, of zoneDomain, on cl and approves it.
func (w *zoneWorld) file(t *testing.T, cl astrobot.Cluster, zone string) astrobot.Request {
	t.Helper()
	return w.fileDomain(t, cl, zone, zoneDomain)
}

// fileDomain files a request for zone, of domain, on cl and approves it.
func (w *zoneWorld) fileDomain(t *testing.T, cl astrobot.Cluster, zone, domain string) astrobot.Request {
	t.Helper()
	return w.fileApproved(t, cl, astrobot.HostedZoneSpec{AccountID: zoneCustomer, ZoneID: zone, Domain: domain})
}

// status returns the status of request id, and its events after the first n.
func (w *zoneWorld) status(t *testing.T, id astrobot.RequestID, n int) (astrobot.Request, []astrobot.Action) {
	t.Helper()
	r, _ := w.history(t, id)
	return r, w.actionsSince(t, id, n)
}

// vpcKey is how zoneAWS names the VPC of cl.
func vpcKey(cl astrobot.Cluster) string { return cl.VPCID + " " + cl.Region }

// TestHostedZoneWorkflowFake follows a request from approval to active and
// back: Route 53 refuses the association until the customer authorizes it
// (the request waits, the customer is reminded once per SLA window), then
// the change stays PENDING for two answers and is INSYNC on the third; the
// requester is told the authorization may go; support's disassociation owes
// a cleanup, which the jobs queue does.
func TestHostedZoneWorkflowFake(t *testing.T) {
	w := newZoneWorld(t)
	w.aws.pending = 2
	cl := watchClusters[2] // eu-west-1
	r := w.file(t, cl, zoneID)
	w.outbox(t)

	// Not authorized: the request waits for the customer, who is told how
	// to authorize it.
	w.advance(t)
	got, actions := w.status(t, r.ID, 2)
	if got.Status != astrobot.StatusWaitingAuthorization || !slices.Equal(actions, []astrobot.Action{astrobot.ActAwaitAuthorization}) {
		t.Fatalf("after Advance unauthorized: %s, events %v; want waiting_authorization\nlogs:\n%s", got.Status, actions, w.logs.dump())
	}
	last := w.since(t, r.ID, 2)[0]
	if diff := cmp.Diff(notes(r.ID, last.Seq, astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyRequester, astrobot.NotifyHome), w.outbox(t)); diff != "" {
		t.Errorf("outbox after waiting_authorization (-want +got):\n%s", diff)
	}
	in := got.Def().Instructions(&got, cl)
	wantCLI := "aws route53 create-vpc-association-authorization --hosted-zone-id " + zoneID + " --vpc VPCRegion=eu-west-1,VPCId=" + cl.VPCID
	if in == nil || !slices.Equal(in.Steps[0].CLI, []string{wantCLI}) {
		t.Errorf("instructions while waiting: %+v, want %q", in, wantCLI)
	}
	if got, want := w.aws.callsOf("AssociateVPCWithHostedZone"), []zoneCall{{"AssociateVPCWithHostedZone", zoneID, cl.VPCID, "eu-west-1"}}; !cmp.Equal(got, want, cmp.AllowUnexported(zoneCall{})) {
		t.Errorf("associate calls = %+v, want %+v", got, want)
	}
	w.advance(t) // waiting_authorization is the customer's: Advance leaves it
	w.clock.Advance(time.Minute)
	w.watch(t) // still not authorized: it waits, quietly
	if got, actions := w.status(t, r.ID, 3); got.Status != astrobot.StatusWaitingAuthorization || len(actions) != 0 || w.aws.Count("AssociateVPCWithHostedZone") != 2 {
		t.Fatalf("after a Watch unauthorized: %s, events %v, %d associate calls; want it waiting, nothing recorded, 2 calls",
			got.Status, actions, w.aws.Count("AssociateVPCWithHostedZone"))
	}
	if due, ok := got.ReminderDue(w.clock.Now().Add(48*time.Hour), astrobot.SLAs{Customer: 48 * time.Hour}); !ok || due != astrobot.ActNudgeCustomer {
		t.Errorf("a request waiting for the authorization is owed no reminder after the customer's SLA: %q %v", due, ok)
	}

	// Authorized: associated, PENDING, PENDING, INSYNC.
	w.aws.authorize(zoneID, cl.VPCID, "eu-west-1")
	w.clock.Advance(time.Minute)
	w.watch(t)
	got, actions = w.status(t, r.ID, 3)
	if got.Status != astrobot.StatusAssociating || got.Details[astrobot.DetailChange] != "C0001ASSOC" || !slices.Equal(actions, []astrobot.Action{astrobot.ActAuthorized}) {
		t.Fatalf("after the authorization: %s, change %q, events %v; want associating with change C0001ASSOC", got.Status, got.Details[astrobot.DetailChange], actions)
	}
	if diff := cmp.Diff([]string{zoneOwnVPC, vpcKey(cl)}, w.aws.vpcsOf(zoneID)); diff != "" {
		t.Errorf("the zone's VPCs (-want +got):\n%s", diff)
	}
	for range 2 {
		w.advance(t)
		if got, _ := w.status(t, r.ID, 0); got.Status != astrobot.StatusAssociating {
			t.Fatalf("active while the change is PENDING")
		}
	}
	w.advance(t)
	got, actions = w.status(t, r.ID, 4)
	if got.Status != astrobot.StatusActive || got.Resource != zoneID || !slices.Equal(actions, []astrobot.Action{astrobot.ActAssociated}) {
		t.Fatalf("after INSYNC: %s, resource %q, events %v; want active with the zone", got.Status, got.Resource, actions)
	}
	if n := w.aws.Count("GetChange"); n != 3 {
		t.Errorf("GetChange calls = %d, want 3", n)
	}
	in = got.Def().Instructions(&got, cl)
	if in == nil || !slices.Equal(in.Steps[0].CLI, []string{"aws route53 delete-vpc-association-authorization --hosted-zone-id " + zoneID + " --vpc VPCRegion=eu-west-1,VPCId=" + cl.VPCID}) {
		t.Errorf("instructions when active: %+v", in)
	}
	w.outbox(t)

	// Watched: one list per cluster, nothing to do.
	lists := w.aws.Count("ListHostedZonesByVPC")
	w.clock.Advance(time.Minute)
	w.watch(t)
	if _, actions := w.status(t, r.ID, 5); len(actions) != 0 || w.aws.Count("ListHostedZonesByVPC") != lists+1 {
		t.Errorf("Watch of the active zone: events %v, %d list calls; want none, one", actions, w.aws.Count("ListHostedZonesByVPC")-lists)
	}

	// Support disassociates: cancelled, with the cleanup owed and done.
	got = w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActDisassociate, Actor: testSupportUser, Role: astrobot.RoleSupport})
	if got.Status != astrobot.StatusCancelled || got.Resource != zoneID {
		t.Fatalf("after disassociate: %s with %q", got.Status, got.Resource)
	}
	w.cleanupJob(t, r.ID)
	jobRound(t, w.jobs(NewMetrics(), w.provisioners), 1)
	if diff := cmp.Diff([]string{zoneOwnVPC}, w.aws.vpcsOf(zoneID)); diff != "" {
		t.Errorf("after the cleanup, the zone's VPCs (-want +got):\n%s", diff)
	}
	if _, actions := w.status(t, r.ID, 5); !slices.Equal(actions, []astrobot.Action{astrobot.ActDisassociate, astrobot.ActCleanup}) {
		t.Errorf("events after disassociate = %v, want disassociate, cleanup", actions)
	}
	w.noLoudLogs(t)
}

// TestHostedZoneRefusals covers what Route 53 and EC2 can answer to an
// approved request: the outcome, the note or alert support reads, and
// whether the request goes on once the cause is gone.
func TestHostedZoneRefusals(t *testing.T) {
	cl := watchClusters[0]
	tests := []struct {
		name   string
		setup  func(f *zoneAWS)
		status astrobot.Status // after the first Advance
		alert  []string        // in the last alert, or the failure's note
		fixed  func(f *zoneAWS)
		after  astrobot.Status // after a Watch once fixed; "" when nothing is fixed
	}{
		{name: "another zone of the name is associated",
			setup: func(f *zoneAWS) {
				f.authorize(zoneID, cl.VPCID, cl.Region)
				f.zone("Z0THERZONE", zoneDomain, "777788889999", zoneOwnVPC, vpcKey(cl))
			},
			status: astrobot.StatusFailed, alert: []string{"already resolves " + zoneDomain + " through another private hosted zone, Z0THERZONE (owned by 777788889999)"}},
		{name: "Route 53 says ConflictingDomainExists",
			setup: func(f *zoneAWS) {
				f.authorize(zoneID, cl.VPCID, cl.Region)
				f.Fail("AssociateVPCWithHostedZone", fakeaws.Failure{Status: http.StatusBadRequest, Code: "ConflictingDomainExists", Message: "A zone of the domain corp.example.com is associated already", Times: 0})
			},
			status: astrobot.StatusFailed, alert: []string{"already resolves " + zoneDomain + ", or a name of that domain", "Route 53 says: A zone of the domain"}},
		{name: "no such zone",
			setup:  func(f *zoneAWS) { f.authorize("Z0MISTYPED", cl.VPCID, cl.Region) },
			status: astrobot.StatusFailed, alert: []string{"Route 53 knows no hosted zone Z0MISTYPED"}},
		{name: "throttled: retried quietly",
			setup: func(f *zoneAWS) {
				f.authorize(zoneID, cl.VPCID, cl.Region)
				f.Fail("AssociateVPCWithHostedZone", fakeaws.Failure{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded", Times: 1})
			},
			status: astrobot.StatusApproved, fixed: func(*zoneAWS) {}, after: astrobot.StatusActive},
		{name: "access denied: alerted once",
			setup: func(f *zoneAWS) {
				f.Fail("AssociateVPCWithHostedZone", fakeaws.Failure{Status: http.StatusForbidden, Code: "AccessDenied", Message: "User: arn:aws:sts::111122223333:assumed-role/astrobot is not authorized to perform: route53:AssociateVPCWithHostedZone", Times: 0})
			},
			status: astrobot.StatusApproved, alert: []string{"astrobot may not associate hosted zones with the cluster VPC in account 111122223333, us-east-1 (AccessDenied): grant route53:AssociateVPCWithHostedZone"},
			fixed: func(f *zoneAWS) { f.Heal("AssociateVPCWithHostedZone") }, after: astrobot.StatusWaitingAuthorization},
		{name: "DNS hostnames off: support alerted, Route 53 not called",
			setup: func(f *zoneAWS) {
				f.authorize(zoneID, cl.VPCID, cl.Region)
				f.dnsOff(cl.VPCID, "enableDnsHostnames")
			},
			status: astrobot.StatusApproved, alert: []string{"The VPC " + cl.VPCID + " of cluster " + cl.ID + " (account 111122223333, us-east-1) has enableDnsHostnames off", "aws ec2 modify-vpc-attribute --vpc-id " + cl.VPCID},
			fixed: func(f *zoneAWS) { f.dnsOff(cl.VPCID) }, after: astrobot.StatusActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newZoneWorld(t)
			tt.setup(w.aws)
			zone := zoneID
			if tt.name == "no such zone" {
				zone = "Z0MISTYPED"
			}
			r := w.file(t, cl, zone)
			w.advance(t)
			got, events := w.history(t, r.ID)
			if got.Status != tt.status {
				t.Fatalf("after Advance: %s, want %s\nlogs:\n%s", got.Status, tt.status, w.logs.dump())
			}
			said := got.LastAlert
			if got.Status == astrobot.StatusFailed {
				said = events[len(events)-1].Note
			}
			for _, want := range tt.alert {
				if !strings.Contains(said, want) {
					t.Errorf("support reads %q, which lacks %q", said, want)
				}
			}
			if len(tt.alert) == 0 && said != "" {
				t.Errorf("support reads %q, want nothing", said)
			}
			if tt.name == "DNS hostnames off: support alerted, Route 53 not called" && w.aws.Count("AssociateVPCWithHostedZone") != 0 {
				t.Errorf("the zone was associated with a VPC that does not resolve it")
			}
			// Advance again: a failed request is left alone, and one held by
			// an alert waits for Watch.
			n := len(events)
			calls := w.aws.Count("AssociateVPCWithHostedZone")
			w.advance(t)
			_, again := w.history(t, r.ID)
			held := tt.status == astrobot.StatusApproved && len(tt.alert) > 0
			if (tt.status == astrobot.StatusFailed || held) && (len(again) != n || w.aws.Count("AssociateVPCWithHostedZone") != calls) {
				t.Errorf("a second Advance tried again: events %v, %d more associate calls", actionsOf(again[n:]), w.aws.Count("AssociateVPCWithHostedZone")-calls)
			}
			if tt.after == "" {
				return
			}
			tt.fixed(w.aws)
			w.clock.Advance(time.Minute)
			w.watch(t)
			w.advance(t)
			if got, events := w.history(t, r.ID); got.Status != tt.after {
				t.Errorf("once fixed: %s, want %s; events %v", got.Status, tt.after, actionsOf(events))
			}
			if alerts := slices.DeleteFunc(actionsOf(w.since(t, r.ID, 2)), func(a astrobot.Action) bool { return a != astrobot.ActAlert }); len(alerts) > 1 {
				t.Errorf("%d alerts raised, want one at most", len(alerts))
			}
		})
	}
}

// TestHostedZoneFollowsActive checks the watch of associated zones: one
// ListHostedZonesByVPC per cluster each cycle, and a zone disassociated
// outside astrobot ends its request as deleted. Route 53 answers one zone a
// page: the second zone of a VPC is found on the second page.
func TestHostedZoneFollowsActive(t *testing.T) {
	w := newZoneWorld(t)
	w.aws.pageSize = 1
	var rs []astrobot.Request
	for i, cl := range []astrobot.Cluster{watchClusters[0], watchClusters[0], watchClusters[1]} {
		id, domain := fmt.Sprintf("Z%02dZONE", i), fmt.Sprintf("z%d.%s", i, zoneDomain)
		w.aws.zone(id, domain, zoneCustomer, zoneOwnVPC)
		w.aws.authorize(id, cl.VPCID, cl.Region)
		r := w.fileDomain(t, cl, id, domain)
		rs = append(rs, r)
	}
	w.advance(t)
	for _, r := range rs {
		if got, _ := w.history(t, r.ID); got.Status != astrobot.StatusActive {
			t.Fatalf("%s: %s, want active\nlogs:\n%s", r.Ref(), got.Status, w.logs.dump())
		}
	}
	// The zone of the second request goes, outside astrobot.
	w.aws.mu.Lock()
	z := w.aws.zones["Z01ZONE"]
	z.vpcs = slices.DeleteFunc(z.vpcs, func(v string) bool { return v == vpcKey(watchClusters[0]) })
	w.aws.mu.Unlock()
	before := w.aws.callsOf("ListHostedZonesByVPC")
	w.watch(t)
	calls := w.aws.callsOf("ListHostedZonesByVPC")[len(before):]
	var vpcs []string
	for _, c := range calls {
		vpcs = append(vpcs, c.vpc)
	}
	slices.Sort(vpcs)
	// One zone is left on each VPC: one page each.
	if want := []string{watchClusters[0].VPCID, watchClusters[1].VPCID}; !slices.Equal(vpcs, want) {
		t.Errorf("ListHostedZonesByVPC calls of the watch for %v, want one per cluster: %v", vpcs, want)
	}
	for i, want := range []astrobot.Status{astrobot.StatusActive, astrobot.StatusDeleted, astrobot.StatusActive} {
		got, events := w.history(t, rs[i].ID)
		if got.Status != want {
			t.Errorf("%s: %s, want %s", rs[i].Ref(), got.Status, want)
		}
		if want == astrobot.StatusDeleted && !strings.Contains(events[len(events)-1].Note, "the cluster no longer resolves z1."+zoneDomain) {
			t.Errorf("the deletion's note: %q", events[len(events)-1].Note)
		}
	}
	// A cancellation of the deleted request owes nothing; Cleanup of a zone
	// gone already is done.
	if err := w.provisioners[astrobot.KindHostedZone].Cleanup(testContext(t), rs[1]); err != nil {
		t.Errorf("Cleanup of a zone disassociated already: %v", err)
	}
	if n := w.aws.Count("DisassociateVPCFromHostedZone"); n != 0 {
		t.Errorf("DisassociateVPCFromHostedZone called %d times for a zone not associated", n)
	}
}

// TestHostedZoneOrphan checks that a request cancelled while its zone is
// being associated does not leave the association behind: the request owes
// no cleanup (it never recorded the zone), so the provisioner, which alone
// knows it just associated it, disassociates it.
func TestHostedZoneOrphan(t *testing.T) {
	w := newZoneWorld(t)
	cl := watchClusters[0]
	w.aws.authorize(zoneID, cl.VPCID, cl.Region)
	r := w.file(t, cl, zoneID)
	w.aws.onAssoc = func() {
		w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	}
	w.checkCancelledMeanwhile(t, r)
	if diff := cmp.Diff([]string{zoneOwnVPC}, w.aws.vpcsOf(zoneID)); diff != "" {
		t.Errorf("the zone of a request cancelled meanwhile stays associated (-want +got):\n%s", diff)
	}
}

// TestHostedZoneChangeForgotten checks a change Route 53 no longer knows:
// the zone listed on the VPC makes the request active, a zone not listed
// fails it.
func TestHostedZoneChangeForgotten(t *testing.T) {
	for _, listed := range []bool{true, false} {
		t.Run(fmt.Sprintf("listed=%v", listed), func(t *testing.T) {
			w := newZoneWorld(t)
			cl := watchClusters[1]
			w.aws.authorize(zoneID, cl.VPCID, cl.Region)
			w.aws.pending = 5
			r := w.file(t, cl, zoneID)
			w.advance(t)
			w.aws.mu.Lock()
			w.aws.changes = map[string]int{}
			if !listed {
				w.aws.zones[zoneID].vpcs = []string{zoneOwnVPC}
			}
			w.aws.mu.Unlock()
			w.advance(t)
			got, events := w.history(t, r.ID)
			want := astrobot.StatusActive
			if !listed {
				want = astrobot.StatusFailed
			}
			if got.Status != want {
				t.Fatalf("status %s, want %s; events %v", got.Status, want, actionsOf(events))
			}
			if !listed && !strings.Contains(events[len(events)-1].Note, "no longer knows its change C0001ASSOC") {
				t.Errorf("the failure's note: %q", events[len(events)-1].Note)
			}
		})
	}
}

// TestHostedZoneLogsNothingLoudWhenWaiting checks that a request waiting for
// its authorization costs one call per cycle and no warning.
func TestHostedZoneLogsNothingLoudWhenWaiting(t *testing.T) {
	w := newZoneWorld(t)
	r := w.file(t, watchClusters[0], zoneID)
	w.advance(t)
	for range 3 {
		w.clock.Advance(time.Minute)
		w.watch(t)
	}
	if got, _ := w.history(t, r.ID); got.Status != astrobot.StatusWaitingAuthorization {
		t.Fatalf("status %s", got.Status)
	}
	if n := w.aws.Count("AssociateVPCWithHostedZone"); n != 4 {
		t.Errorf("associate calls = %d, want 4 (one per pass)", n)
	}
	if n := w.logs.count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings while waiting:\n%s", n, w.logs.dump())
	}
}
