package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// v1Dump is testdata/v1.json: what the schema-1 store read back from
// testdata/v1.db when it wrote it, and the raw contents of its buckets.
type v1Dump struct {
	Requests []struct {
		Request v1Request        `json:"request"`
		Events  []astrobot.Event `json:"events"`
	} `json:"requests"`
	Buckets  map[string][][2]string `json:"buckets"`
	Clusters []astrobot.Cluster     `json:"clusters"`
	Fetched  time.Time              `json:"clusters_fetched_at"`
}

// v1Request is astrobot.Request as it was at schema version 1.
type v1Request struct {
	ID        astrobot.RequestID
	Kind      astrobot.Kind
	Status    astrobot.Status
	Requester astrobot.Requester
	ClusterID string
	Peer      struct {
		AccountID, Region, VPCID string
		CIDRs                    []netip.Prefix
	}
	Note       string
	Warnings   []string
	Assignee   string
	PeeringID  string
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	UpdatedBy  string
	RemindedAt time.Time
	Attempt    int
	LastAlert  string
	Card       astrobot.MessageRef
}

// request is the request v1 reads as now: the peering fields in its spec,
// the peering ID as its resource.
func (v v1Request) request() astrobot.Request {
	return astrobot.Request{ID: v.ID, Kind: v.Kind, Status: v.Status, Requester: v.Requester, ClusterID: v.ClusterID,
		Spec: astrobot.PeeringSpec{AccountID: v.Peer.AccountID, Region: v.Peer.Region, VPCID: v.Peer.VPCID, CIDRs: v.Peer.CIDRs},
		Note: v.Note, Warnings: v.Warnings, Assignee: v.Assignee, Resource: v.PeeringID, ExpiresAt: v.ExpiresAt,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, UpdatedBy: v.UpdatedBy, RemindedAt: v.RemindedAt,
		Attempt: v.Attempt, LastAlert: v.LastAlert, Card: v.Card}
}

func readV1Dump(t *testing.T) v1Dump {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d v1Dump
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("decode testdata/v1.json: %v", err)
	}
	return d
}

// copyV1 copies testdata/v1.db to a temporary file and returns its path.
func copyV1(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "astrobot.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawEntries decodes the hex rows of bucket name in the dump.
func (d v1Dump) rawEntries(t *testing.T, name string) (keys []uint64, values [][]byte) {
	t.Helper()
	for _, row := range d.Buckets[name] {
		k, err := hex.DecodeString(row[0])
		if err != nil {
			t.Fatal(err)
		}
		v, err := hex.DecodeString(row[1])
		if err != nil {
			t.Fatal(err)
		}
		keys, values = append(keys, binary.BigEndian.Uint64(k)), append(values, v)
	}
	return keys, values
}

// TestMigrateV1 opens the schema-1 file written by the store before
// connection kinds and checks that everything in it reads the same: every
// request with its events, every index, the outbox (its cleanups now jobs),
// the dead letter, the views and the cluster cache.
func TestMigrateV1(t *testing.T) {
	path := copyV1(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open the version-1 file: %v", err)
	}
	checkMigrated(t, db, readV1Dump(t))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening it again changes nothing.
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen the migrated file: %v", err)
	}
	defer db.Close()
	checkMigrated(t, db, readV1Dump(t))
}

