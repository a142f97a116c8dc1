package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/astrobot-dev/astrobot"
	"go.yaml.in/yaml/v3"
)

// File is the content of a cluster file: the organizations and the clusters
// they own. See examples/clusters.yaml for its shape.
type File struct {
	Organizations []astrobot.Organization
	Clusters      []astrobot.Cluster
}

// fileRecord, orgRecord and clusterRecord are the YAML shape of a cluster file.
// Every scalar is a string so that validation, not decoding, reports bad values.
type fileRecord struct {
	Organizations []orgRecord     `yaml:"organizations"`
	Clusters      []clusterRecord `yaml:"clusters"`
}

type orgRecord struct {
	ID            string   `yaml:"id"`
	Name          string   `yaml:"name"`
	SlackTeams    []string `yaml:"slack_teams"`
	SlackChannels []string `yaml:"slack_channels"`
}

type clusterRecord struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	Organization string   `yaml:"organization"`
	Region       string   `yaml:"region"`
	AccountID    string   `yaml:"account_id"`
	VPCID        string   `yaml:"vpc_id"`
	CIDRs        []string `yaml:"cidrs"`
	ExternalIPs  []string `yaml:"external_ips"`
}

// LoadFile reads and parses the cluster file at path. Its errors name the path.
func LoadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("load cluster file: %w", err)
	}
	f, err := ParseFile(data)
	if err != nil {
		return File{}, fmt.Errorf("load cluster file %s: %w", path, err)
	}
	return f, nil
}

// ParseFile decodes and checks a cluster file. It reports every problem it
// finds, joined with errors.Join, each naming the organization or cluster and
// the field at fault. A file may list organizations and no clusters: another
// directory then supplies the clusters.
func ParseFile(data []byte) (File, error) {
	var rec fileRecord
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rec); err != nil {
		if errors.Is(err, io.EOF) {
			return File{}, errors.New("the cluster file is empty: list organizations and clusters as in examples/clusters.yaml")
		}
		return File{}, decodeError(err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return File{}, errors.New("the cluster file holds more than one YAML document: keep everything in one")
	}
	var errs []error
	orgs := parseOrganizations(rec.Organizations, &errs)
	clusters := parseClusters(rec.Clusters, orgs, &errs)
	if len(errs) > 0 {
		return File{}, errors.Join(errs...)
	}
	return File{Organizations: orgs, Clusters: clusters}, nil
}

// decodeError rewrites the YAML decoder's mentions of private Go types into the
// names an operator sees in the file.
func decodeError(err error) error {
	r := strings.NewReplacer(
		"cloud.fileRecord", "the cluster file",
		"cloud.orgRecord", "an organization",
		"cloud.clusterRecord", "a cluster",
	)
	return errors.New(r.Replace(err.Error()))
}

func parseOrganizations(recs []orgRecord, errs *[]error) []astrobot.Organization {
	orgs := make([]astrobot.Organization, 0, len(recs))
	seen := make(map[string]bool, len(recs))
	for i, r := range recs {
		label := fmt.Sprintf("organizations[%d]", i)
		if r.ID != "" {
			label = fmt.Sprintf("organization %q", r.ID)
		}
		fail := func(field, format string, args ...any) {
			*errs = append(*errs, fmt.Errorf("%s: %s: %s", label, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case r.ID == "":
			fail("id", "required: give every organization a short unique ID such as acme")
		case seen[r.ID]:
			fail("id", "listed twice: merge the two entries")
		}
		seen[r.ID] = true
		checkSlackIDs(r.SlackTeams, "slack_teams", "T0001", "TE", fail)
		checkSlackIDs(r.SlackChannels, "slack_channels", "C0001", "CG", fail)
		name := r.Name
		if name == "" {
			name = r.ID
		}
		orgs = append(orgs, astrobot.Organization{
			ID:            r.ID,
			Name:          name,
			SlackTeams:    slices.Clone(r.SlackTeams),
			SlackChannels: slices.Clone(r.SlackChannels),
		})
	}
	return orgs
}

// checkSlackIDs checks Slack team or channel IDs: an uppercase letter from
// prefixes followed by uppercase letters and digits, each listed once.
func checkSlackIDs(ids []string, field, example, prefixes string, fail func(field, format string, args ...any)) {
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case len(id) < 2 || !strings.ContainsRune(prefixes, rune(id[0])) || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "":
			fail(f, "%q is not a Slack ID: copy it from Slack, it looks like %s", id, example)
		case slices.Contains(ids[:i], id):
			fail(f, "%q is listed twice", id)
		}
	}
}

