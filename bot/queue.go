package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
)

// Queue is the store's side of a queue worker; *store.Queue implements it.
type Queue interface {
	Due(ctx context.Context, now time.Time, limit int) ([]store.Entry, error)
	Claim(ctx context.Context, keys ...uint64) ([]bool, error)
	Done(ctx context.Context, keys ...uint64) error
	Retry(ctx context.Context, key uint64, notBefore time.Time, lastErr string, maybeDone bool) error
	DeadLetter(ctx context.Context, key uint64, reason string) error
}

// DoFunc does one queue entry: delivers a notification, runs a job.
type DoFunc func(ctx context.Context, e store.Entry) error

// RetryFunc classifies an error of a DoFunc: how long to wait before the next
// attempt, or retry=false when the entry can never be done.
type RetryFunc func(err error, attempts int) (delay time.Duration, retry bool)

// Queue worker tuning.
const (
	queueBatch       = 32 // entries claimed per round
	queueParallel    = 8  // entries done at once
	queuePoll        = 100 * time.Millisecond
	entryTimeout     = 15 * time.Second // one Slack or AWS call
	maxBackoff       = 5 * time.Minute
	authErrorBackoff = time.Minute // a bad token needs the operator; keep the entry
	minRetryAfter    = time.Second
)

// QueueWorker does the entries of one of the store's queues, which the store
// wrote in the same transaction as each change: a failed entry waits as
// RetryFunc says and is tried again, one that can never be done goes to the
// dead-letter bucket with a log line and a metric. Entries of one request are
// done in order. Build it with NewQueueWorker.
type QueueWorker struct {
	QueueConfig
	now func() time.Time
	log *slog.Logger
}

// QueueConfig says what a QueueWorker does.
type QueueConfig struct {
	Name     string // for logs: "outbox", "jobs"
	Queue    Queue
	Do       DoFunc
	Retry    RetryFunc
	NotDone  func(error) bool       // whether a failure proves the entry had no effect (nil: none does)
	Outcomes *prometheus.CounterVec // by entry kind and outcome: Done, "deferred", "dead_letter"
	Done     string                 // the outcome of an entry done: "delivered", "done"

	// Pace, when set, spaces the entries that go to one conversation
	// (Conversation names it; "" for an entry that is not paced) as Slack
	// allows; a failed entry holds its conversation until its retry.
	Pace         *Pacer
	Conversation func(store.Entry) string
}

// NewQueueWorker returns a worker as c says.
func NewQueueWorker(c QueueConfig, now func() time.Time, log *slog.Logger) *QueueWorker {
	return &QueueWorker{QueueConfig: c, now: now, log: log.With("queue", c.Name)}
}

// Run does entries until ctx ends, then finishes the round in flight.
func (w *QueueWorker) Run(ctx context.Context) {
	for {
		n, err := w.Round(ctx)
		if err != nil {
			w.log.Error("queue round failed", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(queuePoll):
		}
	}
}

// result is what became of one entry.
type result struct {
	e   store.Entry
	err error
}

// Round takes one batch of due entries (those whose conversation may take a
// message now), marks them claimed, does them and records the outcomes,
// returning how many it handled.
func (w *QueueWorker) Round(ctx context.Context) (int, error) {
	if ctx.Err() != nil {
		return 0, nil
	}
	due, err := w.Queue.Due(ctx, w.now(), 4*queueBatch)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	due = w.paced(due)
	if len(due) == 0 {
		return 0, nil
	}
	keys := make([]uint64, len(due))
	for i, e := range due {
		keys[i] = e.Key
	}
	before, err := w.Queue.Claim(ctx, keys...)
	if err != nil {
		return 0, err
	}
	for i := range due {
		due[i].Claimed = before[i]
	}
	// Entries are not cut short by shutdown: a half-done round would only
	// be done again.
	dctx := context.WithoutCancel(ctx)
	return len(due), w.settle(dctx, w.doAll(dctx, due))
}

// paced returns at most queueBatch of due, leaving those whose conversation
// may not take a message yet.
func (w *QueueWorker) paced(due []store.Entry) []store.Entry {
	var out []store.Entry
	now := w.now()
	for _, e := range due {
		if len(out) == queueBatch {
			break
		}
		if w.Pace == nil || w.Pace.Allow(w.Conversation(e), now) {
			out = append(out, e)
		}
	}
	return out
}

// doAll does the entries, queueParallel at a time.
func (w *QueueWorker) doAll(ctx context.Context, due []store.Entry) []result {
	results := make([]result, len(due))
	sem := make(chan struct{}, queueParallel)
	var wg sync.WaitGroup
	for i, e := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, cancel := context.WithTimeout(ctx, entryTimeout)
			defer cancel()
			results[i] = result{e: e, err: w.Do(c, e)}
		})
	}
	wg.Wait()
	return results
}

