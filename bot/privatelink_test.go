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

// The PrivateLink tests run the watcher with the PrivateLink provisioner and
// the real cloud.PrivateLinks, against plEC2 (an in-process EC2 speaking the
// Query protocol on a fakeaws.Server, for the cross-account states moto does
// not model) or moto.

// plEC2 is an in-process EC2 endpoint (a fakeaws.Server) that keeps
// endpoint services, subnets, security groups and VPC endpoints, and answers
// the calls of cloud.PrivateLinks. Tests move endpoints between states with
// set and make calls fail with Fail.
type plEC2 struct {
	*fakeaws.Server

	mu        sync.Mutex
	services  map[string]*plService
	subnets   []plSubnet
	endpoints map[string]*plEndpoint
	groups    map[string]*plGroup
	tokens    map[string]string // client token → endpoint
	next      int
	hidden    bool   // DescribeVpcEndpoints with filters sees no endpoint (eventual consistency)
	sgInUse   int    // DeleteSecurityGroup answers DependencyViolation that many times
	onCreate  func() // called when an endpoint is created
}

type plService struct {
	name, owner       string
	visible           bool
	zones             []string // zone IDs
	acceptance        bool
	dnsName, dnsState string
}

type plSubnet struct{ id, vpc, zone string }

type plEndpoint struct {
	id, vpc, service, state string
	subnets, groups         []string
	tags                    map[string]string
	privateDNS              bool
}

type plGroup struct {
	id, name, vpc string
	tags          map[string]string
	rules         []string // "443 10.1.0.0/16"
}

func newPLEC2(t *testing.T) *plEC2 {
	f := &plEC2{services: map[string]*plService{}, endpoints: map[string]*plEndpoint{}, groups: map[string]*plGroup{},
		tokens: map[string]string{}}
	f.Server = fakeaws.New(t, f.serve)
	return f
}

// set moves endpoint id to state, as AWS would spell it.
func (f *plEC2) set(id, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endpoints[id].state = state
}

// addService adds an endpoint service like plSvc, not visible yet.
func (f *plEC2) addService(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := *f.services[plSvc]
	s.name, s.visible = name, false
	f.services[name] = &s
}

func (f *plEC2) allow(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[name].visible = true
}

