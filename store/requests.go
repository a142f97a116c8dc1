package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// CreateRequest files r: it makes it a new request (astrobot.Submit), checks
// it against the claims of the open requests of its cluster
// (astrobot.CheckConflicts), gives it the next ID and writes it with its
// indexes, its submission event and the notifications owed for it. CreatedAt
// and UpdatedAt default to the clock.
//
// viewID identifies the Slack modal r was submitted from. When a request from
// the same view exists already, CreateRequest returns that one and created is
// false: a submission Slack delivers twice files one request.
//
// Concurrent calls share one transaction and one fsync (bolt's Batch). A
// refusal is reported as the *astrobot.Error of Submit or CheckConflicts.
func (db *DB) CreateRequest(ctx context.Context, r astrobot.Request, viewID string) (req astrobot.Request, created bool, err error) {
	if err := ctx.Err(); err != nil {
		return astrobot.Request{}, false, err
	}
	r.ID = 0 // not yet filed: no open request may be mistaken for r
	r, ev, err := astrobot.Submit(r, db.now())
	if err != nil {
		return astrobot.Request{}, false, err
	}
	// Batch may run the function more than once: it only writes its results.
	err = db.bolt.Batch(func(tx *bolt.Tx) error {
		var err error
		req, created, err = db.create(tx, r, ev, viewID)
		return err
	})
	if err != nil {
		return astrobot.Request{}, false, domainOr(err, "create request")
	}
	return req, created, nil
}

// create is CreateRequest inside tx, for r and its event ev as Submit made them.
func (db *DB) create(tx *bolt.Tx, r astrobot.Request, ev astrobot.Event, viewID string) (astrobot.Request, bool, error) {
	views := bucket(tx, bucketViews)
	if viewID != "" {
		if v := views.Get([]byte(viewID)); v != nil {
			got, err := getRequest(tx, astrobot.RequestID(binary.BigEndian.Uint64(v)))
			return got, false, err
		}
	}
	open, err := claimsOnCluster(tx, r.ClusterID)
	if err != nil {
		return astrobot.Request{}, false, err
	}
	if err := astrobot.CheckConflicts(&r, open); err != nil {
		return astrobot.Request{}, false, err
	}
	seq, err := bucket(tx, bucketRequests).NextSequence()
	if err != nil {
		return astrobot.Request{}, false, err
	}
	r.ID = astrobot.RequestID(seq)
	if err := db.write(tx, nil, &r, ev); err != nil {
		return astrobot.Request{}, false, err
	}
	if viewID != "" {
		if err := views.Put([]byte(viewID), u64(uint64(r.ID))); err != nil {
			return astrobot.Request{}, false, err
		}
	}
	return r, true, nil
}

// Apply applies change c to request id: the request, its indexes, the event
// and the notifications it owes are written in one transaction. A change the
// transition table refuses returns the *astrobot.Error of Request.Apply and
// writes nothing. A zero c.At means now.
func (db *DB) Apply(ctx context.Context, id astrobot.RequestID, c astrobot.Change) (astrobot.Request, astrobot.Event, error) {
	var (
		r  astrobot.Request
		ev astrobot.Event
	)
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		r, ev, err = db.apply(tx, id, c)
		return err
	})
	if err != nil {
		return astrobot.Request{}, astrobot.Event{}, domainOr(err, fmt.Sprintf("apply %s to request %d", c.Action, id))
	}
	return r, ev, nil
}

// apply is Apply inside tx.
func (db *DB) apply(tx *bolt.Tx, id astrobot.RequestID, c astrobot.Change) (astrobot.Request, astrobot.Event, error) {
	r, err := getRequest(tx, id)
	if err != nil {
		return astrobot.Request{}, astrobot.Event{}, err
	}
	if c.At.IsZero() {
		c.At = db.now()
	}
	old := r
	ev, err := r.Apply(c, nextEventSeq(tx, id))
	if err != nil {
		return astrobot.Request{}, astrobot.Event{}, err
	}
	if err := db.write(tx, &old, &r, ev); err != nil {
		return astrobot.Request{}, astrobot.Event{}, err
	}
	return r, ev, nil
}

// write stores r, moves its index entries from those of old (nil for a new
// request), appends ev and enqueues the notifications and the jobs ev owes.
func (db *DB) write(tx *bolt.Tx, old, r *astrobot.Request, ev astrobot.Event) error {
	if err := putRequest(tx, r); err != nil {
		return err
	}
	if err := moveIndexes(tx, old, r); err != nil {
		return err
	}
	data, err := encodeEvent(&ev)
	if err != nil {
		return err
	}
	if err := bucket(tx, bucketEvents).Put(eventKey(r.ID, ev.Seq), data); err != nil {
		return err
	}
	for _, n := range astrobot.Notifications(r, ev) {
		if err := db.enqueue(tx, bucketOutbox, n.RequestID, string(n.Kind), n.Event); err != nil {
			return err
		}
	}
	for _, j := range astrobot.Jobs(r, ev) {
		if err := db.enqueue(tx, bucketJobs, j.RequestID, string(j.Kind), j.Event); err != nil {
			return err
		}
	}
	return nil
}

