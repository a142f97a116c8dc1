package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// Queue is one of the store's durable work queues: the outbox of Slack
// notifications, or the jobs the bot owes in AWS. Entries are written in the
// same transaction as the event that owes them, taken in order per request,
// retried until done, and moved to the queue's dead-letter bucket when they
// can never be done. Get them with DB.Outbox and DB.Jobs.
type Queue struct {
	db   *DB
	name string // the bucket of waiting entries
	dead string // the bucket of entries given up on
}

// Outbox returns the queue of Slack notifications (astrobot.Notification).
func (db *DB) Outbox() *Queue { return &Queue{db: db, name: bucketOutbox, dead: bucketDeadletter} }

// Jobs returns the queue of work in AWS (astrobot.Job).
func (db *DB) Jobs() *Queue { return &Queue{db: db, name: bucketJobs, dead: bucketDeadJobs} }

// Entry is a queue entry that is due, with what it takes to act on it.
type Entry struct {
	Key       uint64 // the queue key: Done, Retry and DeadLetter take it
	Kind      string // an astrobot.NotificationKind in the outbox, an astrobot.JobKind in the jobs queue
	Attempts  int    // failed attempts so far
	NotBefore time.Time
	LastError string           // why the last attempt failed
	Claimed   bool             // a worker took it before (Claim): it may have been done already
	Request   astrobot.Request // the request as it stands when the entry is read
	Event     astrobot.Event   // the event the entry is about
}

// Notification returns the entry as an outbox notification.
func (e Entry) Notification() astrobot.Notification {
	return astrobot.Notification{RequestID: e.Request.ID, Kind: astrobot.NotificationKind(e.Kind), Event: e.Event.Seq}
}

// Job returns the entry as a job.
func (e Entry) Job() astrobot.Job {
	return astrobot.Job{RequestID: e.Request.ID, Kind: astrobot.JobKind(e.Kind), Event: e.Event.Seq}
}

// enqueue appends an entry for event of request id to the queue bucket name.
func (db *DB) enqueue(tx *bolt.Tx, name string, id astrobot.RequestID, kind string, event int) error {
	b := bucket(tx, name)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	data, err := json.Marshal(queueRecord{RequestID: uint64(id), Kind: kind, Event: event, CreatedAt: utc(db.now())})
	if err != nil {
		return err
	}
	return b.Put(u64(seq), data)
}

// Due returns the entries due at now, in queue order, at most limit of them
// (all when limit <= 0). It returns at most one per request, the earliest, so
// that a request's entries are done in order (its card before its thread lines
// and direct messages); a request whose earliest entry is deferred past now
// waits entirely. It changes nothing: workers Claim.
func (q *Queue) Due(ctx context.Context, now time.Time, limit int) ([]Entry, error) {
	var out []Entry
	err := q.db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = q.due(tx, now, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list due %s entries: %w", q.name, err)
	}
	return out, nil
}

