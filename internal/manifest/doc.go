// Package manifest holds only the test of astrobot's Slack app manifest,
// manifest.yml at the module root. The test converts the manifest to JSON,
// validates it against Slack's published manifest JSON schema (vendored with
// its MIT license in testdata/manifest.schema.1.0.0.json) and
// checks that it declares what the bot needs: both slash commands, the bot
// scopes, the app_home_opened event, Socket Mode and interactivity.
package manifest
