package bot

import (
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
)

// environ is an environment for LoadConfig: a variable missing from it is unset.
type environ map[string]string

func (e environ) getenv(name string) string { return e[name] }

// with returns a copy of e with the changes applied; an empty value unsets.
func (e environ) with(changes environ) environ {
	out := maps.Clone(e)
	for k, v := range changes {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// exampleClusters is the example clusters file, which the configuration of
// the tests names.
var exampleClusters = filepath.Join("..", "examples", "clusters.yaml")

// minimalEnv is the least a Socket Mode bot needs.
var minimalEnv = environ{
	"SLACK_BOT_TOKEN":          "xoxb-1-bot",
	"SLACK_APP_TOKEN":          "xapp-1-app",
	"ASTROBOT_SUPPORT_CHANNEL": "C0SUPPORT",
	"ASTROBOT_SUPPORT_USERS":   "U0SUPPORT",
	"ASTROBOT_CLUSTERS":        exampleClusters,
}

// exampleFile returns the contents of the example clusters file.
func exampleFile(t *testing.T) cloud.File {
	t.Helper()
	f, err := cloud.LoadFile(exampleClusters)
	if err != nil {
		t.Fatalf("load %s: %v", exampleClusters, err)
	}
	if len(f.Organizations) == 0 || len(f.Clusters) == 0 {
		t.Fatalf("%s lists %d organizations and %d clusters; the tests need some of each", exampleClusters, len(f.Organizations), len(f.Clusters))
	}
	return f
}

// netipEqual compares the addresses and prefixes of the clusters file.
var netipEqual = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

// manualModes is every kind in manual mode, the default.
func manualModes() map[astrobot.Kind]astrobot.Mode {
	m := map[astrobot.Kind]astrobot.Mode{}
	for _, d := range astrobot.Kinds() {
		m[d.Kind()] = astrobot.ModeManual
	}
	return m
}

// defaultConfig is the configuration of minimalEnv: every documented default,
// and the example clusters file.
func defaultConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Mode:           ModeSocket,
		BotToken:       "xoxb-1-bot",
		AppToken:       "xapp-1-app",
		APIURL:         "https://slack.com/api/",
		SlackBurst:     3,
		SlackEvery:     time.Second,
		HTTPAddr:       ":3000",
		OpsAddr:        "127.0.0.1:9090",
		AdminAddr:      "127.0.0.1:9091",
		DBPath:         "./data/astrobot.db",
		SupportChannel: "C0SUPPORT",
		SupportUsers:   []string{"U0SUPPORT"},
		LogLevel:       slog.LevelInfo,
		LogFormat:      "json",
		Modes:          manualModes(),
		WatchInterval:  time.Minute,
		SLAs:           astrobot.SLAs{Unclaimed: 4 * time.Hour, Customer: 48 * time.Hour},
		DirectoryConfig: DirectoryConfig{
			ClustersPath: exampleClusters,
			File:         exampleFile(t),
			Directory:    "static",
			ClusterTag:   "astro:cluster-id",
			OrgTag:       "astro:organization",
			ClusterTTL:   10 * time.Minute,
		},
	}
}

