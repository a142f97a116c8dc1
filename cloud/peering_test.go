package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/google/go-cmp/cmp/cmpopts"
)

// actionCounter is an HTTP client that counts the requests it sends by their
// Query API Action, retries included.
type actionCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newActionCounter() *actionCounter { return &actionCounter{n: make(map[string]int)} }

func (c *actionCounter) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			c.mu.Lock()
			c.n[form.Get("Action")]++
			c.mu.Unlock()
		}
	}
	return http.DefaultClient.Do(r)
}

func (c *actionCounter) count(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[action]
}

// peeringsOf returns every peering connection AWS lists in the client's
// account and region, by ID.
func peeringsOf(t *testing.T, client *ec2.Client) map[string]types.VpcPeeringConnection {
	t.Helper()
	out, err := client.DescribeVpcPeeringConnections(context.Background(), &ec2.DescribeVpcPeeringConnectionsInput{})
	if err != nil {
		t.Fatalf("DescribeVpcPeeringConnections: %v", err)
	}
	m := make(map[string]types.VpcPeeringConnection)
	for _, c := range out.VpcPeeringConnections {
		m[aws.ToString(c.VpcPeeringConnectionId)] = c
	}
	return m
}

func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// routesOf returns, for every route table of vpc, where each peering route goes:
// table ID → CIDR → pcx ID.
func routesOf(t *testing.T, client *ec2.Client, vpc string) map[string]map[string]string {
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
			if r.VpcPeeringConnectionId != nil {
				routes[aws.ToString(r.DestinationCidrBlock)] = aws.ToString(r.VpcPeeringConnectionId)
			}
		}
		m[aws.ToString(rt.RouteTableId)] = routes
	}
	return m
}

