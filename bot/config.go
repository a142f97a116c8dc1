package bot

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
)

// Mode is how astrobot talks to Slack.
type Mode string

// Modes.
const (
	ModeSocket Mode = "socket" // Socket Mode: outbound websocket, no public URL
	ModeHTTP   Mode = "http"   // Slack posts to ASTROBOT_HTTP_ADDR/slack/events
)

// Config is astrobot's configuration, read from the environment by LoadConfig.
type Config struct {
	Mode           Mode
	BotToken       string
	AppToken       string
	SigningSecret  string
	APIURL         string
	HTTPAddr       string
	OpsAddr        string
	AdminAddr      string
	DBPath         string
	SupportChannel string
	SupportUsers   []string
	SupportGroup   string
	LogLevel       slog.Level
	LogFormat      string
	Modes          map[astrobot.Kind]astrobot.Mode // how each kind's Astro side is done
	WatchInterval  time.Duration                   // aws mode: how often the requests the bot follows are read in AWS
	SlackBurst     int                             // messages posted at once in one conversation…
	SlackEvery     time.Duration                   // …then one every SlackEvery
	SLAs           astrobot.SLAs                   // reminder thresholds
	DirectoryConfig
}

// DirectoryConfig says where clusters come from.
type DirectoryConfig struct {
	ClustersPath string            // the clusters file: organizations, and clusters for the static directory
	File         cloud.File        // its contents, read and checked
	Directory    string            // "static" or "aws"
	AWSRegions   []string          // regions to discover clusters in
	AWSRoles     map[string]string // account ID → role ARN for clusters in other accounts
	ClusterTag   string
	OrgTag       string
	ClusterTTL   time.Duration
}

// Setting documents one environment variable.
type Setting struct {
	Name, Default, Help string
}

// Settings lists every environment variable astrobot reads, with its default:
// the fixed ones, then one per kind of request, ModeSetting, after
// ASTROBOT_LOG_FORMAT.
func Settings() []Setting {
	var kinds []Setting
	for _, d := range astrobot.Kinds() {
		kinds = append(kinds, Setting{ModeSetting(d), string(astrobot.ModeManual), d.Title() +
			": manual: support does the Astro side and records each step with the card's buttons (needs no AWS access); aws: the bot does it in AWS"})
	}
	fixed := fixedSettings()
	i := 1 + slices.IndexFunc(fixed, func(s Setting) bool { return s.Name == "ASTROBOT_LOG_FORMAT" })
	return append(fixed[:i:i], append(kinds, fixed[i:]...)...)
}

// ModeSetting is the environment variable that sets the mode of kind d:
// ASTROBOT_PEERING.
func ModeSetting(d astrobot.KindDef) string { return "ASTROBOT_" + strings.ToUpper(d.Slug()) }