// RecordCard keeps ref as the support card of request id, unless the request
// has a card already. It is bookkeeping about Slack, not a change of the
// request: no event, no notification, UpdatedAt stays (ARCHITECTURE.md says
// why). The outbox worker calls it once the card is posted.
func (db *DB) RecordCard(ctx context.Context, id astrobot.RequestID, ref astrobot.MessageRef) error {
	err := db.batch(ctx, func(tx *bolt.Tx) error {
		r, err := getRequest(tx, id)
		if err != nil || r.Card != (astrobot.MessageRef{}) {
			return err
		}
		r.Card = ref
		return putRequest(tx, &r)
	})
	if err != nil {
		return domainOr(err, fmt.Sprintf("record the card of request %d", id))
	}
	return nil
}

// putRequest writes r's record.
func putRequest(tx *bolt.Tx, r *astrobot.Request) error {
	data, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return bucket(tx, bucketRequests).Put(u64(uint64(r.ID)), data)
}

// indexEntry is one key of one index bucket, with its value (most are empty).
type indexEntry struct {
	bucket string
	key    []byte
	value  []byte
}

// indexEntries returns the index keys of r; none for nil.
func indexEntries(r *astrobot.Request) []indexEntry {
	if r == nil {
		return nil
	}
	e := []indexEntry{
		{bucketIdxRequester, indexKey(r.Requester.UserID, r.ID), nil},
		{bucketIdxCluster, indexKey(r.ClusterID, r.ID), nil},
		{bucketIdxStatus, indexKey(string(r.Status), r.ID), nil},
	}
	if r.Open() {
		e = append(e, indexEntry{bucketIdxOpenCluster, indexKey(r.ClusterID, r.ID), encodeClaim(r.Claim())})
	}
	return e
}

// moveIndexes deletes the index keys of old that r no longer has and writes
// those r gained or whose value changed.
func moveIndexes(tx *bolt.Tx, old, r *astrobot.Request) error {
	before, after := indexEntries(old), indexEntries(r)
	for _, e := range before {
		if !slices.ContainsFunc(after, e.sameKey) {
			if err := bucket(tx, e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
	}
	for _, e := range after {
		if !slices.ContainsFunc(before, e.equal) {
			if err := bucket(tx, e.bucket).Put(e.key, e.value); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e indexEntry) sameKey(o indexEntry) bool {
	return e.bucket == o.bucket && bytes.Equal(e.key, o.key)
}

func (e indexEntry) equal(o indexEntry) bool {
	return e.bucket == o.bucket && bytes.Equal(e.key, o.key) && bytes.Equal(e.value, o.value)
}

// nextEventSeq returns the sequence number of the next event of request id.
func nextEventSeq(tx *bolt.Tx, id astrobot.RequestID) int {
	k := lastWithPrefix(bucket(tx, bucketEvents).Cursor(), u64(uint64(id)))
	if k == nil {
		return 0
	}
	return int(binary.BigEndian.Uint32(k[8:])) + 1
}

// Request returns the request with the given ID, or an ENotFound error.
func (db *DB) Request(ctx context.Context, id astrobot.RequestID) (astrobot.Request, error) {
	var r astrobot.Request
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		r, err = getRequest(tx, id)
		return err
	})
	if err != nil {
		return astrobot.Request{}, domainOr(err, fmt.Sprintf("get request %d", id))
	}
	return r, nil
}

// History returns request id and all its events, oldest first.
func (db *DB) History(ctx context.Context, id astrobot.RequestID) (astrobot.Request, []astrobot.Event, error) {
	var (
		r      astrobot.Request
		events []astrobot.Event
	)
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if r, err = getRequest(tx, id); err != nil {
			return err
		}
		prefix := u64(uint64(id))
		c := bucket(tx, bucketEvents).Cursor()
		for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
			e, err := decodeEvent(id, int(binary.BigEndian.Uint32(k[8:])), v)
			if err != nil {
				return err
			}
			events = append(events, e)
		}
		return nil
	})
	if err != nil {
		return astrobot.Request{}, nil, domainOr(err, fmt.Sprintf("get the history of request %d", id))
	}
	return r, events, nil
}

// RequestsByRequester returns the requests filed by a Slack user, newest first,
// at most limit of them (all when limit <= 0).
func (db *DB) RequestsByRequester(ctx context.Context, userID string, limit int) ([]astrobot.Request, error) {
	return db.newestFirst(ctx, bucketIdxRequester, userID, limit)
}

// RequestsByCluster returns the requests for a cluster, newest first, at most
// limit of them (all when limit <= 0).
func (db *DB) RequestsByCluster(ctx context.Context, clusterID string, limit int) ([]astrobot.Request, error) {
	return db.newestFirst(ctx, bucketIdxCluster, clusterID, limit)
}