func TestPeeringMoto(t *testing.T) {
	ctx := context.Background()
	astro, customer, operator := mototest.NewAccount(t), mototest.NewAccount(t), mototest.NewAccount(t)
	const astroRegion, peerRegion = "us-east-1", "eu-west-1"

	astroEnv := newEC2Env(t, astro, astroRegion)
	clusterVPC := astroEnv.vpc("10.1.0.0/16", map[string]string{"astro:cluster-id": "clx-1", "astro:organization": "acme"})
	extra, err := astroEnv.client.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(clusterVPC)})
	if err != nil {
		t.Fatalf("CreateRouteTable: %v", err)
	}
	customerEnv := newEC2Env(t, customer, peerRegion)
	peerVPC := customerEnv.vpc("172.20.0.0/16", nil)
	customerEnv.secondaryCIDR(peerVPC, "172.21.0.0/16")
	peerCIDRs := []netip.Prefix{netip.MustParsePrefix("172.20.0.0/16"), netip.MustParsePrefix("172.21.0.0/16")}

	cluster := astrobot.Cluster{ID: "clx-1", Name: "acme-prod", Organization: "acme", Region: astroRegion, AccountID: astro, VPCID: clusterVPC,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	req := astrobot.Request{ID: 42, Kind: astrobot.KindPeering, ClusterID: cluster.ID,
		Spec: astrobot.PeeringSpec{AccountID: customer, Region: peerRegion, VPCID: peerVPC, CIDRs: peerCIDRs}}

	// astrobot's own credentials act as a third account and reach the Astro
	// account through a role, as in production.
	counter := newActionCounter()
	cfg := mototest.Config(t, operator, astroRegion)
	cfg.HTTPClient = counter
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	p := cloud.NewPeerings(cfg, cloud.PeeringOptions{
		Roles:  map[string]string{astro: "arn:aws:iam::" + astro + ":role/astrobot"},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Now:    func() time.Time { return now },
	})

	// Create: a pending connection, tagged, from the cluster VPC to the peer VPC.
	first, err := p.Create(ctx, cluster, req, 1)
	if err != nil {
		t.Fatalf("Create: %v\nlogs:\n%s", err, logs.String())
	}
	if first.Status != cloud.PeeringInitiating && first.Status != cloud.PeeringPending {
		t.Errorf("Create status = %q, want %q or %q", first.Status, cloud.PeeringInitiating, cloud.PeeringPending)
	}
	if want := now.Add(7 * 24 * time.Hour); !first.ExpiresAt.Equal(want) {
		t.Errorf("Create ExpiresAt = %v, want %v (moto sends no expiration time: now + 7 days)", first.ExpiresAt, want)
	}
	inAWS := peeringsOf(t, astroEnv.client)
	if len(inAWS) != 1 {
		t.Fatalf("the Astro account holds %d peering connections after Create, want 1: %v", len(inAWS), slices.Collect(maps.Keys(inAWS)))
	}
	c, ok := inAWS[first.ID]
	if !ok {
		t.Fatalf("Create returned %s, which AWS does not list", first.ID)
	}
	if c.Status == nil || cloud.PeeringState(c.Status.Code) != cloud.PeeringPending {
		t.Errorf("status in AWS = %+v, want %s", c.Status, cloud.PeeringPending)
	}
	wantTags := map[string]string{"astrobot:request-id": "PEER-0042", "astrobot:attempt": "1", "astro:cluster-id": "clx-1", "Name": "PEER-0042"}
	if diff := cmp.Diff(wantTags, tagMap(c.Tags)); diff != "" {
		t.Errorf("tags in AWS (-want +got):\n%s", diff)
	}
	gotSides := []string{aws.ToString(c.RequesterVpcInfo.VpcId), aws.ToString(c.RequesterVpcInfo.OwnerId),
		aws.ToString(c.AccepterVpcInfo.VpcId), aws.ToString(c.AccepterVpcInfo.OwnerId), aws.ToString(c.AccepterVpcInfo.Region)}
	if diff := cmp.Diff([]string{clusterVPC, astro, peerVPC, customer, peerRegion}, gotSides); diff != "" {
		t.Errorf("requester VPC, owner, accepter VPC, owner, region (-want +got):\n%s", diff)
	}

	// Create again, as after a crash before the answer was stored: the same connection.
	again, err := p.Create(ctx, cluster, req, 1)
	if err != nil {
		t.Fatalf("Create again: %v", err)
	}
	if again.ID != first.ID {
		t.Errorf("Create again = %s, want the first connection %s", again.ID, first.ID)
	}
	if n := len(peeringsOf(t, astroEnv.client)); n != 1 {
		t.Errorf("the Astro account holds %d peering connections after a second Create, want 1", n)
	}
	if n := counter.count("CreateVpcPeeringConnection"); n != 1 {
		t.Errorf("CreateVpcPeeringConnection was called %d times, want 1", n)
	}

	got, err := p.Describe(ctx, astro, astroRegion, []string{first.ID})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if got[first.ID].Status != cloud.PeeringPending {
		t.Errorf("Describe before acceptance = %+v, want %s", got[first.ID], cloud.PeeringPending)
	}

	// The customer accepts, in their account and region.
	if _, err := customerEnv.client.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: aws.String(first.ID)}); err != nil {
		t.Fatalf("AcceptVpcPeeringConnection as the customer: %v", err)
	}
	got, err = p.Describe(ctx, astro, astroRegion, []string{first.ID})
	if err != nil {
		t.Fatalf("Describe after acceptance: %v", err)
	}
	active := got[first.ID]
	if active.ID != first.ID || active.Status != cloud.PeeringActive {
		t.Errorf("Describe after acceptance = %+v, want %s active", active, first.ID)
	}
	// moto 5.2.1 reports only the primary block of the accepter VPC (AWS
	// reports all of them in CidrBlockSet, covered with the fake below).
	if !slices.Contains(active.AccepterCIDRs, peerCIDRs[0]) || slices.ContainsFunc(active.AccepterCIDRs, func(p netip.Prefix) bool { return !slices.Contains(peerCIDRs, p) }) {
		t.Errorf("AccepterCIDRs = %v, want %v or its primary block alone", active.AccepterCIDRs, peerCIDRs)
	}

	// Configure: a route to each customer CIDR in each route table, twice.
	req.Resource = first.ID
	for i := range 2 {
		if err := p.Configure(ctx, cluster, req); err != nil {
			t.Fatalf("Configure #%d: %v", i+1, err)
		}
	}
	routes := routesOf(t, astroEnv.client, clusterVPC)
	if _, ok := routes[aws.ToString(extra.RouteTable.RouteTableId)]; !ok || len(routes) != 2 {
		t.Fatalf("route tables of the cluster VPC = %v, want the main one and %s", slices.Collect(maps.Keys(routes)), aws.ToString(extra.RouteTable.RouteTableId))
	}
	for table, r := range routes {
		want := map[string]string{"172.20.0.0/16": first.ID, "172.21.0.0/16": first.ID}
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("peering routes of %s (-want +got):\n%s", table, diff)
		}
	}
	if n := counter.count("CreateRoute"); n != 4 {
		t.Errorf("CreateRoute was called %d times over two Configure runs, want 4 (2 tables × 2 CIDRs, once)", n)
	}
	c = peeringsOf(t, astroEnv.client)[first.ID]
	if !aws.ToBool(c.RequesterVpcInfo.PeeringOptions.AllowDnsResolutionFromRemoteVpc) {
		t.Errorf("requester AllowDnsResolutionFromRemoteVpc is off after Configure")
	}
	if aws.ToBool(c.AccepterVpcInfo.PeeringOptions.AllowDnsResolutionFromRemoteVpc) {
		t.Errorf("accepter AllowDnsResolutionFromRemoteVpc is on: Configure must set only the requester side")
	}

	// Delete, twice.
	for i := range 2 {
		if err := p.Delete(ctx, cluster, first.ID); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	got, err = p.Describe(ctx, astro, astroRegion, []string{first.ID})
	if err != nil {
		t.Fatalf("Describe after Delete: %v", err)
	}
	if got[first.ID].Status != cloud.PeeringDeleted {
		t.Errorf("Describe after Delete = %+v, want deleted", got[first.ID])
	}

	// A retry after the first connection ended: a new one, tagged with its attempt.
	second, err := p.Create(ctx, cluster, req, 2)
	if err != nil {
		t.Fatalf("Create attempt 2: %v", err)
	}
	if second.ID == first.ID {
		t.Fatalf("Create attempt 2 reused %s, which was deleted", first.ID)
	}
	if again, err := p.Create(ctx, cluster, req, 2); err != nil || again.ID != second.ID {
		t.Errorf("Create attempt 2 again = %s, %v; want %s", again.ID, err, second.ID)
	}
	inAWS = peeringsOf(t, astroEnv.client)
	if tags := tagMap(inAWS[second.ID].Tags); tags["astrobot:attempt"] != "2" || tags["astrobot:request-id"] != "PEER-0042" {
		t.Errorf("tags of attempt 2 = %v", tags)
	}
	if len(inAWS) != 2 {
		t.Errorf("the Astro account holds %d peering connections, want 2 (the deleted one and attempt 2)", len(inAWS))
	}

	// Describe many connections of one account and region: one API call.
	ids := []string{first.ID, second.ID}
	for id := range astrobot.RequestID(3) {
		other := req
		other.ID, other.Resource = 100+id, ""
		pc, err := p.Create(ctx, cluster, other, 1)
		if err != nil {
			t.Fatalf("Create %d: %v", other.ID, err)
		}
		ids = append(ids, pc.ID)
	}
	const unknown = "pcx-0123456789abcdef0"
	ids = append(ids, unknown)
	before := counter.count("DescribeVpcPeeringConnections")
	got, err = p.Describe(ctx, astro, astroRegion, ids)
	if err != nil {
		t.Fatalf("Describe many: %v", err)
	}
	if n := counter.count("DescribeVpcPeeringConnections") - before; n != 1 {
		t.Errorf("Describe of %d IDs made %d DescribeVpcPeeringConnections calls, want 1", len(ids), n)
	}
	status := make(map[string]cloud.PeeringState)
	for id, pc := range got {
		status[id] = pc.Status
	}
	wantStatus := map[string]cloud.PeeringState{first.ID: cloud.PeeringDeleted, unknown: cloud.PeeringDeleted}
	for _, id := range ids[1:5] {
		wantStatus[id] = cloud.PeeringPending
	}
	if diff := cmp.Diff(wantStatus, status); diff != "" {
		t.Errorf("Describe many: statuses (-want +got):\n%s", diff)
	}
}

