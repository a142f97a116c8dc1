package astrobot

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// Organization is a customer of Astro. The Slack teams and channels listed act
// for it: a user of one of those teams, or anyone running a command in one of
// those channels, sees the organization's clusters.
type Organization struct {
	ID            string
	Name          string
	SlackTeams    []string
	SlackChannels []string
}

// Cluster is one Astro cluster: its own VPC in the provider's AWS account.
type Cluster struct {
	ID           string
	Name         string
	Organization string
	Region       string
	AccountID    string
	VPCID        string
	CIDRs        []netip.Prefix
	ExternalIPs  []netip.Addr
}

// Caller is the Slack user behind a command or an action, and where they ran it.
type Caller struct {
	UserID    string
	TeamID    string
	ChannelID string
	Support   bool // a member of the support team sees every cluster and request
}

// Tenancy maps Slack teams and channels to the organizations they act for.
// The zero value admits nobody but support.
type Tenancy struct {
	orgs      map[string]Organization
	byTeam    map[string][]string
	byChannel map[string][]string
}

// NewTenancy indexes orgs by their Slack teams and channels.
func NewTenancy(orgs []Organization) Tenancy {
	t := Tenancy{
		orgs:      make(map[string]Organization, len(orgs)),
		byTeam:    make(map[string][]string),
		byChannel: make(map[string][]string),
	}
	for _, o := range orgs {
		t.orgs[o.ID] = o
		for _, team := range o.SlackTeams {
			t.byTeam[team] = append(t.byTeam[team], o.ID)
		}
		for _, ch := range o.SlackChannels {
			t.byChannel[ch] = append(t.byChannel[ch], o.ID)
		}
	}
	return t
}

// Organization returns the organization with the given ID.
func (t Tenancy) Organization(id string) (Organization, bool) {
	o, ok := t.orgs[id]
	return o, ok
}

// Acts reports whether c acts for the organization orgID.
func (t Tenancy) Acts(c Caller, orgID string) bool {
	if c.Support {
		return true
	}
	return slices.Contains(t.byTeam[c.TeamID], orgID) || slices.Contains(t.byChannel[c.ChannelID], orgID)
}

// Visible returns the clusters c may see, sorted by name.
func (t Tenancy) Visible(c Caller, clusters []Cluster) []Cluster {
	var out []Cluster
	for _, cl := range clusters {
		if t.Acts(c, cl.Organization) {
			out = append(out, cl)
		}
	}
	slices.SortFunc(out, func(a, b Cluster) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// FindCluster returns the cluster among clusters whose ID or name equals ref
// (case-insensitively) and that c may see. A cluster that exists but is not
// visible is reported exactly like one that does not exist.
func (t Tenancy) FindCluster(c Caller, clusters []Cluster, ref string) (Cluster, error) {
	ref = strings.TrimSpace(ref)
	for _, cl := range clusters {
		if (strings.EqualFold(cl.ID, ref) || strings.EqualFold(cl.Name, ref)) && t.Acts(c, cl.Organization) {
			return cl, nil
		}
	}
	return Cluster{}, Errorf(ENotFound, "No cluster %s is visible to you.", Quote(ref))
}
