package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// ackFlush is how long shutdown lets slack-go write the acks it queued.
const ackFlush = 250 * time.Millisecond

// runSocket serves Slack over Socket Mode until ctx ends: each envelope is
// handled on its own goroutine and acked with the handler's payload, exactly as
// the HTTP transport would answer it. Envelopes in flight when ctx ends are
// finished and acked before it returns.
func (d *dispatcher) runSocket(ctx context.Context, client *socketmode.Client, connected func()) error {
	errc := make(chan error, 1)
	runCtx, stopClient := context.WithCancel(context.Background())
	defer stopClient()
	go func() { errc <- client.RunContext(runCtx) }()

	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		select {
		case <-ctx.Done():
			inflight.Wait() // finish in-flight acks while the socket is still open
			// Ack only queues the response; slack-go writes it from another
			// goroutine and has no flush. Give the writer a moment.
			select {
			case <-time.After(ackFlush):
			case <-errc:
			}
			stopClient()
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("socket mode: %w", err)
			}
			return nil
		case evt, ok := <-client.Events:
			if !ok {
				return nil
			}
			if evt.Type == socketmode.EventTypeConnected {
				connected()
			}
			if evt.Request == nil || evt.Request.EnvelopeID == "" {
				continue
			}
			inflight.Go(func() { d.envelope(ctx, client, evt) })
		}
	}
}

func (d *dispatcher) envelope(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	start := d.now()
	defer func() {
		// A handler bug must not take the whole bot down: log it and ack
		// empty, as the HTTP server would answer 500.
		if p := recover(); p != nil {
			d.log.Error("handler panicked", "type", evt.Type, "panic", p, "stack", string(debug.Stack()))
			_ = client.Ack(*evt.Request)
		}
	}()
	var payload any
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		if cmd, ok := evt.Data.(slack.SlashCommand); ok {
			payload = d.command(context.WithoutCancel(ctx), cmd, start)
		}
	case socketmode.EventTypeInteractive:
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			payload = d.interaction(context.WithoutCancel(ctx), cb, start)
		}
	case socketmode.EventTypeEventsAPI:
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			d.event(ev, eventID(evt), start)
		}
	default:
		d.log.Debug("socket mode envelope ignored", "type", evt.Type)
	}
	if isNil(payload) {
		payload = nil
	}
	if err := client.Ack(*evt.Request, payload); err != nil {
		d.log.Error("socket mode ack failed", "type", evt.Type, "err", err)
	}
}

// eventID reads the event_id of an Events API envelope, for de-duplication.
func eventID(evt socketmode.Event) string {
	var outer struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(evt.Request.Payload, &outer); err != nil {
		return ""
	}
	return outer.EventID
}