func TestLoadConfigGood(t *testing.T) {
	// A clusters file of its own, to tell that ASTROBOT_CLUSTERS is read.
	data, err := os.ReadFile(exampleClusters)
	if err != nil {
		t.Fatal(err)
	}
	ownClusters := filepath.Join(t.TempDir(), "clusters.yaml")
	if err := os.WriteFile(ownClusters, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  environ
		want func(c *Config)
	}{
		{"defaults", minimalEnv, func(*Config) {}},
		{"HTTP mode with a signing secret", minimalEnv.with(environ{"SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": "s3cret"}),
			func(c *Config) { c.Mode, c.AppToken, c.SigningSecret = ModeHTTP, "", "s3cret" }},
		{"the app token wins over the signing secret", minimalEnv.with(environ{"SLACK_SIGNING_SECRET": "s3cret"}),
			func(c *Config) { c.SigningSecret = "s3cret" }},
		{"blank values are unset", minimalEnv.with(environ{"ASTROBOT_HTTP_ADDR": "  ", "ASTROBOT_LOG_LEVEL": " ", "SLACK_BOT_TOKEN": " xoxb-1-bot\t"}),
			func(*Config) {}},
		{"every Slack setting", minimalEnv.with(environ{
			"SLACK_API_URL": "http://127.0.0.1:8080/api/", "ASTROBOT_HTTP_ADDR": "127.0.0.1:3001", "ASTROBOT_OPS_ADDR": ":9191",
			"ASTROBOT_ADMIN_ADDR": "[::1]:9092", "ASTROBOT_DB": "/var/lib/astrobot/a.db", "ASTROBOT_CLUSTERS": ownClusters,
			"ASTROBOT_SUPPORT_USERS": " U0A1 ,W0B2,, ", "ASTROBOT_SUPPORT_GROUP": "S0TEAM", "ASTROBOT_SUPPORT_CHANNEL": "G0PRIVATE",
			"ASTROBOT_LOG_LEVEL": "DEBUG", "ASTROBOT_LOG_FORMAT": "Text", "ASTROBOT_PEERING": "Manual",
			"ASTROBOT_SLA_UNCLAIMED": "90m", "ASTROBOT_SLA_CUSTOMER": "72h",
		}), func(c *Config) {
			c.APIURL, c.HTTPAddr, c.OpsAddr, c.DBPath = "http://127.0.0.1:8080/api/", "127.0.0.1:3001", ":9191", "/var/lib/astrobot/a.db"
			c.ClustersPath, c.AdminAddr = ownClusters, "[::1]:9092"
			c.SupportUsers, c.SupportGroup, c.SupportChannel = []string{"U0A1", "W0B2"}, "S0TEAM", "G0PRIVATE"
			c.LogLevel, c.LogFormat = slog.LevelDebug, "text"
			c.SLAs = astrobot.SLAs{Unclaimed: 90 * time.Minute, Customer: 72 * time.Hour}
		}},
		{"admin endpoint on localhost", minimalEnv.with(environ{"ASTROBOT_ADMIN_ADDR": "localhost:9999"}),
			func(c *Config) { c.AdminAddr = "localhost:9999" }},
		{"a support group alone", minimalEnv.with(environ{"ASTROBOT_SUPPORT_USERS": "", "ASTROBOT_SUPPORT_GROUP": "S0TEAM"}),
			func(c *Config) { c.SupportUsers, c.SupportGroup = nil, "S0TEAM" }},
		{"aws directory", minimalEnv.with(environ{
			"ASTROBOT_DIRECTORY": "AWS", "ASTROBOT_AWS_REGIONS": "us-east-1, eu-west-1,",
			"ASTROBOT_AWS_ROLES":   "210987654321=arn:aws:iam::210987654321:role/astro-read, 123456789012=arn:aws:iam::123456789012:role/x",
			"ASTROBOT_CLUSTER_TAG": "astro/cluster", "ASTROBOT_ORG_TAG": "astro/org", "ASTROBOT_CLUSTER_TTL": "1h30m",
		}), func(c *Config) {
			c.Directory, c.AWSRegions = "aws", []string{"us-east-1", "eu-west-1"}
			c.AWSRoles = map[string]string{
				"210987654321": "arn:aws:iam::210987654321:role/astro-read",
				"123456789012": "arn:aws:iam::123456789012:role/x",
			}
			c.ClusterTag, c.OrgTag, c.ClusterTTL = "astro/cluster", "astro/org", 90*time.Minute
		}},
		{"regions are ignored by the static directory", minimalEnv.with(environ{"ASTROBOT_AWS_REGIONS": "mars-1"}),
			func(*Config) {}},
		{"aws peering with roles and the static directory", minimalEnv.with(environ{"ASTROBOT_PEERING": "AWS", "ASTROBOT_WATCH_INTERVAL": "30s",
			"ASTROBOT_AWS_ROLES": "111111111111=arn:aws:iam::111111111111:role/astro-peering"}),
			func(c *Config) {
				c.Modes[astrobot.KindPeering], c.WatchInterval = astrobot.ModeAWS, 30*time.Second
				c.AWSRoles = map[string]string{"111111111111": "arn:aws:iam::111111111111:role/astro-peering"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(tt.env.getenv)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			want := defaultConfig(t)
			tt.want(&want)
			if diff := cmp.Diff(want, got, netipEqual); diff != "" {
				t.Fatalf("LoadConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigBad(t *testing.T) {
	tests := []struct {
		name string
		env  environ
		// want has one entry per problem: fragments the line reporting it
		// must all contain, the setting's name and then its fix.
		want [][]string
	}{
		{"no bot token", minimalEnv.with(environ{"SLACK_BOT_TOKEN": ""}),
			[][]string{{"SLACK_BOT_TOKEN is not set", "xoxb-", "OAuth & Permissions"}}},
		{"a user token as bot token", minimalEnv.with(environ{"SLACK_BOT_TOKEN": "xoxp-1-user"}),
			[][]string{{"SLACK_BOT_TOKEN", "xoxb-", "Bot User OAuth Token"}}},
		{"no transport", minimalEnv.with(environ{"SLACK_APP_TOKEN": ""}),
			[][]string{{"SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "set one of them"}}},
		{"a bot token as app token", minimalEnv.with(environ{"SLACK_APP_TOKEN": "xoxb-1-bot"}),
			[][]string{{"SLACK_APP_TOKEN", "xapp-", "connections:write"}}},
		{"API URL without its slash", minimalEnv.with(environ{"SLACK_API_URL": "https://slack.com/api"}),
			[][]string{{"SLACK_API_URL", "must end with /"}}},
		{"no support channel", minimalEnv.with(environ{"ASTROBOT_SUPPORT_CHANNEL": ""}),
			[][]string{{"ASTROBOT_SUPPORT_CHANNEL is not set", "ID (C…)"}}},
		{"support channel by name", minimalEnv.with(environ{"ASTROBOT_SUPPORT_CHANNEL": "#support"}),
			[][]string{{"ASTROBOT_SUPPORT_CHANNEL", `"#support"`, "not its name"}}},
		{"support user by name", minimalEnv.with(environ{"ASTROBOT_SUPPORT_USERS": "U0A1,alice"}),
			[][]string{{"ASTROBOT_SUPPORT_USERS", `"alice"`, "U… or W…"}}},
		{"support group that is a channel", minimalEnv.with(environ{"ASTROBOT_SUPPORT_GROUP": "G0PRIVATE"}),
			[][]string{{"ASTROBOT_SUPPORT_GROUP", `"G0PRIVATE"`, "(S…)"}}},
		{"no support team", minimalEnv.with(environ{"ASTROBOT_SUPPORT_USERS": ""}),
			[][]string{{"no support team", "ASTROBOT_SUPPORT_USERS", "ASTROBOT_SUPPORT_GROUP"}}},
		{"log level", minimalEnv.with(environ{"ASTROBOT_LOG_LEVEL": "verbose"}),
			[][]string{{"ASTROBOT_LOG_LEVEL", `"verbose"`, "debug, info, warn or error"}}},
		{"log format", minimalEnv.with(environ{"ASTROBOT_LOG_FORMAT": "xml"}),
			[][]string{{"ASTROBOT_LOG_FORMAT", `"xml"`, "json or text"}}},
		{"addresses", minimalEnv.with(environ{"ASTROBOT_HTTP_ADDR": "3000", "ASTROBOT_OPS_ADDR": "localhost"}),
			[][]string{{"ASTROBOT_HTTP_ADDR", `"3000"`, "host:port"}, {"ASTROBOT_OPS_ADDR", `"localhost"`, "host:port"}}},
		{"admin endpoint open to the network", minimalEnv.with(environ{"ASTROBOT_ADMIN_ADDR": "0.0.0.0:9091"}),
			[][]string{{"ASTROBOT_ADMIN_ADDR", `"0.0.0.0:9091"`, "loopback address", "127.0.0.1:9091"}}},
		{"admin endpoint without a port", minimalEnv.with(environ{"ASTROBOT_ADMIN_ADDR": "127.0.0.1"}),
			[][]string{{"ASTROBOT_ADMIN_ADDR", `"127.0.0.1"`, "loopback address"}}},
		{"Slack pace", minimalEnv.with(environ{"ASTROBOT_SLACK_PACE": "fast"}),
			[][]string{{"ASTROBOT_SLACK_PACE", `"fast"`, "burst/interval", "3/1s"}}},
		{"Slack pace without a burst", minimalEnv.with(environ{"ASTROBOT_SLACK_PACE": "0/1s"}),
			[][]string{{"ASTROBOT_SLACK_PACE", `"0/1s"`}}},
		{"peering mode", minimalEnv.with(environ{"ASTROBOT_PEERING": "terraform"}),
			[][]string{{"ASTROBOT_PEERING", `"terraform"`, "use manual or aws"}}},
		{"watch interval", minimalEnv.with(environ{"ASTROBOT_WATCH_INTERVAL": "500ms"}),
			[][]string{{"ASTROBOT_WATCH_INTERVAL", `"500ms"`, "a second or more"}}},
		{"aws roles with the static directory", minimalEnv.with(environ{"ASTROBOT_AWS_ROLES": "arn:aws:iam::111111111111:role/x"}),
			[][]string{{"ASTROBOT_AWS_ROLES", `"arn:aws:iam::111111111111:role/x"`, "account=arn"}}},
		{"SLA durations", minimalEnv.with(environ{"ASTROBOT_SLA_UNCLAIMED": "4", "ASTROBOT_SLA_CUSTOMER": "-48h"}),
			[][]string{{"ASTROBOT_SLA_UNCLAIMED", `"4"`, "positive duration"}, {"ASTROBOT_SLA_CUSTOMER", `"-48h"`, "positive duration"}}},
		{"zero SLA", minimalEnv.with(environ{"ASTROBOT_SLA_UNCLAIMED": "0s"}),
			[][]string{{"ASTROBOT_SLA_UNCLAIMED", `"0s"`, "like 4h"}}},
		{"unknown directory", minimalEnv.with(environ{"ASTROBOT_DIRECTORY": "dynamodb"}),
			[][]string{{"ASTROBOT_DIRECTORY", `"dynamodb"`, "static or aws"}}},
		{"aws directory without regions", minimalEnv.with(environ{"ASTROBOT_DIRECTORY": "aws"}),
			[][]string{{"ASTROBOT_AWS_REGIONS is not set", "us-east-1"}}},
		{"aws directory with a bad region", minimalEnv.with(environ{"ASTROBOT_DIRECTORY": "aws", "ASTROBOT_AWS_REGIONS": "us-east-1,mars-1"}),
			[][]string{{"ASTROBOT_AWS_REGIONS", `"mars-1"`, "like us-east-1"}}},
		{"aws roles", minimalEnv.with(environ{"ASTROBOT_DIRECTORY": "aws", "ASTROBOT_AWS_REGIONS": "us-east-1",
			"ASTROBOT_AWS_ROLES": "123456789012=arn:aws:iam::123456789012:role/ok," +
				"12345=arn:aws:iam::12345:role/short," +
				"123456789012," +
				"210987654321=arn:aws:iam::123456789012:role/other-account," +
				"210987654321=role/astro"}),
			[][]string{
				{"ASTROBOT_AWS_ROLES", `"12345=arn:aws:iam::12345:role/short"`, "account=arn:aws:iam::<account>:role/<name>"},
				{"ASTROBOT_AWS_ROLES", `"123456789012"`, "account=arn:aws:iam::<account>:role/<name>"},
				{"ASTROBOT_AWS_ROLES", `"210987654321=arn:aws:iam::123456789012:role/other-account"`, "account=arn"},
				{"ASTROBOT_AWS_ROLES", `"210987654321=role/astro"`, "account=arn"},
			}},
		{"cluster TTL", minimalEnv.with(environ{"ASTROBOT_CLUSTER_TTL": "ten minutes"}),
			[][]string{{"ASTROBOT_CLUSTER_TTL", `"ten minutes"`, "positive duration"}}},
		{"no clusters file", minimalEnv.with(environ{"ASTROBOT_CLUSTERS": ""}),
			[][]string{{"ASTROBOT_CLUSTERS", "./clusters.yaml"}}},
		// Issue 14: the clusters file is checked in the same pass as the
		// settings, so one error names every problem.
		{"a bad token and a missing clusters file", minimalEnv.with(environ{"SLACK_BOT_TOKEN": "xoxp-1-user", "ASTROBOT_CLUSTERS": "/nonexistent/clusters.yaml"}),
			[][]string{{"SLACK_BOT_TOKEN", "xoxb-"}, {"ASTROBOT_CLUSTERS", "/nonexistent/clusters.yaml"}}},
		{"several problems at once", environ{
			"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_APP_TOKEN": "xapp-1", "ASTROBOT_SUPPORT_CHANNEL": "support",
			"ASTROBOT_LOG_LEVEL": "loud", "ASTROBOT_DIRECTORY": "aws", "ASTROBOT_CLUSTER_TTL": "-1m",
			"ASTROBOT_CLUSTERS": exampleClusters,
		}, [][]string{
			{"SLACK_BOT_TOKEN", "xoxb-"},
			{"ASTROBOT_SUPPORT_CHANNEL", `"support"`},
			{"no support team"},
			{"ASTROBOT_LOG_LEVEL", `"loud"`},
			{"ASTROBOT_AWS_REGIONS is not set"},
			{"ASTROBOT_CLUSTER_TTL", `"-1m"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(tt.env.getenv)
			if err == nil {
				t.Fatal("LoadConfig accepted the environment")
			}
			checkProblems(t, err, tt.want)
		})
	}
}

// checkProblems checks that err reports exactly the problems of want, one
// line each, in any order.
func checkProblems(t *testing.T, err error, want [][]string) {
	t.Helper()
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d problems reported, want %d:\n%v", len(lines), len(want), err)
	}
	used := make([]bool, len(lines))
	for _, frags := range want {
		found := false
		for i, line := range lines {
			if !used[i] && containsAll(line, frags) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no problem reported says all of %q; reported:\n%v", frags, err)
		}
	}
}

func containsAll(s string, frags []string) bool {
	for _, f := range frags {
		if !strings.Contains(s, f) {
			return false
		}
	}
	return true
}

func TestLoadDirectoryConfig(t *testing.T) {
	// The directory needs none of the Slack settings, only its clusters file.
	got, err := LoadDirectoryConfig(environ{"ASTROBOT_CLUSTERS": exampleClusters}.getenv)
	if err != nil {
		t.Fatalf("LoadDirectoryConfig of an environment with only ASTROBOT_CLUSTERS: %v", err)
	}
	if diff := cmp.Diff(defaultConfig(t).DirectoryConfig, got, netipEqual); diff != "" {
		t.Errorf("LoadDirectoryConfig defaults (-want +got):\n%s", diff)
	}

	_, err = LoadDirectoryConfig(environ{"ASTROBOT_DIRECTORY": "aws", "ASTROBOT_AWS_ROLES": "x=y", "ASTROBOT_CLUSTER_TTL": "soon"}.getenv)
	if err == nil {
		t.Fatal("LoadDirectoryConfig accepted an aws directory without regions")
	}
	checkProblems(t, err, [][]string{
		{"ASTROBOT_AWS_REGIONS is not set"},
		{"ASTROBOT_AWS_ROLES", `"x=y"`},
		{"ASTROBOT_CLUSTER_TTL", `"soon"`},
		{"ASTROBOT_CLUSTERS", "./clusters.yaml"}, // the default, missing here
	})
}

func TestSettingsListsEveryVariable(t *testing.T) {
	read := map[string]bool{}
	getenv := func(name string) string {
		read[name] = true
		return minimalEnv.with(environ{"ASTROBOT_DIRECTORY": "aws", "ASTROBOT_AWS_REGIONS": "us-east-1"})[name]
	}
	if _, err := LoadConfig(getenv); err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	var documented []string
	for _, s := range Settings() {
		if s.Help == "" {
			t.Errorf("setting %s has no help", s.Name)
		}
		documented = append(documented, s.Name)
	}
	// The mode of each kind comes right after the log format, as it did
	// when peering was the only kind.
	if i := slices.Index(documented, "ASTROBOT_LOG_FORMAT"); i < 0 || i+1 >= len(documented) || documented[i+1] != "ASTROBOT_PEERING" {
		t.Errorf("Settings lists %v; want ASTROBOT_PEERING right after ASTROBOT_LOG_FORMAT", documented)
	}
	slices.Sort(documented)
	if diff := cmp.Diff(documented, slices.Sorted(maps.Keys(read))); diff != "" {
		t.Errorf("variables read by LoadConfig (+) versus documented by Settings (-):\n%s", diff)
	}
}
