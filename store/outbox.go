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

// Delivery is a notification waiting in the outbox, with what it takes to
// render it.
type Delivery struct {
	Key          uint64 // the outbox key: Acknowledge, Defer and DeadLetter take it
	Notification astrobot.Notification
	Attempts     int              // failed attempts so far
	NotBefore    time.Time        // not to be tried before; zero for at once
	LastError    string           // why the last attempt failed
	Request      astrobot.Request // the request as it stands when the delivery is read
	Event        astrobot.Event   // the event the notification is about
}

// enqueue appends notifications to the outbox, in order.
func (db *DB) enqueue(tx *bolt.Tx, ns []astrobot.Notification) error {
	b := bucket(tx, bucketOutbox)
	now := utc(db.now())
	for _, n := range ns {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		data, err := json.Marshal(outboxRecord{RequestID: uint64(n.RequestID), Kind: string(n.Kind), Event: n.Event, CreatedAt: now})
		if err != nil {
			return err
		}
		if err := b.Put(u64(seq), data); err != nil {
			return err
		}
	}
	return nil
}

// PendingDeliveries returns the notifications due at now, in outbox order, at
// most limit of them (all when limit <= 0). It returns at most one per request,
// the earliest, so that a request's card is posted before its thread lines and
// direct messages; a request whose earliest entry is deferred past now waits
// entirely.
func (db *DB) PendingDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	var out []Delivery
	err := db.view(ctx, func(tx *bolt.Tx) error {
		seen := make(map[astrobot.RequestID]bool)
		c := bucket(tx, bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && !full(out, limit); k, v = c.Next() {
			key := binary.BigEndian.Uint64(k)
			rec, err := decodeOutbox(key, v)
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
				return fmt.Errorf("outbox entry %d: %w", key, err)
			}
			ev, err := getEvent(tx, id, rec.Event)
			if err != nil {
				return fmt.Errorf("outbox entry %d: %w", key, err)
			}
			out = append(out, Delivery{Key: key, Notification: rec.notification(), Attempts: rec.Attempts,
				NotBefore: rec.NotBefore, LastError: rec.LastError, Request: r, Event: ev})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pending deliveries: %w", err)
	}
	return out, nil
}

// getEvent reads event seq of request id.
func getEvent(tx *bolt.Tx, id astrobot.RequestID, seq int) (astrobot.Event, error) {
	v := bucket(tx, bucketEvents).Get(eventKey(id, seq))
	if v == nil {
		return astrobot.Event{}, fmt.Errorf("event %d of %s is missing", seq, id)
	}
	return decodeEvent(id, seq, v)
}

// Ack reports one delivered notification.
type Ack struct {
	Key  uint64
	Card *astrobot.MessageRef // set when the delivery posted the support card
}

// Acknowledge removes delivered notifications from the outbox, in one
// transaction. An Ack with a Card records it on the request unless the request
// has a card already. Keys no longer in the outbox are ignored, so a repeated
// acknowledgement is harmless. Concurrent calls share one commit (bolt's
// Batch), so a worker may acknowledge each delivery as soon as Slack took it.
func (db *DB) Acknowledge(ctx context.Context, acks []Ack) error {
	if len(acks) == 0 || ctx.Err() != nil {
		return ctx.Err()
	}
	err := db.bolt.Batch(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketOutbox)
		for _, a := range acks {
			k := u64(a.Key)
			v := b.Get(k)
			if v == nil {
				continue
			}
			if a.Card != nil {
				rec, err := decodeOutbox(a.Key, v)
				if err != nil {
					return err
				}
				r, err := getRequest(tx, astrobot.RequestID(rec.RequestID))
				if err != nil {
					return err
				}
				if r.Card == (astrobot.MessageRef{}) {
					r.Card = *a.Card
					if err := putRequest(tx, &r); err != nil {
						return err
					}
				}
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge deliveries: %w", err)
	}
	return nil
}

// Defer records a failed attempt at outbox entry key: it counts the attempt,
// keeps lastErr and holds the entry (and the later ones of its request) until
// notBefore.
func (db *DB) Defer(ctx context.Context, key uint64, notBefore time.Time, lastErr string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketOutbox)
		rec, err := getOutbox(b, key)
		if err != nil {
			return err
		}
		rec.Attempts++
		rec.NotBefore, rec.LastError = utc(notBefore), lastErr
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put(u64(key), data)
	})
	if err != nil {
		return domainOr(err, fmt.Sprintf("defer outbox entry %d", key))
	}
	return nil
}

// DeadLetter moves outbox entry key to the dead-letter bucket with reason and
// the time, so that the later entries of its request can go.
func (db *DB) DeadLetter(ctx context.Context, key uint64, reason string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketOutbox)
		rec, err := getOutbox(b, key)
		if err != nil {
			return err
		}
		data, err := json.Marshal(deadRecord{outboxRecord: rec, Reason: reason, DeadAt: utc(db.now())})
		if err != nil {
			return err
		}
		if err := bucket(tx, bucketDeadletter).Put(u64(key), data); err != nil {
			return err
		}
		return b.Delete(u64(key))
	})
	if err != nil {
		return domainOr(err, fmt.Sprintf("dead-letter outbox entry %d", key))
	}
	return nil
}

// getOutbox reads entry key of the outbox b, or returns an ENotFound error.
func getOutbox(b *bolt.Bucket, key uint64) (outboxRecord, error) {
	v := b.Get(u64(key))
	if v == nil {
		return outboxRecord{}, astrobot.Errorf(astrobot.ENotFound, "No outbox entry %d: it was delivered or dead-lettered already.", key)
	}
	return decodeOutbox(key, v)
}

// OutboxStats describes the outbox, for metrics.
type OutboxStats struct {
	Depth       int       // entries waiting
	Oldest      time.Time // creation time of the oldest waiting entry; zero if none
	DeadLetters int       // entries given up on
}

// OutboxStats returns the depth of the outbox, the age of its oldest entry and
// the number of dead letters.
func (db *DB) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketOutbox)
		st.Depth = b.Stats().KeyN
		st.DeadLetters = bucket(tx, bucketDeadletter).Stats().KeyN
		// Keys grow with time: the first entry is the oldest.
		if k, v := b.Cursor().First(); k != nil {
			rec, err := decodeOutbox(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			st.Oldest = rec.CreatedAt
		}
		return nil
	})
	if err != nil {
		return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	return st, nil
}
