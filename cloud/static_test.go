package cloud_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/google/go-cmp/cmp"
)

const orgsYAML = `
organizations:
  - id: acme
    name: Acme Corp
    slack_teams: [T0001]
    slack_channels: [C0001]
`

// clusterYAML is one valid cluster entry; cases replace parts of it.
const clusterYAML = `
  - id: clx123abc
    name: acme-prod
    organization: acme
    region: us-east-1
    account_id: "111111111111"
    vpc_id: vpc-0abc12345678def90
    cidrs: [10.10.0.0/16]
    external_ips: [203.0.113.10, 203.0.113.11]
`

func acmeProd() astrobot.Cluster {
	return astrobot.Cluster{
		ID:           "clx123abc",
		Name:         "acme-prod",
		Organization: "acme",
		Region:       "us-east-1",
		AccountID:    "111111111111",
		VPCID:        "vpc-0abc12345678def90",
		CIDRs:        []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")},
		ExternalIPs:  []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")},
	}
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want cloud.File
	}{
		{
			name: "one cluster",
			yaml: orgsYAML + "clusters:" + clusterYAML,
			want: cloud.File{
				Organizations: []astrobot.Organization{{ID: "acme", Name: "Acme Corp", SlackTeams: []string{"T0001"}, SlackChannels: []string{"C0001"}}},
				Clusters:      []astrobot.Cluster{acmeProd()},
			},
		},
		{
			name: "organizations only",
			yaml: orgsYAML,
			want: cloud.File{
				Organizations: []astrobot.Organization{{ID: "acme", Name: "Acme Corp", SlackTeams: []string{"T0001"}, SlackChannels: []string{"C0001"}}},
				Clusters:      []astrobot.Cluster{},
			},
		},
		{
			name: "organization name defaults to its ID, unquoted account ID with a leading zero stays as written",
			yaml: "organizations:\n  - id: initech\nclusters:" + strings.NewReplacer(
				"organization: acme", "organization: initech",
				`account_id: "111111111111"`, "account_id: 011111111111",
			).Replace(clusterYAML),
			want: cloud.File{
				Organizations: []astrobot.Organization{{ID: "initech", Name: "initech"}},
				Clusters: []astrobot.Cluster{func() astrobot.Cluster {
					c := acmeProd()
					c.Organization = "initech"
					c.AccountID = "011111111111"
					return c
				}()},
			},
		},
		{
			name: "public and IPv6 CIDRs are fine for a cluster",
			yaml: orgsYAML + "clusters:" + strings.Replace(clusterYAML, "cidrs: [10.10.0.0/16]", "cidrs: [198.51.100.0/24, 2001:db8::/56]", 1),
			want: cloud.File{
				Organizations: []astrobot.Organization{{ID: "acme", Name: "Acme Corp", SlackTeams: []string{"T0001"}, SlackChannels: []string{"C0001"}}},
				Clusters: []astrobot.Cluster{func() astrobot.Cluster {
					c := acmeProd()
					c.CIDRs = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/56")}
					return c
				}()},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cloud.ParseFile([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseFile (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(clusterYAML, old) {
			panic("clusterYAML lacks " + old)
		}
		return orgsYAML + "clusters:" + strings.Replace(clusterYAML, old, new, 1)
	}
	tests := []struct {
		name string
		yaml string
		want []string // every line of the joined error, in order
	}{
		{
			name: "empty file",
			yaml: "",
			want: []string{"the cluster file is empty: list organizations and clusters as in examples/clusters.yaml"},
		},
		{
			name: "two documents",
			yaml: orgsYAML + "---\n" + orgsYAML,
			want: []string{"the cluster file holds more than one YAML document: keep everything in one"},
		},
		{
			name: "not YAML",
			yaml: "organizations: [",
			want: []string{"yaml: line 1: did not find expected node content"},
		},
		{
			name: "unknown cluster field",
			yaml: replace("region: us-east-1", "region: us-east-1\n    zone: a"),
			want: []string{"yaml: unmarshal errors:", "  line 12: field zone not found in type a cluster"},
		},
		{
			name: "unknown top-level field",
			yaml: orgsYAML + "clustres: []\n",
			want: []string{"yaml: unmarshal errors:", "  line 7: field clustres not found in type the cluster file"},
		},
		{
			name: "organization ID missing",
			yaml: "organizations:\n  - name: Acme\n",
			want: []string{"organizations[0]: id: required: give every organization a short unique ID such as acme"},
		},
		{
			name: "organization listed twice",
			yaml: "organizations:\n  - id: acme\n  - id: acme\n",
			want: []string{`organization "acme": id: listed twice: merge the two entries`},
		},
		{
			name: "bad Slack IDs",
			yaml: "organizations:\n  - id: acme\n    slack_teams: [T0001, t0002, T0001]\n    slack_channels: [C0001, X0001, \"\"]\n",
			want: []string{
				`organization "acme": slack_teams[1]: "t0002" is not a Slack ID: copy it from Slack, it looks like T0001`,
				`organization "acme": slack_teams[2]: "T0001" is listed twice`,
				`organization "acme": slack_channels[1]: "X0001" is not a Slack ID: copy it from Slack, it looks like C0001`,
				`organization "acme": slack_channels[2]: "" is not a Slack ID: copy it from Slack, it looks like C0001`,
			},
		},
		{
			name: "cluster ID missing",
			yaml: replace("id: clx123abc", "id: \"\""),
			want: []string{"clusters[0] (acme-prod): id: required: add it, like id: clx123abc"},
		},
		{
			name: "every required field missing",
			yaml: orgsYAML + "clusters:\n  - {}\n",
			want: []string{
				"clusters[0]: id: required: add it, like id: clx123abc",
				"clusters[0]: name: required: add it, like name: acme-prod",
				"clusters[0]: organization: required: add it, like organization: acme",
				"clusters[0]: region: required: add it, like region: us-east-1",
				`clusters[0]: account_id: required: add it, like account_id: "111111111111"`,
				"clusters[0]: vpc_id: required: add it, like vpc_id: vpc-0abc12345678def90",
				"clusters[0]: cidrs: required: list the CIDR blocks of the cluster VPC, like [10.10.0.0/16]",
				"clusters[0]: external_ips: required: list the public IPs of the cluster's NAT gateways, like [203.0.113.10]",
			},
		},
		{
			name: "duplicate cluster ID and name",
			yaml: orgsYAML + "clusters:" + clusterYAML + clusterYAML,
			want: []string{
				`cluster "clx123abc" (acme-prod): id: another cluster has the same ID: cluster IDs must be unique`,
				`cluster "clx123abc" (acme-prod): name: another cluster has the same name: cluster names must be unique`,
			},
		},
		{
			name: "unknown organization",
			yaml: replace("organization: acme", "organization: acme-corp"),
			want: []string{`cluster "clx123abc" (acme-prod): organization: "acme-corp" is not listed under organizations: add it there or fix the ID`},
		},
		{
			name: "bad region",
			yaml: replace("region: us-east-1", "region: us-east-9"),
			want: []string{`cluster "clx123abc" (acme-prod): region: "us-east-9" is not an AWS region: use a region code such as us-east-1.`},
		},
		{
			name: "bad account ID",
			yaml: replace(`account_id: "111111111111"`, "account_id: 1111-1111-1111"),
			want: []string{`cluster "clx123abc" (acme-prod): account_id: An AWS account ID is exactly 12 digits, like 123456789012; got "1111-1111-1111".`},
		},
		{
			name: "bad VPC ID",
			yaml: replace("vpc_id: vpc-0abc12345678def90", "vpc_id: vpc-0ABC"),
			want: []string{`cluster "clx123abc" (acme-prod): vpc_id: A VPC ID is vpc- followed by 8 or 17 hex digits, like vpc-0abc12345678def90; got "vpc-0ABC".`},
		},
		{
			name: "bad CIDRs",
			yaml: replace("cidrs: [10.10.0.0/16]", "cidrs: [10.10.0.0/16, 10.20.0.1/16, 10.10.4.0/24, 10.30.0.0]"),
			want: []string{
				`cluster "clx123abc" (acme-prod): cidrs[1]: 10.20.0.1/16 has host bits set: did you mean 10.20.0.0/16?`,
				`cluster "clx123abc" (acme-prod): cidrs[2]: 10.10.4.0/24 overlaps 10.10.0.0/16: a VPC's blocks never overlap, list each once`,
				`cluster "clx123abc" (acme-prod): cidrs[3]: "10.30.0.0" is not a CIDR block: write it like 10.10.0.0/16`,
			},
		},
		{
			name: "no CIDRs",
			yaml: replace("cidrs: [10.10.0.0/16]", "cidrs: []"),
			want: []string{`cluster "clx123abc" (acme-prod): cidrs: required: list the CIDR blocks of the cluster VPC, like [10.10.0.0/16]`},
		},
		{
			name: "bad external IPs",
			yaml: replace("external_ips: [203.0.113.10, 203.0.113.11]", "external_ips: [203.0.113.10, 203.0.113.x, 203.0.113.10, \"fe80::1%eth0\"]"),
			want: []string{
				`cluster "clx123abc" (acme-prod): external_ips[1]: "203.0.113.x" is not an IP address: write it like 203.0.113.10`,
				`cluster "clx123abc" (acme-prod): external_ips[2]: 203.0.113.10 is listed twice`,
				`cluster "clx123abc" (acme-prod): external_ips[3]: "fe80::1%eth0" is not an IP address: write it like 203.0.113.10`,
			},
		},
		{
			name: "no external IPs",
			yaml: replace("external_ips: [203.0.113.10, 203.0.113.11]", "external_ips: []"),
			want: []string{`cluster "clx123abc" (acme-prod): external_ips: required: list the public IPs of the cluster's NAT gateways, like [203.0.113.10]`},
		},
		{
			name: "problems in several entries are all reported",
			yaml: "organizations:\n  - id: acme\n  - id: acme\nclusters:" +
				strings.Replace(clusterYAML, "region: us-east-1", "region: mars-1", 1) +
				strings.NewReplacer("id: clx123abc", "id: clx2", "name: acme-prod", "name: acme-dev", "vpc_id: vpc-0abc12345678def90", "vpc_id: vpc-1").Replace(clusterYAML),
			want: []string{
				`organization "acme": id: listed twice: merge the two entries`,
				`cluster "clx123abc" (acme-prod): region: "mars-1" is not an AWS region: use a region code such as us-east-1.`,
				`cluster "clx2" (acme-dev): vpc_id: A VPC ID is vpc- followed by 8 or 17 hex digits, like vpc-0abc12345678def90; got "vpc-1".`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := cloud.ParseFile([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("ParseFile accepted the file and returned %+v", f)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFileExample(t *testing.T) {
	f, err := cloud.LoadFile(filepath.Join("..", "examples", "clusters.yaml"))
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	var orgs []string
	for _, o := range f.Organizations {
		orgs = append(orgs, o.ID+" "+strings.Join(o.SlackTeams, ",")+" "+strings.Join(o.SlackChannels, ","))
	}
	if diff := cmp.Diff([]string{"acme T0001 C0001", "globex T0002 "}, orgs); diff != "" {
		t.Errorf("organizations (-want +got):\n%s", diff)
	}
	if len(f.Clusters) != 3 {
		t.Fatalf("got %d clusters, want 3", len(f.Clusters))
	}
	if diff := cmp.Diff(acmeProd(), f.Clusters[0], cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("first cluster (-want +got):\n%s", diff)
	}
	tenancy := astrobot.NewTenancy(f.Organizations)
	visible := tenancy.Visible(astrobot.Caller{TeamID: "T0002"}, f.Clusters)
	if len(visible) != 1 || visible[0].Organization != "globex" {
		t.Errorf("team T0002 sees %+v, want only the globex cluster", visible)
	}
}

func TestLoadFileErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("organizations:\n  - name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	for _, path := range []string{bad, missing} {
		_, err := cloud.LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("LoadFile(%s) = %v, want an error naming the path", path, err)
		}
	}
}

func TestStaticKeepsItsOwnCopy(t *testing.T) {
	in := []astrobot.Cluster{acmeProd()}
	s := cloud.NewStatic(in)
	in[0].Name = "changed by the caller after NewStatic"
	in[0].ExternalIPs[0] = netip.MustParseAddr("192.0.2.1")

	got, err := s.Clusters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]astrobot.Cluster{acmeProd()}, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Clusters after the caller changed what it gave NewStatic (-want +got):\n%s", diff)
	}
	again, _ := s.Clusters(context.Background())
	if &again[0] != &got[0] {
		t.Error("Clusters copied the set; lookups should share it")
	}
}