func parseClusters(recs []clusterRecord, orgs []astrobot.Organization, errs *[]error) []astrobot.Cluster {
	clusters := make([]astrobot.Cluster, 0, len(recs))
	ids := make(map[string]bool, len(recs))
	names := make(map[string]bool, len(recs))
	for i, r := range recs {
		label := fmt.Sprintf("clusters[%d]", i)
		if r.ID != "" {
			label = fmt.Sprintf("cluster %q", r.ID)
		}
		if r.Name != "" {
			label += fmt.Sprintf(" (%s)", r.Name)
		}
		fail := func(field, format string, args ...any) {
			*errs = append(*errs, fmt.Errorf("%s: %s: %s", label, field, fmt.Sprintf(format, args...)))
		}
		required := func(field, value, example string) bool {
			if value == "" {
				fail(field, "required: add it, like %s", example)
				return false
			}
			return true
		}
		validate := func(field, value, example string, check func(string) error) {
			if required(field, value, example) {
				if err := check(value); err != nil {
					fail(field, "%s", astrobot.ErrorMessageOf(err))
				}
			}
		}

		if required("id", r.ID, "id: clx123abc") {
			if ids[r.ID] {
				fail("id", "another cluster has the same ID: cluster IDs must be unique")
			}
			ids[r.ID] = true
		}
		if required("name", r.Name, "name: acme-prod") {
			if names[r.Name] {
				fail("name", "another cluster has the same name: cluster names must be unique")
			}
			names[r.Name] = true
		}
		if required("organization", r.Organization, "organization: acme") &&
			!slices.ContainsFunc(orgs, func(o astrobot.Organization) bool { return o.ID == r.Organization }) {
			fail("organization", "%q is not listed under organizations: add it there or fix the ID", r.Organization)
		}
		validate("region", r.Region, "region: us-east-1", astrobot.ValidateRegion)
		validate("account_id", r.AccountID, `account_id: "111111111111"`, astrobot.ValidateAccountID)
		validate("vpc_id", r.VPCID, "vpc_id: vpc-0abc12345678def90", astrobot.ValidateVPCID)

		c := astrobot.Cluster{
			ID:           r.ID,
			Name:         r.Name,
			Organization: r.Organization,
			Region:       r.Region,
			AccountID:    r.AccountID,
			VPCID:        r.VPCID,
			CIDRs:        parsePrefixes(r.CIDRs, fail),
			ExternalIPs:  parseAddrs(r.ExternalIPs, fail),
		}
		clusters = append(clusters, c)
	}
	return clusters
}

func parsePrefixes(ss []string, fail func(field, format string, args ...any)) []netip.Prefix {
	if len(ss) == 0 {
		fail("cidrs", "required: list the CIDR blocks of the cluster VPC, like [10.10.0.0/16]")
		return nil
	}
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		field := fmt.Sprintf("cidrs[%d]", i)
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			fail(field, "%q is not a CIDR block: write it like 10.10.0.0/16", s)
			continue
		case p.Masked() != p:
			fail(field, "%s has host bits set: did you mean %s?", p, p.Masked())
			continue
		}
		if j := slices.IndexFunc(out, p.Overlaps); j >= 0 {
			fail(field, "%s overlaps %s: a VPC's blocks never overlap, list each once", p, out[j])
			continue
		}
		out = append(out, p)
	}
	return out
}

func parseAddrs(ss []string, fail func(field, format string, args ...any)) []netip.Addr {
	if len(ss) == 0 {
		fail("external_ips", "required: list the public IPs of the cluster's NAT gateways, like [203.0.113.10]")
		return nil
	}
	out := make([]netip.Addr, 0, len(ss))
	for i, s := range ss {
		field := fmt.Sprintf("external_ips[%d]", i)
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil || a.Zone() != "":
			fail(field, "%q is not an IP address: write it like 203.0.113.10", s)
		case slices.Contains(out, a):
			fail(field, "%s is listed twice", a)
		default:
			out = append(out, a)
		}
	}
	return out
}

// Static is a cluster directory with a fixed set of clusters, usually those of
// a cluster file.
type Static struct {
	clusters []astrobot.Cluster
}

// NewStatic returns a directory of a copy of clusters.
func NewStatic(clusters []astrobot.Cluster) *Static {
	return &Static{clusters: cloneClusters(clusters)}
}

// Clusters returns the directory's clusters, in the order given to
// NewStatic. The slice is shared by every caller: read it, do not modify it.
func (s *Static) Clusters(ctx context.Context) ([]astrobot.Cluster, error) {
	return s.clusters, nil
}

// Cluster returns the directory's cluster with the given ID, or an ENotFound
// error.
func (s *Static) Cluster(ctx context.Context, id string) (astrobot.Cluster, error) {
	return clusterByID(s.clusters, id)
}

// clusterByID returns the cluster of cs with the given ID, or an ENotFound
// error. Its slices are shared with cs: read them, do not modify them.
func clusterByID(cs []astrobot.Cluster, id string) (astrobot.Cluster, error) {
	for _, c := range cs {
		if c.ID == id {
			return c, nil
		}
	}
	return astrobot.Cluster{}, astrobot.Errorf(astrobot.ENotFound, "Cluster %s is not in the cluster directory.", astrobot.Quote(id))
}

// cloneClusters returns a deep copy of cs: the copy shares no slice with cs.
func cloneClusters(cs []astrobot.Cluster) []astrobot.Cluster {
	if cs == nil {
		return nil
	}
	out := make([]astrobot.Cluster, len(cs))
	for i, c := range cs {
		c.CIDRs = slices.Clone(c.CIDRs)
		c.ExternalIPs = slices.Clone(c.ExternalIPs)
		out[i] = c
	}
	return out
}
