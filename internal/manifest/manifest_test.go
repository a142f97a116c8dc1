package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dlclark/regexp2/v2"
	"github.com/dlclark/regexp2/v2/compat"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
)

// schemaFile is Slack's manifest schema, vendored beside this test with its
// MIT license (testdata/manifest.schema.LICENSE).
var schemaFile = filepath.Join("testdata", "manifest.schema.1.0.0.json")

func TestManifestValidates(t *testing.T) {
	sch := compileSchema(t)
	if err := sch.Validate(manifestDoc(t)); err != nil {
		t.Fatalf("manifest.yml does not validate against Slack's manifest schema:\n%v", err)
	}
}

// manifest holds the parts of the manifest the bot depends on.
type manifest struct {
	DisplayInformation struct {
		Name string `json:"name"`
	} `json:"display_information"`
	Features struct {
		BotUser struct {
			DisplayName  string `json:"display_name"`
			AlwaysOnline bool   `json:"always_online"`
		} `json:"bot_user"`
		AppHome struct {
			HomeTabEnabled             bool `json:"home_tab_enabled"`
			MessagesTabEnabled         bool `json:"messages_tab_enabled"`
			MessagesTabReadOnlyEnabled bool `json:"messages_tab_read_only_enabled"`
		} `json:"app_home"`
		SlashCommands []slashCommand `json:"slash_commands"`
	} `json:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `json:"bot"`
		} `json:"scopes"`
	} `json:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			BotEvents []string `json:"bot_events"`
		} `json:"event_subscriptions"`
		Interactivity struct {
			IsEnabled bool `json:"is_enabled"`
		} `json:"interactivity"`
		OrgDeployEnabled     bool `json:"org_deploy_enabled"`
		SocketModeEnabled    bool `json:"socket_mode_enabled"`
		TokenRotationEnabled bool `json:"token_rotation_enabled"`
	} `json:"settings"`
}

type slashCommand struct {
	Command      string `json:"command"`
	Description  string `json:"description"`
	UsageHint    string `json:"usage_hint"`
	ShouldEscape bool   `json:"should_escape"`
}

func TestManifestDeclaresWhatTheBotNeeds(t *testing.T) {
	var got manifest
	dec := json.NewDecoder(bytes.NewReader(manifestJSON(t)))
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}

	var want manifest
	want.DisplayInformation.Name = "astrobot"
	want.Features.BotUser.DisplayName = "astrobot"
	want.Features.BotUser.AlwaysOnline = true
	want.Features.AppHome.HomeTabEnabled = true
	want.Features.AppHome.MessagesTabEnabled = true
	want.Features.AppHome.MessagesTabReadOnlyEnabled = true
	want.Features.SlashCommands = []slashCommand{
		{
			Command:     "/astro-ip",
			Description: "Show a cluster's external IPs, VPC ID and CIDRs",
			UsageHint:   "[cluster-id or name | help]",
		},
		{
			Command:     "/astro-connect",
			Description: "Request a private connection to an Astro cluster, or follow your requests",
			UsageHint:   "[peering | tgw | privatelink | dns] [cluster] | list | status PEER-0042 | cancel PEER-0042 | help",
		},
		{
			Command:     "/astro-peer",
			Description: "Request VPC peering with an Astro cluster, or follow your requests",
			UsageHint:   "[cluster | list | status PEER-0042 | cancel PEER-0042 | help]",
		},
	}
	want.OAuthConfig.Scopes.Bot = []string{"commands", "chat:write", "im:write", "usergroups:read", "users:read",
		"channels:history", "groups:history", "im:history"}
	want.Settings.EventSubscriptions.BotEvents = []string{"app_home_opened"}
	want.Settings.Interactivity.IsEnabled = true
	want.Settings.SocketModeEnabled = true

	// Slack treats scopes and events as sets; commands are compared in order.
	sortStrings := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	if diff := cmp.Diff(want, got, sortStrings); diff != "" {
		t.Errorf("manifest.yml differs from what the bot needs (-want +got):\n%s", diff)
	}
}