// live returns the endpoints of vpc that are not deleted, by ID.
func (f *plEC2) live(vpc string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, e := range f.endpoints {
		if e.vpc == vpc && e.state != "deleted" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (f *plEC2) endpoint(id string) plEndpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := *f.endpoints[id]
	return e
}

func (f *plEC2) group(name string) *plGroup {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.groups {
		if g.name == name {
			c := *g
			return &c
		}
	}
	return nil
}

func (e *plEndpoint) xml() string {
	return fmt.Sprintf(`<vpcEndpointId>%s</vpcEndpointId><vpcEndpointType>Interface</vpcEndpointType><vpcId>%s</vpcId><serviceName>%s</serviceName><state>%s</state>
<privateDnsEnabled>%v</privateDnsEnabled><subnetIdSet>%s</subnetIdSet><groupSet>%s</groupSet>
<dnsEntrySet><item><dnsName>%s-0a1b2c3d.%s.us-east-1.vpce.amazonaws.com</dnsName></item><item><dnsName>%s-0a1b2c3d-us-east-1a.%s.us-east-1.vpce.amazonaws.com</dnsName></item></dnsEntrySet>%s`,
		e.id, e.vpc, e.service, e.state, e.privateDNS, fakeaws.Items(e.subnets, ""), fakeaws.Items(e.groups, "groupId"),
		e.id, e.service[strings.LastIndexByte(e.service, '.')+1:], e.id, e.service[strings.LastIndexByte(e.service, '.')+1:], fakeaws.TagSet(e.tags))
}

func (f *plEC2) serve(w http.ResponseWriter, c fakeaws.Call) {
	form, action := c.Form, c.Action
	f.mu.Lock()
	defer f.mu.Unlock()
	switch action {
	case "DescribeVpcEndpointServices":
		name := fakeaws.List(form, "ServiceName")[0]
		s, ok := f.services[name]
		if !ok || !s.visible {
			fakeaws.WriteEC2Error(w, 400, "InvalidServiceName", fmt.Sprintf("The Vpc Endpoint Service '%s' does not exist", name))
			return
		}
		dns := ""
		if s.dnsName != "" {
			dns = fmt.Sprintf("<privateDnsName>%s</privateDnsName><privateDnsNameVerificationState>%s</privateDnsNameVerificationState>", s.dnsName, s.dnsState)
		}
		fakeaws.WriteEC2(w, action, fmt.Sprintf(`<serviceNameSet><item>%s</item></serviceNameSet><serviceDetailSet><item><serviceName>%s</serviceName>
<serviceId>%s</serviceId><owner>%s</owner><availabilityZoneIdSet>%s</availabilityZoneIdSet><acceptanceRequired>%v</acceptanceRequired>%s</item></serviceDetailSet>`,
			s.name, s.name, s.name[strings.LastIndexByte(s.name, '.')+1:], s.owner, fakeaws.Items(s.zones, ""), s.acceptance, dns))
	case "DescribeSubnets":
		vpcs := fakeaws.Filters(form)["vpc-id"]
		var b strings.Builder
		for _, s := range f.subnets {
			if slices.Contains(vpcs, s.vpc) {
				fmt.Fprintf(&b, "<item><subnetId>%s</subnetId><vpcId>%s</vpcId><availabilityZoneId>%s</availabilityZoneId></item>", s.id, s.vpc, s.zone)
			}
		}
		fakeaws.WriteEC2(w, action, "<subnetSet>"+b.String()+"</subnetSet>")
	case "DescribeSecurityGroups":
		fs := fakeaws.Filters(form)
		var b strings.Builder
		for _, g := range f.groups {
			if slices.Contains(fs["vpc-id"], g.vpc) && slices.Contains(fs["group-name"], g.name) {
				var perms strings.Builder
				for _, rule := range g.rules {
					port, cidr, _ := strings.Cut(rule, " ")
					fmt.Fprintf(&perms, "<item><ipProtocol>tcp</ipProtocol><fromPort>%s</fromPort><toPort>%s</toPort><ipRanges><item><cidrIp>%s</cidrIp></item></ipRanges></item>", port, port, cidr)
				}
				fmt.Fprintf(&b, "<item><groupId>%s</groupId><groupName>%s</groupName><vpcId>%s</vpcId><ipPermissions>%s</ipPermissions>%s</item>", g.id, g.name, g.vpc, perms.String(), fakeaws.TagSet(g.tags))
			}
		}
		fakeaws.WriteEC2(w, action, "<securityGroupInfo>"+b.String()+"</securityGroupInfo>")
	case "CreateSecurityGroup":
		name, vpc := form.Get("GroupName"), form.Get("VpcId")
		for _, g := range f.groups {
			if g.name == name && g.vpc == vpc {
				fakeaws.WriteEC2Error(w, 400, "InvalidGroup.Duplicate", fmt.Sprintf("The security group '%s' already exists for VPC '%s'", name, vpc))
				return
			}
		}
		f.next++
		g := &plGroup{id: fmt.Sprintf("sg-%017x", f.next), name: name, vpc: vpc, tags: fakeaws.Tags(form, "TagSpecification.1")}
		f.groups[g.id] = g
		fakeaws.WriteEC2(w, action, "<groupId>"+g.id+"</groupId>")
	case "AuthorizeSecurityGroupIngress":
		g := f.groups[form.Get("GroupId")]
		for i := 1; ; i++ {
			port := form.Get(fmt.Sprintf("IpPermissions.%d.FromPort", i))
			if port == "" {
				break
			}
			for j := 1; ; j++ {
				cidr := form.Get(fmt.Sprintf("IpPermissions.%d.IpRanges.%d.CidrIp", i, j))
				if cidr == "" {
					break
				}
				g.rules = append(g.rules, port+" "+cidr)
			}
		}
		fakeaws.WriteEC2(w, action, "<return>true</return>")
	case "DeleteSecurityGroup":
		if f.sgInUse > 0 {
			f.sgInUse--
			fakeaws.WriteEC2Error(w, 400, "DependencyViolation", "resource has a dependent object")
			return
		}
		delete(f.groups, form.Get("GroupId"))
		fakeaws.WriteEC2(w, action, "<return>true</return>")
	case "CreateVpcEndpoint":
		token := form.Get("ClientToken")
		if id, ok := f.tokens[token]; ok && token != "" {
			fakeaws.WriteEC2(w, action, "<vpcEndpoint>"+f.endpoints[id].xml()+"</vpcEndpoint>")
			return
		}
		s := f.services[form.Get("ServiceName")]
		if s == nil || !s.visible || form.Get("VpcEndpointType") != "Interface" || form.Get("PrivateDnsEnabled") != "false" {
			fakeaws.WriteEC2Error(w, 400, "InvalidParameter", "not an interface endpoint to a visible service without private DNS")
			return
		}
		f.next++
		e := &plEndpoint{id: fmt.Sprintf("vpce-%017x", 0xe0000+f.next), vpc: form.Get("VpcId"), service: s.name, state: "pending",
			subnets: fakeaws.List(form, "SubnetId"), groups: fakeaws.List(form, "SecurityGroupId"), tags: fakeaws.Tags(form, "TagSpecification.1")}
		if s.acceptance {
			e.state = "pendingAcceptance"
		}
		f.endpoints[e.id], f.tokens[token] = e, e.id
		if f.onCreate != nil {
			f.onCreate()
		}
		fakeaws.WriteEC2(w, action, "<vpcEndpoint>"+e.xml()+"</vpcEndpoint>")
	case "DescribeVpcEndpoints":
		var out []*plEndpoint
		if ids := fakeaws.List(form, "VpcEndpointId"); len(ids) > 0 {
			for _, id := range ids {
				e, ok := f.endpoints[id]
				if !ok {
					fakeaws.WriteEC2Error(w, 400, "InvalidVpcEndpointId.NotFound", fmt.Sprintf("The VpcEndpoint Id '%s' does not exist", id))
					return
				}
				out = append(out, e)
			}
		} else if !f.hidden {
			fs := fakeaws.Filters(form)
			for _, id := range slices.Sorted(maps.Keys(f.endpoints)) {
				e := f.endpoints[id]
				ok := true
				for name, values := range fs {
					switch {
					case name == "vpc-id":
						ok = ok && slices.Contains(values, e.vpc)
					case name == "vpc-endpoint-id":
						ok = ok && slices.Contains(values, e.id)
					case strings.HasPrefix(name, "tag:"):
						ok = ok && slices.Contains(values, e.tags[strings.TrimPrefix(name, "tag:")])
					}
				}
				if ok {
					out = append(out, e)
				}
			}
		}
		var b strings.Builder
		for _, e := range out {
			b.WriteString("<item>" + e.xml() + "</item>")
		}
		fakeaws.WriteEC2(w, action, "<vpcEndpointSet>"+b.String()+"</vpcEndpointSet>")
	case "ModifyVpcEndpoint":
		e := f.endpoints[form.Get("VpcEndpointId")]
		if !strings.EqualFold(e.state, "available") {
			fakeaws.WriteEC2Error(w, 400, "IncorrectState", "private DNS only once available")
			return
		}
		e.privateDNS = form.Get("PrivateDnsEnabled") == "true"
		fakeaws.WriteEC2(w, action, "<return>true</return>")
	case "DeleteVpcEndpoints":
		var b strings.Builder
		for _, id := range fakeaws.List(form, "VpcEndpointId") {
			if e, ok := f.endpoints[id]; ok && e.state != "deleted" {
				e.state = "deleted"
				continue
			}
			fmt.Fprintf(&b, "<item><resourceId>%s</resourceId><error><code>InvalidVpcEndpoint.NotFound</code><message>gone</message></error></item>", id)
		}
		fakeaws.WriteEC2(w, action, "<unsuccessful>"+b.String()+"</unsuccessful>")
	default:
		fakeaws.WriteEC2Error(w, 400, "InvalidAction", "The fake does not know "+action)
	}
}

const (
	plSvc      = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
	plCustomer = "444455556666"
	plDNS      = "api.example.com"
)

// plWorld is a watcher with the PrivateLink provisioner on a real store,
// against plEC2: the clusters of watchClusters, each with subnets in the
// zones use1-az1, use1-az2 and use1-az3 (eu-west-1's: euw1-az1 to 3), and
// the customer's service plSvc in use1-az2, use1-az3 and use1-az4, not
// visible until allowed.
type plWorld struct {
	*watchEnv
	aws *plEC2
	pl  *cloud.PrivateLinks
}

func newPLWorld(t *testing.T) *plWorld {
	t.Helper()
	f := newPLEC2(t)
	for i, cl := range watchClusters {
		prefix := "use1"
		if cl.Region == "eu-west-1" {
			prefix = "euw1"
		}
		for z := 1; z <= 3; z++ {
			f.subnets = append(f.subnets, plSubnet{id: fmt.Sprintf("subnet-%02d%015d", i, z), vpc: cl.VPCID, zone: fmt.Sprintf("%s-az%d", prefix, z)})
		}
	}
	f.services[plSvc] = &plService{name: plSvc, owner: plCustomer, zones: []string{"use1-az2", "use1-az3", "use1-az4"}, acceptance: true,
		dnsName: plDNS, dnsState: "verified"}
	e := newWatchEnv(t, newFakePeerer(), watchClusters)
	pl := cloud.NewPrivateLinks(f.Config(), cloud.PrivateLinkOptions{Logger: e.log})
	e.provision(astrobot.KindPrivateLink, NewPrivateLinkProvisioner(pl, cloud.NewStatic(watchClusters), e.rec))
	return &plWorld{watchEnv: e, aws: f, pl: pl}
}

// file files a PrivateLink request for cl to service and approves it.
func (w *plWorld) file(t *testing.T, cl astrobot.Cluster, service, dns string) astrobot.Request {
	t.Helper()
	region, err := astrobot.ParseServiceName(service)
	if err != nil {
		t.Fatal(err)
	}
	return w.fileApproved(t, cl, astrobot.PrivateLinkSpec{AccountID: plCustomer, ServiceName: service, Region: region, Ports: []int{443, 5432}, DNSName: dns})
}

// pending files and approves a request for cl and lets the bot take it to
// pending acceptance with the service allowed.
func (w *plWorld) pending(t *testing.T, cl astrobot.Cluster, service, dns string) astrobot.Request {
	t.Helper()
	w.aws.allow(service)
	r := w.file(t, cl, service, dns)
	w.advance(t)
	got, _ := w.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || got.Resource == "" {
		t.Fatalf("after Advance: %s with endpoint %q, want pending_acceptance with one\nlogs:\n%s", got.Status, got.Resource, w.logs.dump())
	}
	return got
}

func TestPrivateLinkWorkflowFake(t *testing.T) {
	w := newPLWorld(t)
	cl := watchClusters[0]
	r := w.file(t, cl, plSvc, plDNS)
	w.outbox(t)

	// The service does not show the cluster's account yet: the request
	// waits for the allow-list, and the requester is told how to do it.
	w.advance(t)
	got, events := w.history(t, r.ID)
	if got.Status != astrobot.StatusWaitingAllowlist {
		t.Fatalf("status after Advance with the service invisible = %s, want waiting_allowlist\nlogs:\n%s", got.Status, w.logs.dump())
	}
	last := events[len(events)-1]
	if diff := cmp.Diff(notes(r.ID, last.Seq, astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyRequester, astrobot.NotifyHome), w.outbox(t)); diff != "" {
		t.Errorf("outbox after waiting_allowlist (-want +got):\n%s", diff)
	}
	in := got.Def().Instructions(&got, cl)
	if in == nil || !slices.Contains(in.Steps[0].CLI, "aws ec2 modify-vpc-endpoint-service-permissions --service-id vpce-svc-0123456789abcdef0 --add-allowed-principals arn:aws:iam::"+watchAccount+":root --region us-east-1") {
		t.Errorf("instructions while waiting for the allow-list: %+v", in)
	}
	w.advance(t) // waiting_allowlist is the customer's: Advance leaves it
	for range 2 {
		w.clock.Advance(time.Minute)
		w.watch(t)
	}
	if got, _ := w.history(t, r.ID); got.Status != astrobot.StatusWaitingAllowlist {
		t.Fatalf("status while the service stays invisible = %s", got.Status)
	}

	// The customer allows the account: the next watch sees the service, the
	// next round creates the endpoint in the subnets of the zones in common.
	w.aws.allow(plSvc)
	w.watch(t)
	if got, _ := w.history(t, r.ID); got.Status != astrobot.StatusCreating {
		t.Fatalf("status once the service is visible = %s, want creating", got.Status)
	}
	w.advance(t)
	got, _ = w.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || astrobot.ValidateEndpointID(got.Resource) != nil {
		t.Fatalf("after Advance: %s, endpoint %q; want pending_acceptance with an endpoint ID", got.Status, got.Resource)
	}
	ep := w.aws.endpoint(got.Resource)
	if diff := cmp.Diff([]string{"subnet-00000000000000002", "subnet-00000000000000003"}, ep.subnets); diff != "" {
		t.Errorf("endpoint subnets (-want +got), want those of use1-az2 and use1-az3:\n%s", diff)
	}
	if ep.tags["astrobot:request-id"] != got.Ref() || ep.tags["astrobot:attempt"] != "1" || ep.vpc != cl.VPCID || ep.privateDNS {
		t.Errorf("endpoint %+v: want in %s, tagged %s attempt 1, private DNS off", ep, cl.VPCID, got.Ref())
	}
	g := w.aws.group("astrobot-" + got.Ref())
	if g == nil || !slices.Equal(ep.groups, []string{g.id}) || g.vpc != cl.VPCID || g.tags["astrobot:request-id"] != got.Ref() {
		t.Fatalf("security group %+v, endpoint groups %v", g, ep.groups)
	}
	if diff := cmp.Diff([]string{"443 10.1.0.0/16", "5432 10.1.0.0/16"}, g.rules); diff != "" {
		t.Errorf("security group rules (-want +got):\n%s", diff)
	}
	if got.Details[astrobot.DetailAcceptance] != "required" || !strings.Contains(got.Details[astrobot.DetailDNSNames], got.Resource+"-0a1b2c3d.vpce-svc-") {
		t.Errorf("details after creation: %v", got.Details)
	}
	in = got.Def().Instructions(&got, cl)
	if in == nil || !slices.Contains(in.Steps[0].CLI, "aws ec2 accept-vpc-endpoint-connections --service-id vpce-svc-0123456789abcdef0 --vpc-endpoint-ids "+got.Resource+" --region us-east-1") {
		t.Errorf("instructions while pending acceptance: %+v", in)
	}

	// Still pending, then accepted: private DNS goes on, and the request is
	// active with the endpoint's DNS names.
	w.watch(t)
	if got, _ := w.history(t, r.ID); got.Status != astrobot.StatusPendingAcceptance {
		t.Fatalf("status while AWS says pendingAcceptance = %s", got.Status)
	}
	w.aws.set(got.Resource, "available")
	_, before := w.history(t, r.ID)
	w.outbox(t)
	w.watch(t)
	got, _ = w.history(t, r.ID)
	if got.Status != astrobot.StatusActive || got.Details[astrobot.DetailPrivateDNS] != plDNS || !w.aws.endpoint(got.Resource).privateDNS {
		t.Fatalf("after acceptance: %s, details %v, private DNS in AWS %v; want active with private DNS on", got.Status, got.Details, w.aws.endpoint(got.Resource).privateDNS)
	}
	if diff := cmp.Diff(notes(r.ID, len(before), astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyRequester, astrobot.NotifyHome), w.outbox(t)); diff != "" {
		t.Errorf("outbox after active (-want +got):\n%s", diff)
	}
	next := got.Next()
	for _, want := range []string{got.Resource, got.Resource + "-0a1b2c3d.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com", "`" + plDNS + "`: private DNS is on"} {
		if !strings.Contains(next, want) {
			t.Errorf("Next at active lacks %q: %s", want, next)
		}
	}

	// Deleted in AWS after it was active.
	w.aws.set(got.Resource, "deleted")
	n := len(w.since(t, r.ID, 0))
	w.watch(t)
	got, events = w.history(t, r.ID)
	if got.Status != astrobot.StatusDeleted || !strings.Contains(events[len(events)-1].Note, "was deleted in AWS") {
		t.Errorf("after the deletion: %s, note %q", got.Status, events[len(events)-1].Note)
	}
	if diff := cmp.Diff([]astrobot.Action{astrobot.ActDelete}, w.actionsSince(t, r.ID, n)); diff != "" {
		t.Errorf("actions after the deletion (-want +got):\n%s", diff)
	}
	if n := w.aws.Count("CreateVpcEndpoint"); n != 1 {
		t.Errorf("CreateVpcEndpoint called %d times, want 1", n)
	}
	w.noLoudLogs(t)
}

func TestPrivateLinkFollowsAWSFake(t *testing.T) {
	tests := []struct {
		name     string
		active   bool   // from active (else pending acceptance)
		dnsState string // of the service's private DNS name; "" for verified
		dnsName  string // the service's private DNS name; "" for plDNS
		aws      string // the endpoint's state as AWS spells it
		want     astrobot.Status
		note     string // in the last event's note
		detail   string // in Details[DetailPrivateDNSProblem]
		modifies int    // ModifyVpcEndpoint calls
	}{
		{name: "still pending", aws: "pendingAcceptance", want: astrobot.StatusPendingAcceptance},
		{name: "accepted, being set up", aws: "pending", want: astrobot.StatusPendingAcceptance},
		{name: "available, spelled as the SDK does", aws: "Available", want: astrobot.StatusActive, modifies: 1},
		{name: "available, name not verified", aws: "available", dnsState: "pendingVerification", want: astrobot.StatusActive,
			detail: "is not verified (state pendingVerification)"},
		{name: "available, the service has another name", aws: "available", dnsName: "other.example.com", want: astrobot.StatusActive,
			detail: "is `other.example.com`, not `api.example.com`"},
		{name: "rejected", aws: "rejected", want: astrobot.StatusDeclined, note: "was rejected on your endpoint service"},
		{name: "failed", aws: "failed", want: astrobot.StatusFailed, note: "AWS could not set up the endpoint"},
		{name: "expired", aws: "expired", want: astrobot.StatusExpired, note: "was not accepted in time and expired"},
		{name: "deleted before acceptance", aws: "deleted", want: astrobot.StatusFailed, note: "was deleted in AWS before its connection was accepted"},
		{name: "deleted after active", active: true, aws: "deleted", want: astrobot.StatusDeleted, note: "no longer reaches the service"},
		{name: "rejected after active", active: true, aws: "rejected", want: astrobot.StatusDeleted, note: "was rejected on your endpoint service"},
		{name: "active stays active", active: true, aws: "available", want: astrobot.StatusActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPLWorld(t)
			svc := w.aws.services[plSvc]
			r := w.pending(t, watchClusters[1], plSvc, plDNS)
			if tt.active {
				w.aws.set(r.Resource, "available")
				w.watch(t)
				if got, _ := w.history(t, r.ID); got.Status != astrobot.StatusActive {
					t.Fatalf("setup: %s, want active", got.Status)
				}
			}
			modifies := w.aws.Count("ModifyVpcEndpoint")
			if tt.dnsState != "" {
				svc.dnsState = tt.dnsState
			}
			if tt.dnsName != "" {
				svc.dnsName = tt.dnsName
			}
			w.aws.set(r.Resource, tt.aws)
			got, events := w.watchTo(t, r, tt.want, tt.note)
			if p := got.Details[astrobot.DetailPrivateDNSProblem]; tt.detail == "" && p != "" || !strings.Contains(p, tt.detail) {
				t.Errorf("private DNS problem %q, want %q", p, tt.detail)
			}
			if n := w.aws.Count("ModifyVpcEndpoint") - modifies; n != tt.modifies {
				t.Errorf("ModifyVpcEndpoint called %d times, want %d", n, tt.modifies)
			}
			w.checkSettled(t, r, len(events)) // a second cycle changes nothing
		})
	}
}