// pcxItem is a peering connection as the fake EC2 describes it.
type pcxItem struct {
	id, message            string
	status                 cloud.PeeringState
	requesterVPC, accepter string
	expires                string
	accepterCIDRs          []string
	tags                   map[string]string
}

func (x pcxItem) xml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<vpcPeeringConnectionId>%s</vpcPeeringConnectionId>", x.id)
	fmt.Fprintf(&b, "<status><code>%s</code><message>%s</message></status>", x.status, x.message)
	fmt.Fprintf(&b, "<requesterVpcInfo><vpcId>%s</vpcId><ownerId>111111111111</ownerId><region>eu-central-1</region></requesterVpcInfo>", x.requesterVPC)
	b.WriteString("<accepterVpcInfo>")
	fmt.Fprintf(&b, "<vpcId>%s</vpcId><ownerId>222222222222</ownerId><region>us-west-2</region>", x.accepter)
	if len(x.accepterCIDRs) > 0 {
		fmt.Fprintf(&b, "<cidrBlock>%s</cidrBlock><cidrBlockSet>", x.accepterCIDRs[0])
		for _, c := range x.accepterCIDRs {
			fmt.Fprintf(&b, "<item><cidrBlock>%s</cidrBlock></item>", c)
		}
		b.WriteString("</cidrBlockSet>")
	}
	b.WriteString("</accepterVpcInfo>")
	if x.expires != "" {
		fmt.Fprintf(&b, "<expirationTime>%s</expirationTime>", x.expires)
	}
	b.WriteString(fakeaws.TagSet(x.tags))
	return b.String()
}

func pcxSet(items ...pcxItem) string {
	var b strings.Builder
	b.WriteString("<vpcPeeringConnectionSet>")
	for _, x := range items {
		b.WriteString("<item>" + x.xml() + "</item>")
	}
	b.WriteString("</vpcPeeringConnectionSet>")
	return b.String()
}

// Fixtures of the fake tests: a cluster in 111111111111, eu-central-1, and a
// request to peer with a VPC of 222222222222 in us-west-2.
const (
	fakeAccount    = "111111111111"
	fakeRegion     = "eu-central-1"
	fakeClusterVPC = "vpc-0aaaaaaaaaaaaaaaa"
	fakePeerVPC    = "vpc-0bbbbbbbbbbbbbbbb"
)

func fakeCluster() astrobot.Cluster {
	return astrobot.Cluster{ID: "clx-9", Name: "globex", Organization: "globex", Region: fakeRegion, AccountID: fakeAccount, VPCID: fakeClusterVPC}
}

func fakeRequest() astrobot.Request {
	return astrobot.Request{ID: 7, Kind: astrobot.KindPeering, ClusterID: "clx-9", Spec: astrobot.PeeringSpec{
		AccountID: "222222222222", Region: "us-west-2", VPCID: fakePeerVPC,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("172.20.0.0/16"), netip.MustParsePrefix("172.21.0.0/16")},
	}}
}

func fakeTags(request, attempt string) map[string]string {
	return map[string]string{"astrobot:request-id": request, "astrobot:attempt": attempt, "astro:cluster-id": "clx-9", "Name": request}
}

// logEntries decodes JSON log lines.
func logEntries(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var entries []map[string]any
	for line := range strings.Lines(logs.String()) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	return entries
}