// TestSchemaCheck proves the validator really validates: changed copies of
// the manifest fail at the place and for the reason expected, while the HTTP
// mode variant described in manifest.yml's comments and a value matching one
// of the schema's look-ahead patterns pass.
func TestSchemaCheck(t *testing.T) {
	sch := compileSchema(t)
	tests := []struct {
		name   string
		change func(t *testing.T, doc any)
		// wantLoc (a JSON pointer) and wantKind describe the error expected;
		// a nil wantKind means the changed copy must validate.
		wantLoc  string
		wantKind jsonschema.ErrorKind
	}{
		{
			name:     "unknown top-level key",
			change:   func(t *testing.T, doc any) { object(t, doc)["colour"] = "blue" },
			wantLoc:  "",
			wantKind: &kind.AdditionalProperties{Properties: []string{"colour"}},
		},
		{
			name:     "unknown key in bot_user",
			change:   func(t *testing.T, doc any) { object(t, doc, "features", "bot_user")["avatar"] = "rocket" },
			wantLoc:  "/features/bot_user",
			wantKind: &kind.AdditionalProperties{Properties: []string{"avatar"}},
		},
		{
			name: "unknown key in a slash command",
			change: func(t *testing.T, doc any) {
				object(t, doc, "features", "slash_commands", "1")["callback_id"] = "peer"
			},
			wantLoc:  "/features/slash_commands/1",
			wantKind: &kind.AdditionalProperties{Properties: []string{"callback_id"}},
		},
		{
			name: "command name without a slash",
			change: func(t *testing.T, doc any) {
				object(t, doc, "features", "slash_commands", "0")["command"] = "astro-ip"
			},
			wantLoc:  "/features/slash_commands/0/command",
			wantKind: &kind.Pattern{Got: "astro-ip", Want: `^\/`},
		},
		{
			name: "command name longer than 32 characters",
			change: func(t *testing.T, doc any) {
				object(t, doc, "features", "slash_commands", "0")["command"] = "/astro-" + strings.Repeat("x", 26)
			},
			wantLoc:  "/features/slash_commands/0/command",
			wantKind: &kind.MaxLength{Got: 33, Want: 32},
		},
		{
			name: "unfurl domain starting with a dot (look-ahead pattern)",
			change: func(t *testing.T, doc any) {
				object(t, doc, "features")["unfurl_domains"] = []any{".astronomer.io"}
			},
			wantLoc:  "/features/unfurl_domains/0",
			wantKind: &kind.Pattern{Got: ".astronomer.io", Want: `^(?![\.\-])([-a-z0-9\.])+([a-z0-9])$`},
		},
		{
			name: "HTTP mode as manifest.yml's comments describe it",
			change: func(t *testing.T, doc any) {
				const url = "https://astrobot.example.com/slack/events"
				object(t, doc, "settings")["socket_mode_enabled"] = false
				object(t, doc, "settings", "event_subscriptions")["request_url"] = url
				object(t, doc, "settings", "interactivity")["request_url"] = url
				object(t, doc, "features", "slash_commands", "0")["url"] = url
				object(t, doc, "features", "slash_commands", "1")["url"] = url
			},
		},
		{
			name: "HTTP mode with a request URL that is not http(s)",
			change: func(t *testing.T, doc any) {
				object(t, doc, "settings", "interactivity")["request_url"] = "astrobot.example.com/slack/events"
			},
			wantLoc:  "/settings/interactivity/request_url",
			wantKind: &kind.Pattern{Got: "astrobot.example.com/slack/events", Want: `^https?:\/\/`},
		},
		{
			name: "valid unfurl domain (look-ahead pattern)",
			change: func(t *testing.T, doc any) {
				object(t, doc, "features")["unfurl_domains"] = []any{"astronomer.io"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := manifestDoc(t)
			tt.change(t, doc)
			err := sch.Validate(doc)
			if tt.wantKind == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want no error", err)
				}
				return
			}
			var verr *jsonschema.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate: %v, want a *jsonschema.ValidationError", err)
			}
			for _, l := range leaves(verr) {
				if pointer(l.InstanceLocation) == tt.wantLoc && cmp.Equal(l.ErrorKind, tt.wantKind) {
					return
				}
			}
			t.Errorf("Validate error lacks %T %+v at %q; got:\n%v", tt.wantKind, tt.wantKind, tt.wantLoc, err)
		})
	}
}

// compileSchema compiles Slack's manifest schema with an ECMAScript regular
// expression engine: two of its patterns use look-ahead, which Go's regexp
// package rejects.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(schemaFile)
	if err != nil {
		t.Fatalf("locate Slack's manifest schema: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open Slack's manifest schema: %v", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseRegexpEngine(ecmaScript)
	if err := c.AddResource(path, doc); err != nil {
		t.Fatalf("add schema resource: %v", err)
	}
	sch, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return sch
}

// ecmaScript is a jsonschema.RegexpEngine for ECMAScript regular expressions,
// the dialect JSON Schema specifies for "pattern". A match that fails to run
// (backtracking limit) panics, so it cannot pass for a mismatch.
func ecmaScript(expr string) (jsonschema.Regexp, error) {
	re, err := compat.Compile(expr, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return re, nil
}

// moduleRoot returns the nearest directory at or above the test's working
// directory that holds go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod at or above the test directory")
		}
		dir = parent
	}
}

// manifestJSON reads manifest.yml at the module root and returns it as JSON.
func manifestJSON(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(moduleRoot(t), "manifest.yml")
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("convert %s to JSON: %v", path, err)
	}
	return j
}

// manifestDoc returns a fresh copy of the manifest in the form the validator
// takes (numbers as json.Number).
func manifestDoc(t *testing.T) any {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(manifestJSON(t)))
	if err != nil {
		t.Fatalf("parse manifest JSON: %v", err)
	}
	return doc
}

// object walks doc along path (object keys, or array indexes in decimal) and
// returns the JSON object found there.
func object(t *testing.T, doc any, path ...string) map[string]any {
	t.Helper()
	v := doc
	for i, p := range path {
		switch n := v.(type) {
		case map[string]any:
			v = n[p]
		case []any:
			idx, err := strconv.Atoi(p)
			if err != nil || idx < 0 || idx >= len(n) {
				t.Fatalf("manifest has no element %q at /%s", p, strings.Join(path[:i], "/"))
			}
			v = n[idx]
		default:
			t.Fatalf("manifest has no object or array at /%s", strings.Join(path[:i], "/"))
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("manifest has no object at /%s", strings.Join(path, "/"))
	}
	return m
}

// pointer returns the JSON pointer of a location given as its tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteString("/")
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(tok))
	}
	return b.String()
}

// leaves returns the errors at the bottom of the validation error tree: the
// keywords that actually failed.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}