func TestPrivateLinkNoCommonZoneFake(t *testing.T) {
	w := newPLWorld(t)
	w.aws.services[plSvc].zones = []string{"use1-az4", "use1-az5"}
	w.aws.allow(plSvc)
	r := w.file(t, watchClusters[0], plSvc, "")
	w.advance(t)
	got, events := w.history(t, r.ID)
	note := events[len(events)-1].Note
	if got.Status != astrobot.StatusFailed || !strings.Contains(note, "is in the availability zones use1-az4, use1-az5 and cluster acme-use1-a has subnets only in use1-az1, use1-az2, use1-az3") {
		t.Errorf("status %s, note %q; want failed, naming the zone IDs", got.Status, note)
	}
	if n := w.aws.Count("CreateVpcEndpoint") + w.aws.Count("CreateSecurityGroup"); n != 0 {
		t.Errorf("%d create calls for a service without a zone in common", n)
	}
}

func TestPrivateLinkThrottledFake(t *testing.T) {
	w := newPLWorld(t)
	const other = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef1"
	w.aws.addService(other)
	waiting := w.file(t, watchClusters[0], plSvc, "")
	w.advance(t)
	pending := w.pending(t, watchClusters[1], other, "")
	approved := w.file(t, watchClusters[2], plSvc, "")
	w.aws.Fail("*", fakeaws.Failure{Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded."})
	rs := []astrobot.Request{waiting, pending, approved}
	w.checkThrottled(t, rs...)
	if n := w.aws.Count("DescribeVpcEndpoints"); n < 3 {
		t.Errorf("DescribeVpcEndpoints called %d times over three throttled cycles, want one a cycle", n)
	}

	// AWS answers again: every request moves on.
	w.aws.Heal("*")
	w.aws.allow(plSvc)
	w.aws.set(pending.Resource, "available")
	w.watch(t)
	w.advance(t)
	for i, want := range []astrobot.Status{astrobot.StatusPendingAcceptance, astrobot.StatusActive, astrobot.StatusPendingAcceptance} {
		if got, _ := w.history(t, rs[i].ID); got.Status != want {
			t.Errorf("%s after the throttling: %s, want %s", rs[i].Ref(), got.Status, want)
		}
	}
}

func TestPrivateLinkAccessDeniedFake(t *testing.T) {
	denied := fakeaws.Failure{Status: 403, Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}
	tests := []struct {
		name   string
		action string // the call denied
		setup  func(t *testing.T, w *plWorld) astrobot.Request
		stays  astrobot.Status
		grants []string // in the alert
		after  astrobot.Status
	}{
		{name: "watching endpoints", action: "DescribeVpcEndpoints", stays: astrobot.StatusPendingAcceptance, after: astrobot.StatusActive,
			grants: []string{"ec2:DescribeVpcEndpoints", "stays pending acceptance"},
			setup: func(t *testing.T, w *plWorld) astrobot.Request {
				r := w.pending(t, watchClusters[0], plSvc, "")
				w.aws.set(r.Resource, "available")
				return r
			}},
		{name: "looking for the service", action: "DescribeVpcEndpointServices", stays: astrobot.StatusWaitingAllowlist, after: astrobot.StatusPendingAcceptance,
			grants: []string{"ec2:DescribeVpcEndpointServices", "stays waiting allowlist"},
			setup: func(t *testing.T, w *plWorld) astrobot.Request {
				r := w.file(t, watchClusters[0], plSvc, "")
				w.advance(t)
				w.aws.allow(plSvc)
				return r
			}},
		{name: "creating the endpoint", action: "CreateVpcEndpoint", stays: astrobot.StatusCreating, after: astrobot.StatusPendingAcceptance,
			grants: []string{"ec2:CreateVpcEndpoint and ec2:CreateTags", "stays creating"},
			setup: func(t *testing.T, w *plWorld) astrobot.Request {
				w.aws.allow(plSvc)
				return w.file(t, watchClusters[0], plSvc, "")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPLWorld(t)
			r := tt.setup(t, w)
			w.checkDenied(t, w.aws.Server, r, tt.action, denied, tt.stays, tt.grants, tt.after)
		})
	}
}

// The bot created the endpoint and crashed before storing its ID: the next
// round finds it by its tags, or, where AWS does not list it yet, AWS
// answers the same client token with it. Either way there is one endpoint.
func TestPrivateLinkCrashBetweenCreateAndStoreFake(t *testing.T) {
	for _, hidden := range []bool{false, true} {
		t.Run(fmt.Sprintf("listed %v", !hidden), func(t *testing.T) {
			w := newPLWorld(t)
			cl := watchClusters[0]
			w.aws.allow(plSvc)
			r := w.file(t, cl, plSvc, "")
			r = w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActServiceVisible, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot})
			ctx := testContext(t)
			chk, err := w.pl.Check(ctx, cl, r)
			if err != nil {
				t.Fatal(err)
			}
			first, err := w.pl.Create(ctx, cl, r, r.Attempt+1, chk)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			w.aws.hidden = hidden

			w.checkResumed(t, r, first.ID)
			if live := w.aws.live(cl.VPCID); !slices.Equal(live, []string{first.ID}) {
				t.Errorf("endpoints in the cluster VPC: %v, want only %s", live, first.ID)
			}
			if n := w.aws.Count("CreateSecurityGroup"); n != 1 {
				t.Errorf("CreateSecurityGroup called %d times, want 1", n)
			}
		})
	}
}