func TestCreateFake(t *testing.T) {
	live := pcxItem{id: "pcx-00000000000000001", status: cloud.PeeringPending, requesterVPC: fakeClusterVPC, accepter: fakePeerVPC,
		expires: "2026-03-08T12:00:00.000Z", tags: fakeTags("PEER-0007", "1")}
	with := func(x pcxItem, change func(*pcxItem)) pcxItem {
		x.tags = maps.Clone(x.tags)
		change(&x)
		return x
	}
	notOurs := []pcxItem{
		with(live, func(x *pcxItem) { x.id, x.tags["astrobot:request-id"] = "pcx-00000000000000002", "PEER-0008" }),
		with(live, func(x *pcxItem) { x.id, x.status = "pcx-00000000000000003", cloud.PeeringFailed }),
		with(live, func(x *pcxItem) { x.id, x.status = "pcx-00000000000000004", cloud.PeeringExpired }),
		with(live, func(x *pcxItem) { x.id, x.status = "pcx-00000000000000005", cloud.PeeringRejected }),
		with(live, func(x *pcxItem) { x.id, x.status = "pcx-00000000000000006", cloud.PeeringDeleted }),
		with(live, func(x *pcxItem) { x.id, x.tags["astrobot:attempt"] = "pcx-00000000000000007", "2" }),
		with(live, func(x *pcxItem) { x.id, x.requesterVPC = "pcx-00000000000000008", "vpc-0cccccccccccccccc" }),
		with(live, func(x *pcxItem) { x.id, x.accepter = "pcx-00000000000000009", "vpc-0cccccccccccccccc" }),
		with(live, func(x *pcxItem) { x.id = "pcx-0000000000000000a"; delete(x.tags, "astrobot:request-id") }),
	}
	created := pcxItem{id: "pcx-000000000000000ff", status: cloud.PeeringInitiating, message: "Initiating Request to 222222222222",
		requesterVPC: fakeClusterVPC, accepter: fakePeerVPC, expires: "2026-03-08T13:00:00.000Z", tags: fakeTags("PEER-0007", "1")}

	tests := []struct {
		name     string
		existing []pcxItem
		want     cloud.Peering
		create   bool
	}{
		{
			name:     "nothing of ours",
			existing: notOurs,
			want:     cloud.Peering{ID: created.id, Status: cloud.PeeringInitiating, Message: created.message, ExpiresAt: time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC)},
			create:   true,
		},
		{
			name:     "ours, pending",
			existing: append(slices.Clone(notOurs), live),
			want:     cloud.Peering{ID: live.id, Status: cloud.PeeringPending, ExpiresAt: time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)},
		},
		{
			name:     "ours, active",
			existing: []pcxItem{with(live, func(x *pcxItem) { x.status, x.accepterCIDRs = cloud.PeeringActive, []string{"172.20.0.0/16"} })},
			want: cloud.Peering{ID: live.id, Status: cloud.PeeringActive, ExpiresAt: time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC),
				AccepterCIDRs: []netip.Prefix{netip.MustParsePrefix("172.20.0.0/16")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "DescribeVpcPeeringConnections":
					fakeaws.WriteEC2(w, call.Action, pcxSet(tt.existing...)) // like moto, ignore the filters
				case "CreateVpcPeeringConnection":
					fakeaws.WriteEC2(w, call.Action, "<vpcPeeringConnection>"+created.xml()+"</vpcPeeringConnection>")
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", "unexpected "+call.Action)
				}
			})
			p := cloud.NewPeerings(fake.RetryConfig(1), cloud.PeeringOptions{})
			got, err := p.Create(context.Background(), fakeCluster(), fakeRequest(), 1)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, netipOpts); diff != "" {
				t.Errorf("Create (-want +got):\n%s", diff)
			}

			describes := fake.Calls("DescribeVpcPeeringConnections")
			if len(describes) != 1 {
				t.Fatalf("got %d DescribeVpcPeeringConnections calls, want 1", len(describes))
			}
			checkForm(t, describes[0], map[string][]string{
				"Filter.1.Name": {"requester-vpc-info.vpc-id"}, "Filter.1.Value.1": {fakeClusterVPC},
				"Filter.2.Name": {"tag:astrobot:attempt"}, "Filter.2.Value.1": {"1"},
				"Filter.3.Name": {"tag:astrobot:request-id"}, "Filter.3.Value.1": {"PEER-0007"},
			}, 0)
			creates := fake.Calls("CreateVpcPeeringConnection")
			if !tt.create {
				if len(creates) != 0 {
					t.Errorf("Create made a new connection although %s exists", tt.want.ID)
				}
				return
			}
			if len(creates) != 1 {
				t.Fatalf("got %d CreateVpcPeeringConnection calls, want 1", len(creates))
			}
			c := creates[0]
			if c.Region != fakeRegion {
				t.Errorf("CreateVpcPeeringConnection went to region %q, want the cluster's %q", c.Region, fakeRegion)
			}
			checkForm(t, c, map[string][]string{
				"VpcId": {fakeClusterVPC}, "PeerOwnerId": {"222222222222"}, "PeerRegion": {"us-west-2"}, "PeerVpcId": {fakePeerVPC},
				"TagSpecification.1.ResourceType": {"vpc-peering-connection"},
			}, 0)
			tags := make(map[string]string)
			for i := 1; c.Form[fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i)] != nil; i++ {
				tags[c.Form.Get(fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i))] = c.Form.Get(fmt.Sprintf("TagSpecification.1.Tag.%d.Value", i))
			}
			if diff := cmp.Diff(fakeTags("PEER-0007", "1"), tags); diff != "" {
				t.Errorf("tags sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescribeFake(t *testing.T) {
	failed := pcxItem{id: "pcx-00000000000000001", status: cloud.PeeringFailed, message: "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range",
		requesterVPC: fakeClusterVPC, accepter: fakePeerVPC}
	active := pcxItem{id: "pcx-00000000000000002", status: cloud.PeeringActive, message: "Active", requesterVPC: fakeClusterVPC, accepter: fakePeerVPC,
		accepterCIDRs: []string{"172.21.0.0/16", "172.20.0.0/16"}}
	other := pcxItem{id: "pcx-00000000000000003", status: cloud.PeeringActive, requesterVPC: fakeClusterVPC, accepter: fakePeerVPC}
	gone := "pcx-00000000000000004"

	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		if call.Form.Has("VpcPeeringConnectionId.1") { // by ID: AWS refuses the whole call for an ID it does not know
			for k, v := range call.Form {
				if strings.HasPrefix(k, "VpcPeeringConnectionId.") && v[0] == gone {
					fakeaws.WriteEC2Error(w, 400, "InvalidVpcPeeringConnectionID.NotFound", fmt.Sprintf("The vpcPeeringConnection ID '%s' does not exist", gone))
					return
				}
			}
		}
		fakeaws.WriteEC2(w, call.Action, pcxSet(failed, active, other)) // by filter: what it knows
	})
	var logs bytes.Buffer
	p := cloud.NewPeerings(fake.RetryConfig(1), cloud.PeeringOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})

	got, err := p.Describe(context.Background(), fakeAccount, fakeRegion, []string{active.id, gone, failed.id, active.id})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := map[string]cloud.Peering{
		failed.id: {ID: failed.id, Status: cloud.PeeringFailed, Message: failed.message},
		active.id: {ID: active.id, Status: cloud.PeeringActive, Message: "Active",
			AccepterCIDRs: []netip.Prefix{netip.MustParsePrefix("172.20.0.0/16"), netip.MustParsePrefix("172.21.0.0/16")}},
		gone: {ID: gone, Status: cloud.PeeringDeleted, Message: "AWS no longer knows this peering connection."},
	}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
	calls := fake.Calls("DescribeVpcPeeringConnections")
	if len(calls) != 2 {
		t.Fatalf("got %d DescribeVpcPeeringConnections calls, want 2 (by ID, then by filter after NotFound)", len(calls))
	}
	checkForm(t, calls[0], map[string][]string{
		"VpcPeeringConnectionId.1": {failed.id}, "VpcPeeringConnectionId.2": {active.id}, "VpcPeeringConnectionId.3": {gone},
		"VpcPeeringConnectionId.4": nil, "MaxResults": nil, "Filter.1.Name": nil,
	}, 0)
	checkForm(t, calls[1], map[string][]string{
		"Filter.1.Name": {"vpc-peering-connection-id"}, "Filter.1.Value.1": {failed.id}, "Filter.1.Value.2": {active.id},
		"Filter.1.Value.3": {gone}, "VpcPeeringConnectionId.1": nil,
	}, 0)
	if logs.Len() != 0 {
		t.Errorf("Describe logged although it succeeded:\n%s", logs.String())
	}

	wantExplain := "The peering connection pcx-00000000000000001 failed (overlapping CIDR, wrong account or wrong VPC ID): " +
		"check the account ID, region and VPC ID, and that the CIDRs do not overlap the Astro VPC. " +
		`AWS says: "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range".`
	if diff := cmp.Diff(wantExplain, cloud.Explain(got[failed.id])); diff != "" {
		t.Errorf("Explain of the failed connection (-want +got):\n%s", diff)
	}
}

