package fakeslack

import (
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
)

// limits holds the rate limit and latency options. The buckets and the count
// are guarded by Server.mu.
type limits struct {
	burst   int                // messages a channel may take at once; 0 when there is no rate limit
	every   time.Duration      // the time it takes a channel to earn one more message
	latency time.Duration      // added to every Web API answer
	buckets map[string]*bucket // channel → its tokens
	sent    int                // 429 answers sent by the rate limit
}

// bucket is the token bucket of one channel.
type bucket struct {
	tokens float64   // messages the channel may take now, up to the burst
	at     time.Time // when tokens was computed, by the Server's clock
}

// WithRateLimit makes chat.postMessage enforce Slack's limit of about one
// message per second per channel, with short bursts: each channel (a user ID
// counts as its DM) has a bucket of burst messages that refills one message
// per every, by the Server's clock (WithNow). A call over the limit is
// recorded and answered HTTP 429 with {"ok":false,"error":"ratelimited"} and
// a Retry-After header in whole seconds, at least 1, after which the call
// would pass; slack-go reports it as a *slack.RateLimitedError. It does not
// use up a message. A burst below 1 counts as 1; every defaults to one second.
// Without WithRateLimit nothing is rate limited.
func WithRateLimit(burst int, every time.Duration) Option {
	return func(s *Server) {
		s.limits.burst = max(burst, 1)
		s.limits.every = every
		if every <= 0 {
			s.limits.every = time.Second
		}
	}
}

// WithLatency makes the fake a slow Slack: it acts on every Web API call as
// it arrives (the call is recorded, the message posted) but holds its answer
// back for d, in real time, so that a client that gives up or crashes within
// d leaves its effect behind. It does not apply to response_url posts or to
// Socket Mode.
func WithLatency(d time.Duration) Option {
	return func(s *Server) { s.limits.latency = d }
}

// RateLimited returns how many calls the rate limit of WithRateLimit answered
// with 429 so far. Failures queued with FailNext are not counted.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits.sent
}

// throttle applies the rate limit to c. When c is over the limit it counts a
// 429 and returns the Retry-After in seconds.
func (s *Server) throttle(c Call) (retryAfter int, limited bool) {
	if c.Method != "chat.postMessage" {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &s.limits
	if l.burst == 0 {
		return 0, false
	}
	channel := c.Param("channel")
	if isUserID(channel) {
		channel = "D" + channel
	}
	now := s.now()
	b, ok := l.buckets[channel]
	if !ok {
		if l.buckets == nil {
			l.buckets = make(map[string]*bucket)
		}
		b = &bucket{tokens: float64(l.burst), at: now}
		l.buckets[channel] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(l.burst), b.tokens+float64(elapsed)/float64(l.every))
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, false
	}
	l.sent++
	wait := time.Duration((1 - b.tokens) * float64(l.every))
	return max(int(math.Ceil(wait.Seconds())), 1), true
}

// writeRateLimited answers a call over the rate limit as Slack does.
func writeRateLimited(w http.ResponseWriter, retryAfter int) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeJSON(w, http.StatusTooManyRequests, fail("ratelimited"))
}

// slow returns h delayed by the latency of WithLatency, if any: h runs at
// once, and its answer is sent when the latency has passed. When the client
// goes away or the Server closes first, the answer is dropped.
func (s *Server) slow(h http.HandlerFunc) http.HandlerFunc {
	if s.limits.latency <= 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h(rec, r)
		t := time.NewTimer(s.limits.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}
