package cloud

import (
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Clients makes the AWS clients astrobot acts with in one account and region:
// with the credentials of the SDK configuration it is given, or, for an
// account that has a role, with that role's credentials (assumed through STS,
// cached and refreshed before they expire). It is safe for concurrent use.
type Clients struct {
	cfg   aws.Config
	roles map[string]string

	mu    sync.Mutex
	creds map[string]aws.CredentialsProvider // by account
	ec2   map[clientKey]*ec2.Client
}

type clientKey struct{ account, region string }

// NewClients returns Clients acting with cfg, built by the caller (usually
// with config.LoadDefaultConfig, which honours AWS_ENDPOINT_URL), and with
// the role of roles[account] in each account listed there.
func NewClients(cfg aws.Config, roles map[string]string) *Clients {
	return &Clients{cfg: cfg, roles: maps.Clone(roles), creds: map[string]aws.CredentialsProvider{},
		ec2: map[clientKey]*ec2.Client{}}
}

// Role returns the role astrobot assumes in account, or "" when it uses the
// configuration's own credentials there.
func (c *Clients) Role(account string) string { return c.roles[account] }

// Config returns the SDK configuration that acts in account and region.
func (c *Clients) Config(account, region string) aws.Config {
	cfg := c.cfg.Copy()
	cfg.Region = region
	cfg.Credentials = c.credentials(account, region)
	return cfg
}

// EC2 returns the EC2 client that acts in account and region.
func (c *Clients) EC2(account, region string) *ec2.Client {
	key := clientKey{account, region}
	c.mu.Lock()
	client, ok := c.ec2[key]
	c.mu.Unlock()
	if ok {
		return client
	}
	client = ec2.NewFromConfig(c.Config(account, region))
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.ec2[key]; ok {
		return prev
	}
	c.ec2[key] = client
	return client
}

// target returns the EC2 client that acts in account and region, with them.
func (c *Clients) target(account, region string) target {
	return target{account: account, region: region, client: c.EC2(account, region)}
}

// credentials returns the credentials for account: the role's, or the
// configuration's own. region is where STS is asked, the first time.
func (c *Clients) credentials(account, region string) aws.CredentialsProvider {
	role, ok := c.roles[account]
	if !ok {
		return c.cfg.Credentials
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.creds[account]; ok {
		return p
	}
	stsClient := sts.NewFromConfig(c.cfg, func(o *sts.Options) {
		if o.Region == "" {
			o.Region = region
		}
	})
	p := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "astrobot"
	}))
	c.creds[account] = p
	return p
}