func TestDescribeOneCallPer1000IDs(t *testing.T) {
	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		var items []pcxItem
		for i := 1; call.Form.Has(fmt.Sprintf("VpcPeeringConnectionId.%d", i)); i++ {
			items = append(items, pcxItem{id: call.Form.Get(fmt.Sprintf("VpcPeeringConnectionId.%d", i)), status: cloud.PeeringActive})
		}
		fakeaws.WriteEC2(w, call.Action, pcxSet(items...))
	})
	p := cloud.NewPeerings(fake.RetryConfig(1), cloud.PeeringOptions{})
	for _, tt := range []struct{ ids, calls int }{{0, 0}, {1, 1}, {1000, 1}, {1001, 2}} {
		before := len(fake.Calls("DescribeVpcPeeringConnections"))
		var ids []string
		for i := range tt.ids {
			ids = append(ids, fmt.Sprintf("pcx-%017x", i))
		}
		got, err := p.Describe(context.Background(), fakeAccount, fakeRegion, ids)
		if err != nil {
			t.Fatalf("Describe of %d IDs: %v", tt.ids, err)
		}
		if n := len(fake.Calls("DescribeVpcPeeringConnections")) - before; n != tt.calls {
			t.Errorf("Describe of %d IDs made %d calls, want %d", tt.ids, n, tt.calls)
		}
		if len(got) != tt.ids {
			t.Errorf("Describe of %d IDs returned %d", tt.ids, len(got))
		}
		for id, pc := range got {
			if pc.Status != cloud.PeeringActive {
				t.Errorf("Describe of %d IDs: %s is %q, want active", tt.ids, id, pc.Status)
				break
			}
		}
	}
}

func TestExplain(t *testing.T) {
	tests := []struct {
		p    cloud.Peering
		want []string
	}{
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringFailed}, []string{"pcx-1 failed", "overlapping CIDR, wrong account or wrong VPC ID", "check the account ID, region and VPC ID"}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringRejected, Message: "Rejected by 222222222222"}, []string{"pcx-1 was rejected in your AWS account", "ask support to retry"}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringExpired}, []string{"pcx-1 was not accepted within 7 days", "retry"}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringDeleted}, []string{"pcx-1 was deleted in AWS"}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringDeleting}, []string{"pcx-1 was deleted in AWS"}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringPending, ExpiresAt: time.Date(2026, 3, 8, 12, 30, 0, 0, time.FixedZone("CET", 3600))},
			[]string{"pcx-1 waits for you to accept it", "before 8 Mar 2026 11:30 UTC."}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringInitiating}, []string{"AWS is setting up the peering connection pcx-1."}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringProvisioning}, []string{"AWS is setting up the peering connection pcx-1."}},
		{cloud.Peering{ID: "pcx-1", Status: cloud.PeeringActive}, []string{"pcx-1 is active."}},
		{cloud.Peering{ID: "pcx-1", Status: "mystery", Message: "Something new"}, []string{`"mystery"`, `AWS says: "Something new"`}},
	}
	for _, tt := range tests {
		got := cloud.Explain(tt.p)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Explain(%+v) = %q, want it to contain %q", tt.p, got, w)
			}
		}
		if got[len(got)-1] != '.' {
			t.Errorf("Explain(%+v) = %q: not a sentence", tt.p, got)
		}
	}
}

