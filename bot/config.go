package bot

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"
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
	DBPath         string
	ClustersPath   string
	SupportChannel string
	SupportUsers   []string
	SupportGroup   string
	LogLevel       slog.Level
	LogFormat      string
}

// Setting documents one environment variable.
type Setting struct {
	Name, Default, Help string
}

// Settings lists every environment variable astrobot reads, with its default.
func Settings() []Setting {
	return []Setting{
		{"SLACK_BOT_TOKEN", "", "required: the bot token, xoxb-…"},
		{"SLACK_APP_TOKEN", "", "app-level token, xapp-… with connections:write: selects Socket Mode"},
		{"SLACK_SIGNING_SECRET", "", "signing secret: selects HTTP mode when there is no app token"},
		{"SLACK_API_URL", "https://slack.com/api/", "Slack Web API base URL (tests, proxies)"},
		{"ASTROBOT_HTTP_ADDR", ":3000", "HTTP mode: listen address of POST /slack/events"},
		{"ASTROBOT_OPS_ADDR", "127.0.0.1:9090", "listen address of /healthz, /readyz and /metrics"},
		{"ASTROBOT_DB", "./data/astrobot.db", "bbolt database file (its directory is created)"},
		{"ASTROBOT_CLUSTERS", "./clusters.yaml", "clusters file: organizations, their Slack teams/channels, and clusters"},
		{"ASTROBOT_SUPPORT_CHANNEL", "", "required: channel ID (C…) where support cards are posted"},
		{"ASTROBOT_SUPPORT_USERS", "", "comma-separated Slack user IDs of support (this and/or the group)"},
		{"ASTROBOT_SUPPORT_GROUP", "", "Slack user group ID (S…) whose members are support"},
		{"ASTROBOT_LOG_LEVEL", "info", "debug, info, warn or error"},
		{"ASTROBOT_LOG_FORMAT", "json", "json or text"},
	}
}

// LoadConfig reads the configuration through getenv and checks it. The error
// names every problem found and how to fix it.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(name string) string {
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
	c := Config{
		BotToken:       get("SLACK_BOT_TOKEN"),
		AppToken:       get("SLACK_APP_TOKEN"),
		SigningSecret:  get("SLACK_SIGNING_SECRET"),
		APIURL:         get("SLACK_API_URL"),
		HTTPAddr:       get("ASTROBOT_HTTP_ADDR"),
		OpsAddr:        get("ASTROBOT_OPS_ADDR"),
		DBPath:         get("ASTROBOT_DB"),
		ClustersPath:   get("ASTROBOT_CLUSTERS"),
		SupportChannel: get("ASTROBOT_SUPPORT_CHANNEL"),
		SupportGroup:   get("ASTROBOT_SUPPORT_GROUP"),
		LogFormat:      strings.ToLower(get("ASTROBOT_LOG_FORMAT")),
	}
	channelID := regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
	userID := regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupID := regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

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
	if err := c.LogLevel.UnmarshalText([]byte(get("ASTROBOT_LOG_LEVEL"))); err != nil {
		bad("ASTROBOT_LOG_LEVEL %q: use debug, info, warn or error", get("ASTROBOT_LOG_LEVEL"))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("ASTROBOT_LOG_FORMAT %q: use json or text", c.LogFormat)
	}
	for _, a := range []struct{ name, addr string }{{"ASTROBOT_HTTP_ADDR", c.HTTPAddr}, {"ASTROBOT_OPS_ADDR", c.OpsAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad("%s %q is not host:port (like :3000 or 127.0.0.1:9090)", a.name, a.addr)
		}
	}
	return c, errors.Join(errs...)
}

// Timeouts of the running bot.
const (
	shutdownGrace = 10 * time.Second
	dbLockTimeout = 3 * time.Second
)
