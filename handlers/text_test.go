package handlers

import (
	"errors"
	"testing"

	"github.com/astrobot-dev/astrobot"
)

// TestMdf checks the one formatter of mrkdwn: the format and the arguments
// are escaped, md arguments are kept, numbers and named string types are
// written as fmt would.
func TestMdf(t *testing.T) {
	tests := []struct {
		got  md
		want md
	}{
		{mdf("plain"), "plain"},
		{mdf("`/astro-ip <cluster>` & more"), "`/astro-ip &lt;cluster&gt;` &amp; more"},
		{mdf("%s said %s", "<@UEVIL>", mention("UALICE")), "&lt;@UEVIL&gt; said <@UALICE>"},
		{mdf("%d of %d: 100%%", 3, 7), "3 of 7: 100%"},
		{mdf("status %s", astrobot.StatusPendingAcceptance), "status pending_acceptance"},
		{mdf("err: %s", errors.New("a < b")), "err: a &lt; b"},
		{mdf("%s", astrobot.Kind("x&y")), "x&amp;y"},
		{mdf("trailing %"), "trailing %"},
		{mdf("missing %s"), "missing %!s(BAD)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("mdf = %q, want %q", tt.got, tt.want)
		}
	}
}