func TestConfigureFake(t *testing.T) {
	const pcx, other = "pcx-000000000000000aa", "pcx-000000000000000bb"
	tests := []struct {
		name string
		// tables are the peering routes of the route tables, by table ID, as
		// the first DescribeRouteTables sees them.
		tables map[string]map[string]string
		// existing are the routes CreateRoute finds already there, and the
		// second DescribeRouteTables sees: table ID → CIDR → pcx ID.
		existing   map[string]map[string]string
		wantRoutes []string // table ID + " " + CIDR, in order
		wantErr    *astrobot.Error
	}{
		{
			name:       "two tables, nothing there",
			tables:     map[string]map[string]string{"rtb-2": nil, "rtb-1": nil},
			wantRoutes: []string{"rtb-1 172.20.0.0/16", "rtb-1 172.21.0.0/16", "rtb-2 172.20.0.0/16", "rtb-2 172.21.0.0/16"},
		},
		{
			name:       "some routes there already",
			tables:     map[string]map[string]string{"rtb-1": {"172.20.0.0/16": pcx}, "rtb-2": {"172.21.0.0/16": pcx}},
			wantRoutes: []string{"rtb-1 172.21.0.0/16", "rtb-2 172.20.0.0/16"},
		},
		{
			name:    "route to another peering",
			tables:  map[string]map[string]string{"rtb-1": nil, "rtb-2": {"172.21.0.0/16": other}},
			wantErr: &astrobot.Error{Code: astrobot.EConflict, Message: "Route table rtb-2 of cluster clx-9 (account 111111111111, eu-central-1) already sends 172.21.0.0/16 to pcx-000000000000000bb, not to the peering connection pcx-000000000000000aa: remove or change that route, then retry."},
			// nothing is added when one route is in the way
		},
		{
			name:       "RouteAlreadyExists to the same peering",
			tables:     map[string]map[string]string{"rtb-1": nil},
			existing:   map[string]map[string]string{"rtb-1": {"172.20.0.0/16": pcx}},
			wantRoutes: []string{"rtb-1 172.20.0.0/16", "rtb-1 172.21.0.0/16"},
		},
		{
			name:       "RouteAlreadyExists to another peering",
			tables:     map[string]map[string]string{"rtb-1": nil},
			existing:   map[string]map[string]string{"rtb-1": {"172.20.0.0/16": other}},
			wantErr:    &astrobot.Error{Code: astrobot.EConflict, Message: "Route table rtb-1 of cluster clx-9 (account 111111111111, eu-central-1) already sends 172.20.0.0/16 to pcx-000000000000000bb, not to the peering connection pcx-000000000000000aa: remove or change that route, then retry."},
			wantRoutes: []string{"rtb-1 172.20.0.0/16"},
		},
		{
			name:    "no route table",
			tables:  map[string]map[string]string{},
			wantErr: &astrobot.Error{Code: astrobot.EInternal, Message: "AWS lists no route table in VPC vpc-0aaaaaaaaaaaaaaaa of cluster clx-9 (account 111111111111, eu-central-1): check the cluster's VPC ID."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "DescribeRouteTables":
					tables := tt.tables
					if call.Form.Has("RouteTableId.1") {
						tables = map[string]map[string]string{call.Form.Get("RouteTableId.1"): tt.existing[call.Form.Get("RouteTableId.1")]}
					}
					var b strings.Builder
					for _, id := range slices.Sorted(maps.Keys(tables)) {
						b.WriteString(routeTableXML(id, tables[id]))
					}
					fakeaws.WriteEC2(w, call.Action, "<routeTableSet>"+b.String()+"</routeTableSet>")
				case "CreateRoute":
					if _, ok := tt.existing[call.Form.Get("RouteTableId")][call.Form.Get("DestinationCidrBlock")]; ok {
						fakeaws.WriteEC2Error(w, 400, "RouteAlreadyExists", "The route identified by "+call.Form.Get("DestinationCidrBlock")+" already exists.")
						return
					}
					fakeaws.WriteEC2(w, call.Action, "<return>true</return>")
				case "ModifyVpcPeeringConnectionOptions":
					fakeaws.WriteEC2(w, call.Action, "<requesterPeeringConnectionOptions><allowDnsResolutionFromRemoteVpc>true</allowDnsResolutionFromRemoteVpc></requesterPeeringConnectionOptions>")
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", "unexpected "+call.Action)
				}
			})
			p := cloud.NewPeerings(fake.RetryConfig(1), cloud.PeeringOptions{})
			r := fakeRequest()
			r.Resource = pcx
			err := p.Configure(context.Background(), fakeCluster(), r)

			var routes []string
			for _, c := range fake.Calls("CreateRoute") {
				if got := c.Form.Get("VpcPeeringConnectionId"); got != pcx {
					t.Errorf("CreateRoute to %q, want %q", got, pcx)
				}
				routes = append(routes, c.Form.Get("RouteTableId")+" "+c.Form.Get("DestinationCidrBlock"))
			}
			if diff := cmp.Diff(tt.wantRoutes, routes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("CreateRoute calls (-want +got):\n%s", diff)
			}
			describes := fake.Calls("DescribeRouteTables")
			if len(describes) == 0 || describes[0].Form.Get("Filter.1.Name") != "vpc-id" || describes[0].Form.Get("Filter.1.Value.1") != fakeClusterVPC {
				t.Errorf("the route tables were not looked up by the cluster's VPC ID: %v", describes)
			}
			modify := fake.Calls("ModifyVpcPeeringConnectionOptions")
			if tt.wantErr != nil {
				got, ok := errors.AsType[*astrobot.Error](err)
				if !ok {
					t.Fatalf("Configure = %v, want %v", err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.wantErr, got); diff != "" {
					t.Errorf("Configure error (-want +got):\n%s", diff)
				}
				if len(modify) != 0 {
					t.Errorf("Configure changed the peering options although the routes failed")
				}
				return
			}
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if len(modify) != 1 {
				t.Fatalf("got %d ModifyVpcPeeringConnectionOptions calls, want 1", len(modify))
			}
			form := maps.Clone(modify[0].Form)
			delete(form, "Version")
			want := url.Values{
				"Action":                 {"ModifyVpcPeeringConnectionOptions"},
				"VpcPeeringConnectionId": {pcx},
				"RequesterPeeringConnectionOptions.AllowDnsResolutionFromRemoteVpc": {"true"},
			}
			if diff := cmp.Diff(want, url.Values(form)); diff != "" {
				t.Errorf("ModifyVpcPeeringConnectionOptions parameters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigureWithoutPeering(t *testing.T) {
	fake := fakeaws.New(t, nil) // every call is refused
	err := cloud.NewPeerings(fake.RetryConfig(1), cloud.PeeringOptions{}).Configure(context.Background(), fakeCluster(), fakeRequest())
	if astrobot.ErrorCodeOf(err) != astrobot.EInvalid || !strings.Contains(astrobot.ErrorMessageOf(err), "PEER-0007 has no peering connection") {
		t.Errorf("Configure without a peering ID = %v, want an invalid error naming the request", err)
	}
	if fake.Count() != 0 {
		t.Errorf("Configure without a peering ID called AWS %d times", fake.Count())
	}
}

func TestDeleteFake(t *testing.T) {
	const pcx = "pcx-000000000000000aa"
	tests := []struct {
		name      string
		delete    func(w http.ResponseWriter) // the answer to DeleteVpcPeeringConnection
		status    cloud.PeeringState          // the status DescribeVpcPeeringConnections reports
		wantErr   string                      // in the message; "" for success
		describes int
	}{
		{name: "deleted", delete: func(w http.ResponseWriter) {
			fakeaws.WriteEC2(w, "DeleteVpcPeeringConnection", "<return>true</return>")
		}},
		{name: "gone", delete: func(w http.ResponseWriter) {
			fakeaws.WriteEC2Error(w, 400, "InvalidVpcPeeringConnectionID.NotFound", "The vpcPeeringConnection ID '"+pcx+"' does not exist")
		}},
		{name: "gone, moto's spelling", delete: func(w http.ResponseWriter) {
			fakeaws.WriteEC2Error(w, 400, "InvalidVpcPeeringConnectionId.NotFound", "VpcPeeringConnectionID "+pcx+" does not exist.")
		}},
		{
			name: "expired already",
			delete: func(w http.ResponseWriter) {
				fakeaws.WriteEC2Error(w, 400, "InvalidStateTransition", "Cannot delete a expired peering connection.")
			},
			status:    cloud.PeeringExpired,
			describes: 1,
		},
		{
			name:      "refused while active",
			delete:    func(w http.ResponseWriter) { fakeaws.WriteEC2Error(w, 400, "InvalidStateTransition", "Not now.") },
			status:    cloud.PeeringActive,
			describes: 1,
			wantErr:   "AWS refused to delete peering connections in account 111111111111, eu-central-1 (InvalidStateTransition): Not now.",
		},
		{
			name: "denied",
			delete: func(w http.ResponseWriter) {
				fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			wantErr: "astrobot may not delete peering connections in account 111111111111, eu-central-1 (UnauthorizedOperation): grant ec2:DeleteVpcPeeringConnection to the AWS identity astrobot uses there.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "DeleteVpcPeeringConnection":
					tt.delete(w)
				case "DescribeVpcPeeringConnections":
					fakeaws.WriteEC2(w, call.Action, pcxSet(pcxItem{id: pcx, status: tt.status}))
				}
			})
			var logs bytes.Buffer
			err := cloud.NewPeerings(fake.RetryConfig(1), cloud.PeeringOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).
				Delete(context.Background(), fakeCluster(), pcx)
			if tt.wantErr == "" && err != nil {
				t.Errorf("Delete: %v", err)
			}
			if tt.wantErr != "" && (astrobot.ErrorCodeOf(err) != astrobot.EInternal || astrobot.ErrorMessageOf(err) != tt.wantErr) {
				t.Errorf("Delete = %v, want the internal error %q", err, tt.wantErr)
			}
			deletes := fake.Calls("DeleteVpcPeeringConnection")
			if len(deletes) != 1 || deletes[0].Form.Get("VpcPeeringConnectionId") != pcx || deletes[0].Region != fakeRegion {
				t.Errorf("DeleteVpcPeeringConnection calls = %+v, want one for %s in %s", deletes, pcx, fakeRegion)
			}
			if n := len(fake.Calls("DescribeVpcPeeringConnections")); n != tt.describes {
				t.Errorf("got %d DescribeVpcPeeringConnections calls, want %d", n, tt.describes)
			}
			failures := 0
			for _, e := range logEntries(t, &logs) {
				if e["level"] == "ERROR" || e["level"] == "WARN" {
					failures++
				}
			}
			want := 0
			if tt.wantErr != "" {
				want = 1
			}
			if failures != want {
				t.Errorf("got %d failure log entries, want %d:\n%s", failures, want, logs.String())
			}
		})
	}
}