func fixedSettings() []Setting {
	return []Setting{
		{"SLACK_BOT_TOKEN", "", "required: the bot token, xoxb-…"},
		{"SLACK_APP_TOKEN", "", "app-level token, xapp-… with connections:write: selects Socket Mode"},
		{"SLACK_SIGNING_SECRET", "", "signing secret: selects HTTP mode when there is no app token"},
		{"SLACK_API_URL", "https://slack.com/api/", "Slack Web API base URL (tests, proxies)"},
		{"ASTROBOT_SLACK_PACE", "3/1s", "the pace of messages in one conversation, burst/interval: Slack takes about one a second with short bursts; a faster pace only draws 429s from Slack (tests and Slack-compatible servers may allow more)"},
		{"ASTROBOT_HTTP_ADDR", ":3000", "HTTP mode: listen address of POST /slack/events"},
		{"ASTROBOT_OPS_ADDR", "127.0.0.1:9090", "listen address of /healthz, /readyz and /metrics"},
		{"ASTROBOT_ADMIN_ADDR", "127.0.0.1:9091", "loopback-only admin endpoint the admin commands use while the bot runs"},
		{"ASTROBOT_DB", "./data/astrobot.db", "bbolt database file (its directory is created)"},
		{"ASTROBOT_CLUSTERS", "./clusters.yaml", "clusters file: organizations, their Slack teams/channels, and clusters"},
		{"ASTROBOT_SUPPORT_CHANNEL", "", "required: channel ID (C…) where support cards are posted"},
		{"ASTROBOT_SUPPORT_USERS", "", "comma-separated Slack user IDs of support (this and/or the group)"},
		{"ASTROBOT_SUPPORT_GROUP", "", "Slack user group ID (S…) whose members are support"},
		{"ASTROBOT_LOG_LEVEL", "info", "debug, info, warn or error"},
		{"ASTROBOT_LOG_FORMAT", "json", "json or text"},
		{"ASTROBOT_WATCH_INTERVAL", "1m", "aws mode: how often the state in AWS of every request the bot follows is read"},
		{"ASTROBOT_SLA_UNCLAIMED", "4h", "a request unclaimed this long gets a nudge in its support thread (one per window)"},
		{"ASTROBOT_SLA_CUSTOMER", "48h", "a request waiting this long for the customer gets one DM to the requester (one per window); a pending peering the bot made is reminded 4, 2 and 1 days before AWS expires it"},
		{"ASTROBOT_DIRECTORY", "static", "where clusters come from: static (the clusters file) or aws (discovery by tag)"},
		{"ASTROBOT_AWS_REGIONS", "", "aws directory: comma-separated regions to discover clusters in (required with aws)"},
		{"ASTROBOT_AWS_ROLES", "", "account=roleARN,… roles to assume in the accounts of clusters (the aws directory, and every kind in aws mode)"},
		{"ASTROBOT_CLUSTER_TAG", "astro:cluster-id", "aws directory: VPC tag holding the cluster ID"},
		{"ASTROBOT_ORG_TAG", "astro:organization", "aws directory: VPC tag holding the organization ID"},
		{"ASTROBOT_CLUSTER_TTL", "10m", "aws directory: age after which cached cluster data is refreshed in the background"},
	}
}

// setting returns a getter of settings that falls back to their defaults.
func setting(getenv func(string) string) func(string) string {
	return func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			for _, s := range Settings() {
				if s.Name == name {
					return s.Default
				}
			}
		}
		return v
	}
}

// LoadConfig reads the configuration through getenv and checks it, the
// clusters file included. The error names every problem found and how to fix
// it.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := setting(getenv)
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c := Config{}
	c.slack(get, bad)
	c.listeners(get, bad)
	c.support(get, bad)
	c.logging(get, bad)
	c.workflow(get, bad)
	dc, err := LoadDirectoryConfig(getenv)
	c.DirectoryConfig = dc
	return c, errors.Join(append(errs, err)...)
}

// complain records one configuration problem.
type complain func(format string, args ...any)

// slack reads the Slack tokens, which choose the transport.
func (c *Config) slack(get func(string) string, bad complain) {
	c.BotToken, c.AppToken, c.SigningSecret, c.APIURL = get("SLACK_BOT_TOKEN"), get("SLACK_APP_TOKEN"), get("SLACK_SIGNING_SECRET"), get("SLACK_API_URL")
	switch {
	case c.BotToken == "":
		bad("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page")
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		bad("SLACK_BOT_TOKEN does not start with xoxb-: use the Bot User OAuth Token, not a user or app token")
	}
	switch {
	case c.AppToken != "":
		c.Mode = ModeSocket
		if !strings.HasPrefix(c.AppToken, "xapp-") {
			bad("SLACK_APP_TOKEN does not start with xapp-: make an app-level token with connections:write under Basic Information")
		}
	case c.SigningSecret != "":
		c.Mode = ModeHTTP
	default:
		bad("neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is set: set one of them")
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		bad("SLACK_API_URL %q must end with /", c.APIURL)
	}
	pace := get("ASTROBOT_SLACK_PACE")
	burst, every, ok := strings.Cut(pace, "/")
	n, err := strconv.Atoi(burst)
	d, derr := time.ParseDuration(every)
	if !ok || err != nil || n < 1 || derr != nil || d <= 0 {
		bad("ASTROBOT_SLACK_PACE %q is not burst/interval, like 3/1s (three messages at once, then one a second)", pace)
	}
	c.SlackBurst, c.SlackEvery = n, d
}

