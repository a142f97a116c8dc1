package bot

import (
	"net/http"
	"testing"
	"time"
)

func TestVerifierSlackExample(t *testing.T) {
	// Slack's published example (shared/slack/NOTES.md).
	const (
		secret = "8f742231b10e8888abcd99yyyzzz85a5"
		ts     = "1531420618"
		body   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		sig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	at := time.Unix(1531420618, 0)
	header := func(ts, sig string) http.Header {
		h := http.Header{}
		if ts != "" {
			h.Set("X-Slack-Request-Timestamp", ts)
		}
		if sig != "" {
			h.Set("X-Slack-Signature", sig)
		}
		return h
	}
	tests := []struct {
		name string
		now  time.Time
		h    http.Header
		body string
		ok   bool
	}{
		{"published example", at, header(ts, sig), body, true},
		{"4m59s later", at.Add(4*time.Minute + 59*time.Second), header(ts, sig), body, true},
		{"4m59s earlier", at.Add(-4*time.Minute - 59*time.Second), header(ts, sig), body, true},
		{"stale: 5m01s later", at.Add(5*time.Minute + time.Second), header(ts, sig), body, false},
		{"from the future: 5m01s earlier", at.Add(-5*time.Minute - time.Second), header(ts, sig), body, false},
		{"body changed", at, header(ts, sig), body + "x", false},
		{"timestamp changed", at, header("1531420619", sig), body, false},
		{"last hex digit changed", at, header(ts, sig[:len(sig)-1]+"4"), body, false},
		{"no signature", at, header(ts, ""), body, false},
		{"no timestamp", at, header("", sig), body, false},
		{"not v0", at, header(ts, "v1="+sig[3:]), body, false},
		{"not hex", at, header(ts, "v0=zz"), body, false},
		{"timestamp not a number", at, header("15314x0618", sig), body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(secret, func() time.Time { return tt.now })
			err := v.Verify(tt.h, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSignRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte("command=%2Fastro-ip&text=clx123abc")
	v := NewVerifier("s3cret", func() time.Time { return now })
	if err := v.Verify(Sign("s3cret", now, body), body); err != nil {
		t.Fatalf("a body signed with Sign does not verify: %v", err)
	}
	if err := v.Verify(Sign("other", now, body), body); err == nil {
		t.Fatal("a body signed with another secret verifies")
	}
}
