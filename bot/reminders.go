package bot

import (
	"context"
	"log/slog"
	"time"

	"github.com/astrobot-dev/astrobot"
)

// Reminders is the store's side of the reminder worker.
type Reminders interface {
	RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error)
	Apply(ctx context.Context, id astrobot.RequestID, c astrobot.Change) (astrobot.Request, astrobot.Event, error)
}

// Reminder tuning.
const (
	reminderInterval = time.Minute
	reminderScan     = 10000 // waiting requests looked at per round
)

// ReminderWorker nudges support about unclaimed requests and the requester
// about requests waiting for them. A reminder is an event like
// any other, recorded with its notification in one transaction, so at most one
// goes out per SLA window, restarts included.
type ReminderWorker struct {
	store Reminders
	sla   astrobot.SLAs
	now   func() time.Time
	log   *slog.Logger
}

// NewReminderWorker returns a worker applying sla to the requests of store.
func NewReminderWorker(store Reminders, sla astrobot.SLAs, now func() time.Time, log *slog.Logger) *ReminderWorker {
	return &ReminderWorker{store: store, sla: sla, now: now, log: log}
}

// Run sends due reminders every minute until ctx ends.
func (w *ReminderWorker) Run(ctx context.Context) {
	t := time.NewTicker(reminderInterval)
	defer t.Stop()
	for {
		if n, err := w.Round(ctx); err != nil {
			w.log.Error("reminder round failed", "err", err)
		} else if n > 0 {
			w.log.Info("reminders sent", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round sends every reminder due now and returns how many it sent.
func (w *ReminderWorker) Round(ctx context.Context) (int, error) {
	rs, err := w.store.RequestsByStatus(ctx, astrobot.WaitingStatuses(), reminderScan)
	if err != nil {
		return 0, err
	}
	now, sent := w.now(), 0
	for _, r := range rs {
		action, due := r.ReminderDue(now, w.sla)
		if !due {
			continue
		}
		_, _, err := w.store.Apply(ctx, r.ID, astrobot.Change{Action: action, Actor: astrobot.ActorBot, Role: astrobot.RoleBot, At: now,
			Note: "waiting for " + r.Owner().String() + " since " + r.UpdatedAt.UTC().Format("2006-01-02 15:04 UTC")})
		switch astrobot.ErrorCodeOf(err) {
		case "":
			sent++
		case astrobot.EConflict: // it moved on meanwhile: no reminder owed
		default:
			return sent, err
		}
	}
	return sent, nil
}