// settle records the outcomes: one commit removes every entry done (a crash
// before it does this round again), then each failure is deferred or
// dead-lettered.
func (w *QueueWorker) settle(ctx context.Context, results []result) error {
	var done []uint64
	for _, r := range results {
		if r.err == nil {
			done = append(done, r.e.Key)
		}
	}
	if err := w.Queue.Done(ctx, done...); err != nil {
		return fmt.Errorf("remove done %s entries: %w", w.Name, err)
	}
	for _, r := range results {
		if r.err == nil {
			w.Outcomes.WithLabelValues(r.e.Kind, w.Done).Inc()
			continue
		}
		attrs := []any{"request", r.e.Request.Ref(), "kind", r.e.Kind, "attempt", r.e.Attempts + 1, "err", r.err}
		if delay, retry := w.Retry(r.err, r.e.Attempts); retry {
			if w.Pace != nil {
				w.Pace.Hold(w.Conversation(r.e), w.now().Add(delay))
			}
			w.Outcomes.WithLabelValues(r.e.Kind, "deferred").Inc()
			w.log.Warn("queue entry deferred", append(attrs, "retry_in", delay.String())...)
			// An entry taken before this round may have been done by an
			// earlier one whatever this attempt says.
			maybeDone := r.e.Claimed || w.NotDone == nil || !w.NotDone(r.err)
			if err := w.Queue.Retry(ctx, r.e.Key, w.now().Add(delay), r.err.Error(), maybeDone); err != nil {
				return fmt.Errorf("defer %s entry: %w", w.Name, err)
			}
			continue
		}
		w.Outcomes.WithLabelValues(r.e.Kind, "dead_letter").Inc()
		w.log.Error("queue entry dead-lettered: it can never be done", attrs...)
		if err := w.Queue.DeadLetter(ctx, r.e.Key, r.err.Error()); err != nil {
			return fmt.Errorf("dead-letter %s entry: %w", w.Name, err)
		}
	}
	return nil
}

// slackRefused is the outbox's NotDone: Slack answered, and refused, so
// nothing was posted — unlike a timeout, after which the message may be there.
func slackRefused(err error) bool {
	_, limited := errors.AsType[*slack.RateLimitedError](err)
	_, refused := errors.AsType[slack.SlackErrorResponse](err)
	return limited || refused
}

// backoff is the wait before the next attempt after attempts failed ones.
func backoff(attempts int) time.Duration {
	return min(time.Second<<min(attempts, 10), maxBackoff)
}

// Deliverer sends one notification to Slack; *handlers.Handler implements it.
type Deliverer interface {
	Deliver(ctx context.Context, d handlers.Delivery) (*astrobot.MessageRef, error)
	Conversation(d handlers.Delivery) string
}

// CardRecorder keeps the reference of a posted support card; *store.DB
// implements it.
type CardRecorder interface {
	RecordCard(ctx context.Context, id astrobot.RequestID, ref astrobot.MessageRef) error
}

// delivery is the outbox entry e as the Deliverer takes it: one that was
// claimed before may have been posted already.
func delivery(e store.Entry) handlers.Delivery {
	return handlers.Delivery{Entry: e.Key, MaybeSent: e.Claimed, Notification: e.Notification(), Request: e.Request, Event: e.Event}
}

// deliver is the outbox's DoFunc: it sends the notification and keeps the
// reference of a card it posted.
func deliver(send Deliverer, cards CardRecorder) DoFunc {
	return func(ctx context.Context, e store.Entry) error {
		ref, err := send.Deliver(ctx, delivery(e))
		if err != nil || ref == nil {
			return err
		}
		return cards.RecordCard(ctx, e.Request.ID, *ref)
	}
}

// conversation is the outbox's Conversation: where the entry's message goes.
func conversation(send Deliverer) func(store.Entry) string {
	return func(e store.Entry) string { return send.Conversation(delivery(e)) }
}

// Pacer spaces the messages posted to each conversation as Slack allows:
// burst at once, then one every interval (a token bucket per conversation);
// after a failure, nothing until its retry. It is safe for concurrent use.
type Pacer struct {
	burst int
	every time.Duration

	mu   sync.Mutex
	next map[string]time.Time // per conversation: when its bucket would be full again
}

// NewPacer returns a Pacer allowing burst messages at once, then one every
// interval, in each conversation.
func NewPacer(burst int, every time.Duration) *Pacer {
	return &Pacer{burst: burst, every: every, next: map[string]time.Time{}}
}

// Allow reports whether a message may go to conversation at now, and if so
// takes its place. The conversation "" is not paced.
func (p *Pacer) Allow(conversation string, now time.Time) bool {
	if conversation == "" {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	full := p.next[conversation]
	if full.Before(now) {
		full = now
	}
	if full.Sub(now) > time.Duration(p.burst-1)*p.every {
		return false
	}
	p.next[conversation] = full.Add(p.every)
	return true
}

// Hold lets nothing go to conversation before until.
func (p *Pacer) Hold(conversation string, until time.Time) {
	if conversation == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if held := until.Add(time.Duration(p.burst-1) * p.every); held.After(p.next[conversation]) {
		p.next[conversation] = held
	}
}

// slackRetry is the outbox's RetryFunc: Slack's 429s wait Retry-After, a
// message Slack will never take is not retried, a bad token waits for the
// operator, anything else backs off.
func slackRetry(err error, attempts int) (time.Duration, bool) {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return max(rl.RetryAfter, minRetryAfter), true
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		switch se.Err {
		case "channel_not_found", "not_in_channel", "is_archived", "user_not_found", "user_disabled",
			"cannot_dm_bot", "msg_too_long", "invalid_blocks", "message_not_found", "no_text",
			"invalid_arguments", "cant_update_message", "edit_window_closed":
			return 0, false
		case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope":
			return authErrorBackoff, true
		}
	}
	return backoff(attempts), true
}
