package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/astrobot-dev/astrobot/bot"
)

// TestREADMEDocumentsSettings keeps the README's settings table and
// `astrobot serve --help` in step with the settings astrobot reads.
func TestREADMEDocumentsSettings(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	if code := run([]string{"serve", "--help"}, func(string) string { return "" }, &help, &help); code != 0 {
		t.Fatalf("serve --help exited %d", code)
	}
	for _, s := range bot.Settings() {
		row := "| `" + s.Name + "` | "
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md has no settings row for %s", s.Name)
		}
		if s.Default != "" && !strings.Contains(string(readme), row+"`"+s.Default+"`") {
			t.Errorf("README.md does not give %s's default %s", s.Name, s.Default)
		}
		if !strings.Contains(help.String(), s.Name) {
			t.Errorf("serve --help does not list %s", s.Name)
		}
	}
}