// checkMigrated checks that db holds what the version-1 dump d says, read
// through the current store.
func checkMigrated(t *testing.T, db *DB, d v1Dump) {
	t.Helper()
	ctx := context.Background()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		meta := bucket(tx, bucketMeta)
		if v := meta.Get([]byte(keySchema)); !bytes.Equal(v, u64(SchemaVersion)) {
			t.Errorf("schema version = %x, want %d", v, SchemaVersion)
		}
		if v := meta.Get([]byte(keyMigration)); v != nil {
			t.Errorf("the migration marker is still there: %x", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every request and its events.
	byUser, byCluster := map[string][]astrobot.RequestID{}, map[string][]astrobot.RequestID{}
	byStatus := map[astrobot.Status][]astrobot.RequestID{}
	var open []astrobot.RequestID
	for _, dr := range d.Requests {
		want := dr.Request.request()
		r, events, err := db.History(ctx, want.ID)
		if err != nil {
			t.Fatalf("History(%d): %v", want.ID, err)
		}
		if diff := cmp.Diff(want, r, cmpOpts()); diff != "" {
			t.Errorf("request %d after the migration (-v1 +now):\n%s", want.ID, diff)
		}
		if diff := cmp.Diff(dr.Events, events); diff != "" {
			t.Errorf("events of %d after the migration (-v1 +now):\n%s", want.ID, diff)
		}
		byUser[want.Requester.UserID] = append([]astrobot.RequestID{want.ID}, byUser[want.Requester.UserID]...)
		byCluster[want.ClusterID] = append([]astrobot.RequestID{want.ID}, byCluster[want.ClusterID]...)
		byStatus[want.Status] = append(byStatus[want.Status], want.ID)
		if want.Open() {
			open = append(open, want.ID)
		}
	}
	if len(d.Requests) != 6 {
		t.Fatalf("the dump holds %d requests, want 6", len(d.Requests))
	}

	// The indexes.
	for user, want := range byUser {
		rs, err := db.RequestsByRequester(ctx, user, 0)
		if err != nil || !slices.Equal(ids(rs), want) {
			t.Errorf("RequestsByRequester(%s) = %v, %v; want %v", user, ids(rs), err, want)
		}
	}
	var openNow []astrobot.RequestID
	for cluster, want := range byCluster {
		rs, err := db.RequestsByCluster(ctx, cluster, 0)
		if err != nil || !slices.Equal(ids(rs), want) {
			t.Errorf("RequestsByCluster(%s) = %v, %v; want %v", cluster, ids(rs), err, want)
		}
		claims, err := openOfCluster(db, ctx, cluster)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range claims {
			r, err := db.Request(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r.Claim(), c, cmpOpts()); diff != "" {
				t.Errorf("claim of %d in the open index (-want +got):\n%s", c.ID, diff)
			}
			openNow = append(openNow, c.ID)
		}
	}
	slices.Sort(openNow)
	if !slices.Equal(openNow, open) {
		t.Errorf("open index holds %v, want %v", openNow, open)
	}
	for status, want := range byStatus {
		rs, err := db.RequestsByStatus(ctx, []astrobot.Status{status}, 0)
		if err != nil || !slices.Equal(ids(rs), want) {
			t.Errorf("RequestsByStatus(%s) = %v, %v; want %v", status, ids(rs), err, want)
		}
	}

	// The outbox: every entry as it was, but the cleanups, which are jobs now.
	keys, values := d.rawEntries(t, bucketOutbox)
	var wantOutbox, wantJobs []queueRecord
	for i := range keys {
		rec, err := decodeQueue(bucketOutbox, keys[i], values[i])
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == string(astrobot.JobCleanup) {
			wantJobs = append(wantJobs, rec)
		} else {
			wantOutbox = append(wantOutbox, rec)
		}
	}
	if len(wantJobs) != 1 {
		t.Fatalf("the dump's outbox holds %d cleanups, want 1", len(wantJobs))
	}
	gotOutbox, gotJobs := queueRecords(t, db, bucketOutbox), queueRecords(t, db, bucketJobs)
	if diff := cmp.Diff(wantOutbox, gotOutbox); diff != "" {
		t.Errorf("outbox after the migration (-v1 +now):\n%s", diff)
	}
	if diff := cmp.Diff(wantJobs, gotJobs); diff != "" {
		t.Errorf("jobs after the migration (-v1 cleanups +now):\n%s", diff)
	}
	jobs, err := db.Jobs().Due(ctx, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	if err != nil || len(jobs) != 1 || jobs[0].Job().Kind != astrobot.JobCleanup || jobs[0].Request.Resource == "" {
		t.Errorf("due jobs = %+v, %v; want the cleanup of the cancelled peering", jobs, err)
	}

	// The dead letter.
	keys, values = d.rawEntries(t, bucketDeadletter)
	var wantDead []DeadLetter
	for i := range keys {
		var rec deadRecord
		if err := json.Unmarshal(values[i], &rec); err != nil {
			t.Fatal(err)
		}
		wantDead = append(wantDead, DeadLetter{Key: keys[i], RequestID: astrobot.RequestID(rec.RequestID), Kind: rec.Kind,
			Event: rec.Event, CreatedAt: rec.CreatedAt, Attempts: rec.Attempts, LastError: rec.LastError, Reason: rec.Reason, DeadAt: rec.DeadAt})
	}
	dead, err := db.Outbox().DeadLetters(ctx, 0)
	if err != nil || len(wantDead) != 1 {
		t.Fatalf("DeadLetters = %v; the dump holds %d", err, len(wantDead))
	}
	if diff := cmp.Diff(wantDead, dead); diff != "" {
		t.Errorf("dead letters after the migration (-v1 +now):\n%s", diff)
	}

	// The views: a submission Slack delivers again still files nothing.
	for _, row := range d.Buckets[bucketViews] {
		view, _ := hex.DecodeString(row[0])
		id, _ := hex.DecodeString(row[1])
		r := peering("UNEW", "cl-new", "vpc-0000000f", "10.99.0.0/16")
		got, created, err := db.CreateRequest(ctx, r, string(view))
		if err != nil || created || got.ID != astrobot.RequestID(binary.BigEndian.Uint64(id)) {
			t.Errorf("CreateRequest from view %s = %d, created %v, %v; want request %x again", view, got.ID, created, err, id)
		}
	}

	// The cluster cache.
	clusters, fetched, err := db.CachedClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d.Clusters, clusters, cmpOpts()); diff != "" || !fetched.Equal(d.Fetched) {
		t.Errorf("cached clusters (-v1 +now):\n%s\nfetched at %v, want %v", diff, fetched, d.Fetched)
	}
}

// queueRecords returns the records of queue bucket name, in key order.
func queueRecords(t *testing.T, db *DB, name string) []queueRecord {
	t.Helper()
	var out []queueRecord
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return bucket(tx, name).ForEach(func(k, v []byte) error {
			rec, err := decodeQueue(name, binary.BigEndian.Uint64(k), v)
			out = append(out, rec)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrateCrash kills a process in the middle of the migration, at each
// of its steps, and checks that the file it leaves is refused by nobody,
// still says it is being migrated, and migrates fully at the next Open.
func TestMigrateCrash(t *testing.T) {
	for _, stage := range []string{"begun", "requests"} {
		t.Run("after "+stage, func(t *testing.T) {
			path := copyV1(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateCrashHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "ASTROBOT_MIGRATE_CRASH_DB="+path, "ASTROBOT_MIGRATE_CRASH_AT="+stage)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			reached := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.Contains(sc.Text(), "MIGRATION-STOPPED-AT "+stage) {
						reached <- true
					}
				}
				close(reached)
			}()
			select {
			case ok := <-reached:
				if !ok {
					_ = cmd.Wait()
					t.Fatalf("the helper ended before it reached %s", stage)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the helper did not reach %s in 20s", stage)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			// The file is half migrated: version 2 (an older astrobot
			// refuses it) with the marker saying where to go on.
			bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("open the crashed file: %v", err)
			}
			err = bdb.View(func(tx *bolt.Tx) error {
				meta := tx.Bucket([]byte(bucketMeta))
				if v := meta.Get([]byte(keySchema)); !bytes.Equal(v, u64(SchemaVersion)) {
					return fmt.Errorf("schema version after the crash = %x", v)
				}
				if meta.Get([]byte(keyMigration)) == nil {
					return fmt.Errorf("no migration marker after a crash at %s", stage)
				}
				return nil
			})
			_ = bdb.Close()
			if err != nil {
				t.Fatal(err)
			}

			db, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("Open after the crash: %v", err)
			}
			defer db.Close()
			checkMigrated(t, db, readV1Dump(t))
		})
	}
}

// TestMigrateCrashHelper is the process TestMigrateCrash kills: it migrates
// the file it is given two requests per transaction and stops for good after
// the step it is told.
func TestMigrateCrashHelper(t *testing.T) {
	path, at := os.Getenv("ASTROBOT_MIGRATE_CRASH_DB"), os.Getenv("ASTROBOT_MIGRATE_CRASH_AT")
	if path == "" {
		t.Skip("runs only as the crashing process of TestMigrateCrash")
	}
	_, _ = Open(path, Options{migrateBatch: 2, afterMigrate: func(stage string) {
		if stage == at {
			fmt.Printf("MIGRATION-STOPPED-AT %s\n", stage)
			select {} // until killed
		}
	}})
	t.Fatalf("the migration finished without stopping at %s", at)
}

// TestConvertV1Request checks the conversion of one record, and that a
// damaged one is an error rather than a record half converted.
func TestConvertV1Request(t *testing.T) {
	v1 := []byte(`{"kind":"vpc_peering","status":"active","user":"U1","cluster":"c1","account":"123456789012","region":"us-east-2",` +
		`"vpc":"vpc-11112222","cidrs":["10.1.0.0/16"],"peering_id":"pcx-1234abcd","created_at":"2025-06-01T09:00:00Z","updated_at":"2025-06-01T09:00:00Z","attempt":2}`)
	v2, err := convertV1Request(v1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRequest(7, v2)
	if err != nil {
		t.Fatal(err)
	}
	want := astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-2", VPCID: "vpc-11112222", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	if diff := cmp.Diff(astrobot.Spec(want), r.Spec, cmpOpts()); diff != "" || r.Resource != "pcx-1234abcd" || r.Attempt != 2 || r.Status != astrobot.StatusActive {
		t.Errorf("converted request = %+v (spec diff %s)", r, diff)
	}
	if _, err := convertV1Request([]byte("{not json")); err == nil {
		t.Error("a damaged record converts without an error")
	}
}