// newestFirst reads the requests under name in an index, newest first.
func (db *DB) newestFirst(ctx context.Context, index, name string, limit int) ([]astrobot.Request, error) {
	var out []astrobot.Request
	err := db.view(ctx, func(tx *bolt.Tx) error {
		prefix := indexPrefix(name)
		c := bucket(tx, index).Cursor()
		for k := lastWithPrefix(c, prefix); bytes.HasPrefix(k, prefix) && !full(out, limit); k, _ = c.Prev() {
			r, err := getRequest(tx, indexID(k))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list requests by %s: %w", index, err)
	}
	return out, nil
}

// RequestsByStatus returns the requests in any of statuses, oldest first (by
// ID), at most limit of them (all when limit <= 0).
func (db *DB) RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error) {
	statuses = slices.Compact(slices.Sorted(slices.Values(statuses)))
	var out []astrobot.Request
	err := db.view(ctx, func(tx *bolt.Tx) error {
		// Merge the ascending runs of the statuses, one cursor each.
		type run struct {
			c      *bolt.Cursor
			prefix []byte
			k      []byte
		}
		var runs []*run
		idx := bucket(tx, bucketIdxStatus)
		for _, s := range statuses {
			ru := &run{c: idx.Cursor(), prefix: indexPrefix(string(s))}
			if ru.k, _ = ru.c.Seek(ru.prefix); bytes.HasPrefix(ru.k, ru.prefix) {
				runs = append(runs, ru)
			}
		}
		for len(runs) > 0 && !full(out, limit) {
			i := 0
			for j := range runs {
				if indexID(runs[j].k) < indexID(runs[i].k) {
					i = j
				}
			}
			r, err := getRequest(tx, indexID(runs[i].k))
			if err != nil {
				return err
			}
			out = append(out, r)
			if runs[i].k, _ = runs[i].c.Next(); !bytes.HasPrefix(runs[i].k, runs[i].prefix) {
				runs = slices.Delete(runs, i, i+1)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list requests by status: %w", err)
	}
	return out, nil
}

// claimsOnCluster reads the compact idx_open_cluster entries of a cluster:
// the claims of its open requests, without decoding a single full record.
func claimsOnCluster(tx *bolt.Tx, clusterID string) ([]astrobot.Claim, error) {
	var out []astrobot.Claim
	prefix := indexPrefix(clusterID)
	c := bucket(tx, bucketIdxOpenCluster).Cursor()
	for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
		claim, err := decodeClaim(indexID(k), v)
		if err != nil {
			return nil, err
		}
		out = append(out, claim)
	}
	return out, nil
}

// RequestCounts returns the number of requests in each status. Every status of
// astrobot.Statuses is in the map, with 0 when no request has it.
func (db *DB) RequestCounts(ctx context.Context) (map[astrobot.Status]int, error) {
	counts := make(map[astrobot.Status]int)
	for _, s := range astrobot.Statuses() {
		counts[s] = 0
	}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bucketIdxStatus).Cursor()
		var status []byte
		n := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			s := k[:len(k)-9]
			if !bytes.Equal(s, status) {
				if n > 0 {
					counts[astrobot.Status(status)] += n
				}
				status, n = bytes.Clone(s), 0
			}
			n++
		}
		if n > 0 {
			counts[astrobot.Status(status)] += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	return counts, nil
}

// getRequest reads request id, or returns an ENotFound error.
func getRequest(tx *bolt.Tx, id astrobot.RequestID) (astrobot.Request, error) {
	v := bucket(tx, bucketRequests).Get(u64(uint64(id)))
	if v == nil {
		return astrobot.Request{}, astrobot.Errorf(astrobot.ENotFound, "No request %d.", id)
	}
	return decodeRequest(id, v)
}

// lastWithPrefix moves c to the last key that starts with p and returns it, or
// nil when there is none.
func lastWithPrefix(c *bolt.Cursor, p []byte) []byte {
	var k []byte
	if end := prefixEnd(p); end == nil {
		k, _ = c.Last()
	} else if k, _ = c.Seek(end); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if !bytes.HasPrefix(k, p) {
		return nil
	}
	return k
}

// full reports whether out holds limit items; a limit <= 0 is never reached.
func full[T any](out []T, limit int) bool { return limit > 0 && len(out) >= limit }

// view runs fn in a read transaction after checking ctx.
func (db *DB) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(fn)
}

// batch runs fn in a write transaction shared with concurrent callers
// (bolt's Batch) after checking ctx. fn may run more than once.
func (db *DB) batch(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Batch(fn)
}

// update runs fn in a write transaction after checking ctx.
func (db *DB) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(fn)
}

// domainOr returns err itself when it is an *astrobot.Error, so that the
// caller sees the user's message unchanged, and err wrapped with op otherwise.
func domainOr(err error, op string) error {
	if _, ok := errors.AsType[*astrobot.Error](err); ok {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