// A retry is a new attempt: a new endpoint, the group reused, the endpoint
// of the failed attempt deleted.
func TestPrivateLinkRetryFake(t *testing.T) {
	w := newPLWorld(t)
	cl := watchClusters[0]
	r := w.pending(t, cl, plSvc, "")
	old := r.Resource
	w.aws.set(old, "rejected")
	w.watch(t)
	w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActRetry, Actor: testSupportUser, Role: astrobot.RoleSupport})
	w.advance(t)
	got, _ := w.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || got.Resource == old || got.Resource == "" {
		t.Fatalf("retried: %s with %q; want pending_acceptance with a new endpoint", got.Status, got.Resource)
	}
	if ep := w.aws.endpoint(got.Resource); ep.tags["astrobot:attempt"] != "2" {
		t.Errorf("the new endpoint is tagged attempt %q, want 2", ep.tags["astrobot:attempt"])
	}
	if live := w.aws.live(cl.VPCID); !slices.Equal(live, []string{got.Resource}) {
		t.Errorf("endpoints left in the cluster VPC: %v, want only the new %s", live, got.Resource)
	}
	if n := w.aws.Count("CreateSecurityGroup"); n != 1 {
		t.Errorf("CreateSecurityGroup called %d times, want 1 (the group is reused)", n)
	}
}

