package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// CreateRequest files r: it checks r against the open requests of its cluster,
// gives it the next ID, the status submitted and kind vpc_peering unless set,
// and writes it with its indexes, its submission event and the notifications
// owed for it. CreatedAt and UpdatedAt default to the clock.
//
// viewID identifies the Slack modal r was submitted from. When a request from
// the same view exists already, CreateRequest returns that one and created is
// false: a submission Slack delivers twice files one request.
//
// Concurrent calls share one transaction and one fsync (bolt's Batch). A
// conflict is reported as the *astrobot.Error of astrobot.CheckConflicts.
func (db *DB) CreateRequest(ctx context.Context, r astrobot.Request, viewID string) (req astrobot.Request, created bool, err error) {
	if err := ctx.Err(); err != nil {
		return astrobot.Request{}, false, err
	}
	// Batch may run the function more than once: it only writes its results.
	err = db.bolt.Batch(func(tx *bolt.Tx) error {
		var err error
		req, created, err = db.create(tx, r, viewID)
		return err
	})
	if err != nil {
		return astrobot.Request{}, false, domainOr(err, "create request")
	}
	return req, created, nil
}

// create is CreateRequest inside tx.
func (db *DB) create(tx *bolt.Tx, r astrobot.Request, viewID string) (astrobot.Request, bool, error) {
	views := bucket(tx, bucketViews)
	if viewID != "" {
		if v := views.Get([]byte(viewID)); v != nil {
			got, err := getRequest(tx, astrobot.RequestID(binary.BigEndian.Uint64(v)))
			return got, false, err
		}
	}
	r.ID = 0 // not yet filed: no open request may be mistaken for r
	open, err := openRequestsOfCluster(tx, r.ClusterID)
	if err != nil {
		return astrobot.Request{}, false, err
	}
	if err := astrobot.CheckConflicts(&r, open); err != nil {
		return astrobot.Request{}, false, err
	}
	if err := db.insert(tx, &r); err != nil {
		return astrobot.Request{}, false, err
	}
	if viewID != "" {
		if err := views.Put([]byte(viewID), u64(uint64(r.ID))); err != nil {
			return astrobot.Request{}, false, err
		}
	}
	return r, true, nil
}

// insert files r without any check: it sets its ID, status, kind, times and
// UpdatedBy, and writes the record, the indexes, event 0 and its notifications.
func (db *DB) insert(tx *bolt.Tx, r *astrobot.Request) error {
	for _, s := range []string{r.Requester.UserID, r.ClusterID} {
		if strings.IndexByte(s, 0) >= 0 {
			return astrobot.Errorf(astrobot.EInvalid, "%q contains a NUL character: user and cluster IDs cannot.", s)
		}
	}
	seq, err := bucket(tx, bucketRequests).NextSequence()
	if err != nil {
		return err
	}
	now := db.now()
	r.ID = astrobot.RequestID(seq)
	r.Status = astrobot.StatusSubmitted
	if r.Kind == "" {
		r.Kind = astrobot.KindPeering
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	r.UpdatedBy = r.Requester.UserID
	ev := astrobot.Event{Seq: 0, At: r.CreatedAt, Actor: r.Requester.UserID, Action: astrobot.ActSubmit,
		To: astrobot.StatusSubmitted, Note: r.Note}
	return db.write(tx, nil, r, ev)
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
		return astrobot.Request{}, astrobot.Event{}, domainOr(err, "apply "+string(c.Action)+" to "+id.String())
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
// request), appends ev and enqueues the notifications ev owes.
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
	return db.enqueue(tx, astrobot.Notifications(r, ev))
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
		e = append(e, indexEntry{bucketIdxOpenCluster, indexKey(r.ClusterID, r.ID), encodeOpen(r)})
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
		return astrobot.Request{}, domainOr(err, "get request "+id.String())
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
		return astrobot.Request{}, nil, domainOr(err, "get history of "+id.String())
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
		for _, s := range statuses {
			ru := &run{c: bucket(tx, bucketIdxStatus).Cursor(), prefix: indexPrefix(string(s))}
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

// openRequestsOfCluster reads the compact idx_open_cluster entries of a
// cluster: partial requests holding what the conflict check needs (ID, status,
// peer), without decoding a single full record.
func openRequestsOfCluster(tx *bolt.Tx, clusterID string) ([]astrobot.Request, error) {
	var out []astrobot.Request
	prefix := indexPrefix(clusterID)
	c := bucket(tx, bucketIdxOpenCluster).Cursor()
	for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := decodeOpen(indexID(k), clusterID, v)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
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
		return astrobot.Request{}, astrobot.Errorf(astrobot.ENotFound, "No request %s.", id)
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
