package bot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// signatureWindow is how far a request's timestamp may be from now, either side.
const signatureWindow = 5 * time.Minute

// errBadSignature is what every verification failure reports: the caller
// answers 401 and says no more.
var errBadSignature = errors.New("missing, invalid or stale Slack signature")

// Verifier checks Slack's request signatures: X-Slack-Signature is "v0=" and
// the hex HMAC-SHA256 of "v0:" + X-Slack-Request-Timestamp + ":" + body, keyed
// with the signing secret.
type Verifier struct {
	secret []byte
	now    func() time.Time
}

// NewVerifier returns a Verifier for secret that reads the time from now.
func NewVerifier(secret string, now func() time.Time) *Verifier {
	return &Verifier{secret: []byte(secret), now: now}
}

// Verify checks the signature headers h against body, in constant time, and
// refuses timestamps more than five minutes away from now.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	ts := h.Get("X-Slack-Request-Timestamp")
	sig := h.Get("X-Slack-Signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sig) < 3 || sig[:3] != "v0=" {
		return errBadSignature
	}
	if d := v.now().Sub(time.Unix(sec, 0)); d > signatureWindow || d < -signatureWindow {
		return errBadSignature
	}
	mac := hmac.New(sha256.New, v.secret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	// Slack sends lower-case hex: compare the text, so that exactly one
	// signature string is accepted.
	if !hmac.Equal([]byte(sig[3:]), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return errBadSignature
	}
	return nil
}

// Sign returns the signature headers for body at time ts, as Slack sends them.
// Tests and the load tool use it.
func Sign(secret string, ts time.Time, body []byte) http.Header {
	t := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + t + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", t)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}
