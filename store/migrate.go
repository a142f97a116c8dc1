package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// migrateBatch is how many request records one migration transaction
// converts: enough to be quick, few enough that a database of a million
// requests never holds them all in one transaction's memory.
const migrateBatch = 10_000

// migrate brings a version-1 file to version 2, in steps that each commit:
//
//  1. create the new buckets (jobs, deadjobs), set the schema version to 2
//     (so an older astrobot refuses the file from now on) and record in
//     meta["migration"] the first request key to convert;
//  2. convert the request records in key order, migrateBatch per
//     transaction, moving meta["migration"] past them in the same
//     transaction: a version-1 record kept the peering fields at its top
//     level, a version-2 record keeps them in its spec;
//  3. rewrite the open-cluster index as claims, move the cleanups of the
//     outbox to the jobs queue, and delete meta["migration"].
//
// A crash between steps leaves meta["migration"] saying where to go on, and
// the next Open does.
func (db *DB) migrate(opts Options) error {
	batch := opts.migrateBatch
	if batch <= 0 {
		batch = migrateBatch
	}
	after := func(stage string) {
		if opts.afterMigrate != nil {
			opts.afterMigrate(stage)
		}
	}
	fail := func(err error) error {
		return fmt.Errorf("migrate database %s from schema version 1 to %d (it is unchanged past the last step that finished; the next start goes on from there): %w", db.path, SchemaVersion, err)
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx, db.path); err != nil {
			return err
		}
		meta := bucket(tx, bucketMeta)
		if meta.Get([]byte(keyMigration)) != nil {
			return nil // going on after a crash
		}
		return meta.Put([]byte(keyMigration), u64(1))
	})
	if err != nil {
		return fail(err)
	}
	after("begun")
	for done := false; !done; {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			var err error
			done, err = convertRequests(tx, batch)
			return err
		})
		if err != nil {
			return fail(err)
		}
		after("requests")
	}
	if err := db.bolt.Update(finishMigration); err != nil {
		return fail(err)
	}
	after("done")
	return nil
}

// convertRequests converts up to n request records from the key in
// meta["migration"] on, and reports whether none is left.
func convertRequests(tx *bolt.Tx, n int) (bool, error) {
	meta := bucket(tx, bucketMeta)
	next := meta.Get([]byte(keyMigration))
	if len(next) != 8 {
		return false, fmt.Errorf("the migration marker is damaged (%d bytes)", len(next))
	}
	b := bucket(tx, bucketRequests)
	c := b.Cursor()
	type converted struct{ key, value []byte }
	var out []converted
	k, v := c.Seek(next)
	for ; k != nil && len(out) < n; k, v = c.Next() {
		data, err := convertV1Request(v)
		if err != nil {
			return false, fmt.Errorf("request %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, converted{append([]byte(nil), k...), data})
	}
	for _, cv := range out {
		if err := b.Put(cv.key, cv.value); err != nil {
			return false, err
		}
	}
	if k == nil {
		return true, meta.Put([]byte(keyMigration), u64(^uint64(0)))
	}
	return false, meta.Put([]byte(keyMigration), append([]byte(nil), k...))
}

// convertV1Request turns a version-1 request record into a version-2 one:
// the peering fields account, region, vpc and cidrs go into the spec, and
// peering_id becomes resource. Every other field stays as it was.
func convertV1Request(v1 []byte) ([]byte, error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(v1, &rec); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if kind := string(rec["kind"]); kind == "" || kind == `""` {
		rec["kind"] = json.RawMessage(`"` + astrobot.KindPeering + `"`)
	}
	spec := map[string]json.RawMessage{}
	for _, f := range []string{"account", "region", "vpc", "cidrs"} {
		if raw, ok := rec[f]; ok {
			spec[f] = raw
			delete(rec, f)
		}
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	rec["spec"] = data
	if raw, ok := rec["peering_id"]; ok {
		rec["resource"] = raw
		delete(rec, "peering_id")
	}
	return json.Marshal(rec)
}

// finishMigration rewrites every idx_open_cluster value as the claim of its
// request, moves the outbox's cleanup entries to the jobs queue and ends the
// migration.
func finishMigration(tx *bolt.Tx) error {
	idx := bucket(tx, bucketIdxOpenCluster)
	type entry struct{ key, value []byte }
	var claims []entry
	err := idx.ForEach(func(k, _ []byte) error {
		r, err := getRequest(tx, indexID(k))
		if err != nil {
			return err
		}
		claims = append(claims, entry{append([]byte(nil), k...), encodeClaim(r.Claim())})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range claims {
		if err := idx.Put(e.key, e.value); err != nil {
			return err
		}
	}
	outbox, jobs := bucket(tx, bucketOutbox), bucket(tx, bucketJobs)
	var cleanups [][]byte
	err = outbox.ForEach(func(k, v []byte) error {
		rec, err := decodeQueue(bucketOutbox, binary.BigEndian.Uint64(k), v)
		if err != nil {
			return err
		}
		if rec.Kind != string(astrobot.JobCleanup) {
			return nil
		}
		seq, err := jobs.NextSequence()
		if err != nil {
			return err
		}
		if err := jobs.Put(u64(seq), v); err != nil {
			return err
		}
		cleanups = append(cleanups, append([]byte(nil), k...))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range cleanups {
		if err := outbox.Delete(k); err != nil {
			return err
		}
	}
	return bucket(tx, bucketMeta).Delete([]byte(keyMigration))
}