func TestPrivateLinkCleanupFake(t *testing.T) {
	w := newPLWorld(t)
	cl := watchClusters[0]
	r := w.pending(t, cl, plSvc, "")
	r = w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	w.cleanupJob(t, r.ID)
	w.aws.sgInUse = 1 // the endpoint's network interfaces take a while to go
	m := NewMetrics()
	jobs := w.jobs(m, w.provisioners)

	jobRound(t, jobs, 1)
	if ep := w.aws.endpoint(r.Resource); ep.state != "deleted" {
		t.Errorf("endpoint after the cleanup: %s, want deleted", ep.state)
	}
	if got, _ := w.history(t, r.ID); got.Resource != r.Resource {
		t.Errorf("the cleanup is recorded although the group is left")
	}
	j := w.cleanupJob(t, r.ID)
	if !strings.Contains(j.LastError, "still in use") {
		t.Errorf("the deferred job's error %q does not say the group is in use", j.LastError)
	}

	w.clock.Advance(time.Hour)
	jobRound(t, jobs, 1)
	got, events := w.history(t, r.ID)
	if got.Resource != "" || events[len(events)-1].Action != astrobot.ActCleanup || !strings.Contains(events[len(events)-1].Note, r.Resource) {
		t.Errorf("after the second round: endpoint %q, last event %+v", got.Resource, events[len(events)-1])
	}
	if g := w.aws.group("astrobot-" + r.Ref()); g != nil {
		t.Errorf("the security group %s is left", g.id)
	}
	w.checkJobsDone(t)
}