// Claim marks the entries keys as taken by a worker, in one transaction, and
// reports for each whether it was taken before (by an earlier round, maybe of
// a process that crashed before it recorded the outcome): only such an entry
// may have been done already. Keys no longer in the queue read as not taken.
func (q *Queue) Claim(ctx context.Context, keys ...uint64) ([]bool, error) {
	before := make([]bool, len(keys))
	err := q.db.batch(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, q.name)
		for i, k := range keys {
			v := b.Get(u64(k))
			if v == nil {
				before[i] = false
				continue
			}
			rec, err := decodeQueue(q.name, k, v)
			if err != nil {
				return err
			}
			before[i] = rec.Claimed
			if rec.Claimed {
				continue
			}
			rec.Claimed = true
			data, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := b.Put(u64(k), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim %s entries: %w", q.name, err)
	}
	return before, nil
}

// due reads the entries due at now inside tx.
func (q *Queue) due(tx *bolt.Tx, now time.Time, limit int) ([]Entry, error) {
	var out []Entry
	err := func() error {
		seen := make(map[astrobot.RequestID]bool)
		c := bucket(tx, q.name).Cursor()
		for k, v := c.First(); k != nil && !full(out, limit); k, v = c.Next() {
			key := binary.BigEndian.Uint64(k)
			rec, err := decodeQueue(q.name, key, v)
			if err != nil {
				return err
			}
			id := astrobot.RequestID(rec.RequestID)
			if seen[id] {
				continue
			}
			seen[id] = true
			if rec.NotBefore.After(now) {
				continue
			}
			r, err := getRequest(tx, id)
			if err != nil {
				return fmt.Errorf("%s entry %d: %w", q.name, key, err)
			}
			ev, err := getEvent(tx, id, rec.Event)
			if err != nil {
				return fmt.Errorf("%s entry %d: %w", q.name, key, err)
			}
			out = append(out, Entry{Key: key, Kind: rec.Kind, Attempts: rec.Attempts, NotBefore: rec.NotBefore,
				LastError: rec.LastError, Claimed: rec.Claimed, Request: r, Event: ev})
		}
		return nil
	}()
	return out, err
}

// getEvent reads event seq of request id.
func getEvent(tx *bolt.Tx, id astrobot.RequestID, seq int) (astrobot.Event, error) {
	v := bucket(tx, bucketEvents).Get(eventKey(id, seq))
	if v == nil {
		return astrobot.Event{}, fmt.Errorf("event %d of request %d is missing", seq, id)
	}
	return decodeEvent(id, seq, v)
}

// Done removes entries that were done, in one transaction. Keys no longer in
// the queue are ignored, so a repeated call is harmless. Concurrent calls
// share one commit (bolt's Batch).
func (q *Queue) Done(ctx context.Context, keys ...uint64) error {
	if len(keys) == 0 {
		return ctx.Err()
	}
	err := q.db.batch(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, q.name)
		for _, k := range keys {
			if err := b.Delete(u64(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove done %s entries: %w", q.name, err)
	}
	return nil
}

// Retry records a failed attempt at entry key: it counts the attempt, keeps
// lastErr and holds the entry (and the later ones of its request) until
// notBefore. maybeDone says the attempt may have taken effect all the same (a
// timeout): false clears the entry's claim, so that the next attempt does not
// look for what this one did.
func (q *Queue) Retry(ctx context.Context, key uint64, notBefore time.Time, lastErr string, maybeDone bool) error {
	err := q.db.update(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, q.name)
		rec, err := getQueued(b, q.name, key)
		if err != nil {
			return err
		}
		rec.Attempts++
		rec.NotBefore, rec.LastError = utc(notBefore), lastErr
		rec.Claimed = rec.Claimed && maybeDone
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put(u64(key), data)
	})
	if err != nil {
		return domainOr(err, fmt.Sprintf("defer %s entry %d", q.name, key))
	}
	return nil
}

// DeadLetter moves entry key to the queue's dead-letter bucket with reason and
// the time, so that the later entries of its request can go.
func (q *Queue) DeadLetter(ctx context.Context, key uint64, reason string) error {
	err := q.db.update(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, q.name)
		rec, err := getQueued(b, q.name, key)
		if err != nil {
			return err
		}
		data, err := json.Marshal(deadRecord{queueRecord: rec, Reason: reason, DeadAt: utc(q.db.now())})
		if err != nil {
			return err
		}
		if err := bucket(tx, q.dead).Put(u64(key), data); err != nil {
			return err
		}
		return b.Delete(u64(key))
	})
	if err != nil {
		return domainOr(err, fmt.Sprintf("dead-letter %s entry %d", q.name, key))
	}
	return nil
}

// getQueued reads entry key of the queue bucket b, or returns an ENotFound error.
func getQueued(b *bolt.Bucket, name string, key uint64) (queueRecord, error) {
	v := b.Get(u64(key))
	if v == nil {
		return queueRecord{}, astrobot.Errorf(astrobot.ENotFound, "No %s entry %d: it was done or dead-lettered already.", name, key)
	}
	return decodeQueue(name, key, v)
}

// DeadLetter is an entry given up on.
type DeadLetter struct {
	Key       uint64
	RequestID astrobot.RequestID
	Kind      string
	Event     int
	CreatedAt time.Time
	Attempts  int
	LastError string
	Reason    string
	DeadAt    time.Time
}

// DeadLetters returns the entries given up on, oldest first, at most limit
// of them (all when limit <= 0).
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := q.db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, q.dead).Cursor()
		for k, v := c.First(); k != nil && !full(out, limit); k, v = c.Next() {
			var rec deadRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode %s entry %d: %w", q.dead, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, DeadLetter{Key: binary.BigEndian.Uint64(k), RequestID: astrobot.RequestID(rec.RequestID),
				Kind: rec.Kind, Event: rec.Event, CreatedAt: rec.CreatedAt, Attempts: rec.Attempts,
				LastError: rec.LastError, Reason: rec.Reason, DeadAt: rec.DeadAt})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", q.dead, err)
	}
	return out, nil
}

// QueueStats describes a queue, for metrics.
type QueueStats struct {
	Depth       int       // entries waiting
	Oldest      time.Time // creation time of the oldest waiting entry; zero if none
	DeadLetters int       // entries given up on
}

// Stats returns the depth of the queue, the age of its oldest entry and the
// number of dead letters.
func (q *Queue) Stats(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	err := q.db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, q.name)
		st.Depth = b.Stats().KeyN
		st.DeadLetters = bucket(tx, q.dead).Stats().KeyN
		// Keys grow with time: the first entry is the oldest.
		if k, v := b.Cursor().First(); k != nil {
			rec, err := decodeQueue(q.name, binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			st.Oldest = rec.CreatedAt
		}
		return nil
	})
	if err != nil {
		return QueueStats{}, fmt.Errorf("%s stats: %w", q.name, err)
	}
	return st, nil
}