// listeners reads the addresses astrobot listens on and its database.
func (c *Config) listeners(get func(string) string, bad complain) {
	c.HTTPAddr, c.OpsAddr, c.AdminAddr, c.DBPath = get("ASTROBOT_HTTP_ADDR"), get("ASTROBOT_OPS_ADDR"), get("ASTROBOT_ADMIN_ADDR"), get("ASTROBOT_DB")
	if !loopback(c.AdminAddr) {
		bad("ASTROBOT_ADMIN_ADDR %q must be a loopback address (like 127.0.0.1:9091): the admin endpoint has no authentication", c.AdminAddr)
	}
	for _, a := range []struct{ name, addr string }{{"ASTROBOT_HTTP_ADDR", c.HTTPAddr}, {"ASTROBOT_OPS_ADDR", c.OpsAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad("%s %q is not host:port (like :3000 or 127.0.0.1:9090)", a.name, a.addr)
		}
	}
}

// support reads the support channel and team.
func (c *Config) support(get func(string) string, bad complain) {
	channelID := regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
	userID := regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupID := regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	c.SupportChannel, c.SupportGroup = get("ASTROBOT_SUPPORT_CHANNEL"), get("ASTROBOT_SUPPORT_GROUP")
	if c.SupportChannel == "" {
		bad("ASTROBOT_SUPPORT_CHANNEL is not set: give the ID (C…) of the channel where support cards go")
	} else if !channelID.MatchString(c.SupportChannel) {
		bad("ASTROBOT_SUPPORT_CHANNEL %q is not a channel ID: use the ID (C…, from the channel's details), not its name", c.SupportChannel)
	}
	for _, u := range strings.Split(get("ASTROBOT_SUPPORT_USERS"), ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if !userID.MatchString(u) {
			bad("ASTROBOT_SUPPORT_USERS: %q is not a Slack user ID (U… or W…)", u)
		}
		c.SupportUsers = append(c.SupportUsers, u)
	}
	if c.SupportGroup != "" && !groupID.MatchString(c.SupportGroup) {
		bad("ASTROBOT_SUPPORT_GROUP %q is not a user group ID (S…)", c.SupportGroup)
	}
	if len(c.SupportUsers) == 0 && c.SupportGroup == "" {
		bad("no support team: set ASTROBOT_SUPPORT_USERS (user IDs) and/or ASTROBOT_SUPPORT_GROUP (a user group ID)")
	}
}

// logging reads the log level and format.
func (c *Config) logging(get func(string) string, bad complain) {
	if err := c.LogLevel.UnmarshalText([]byte(get("ASTROBOT_LOG_LEVEL"))); err != nil {
		bad("ASTROBOT_LOG_LEVEL %q: use debug, info, warn or error", get("ASTROBOT_LOG_LEVEL"))
	}
	c.LogFormat = strings.ToLower(get("ASTROBOT_LOG_FORMAT"))
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("ASTROBOT_LOG_FORMAT %q: use json or text", c.LogFormat)
	}
}