// A request cancelled while its endpoint is created ends without an
// endpoint ID and owes no cleanup: the provisioner deletes what it made.
func TestPrivateLinkCancelledDuringCreateFake(t *testing.T) {
	w := newPLWorld(t)
	cl := watchClusters[0]
	w.aws.allow(plSvc)
	r := w.file(t, cl, plSvc, "")
	w.aws.onCreate = func() {
		w.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	}
	w.checkCancelledMeanwhile(t, r)
	if live := w.aws.live(cl.VPCID); len(live) != 0 {
		t.Errorf("the endpoints %v of a request cancelled meanwhile are left in AWS", live)
	}
	if g := w.aws.group("astrobot-" + r.Ref()); g != nil {
		t.Errorf("the security group %s is left", g.id)
	}
}

func TestPrivateLinkDescribesOncePerAccountAndRegionFake(t *testing.T) {
	w := newPLWorld(t)
	var rs []astrobot.Request
	for i, cl := range watchClusters {
		svc := fmt.Sprintf("com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcde%02x", i)
		w.aws.addService(svc)
		rs = append(rs, w.pending(t, cl, svc, ""))
	}
	if diff := cmp.Diff([]string{"eu-west-1", "us-east-1"}, w.watchRegions(t, w.aws.Server, "DescribeVpcEndpoints")); diff != "" {
		t.Errorf("DescribeVpcEndpoints regions in one cycle of 4 endpoints in 2 regions (-want +got):\n%s", diff)
	}
	// The eu-west-1 clusters reach the us-east-1 services across regions:
	// in every zone of theirs.
	if ep := w.aws.endpoint(rs[2].Resource); len(ep.subnets) != 3 {
		t.Errorf("the cross-region endpoint is in the subnets %v, want one per zone of the cluster", ep.subnets)
	}
	w.noLoudLogs(t)
}

