package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/store"
	"github.com/slack-go/slack"
)

// Outbox is the store's side of notification delivery.
type Outbox interface {
	PendingDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error)
	Acknowledge(ctx context.Context, acks []store.Ack) error
	Defer(ctx context.Context, key uint64, notBefore time.Time, lastErr string) error
	DeadLetter(ctx context.Context, key uint64, reason string) error
}

// Deliverer sends one notification to Slack.
type Deliverer interface {
	Deliver(ctx context.Context, n astrobot.Notification, r astrobot.Request, e astrobot.Event) (*astrobot.MessageRef, error)
}

// CleanupFunc deletes the pending peering of a cancelled request.
type CleanupFunc func(ctx context.Context, r astrobot.Request) error

// routed sends Slack notifications with slack and cleanups with cleanup; a
// nil cleanup (manual mode, where support deletes the peering by hand) does
// nothing.
type routed struct {
	slack   Deliverer
	cleanup CleanupFunc
}

// Deliver implements Deliverer.
func (d routed) Deliver(ctx context.Context, n astrobot.Notification, r astrobot.Request, e astrobot.Event) (*astrobot.MessageRef, error) {
	if n.Kind != astrobot.NotifyCleanup {
		return d.slack.Deliver(ctx, n, r, e)
	}
	if d.cleanup == nil {
		return nil, nil
	}
	return nil, d.cleanup(ctx, r)
}

// Outbox delivery tuning.
const (
	outboxBatch       = 32 // entries claimed per round
	outboxParallel    = 8  // Slack calls in flight
	outboxPoll        = 100 * time.Millisecond
	deliveryTimeout   = 15 * time.Second // one Slack call
	maxBackoff        = 5 * time.Minute
	authErrorBackoff  = time.Minute // a bad token needs the operator; keep the entry
	minRateLimitDelay = time.Second
)

// OutboxWorker delivers the notifications the store wrote in the same
// transaction as each change. Slack's 429s wait Retry-After, transient
// errors back off and retry, permanent errors go to the dead-letter bucket with
// a log line and a metric. Entries of one request go out in order.
type OutboxWorker struct {
	box  Outbox
	send Deliverer
	now  func() time.Time
	log  *slog.Logger
	m    *Metrics
}

// NewOutboxWorker returns a worker delivering box's entries with send.
func NewOutboxWorker(box Outbox, send Deliverer, now func() time.Time, log *slog.Logger, m *Metrics) *OutboxWorker {
	return &OutboxWorker{box: box, send: send, now: now, log: log, m: m}
}

// Run delivers until ctx ends, then finishes the round in flight.
func (w *OutboxWorker) Run(ctx context.Context) error {
	for {
		n, err := w.round(ctx)
		if err != nil {
			w.log.Error("outbox round failed", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(outboxPoll):
		}
	}
}

type outcome struct {
	d    store.Delivery
	card *astrobot.MessageRef
	err  error
}

// round claims one batch and delivers it, returning how many it handled.
func (w *OutboxWorker) round(ctx context.Context) (int, error) {
	if ctx.Err() != nil {
		return 0, nil
	}
	ds, err := w.box.PendingDeliveries(ctx, w.now(), outboxBatch)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	// Deliveries are not cut short by shutdown: a half-sent round would only
	// be sent again.
	dctx := context.WithoutCancel(ctx)
	results := make([]outcome, len(ds))
	sem := make(chan struct{}, outboxParallel)
	var wg sync.WaitGroup
	for i, d := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, cancel := context.WithTimeout(dctx, deliveryTimeout)
			defer cancel()
			card, err := w.send.Deliver(c, d.Notification, d.Request, d.Event)
			results[i] = outcome{d: d, card: card, err: err}
		})
	}
	wg.Wait()

	// One commit acknowledges the round: delivery is at least once, and a
	// crash before it resends at most this round.
	var acks []store.Ack
	for _, o := range results {
		if o.err == nil {
			acks = append(acks, store.Ack{Key: o.d.Key, Card: o.card})
		}
	}
	if err := w.box.Acknowledge(dctx, acks); err != nil {
		return len(ds), fmt.Errorf("acknowledge outbox entries: %w", err)
	}
	for _, o := range results {
		kind := string(o.d.Notification.Kind)
		if o.err == nil {
			w.m.Deliveries.WithLabelValues(kind, "delivered").Inc()
			continue
		}
		attrs := []any{"request", o.d.Request.ID.String(), "kind", kind, "attempt", o.d.Attempts + 1, "err", o.err}
		if delay, retry := retryDelay(o.err, o.d.Attempts); retry {
			w.m.Deliveries.WithLabelValues(kind, "deferred").Inc()
			w.log.Warn("notification deferred", append(attrs, "retry_in", delay.String())...)
			if err := w.box.Defer(dctx, o.d.Key, w.now().Add(delay), o.err.Error()); err != nil {
				return len(ds), fmt.Errorf("defer outbox entry: %w", err)
			}
			continue
		}
		w.m.Deliveries.WithLabelValues(kind, "dead_letter").Inc()
		w.log.Error("notification dead-lettered: Slack refused it for good", attrs...)
		if err := w.box.DeadLetter(dctx, o.d.Key, o.err.Error()); err != nil {
			return len(ds), fmt.Errorf("dead-letter outbox entry: %w", err)
		}
	}
	return len(ds), nil
}

// retryDelay classifies a delivery error: how long to wait before the next
// attempt, or retry=false when Slack will never take this message.
func retryDelay(err error, attempts int) (delay time.Duration, retry bool) {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return max(rl.RetryAfter, minRateLimitDelay), true
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
	backoff := time.Second << min(attempts, 10)
	return min(backoff, maxBackoff), true
}