// workflow reads the mode of each kind, the watch interval and the SLAs.
func (c *Config) workflow(get func(string) string, bad complain) {
	c.Modes = map[astrobot.Kind]astrobot.Mode{}
	for _, d := range astrobot.Kinds() {
		name := ModeSetting(d)
		switch m := astrobot.Mode(strings.ToLower(get(name))); m {
		case astrobot.ModeManual, astrobot.ModeAWS:
			c.Modes[d.Kind()] = m
		default:
			bad("%s %q: use manual or aws", name, get(name))
		}
	}
	if d, err := time.ParseDuration(get("ASTROBOT_WATCH_INTERVAL")); err != nil || d < time.Second {
		bad("ASTROBOT_WATCH_INTERVAL %q is not a duration of a second or more (like 1m)", get("ASTROBOT_WATCH_INTERVAL"))
	} else {
		c.WatchInterval = d
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"ASTROBOT_SLA_UNCLAIMED", &c.SLAs.Unclaimed}, {"ASTROBOT_SLA_CUSTOMER", &c.SLAs.Customer}} {
		v, err := time.ParseDuration(get(d.name))
		if err != nil || v <= 0 {
			bad("%s %q is not a positive duration (like 4h or 48h)", d.name, get(d.name))
		}
		*d.to = v
	}
}

// AWSKinds reports whether any kind is done in AWS.
func (c *Config) AWSKinds() bool {
	for _, m := range c.Modes {
		if m == astrobot.ModeAWS {
			return true
		}
	}
	return false
}

// LoadDirectoryConfig reads and checks the settings of the cluster directory
// alone, with the clusters file, for the commands that need nothing else.
func LoadDirectoryConfig(getenv func(string) string) (DirectoryConfig, error) {
	get := setting(getenv)
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c := DirectoryConfig{ClustersPath: get("ASTROBOT_CLUSTERS")}
	for _, pair := range strings.Split(get("ASTROBOT_AWS_ROLES"), ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		account, arn, ok := strings.Cut(pair, "=")
		if !ok || astrobot.ValidateAccountID(account) != nil || !strings.HasPrefix(arn, "arn:aws:iam::"+account+":role/") {
			bad("ASTROBOT_AWS_ROLES: %q is not account=arn:aws:iam::<account>:role/<name>", pair)
			continue
		}
		if c.AWSRoles == nil {
			c.AWSRoles = map[string]string{}
		}
		c.AWSRoles[account] = arn
	}
	c.Directory = strings.ToLower(get("ASTROBOT_DIRECTORY"))
	c.ClusterTag, c.OrgTag = get("ASTROBOT_CLUSTER_TAG"), get("ASTROBOT_ORG_TAG")
	switch c.Directory {
	case "static":
	case "aws":
		for _, r := range strings.Split(get("ASTROBOT_AWS_REGIONS"), ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			if err := astrobot.ValidateRegion(r); err != nil {
				bad("ASTROBOT_AWS_REGIONS: %q is not an AWS region (like us-east-1)", r)
			}
			c.AWSRegions = append(c.AWSRegions, r)
		}
		if len(c.AWSRegions) == 0 {
			bad("ASTROBOT_AWS_REGIONS is not set: list the regions of your clusters, like us-east-1,eu-west-1")
		}
	default:
		bad("ASTROBOT_DIRECTORY %q: use static or aws", c.Directory)
	}
	if d, err := time.ParseDuration(get("ASTROBOT_CLUSTER_TTL")); err != nil || d <= 0 {
		bad("ASTROBOT_CLUSTER_TTL %q is not a positive duration (like 10m or 1h)", get("ASTROBOT_CLUSTER_TTL"))
	} else {
		c.ClusterTTL = d
	}
	file, err := cloud.LoadFile(c.ClustersPath)
	if err != nil {
		errs = append(errs, fmt.Errorf("ASTROBOT_CLUSTERS: %w", err))
	}
	c.File = file
	return c, errors.Join(errs...)
}

// Timeouts of the running bot.
const (
	shutdownGrace = 10 * time.Second
	dbLockTimeout = 3 * time.Second
)

// loopback reports whether addr is host:port with a loopback host.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// AdminAddr reads the admin endpoint's address, for the admin commands.
func AdminAddr(getenv func(string) string) string { return setting(getenv)("ASTROBOT_ADMIN_ADDR") }

// DBPath reads the database path, for the admin commands.
func DBPath(getenv func(string) string) string { return setting(getenv)("ASTROBOT_DB") }