// TestPrivateLinkMoto runs two requests through the provisioner against
// moto, the service in the cluster's own account (moto shows no other
// account's service and marks endpoints available at once): one to active,
// one cancelled and cleaned up by the jobs queue.
func TestPrivateLinkMoto(t *testing.T) {
	ctx := testContext(t)
	astro := mototest.NewAccount(t)
	const region = "us-east-1"
	client := ec2.NewFromConfig(mototest.Config(t, astro, region))
	vpc := motoVPC(t, client, "10.80.0.0/16")
	subnet := func(vpc, cidr, zone string) string {
		out, err := client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(zone)})
		if err != nil {
			t.Fatalf("CreateSubnet: %v", err)
		}
		return aws.ToString(out.Subnet.SubnetId)
	}
	subA, subB := subnet(vpc, "10.80.1.0/24", "us-east-1a"), subnet(vpc, "10.80.2.0/24", "us-east-1b")
	svcVPC := motoVPC(t, client, "10.81.0.0/16")
	nlb := mototest.NLB(t, astro, region, "nlb-"+svcVPC[len(svcVPC)-6:], subnet(svcVPC, "10.81.1.0/24", "us-east-1a"), subnet(svcVPC, "10.81.2.0/24", "us-east-1b"))
	var services []string
	for range 2 {
		out, err := client.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{NetworkLoadBalancerArns: []string{nlb}, AcceptanceRequired: aws.Bool(true)})
		if err != nil {
			t.Fatalf("CreateVpcEndpointServiceConfiguration: %v", err)
		}
		services = append(services, aws.ToString(out.ServiceConfiguration.ServiceName))
	}
	cl := astrobot.Cluster{ID: "clx-pl", Name: "acme-pl", Organization: "acme", Region: region, AccountID: astro, VPCID: vpc,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.80.0.0/16")}}

	e := newWatchEnv(t, newFakePeerer(), []astrobot.Cluster{cl})
	pl := cloud.NewPrivateLinks(mototest.Config(t, astro, region), cloud.PrivateLinkOptions{Logger: e.log})
	e.provision(astrobot.KindPrivateLink, NewPrivateLinkProvisioner(pl, cloud.NewStatic([]astrobot.Cluster{cl}), e.rec))
	var rs []astrobot.Request
	for _, svc := range services {
		rs = append(rs, e.fileApproved(t, cl, astrobot.PrivateLinkSpec{AccountID: astro, ServiceName: svc, Region: region, Ports: []int{8443}}))
	}

	e.advance(t)
	e.advance(t) // nothing more to create
	for _, r := range rs {
		got, _ := e.history(t, r.ID)
		if got.Status != astrobot.StatusPendingAcceptance || got.Resource == "" {
			t.Fatalf("%s after Advance: %s with %q\nlogs:\n%s", r.Ref(), got.Status, got.Resource, e.logs.dump())
		}
		eps, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{{Name: aws.String("tag:astrobot:request-id"), Values: []string{r.Ref()}}}})
		if err != nil || len(eps.VpcEndpoints) != 1 {
			t.Fatalf("endpoints tagged %s: %+v, %v; want one", r.Ref(), eps, err)
		}
		ep := eps.VpcEndpoints[0]
		if aws.ToString(ep.VpcEndpointId) != got.Resource || !slices.Equal(slices.Sorted(slices.Values(ep.SubnetIds)), slices.Sorted(slices.Values([]string{subA, subB}))) || len(ep.Groups) != 1 ||
			aws.ToString(ep.Groups[0].GroupName) != "astrobot-"+r.Ref() {
			t.Errorf("%s: endpoint %s in %v with %+v; want %s in %s and %s with the group astrobot-%s", r.Ref(), aws.ToString(ep.VpcEndpointId), ep.SubnetIds, ep.Groups, got.Resource, subA, subB, r.Ref())
		}
	}

	// moto makes endpoints available at once: the watch makes the first
	// active with its DNS names; the second is cancelled and cleaned up.
	cancelled := e.apply(t, rs[1].ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	e.watch(t)
	got, _ := e.history(t, rs[0].ID)
	if got.Status != astrobot.StatusActive || got.Details[astrobot.DetailDNSNames] == "" || !strings.Contains(got.Next(), got.Resource) {
		t.Errorf("%s after Watch: %s, details %v", got.Ref(), got.Status, got.Details)
	}
	jobRound(t, e.jobs(NewMetrics(), e.provisioners), 1)
	eps, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{cancelled.Resource}})
	if err != nil || len(eps.VpcEndpoints) != 1 || !strings.EqualFold(string(eps.VpcEndpoints[0].State), string(types.StateDeleted)) {
		t.Errorf("the endpoint %s of the cancelled request: %+v, %v; want deleted", cancelled.Resource, eps, err)
	}
	sgs, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"astrobot-" + cancelled.Ref()}}}})
	if err != nil || len(sgs.SecurityGroups) != 0 {
		t.Errorf("the security group of the cancelled request: %+v, %v; want none", sgs, err)
	}
	if got, _ := e.history(t, cancelled.ID); got.Resource != "" {
		t.Errorf("the cancelled request keeps %q after its cleanup", got.Resource)
	}
	e.noLoudLogs(t)
}