func TestPeeringAWSErrors(t *testing.T) {
	denied := func(w http.ResponseWriter, call fakeaws.Call) {
		fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
	}
	throttled := func(w http.ResponseWriter, call fakeaws.Call) {
		fakeaws.WriteEC2Error(w, 503, "RequestLimitExceeded", "Request limit exceeded.")
	}
	// emptyDescribe answers describe calls with nothing and fails the rest with fail.
	emptyDescribe := func(fail func(http.ResponseWriter, fakeaws.Call)) func(http.ResponseWriter, fakeaws.Call) {
		return func(w http.ResponseWriter, call fakeaws.Call) {
			switch call.Action {
			case "DescribeVpcPeeringConnections":
				fakeaws.WriteEC2(w, call.Action, "<vpcPeeringConnectionSet/>")
			case "DescribeRouteTables":
				fakeaws.WriteEC2(w, call.Action, "<routeTableSet>"+routeTableXML("rtb-1", nil)+"</routeTableSet>")
			case "CreateRoute":
				fakeaws.WriteEC2(w, call.Action, "<return>true</return>")
			default:
				fail(w, call)
			}
		}
	}
	create := func(p *cloud.Peerings) error {
		_, err := p.Create(context.Background(), fakeCluster(), fakeRequest(), 1)
		return err
	}
	configure := func(p *cloud.Peerings) error {
		r := fakeRequest()
		r.Resource = "pcx-000000000000000aa"
		return p.Configure(context.Background(), fakeCluster(), r)
	}
	describe := func(p *cloud.Peerings) error {
		_, err := p.Describe(context.Background(), fakeAccount, fakeRegion, []string{"pcx-000000000000000aa"})
		return err
	}
	tests := []struct {
		name           string
		handle         func(http.ResponseWriter, fakeaws.Call)
		do             func(*cloud.Peerings) error
		roles          map[string]string
		wantMsg        string
		wantPermission bool
		wantThrottle   bool
		wantLevel      string
		wantCode       string
		wantCalls      int
	}{
		{
			name: "create denied", handle: emptyDescribe(denied), do: create,
			wantMsg:        "astrobot may not create peering connections in account 111111111111, eu-central-1 (UnauthorizedOperation): grant ec2:CreateVpcPeeringConnection and ec2:CreateTags to the AWS identity astrobot uses there.",
			wantPermission: true, wantLevel: "ERROR", wantCode: "UnauthorizedOperation", wantCalls: 2,
		},
		{
			name: "describe denied", handle: denied, do: create,
			wantMsg:        "astrobot may not look up peering connections in account 111111111111, eu-central-1 (UnauthorizedOperation): grant ec2:DescribeVpcPeeringConnections to the AWS identity astrobot uses there.",
			wantPermission: true, wantLevel: "ERROR", wantCode: "UnauthorizedOperation", wantCalls: 1,
		},
		{
			name: "DNS option denied", handle: emptyDescribe(denied), do: configure,
			wantMsg:        "astrobot may not change peering connection options in account 111111111111, eu-central-1 (UnauthorizedOperation): grant ec2:ModifyVpcPeeringConnectionOptions to the AWS identity astrobot uses there.",
			wantPermission: true, wantLevel: "ERROR", wantCode: "UnauthorizedOperation", wantCalls: 4,
		},
		{
			name: "role denied",
			handle: func(w http.ResponseWriter, call fakeaws.Call) {
				w.Header().Set("Content-Type", "text/xml")
				w.WriteHeader(403)
				fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRole</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`)
			},
			do:             describe,
			roles:          map[string]string{fakeAccount: "arn:aws:iam::111111111111:role/astrobot"},
			wantMsg:        "astrobot may not assume the role arn:aws:iam::111111111111:role/astrobot to act in account 111111111111 (AccessDenied): let its credentials call sts:AssumeRole on that role, and let the role's trust policy admit them.",
			wantPermission: true, wantLevel: "ERROR", wantCode: "AccessDenied", wantCalls: 1,
		},
		{
			name: "throttled", handle: throttled, do: describe,
			wantMsg:      "AWS is throttling astrobot in account 111111111111, eu-central-1 (RequestLimitExceeded), so it could not look up peering connections; try again in a minute.",
			wantThrottle: true, wantLevel: "WARN", wantCode: "RequestLimitExceeded", wantCalls: 3,
		},
		{
			name: "other error", do: create,
			handle: emptyDescribe(func(w http.ResponseWriter, call fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 400, "InvalidVpcID.NotFound", "The vpc ID 'vpc-0bbbbbbbbbbbbbbbb' does not exist")
			}),
			wantMsg:   "AWS refused to create peering connections in account 111111111111, eu-central-1 (InvalidVpcID.NotFound): The vpc ID 'vpc-0bbbbbbbbbbbbbbbb' does not exist.",
			wantLevel: "ERROR", wantCode: "InvalidVpcID.NotFound", wantCalls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeaws.New(t, tt.handle)
			var logs bytes.Buffer
			p := cloud.NewPeerings(fake.RetryConfig(3), cloud.PeeringOptions{Roles: tt.roles, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			err := tt.do(p)
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
			entries := logEntries(t, &logs)
			if len(entries) != 1 {
				t.Fatalf("got %d log entries, want 1:\n%s", len(entries), logs.String())
			}
			for k, v := range map[string]any{"level": tt.wantLevel, "code": tt.wantCode, "account": fakeAccount, "region": fakeRegion} {
				if entries[0][k] != v {
					t.Errorf("log %s = %v, want %v (entry %v)", k, entries[0][k], v, entries[0])
				}
			}
			if n := fake.Count(); n != tt.wantCalls {
				t.Errorf("AWS got %d calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

func mustAstrobotError(t *testing.T, err error) *astrobot.Error {
	t.Helper()
	e, ok := errors.AsType[*astrobot.Error](err)
	if !ok {
		t.Fatalf("error %v holds no *astrobot.Error", err)
	}
	return e
}

func TestPeeringThrottleRetried(t *testing.T) {
	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		fakeaws.WriteEC2(w, call.Action, pcxSet(pcxItem{id: "pcx-000000000000000aa", status: cloud.PeeringPending}))
	})
	fake.Fail("*", fakeaws.Failure{Status: 503, Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Times: 2})
	p := cloud.NewPeerings(fake.RetryConfig(3), cloud.PeeringOptions{})
	got, err := p.Describe(context.Background(), fakeAccount, fakeRegion, []string{"pcx-000000000000000aa"})
	if err != nil {
		t.Fatalf("Describe after two throttles: %v", err)
	}
	if got["pcx-000000000000000aa"].Status != cloud.PeeringPending {
		t.Errorf("Describe = %+v, want the pending connection", got)
	}
	if n := len(fake.Calls("DescribeVpcPeeringConnections")); n != 3 {
		t.Errorf("got %d calls, want 3 (two throttled, one answered)", n)
	}
}
