package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/internal/clocktest"
)

// clock is the settable clock of these tests.
type clock = clocktest.Clock

func newClock() *clock { return clocktest.New(time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)) }

// openTest opens a database in a fresh temporary directory, closed at the end
// of the test.
func openTest(t testing.TB, clk *clock) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "astrobot.db"), Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// peering returns a request as the handlers build it from a modal.
func peering(user, cluster, vpc string, cidrs ...string) astrobot.Request {
	r := astrobot.Request{
		Requester: astrobot.Requester{UserID: user, TeamID: "T1", ChannelID: "C1"},
		ClusterID: cluster,
	}
	spec := astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: vpc}
	for _, c := range cidrs {
		spec.CIDRs = append(spec.CIDRs, netip.MustParsePrefix(c))
	}
	r.Kind, r.Spec = astrobot.KindPeering, spec
	return r
}

// cmpOpts compares domain values holding netip types.
func cmpOpts() cmp.Options {
	return cmp.Options{
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	}
}

// create files r or fails the test.
func create(t testing.TB, db *DB, r astrobot.Request) astrobot.Request {
	t.Helper()
	got, created, err := db.CreateRequest(context.Background(), r, "")
	if err != nil || !created {
		t.Fatalf("CreateRequest(%s, %s): created=%v, err=%v", r.ClusterID, r.Spec.Key(), created, err)
	}
	return got
}

// apply applies c to id or fails the test.
func apply(t testing.TB, db *DB, id astrobot.RequestID, c astrobot.Change) astrobot.Request {
	t.Helper()
	r, _, err := db.Apply(context.Background(), id, c)
	if err != nil {
		t.Fatalf("Apply(%d, %s): %v", id, c.Action, err)
	}
	return r
}

// wantCode fails the test unless err is an *astrobot.Error with code.
func wantCode(t testing.TB, err error, code astrobot.ErrorCode) *astrobot.Error {
	t.Helper()
	e, ok := errors.AsType[*astrobot.Error](err)
	if !ok || e.Code != code {
		t.Fatalf("error = %v, want an *astrobot.Error with code %s", err, code)
	}
	return e
}

func ids(rs []astrobot.Request) []astrobot.RequestID {
	var out []astrobot.RequestID
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestOpenCreatesDirectoryAndBuckets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "astrobot")
	path := filepath.Join(dir, "astrobot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode = %o, want 700", perm)
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets() {
			if bucket(tx, name) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		if v := bucket(tx, bucketMeta).Get([]byte(keySchema)); !bytes.Equal(v, u64(SchemaVersion)) {
			t.Errorf("schema version = %x, want %x", v, u64(SchemaVersion))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "astrobot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()

	// flock locks belong to the open file description, so a second Open in
	// the same process waits for the lock like another process would.
	start := time.Now()
	second, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	want := fmt.Sprintf("database %s is in use by another process (is another astrobot running?); stop it or set ASTROBOT_DB to another file", path)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if elapsed < 150*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("second Open gave up after %v, want about the 200ms timeout", elapsed)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "astrobot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketMeta).Put([]byte(keySchema), u64(SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = Open(path, Options{})
	if err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
	if want := fmt.Sprintf("schema version %d, newer than the version %d", SchemaVersion+1, SchemaVersion); !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
	// The refused Open changed nothing and released the lock.
	raw, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bolt.Open after refused Open: %v", err)
	}
	defer raw.Close()
	err = raw.View(func(tx *bolt.Tx) error {
		if v := bucket(tx, bucketMeta).Get([]byte(keySchema)); !bytes.Equal(v, u64(SchemaVersion+1)) {
			t.Errorf("schema version = %x after refused Open, want %x", v, u64(SchemaVersion+1))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCanceledContext(t *testing.T) {
	db := openTest(t, newClock())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"CreateRequest": func() error {
			_, _, err := db.CreateRequest(ctx, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"), "")
			return err
		},
		"Request":             func() error { _, err := db.Request(ctx, 1); return err },
		"Apply":               func() error { _, _, err := db.Apply(ctx, 1, astrobot.Change{}); return err },
		"RequestsByRequester": func() error { _, err := db.RequestsByRequester(ctx, "U1", 1); return err },
		"Due":                 func() error { _, err := db.Outbox().Due(ctx, time.Now(), 1); return err },
		"Done":                func() error { return db.Outbox().Done(ctx, 1) },
		"RecordCard":          func() error { return db.RecordCard(ctx, 1, astrobot.MessageRef{}) },
		"Backup":              func() error { _, err := db.Backup(ctx, &bytes.Buffer{}); return err },
		"PutClusters":         func() error { return db.PutClusters(ctx, nil, time.Now()) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: err = %v, want context.Canceled", name, err)
		}
	}
	if n, err := db.RequestCounts(context.Background()); err != nil || n[astrobot.StatusSubmitted] != 0 {
		t.Errorf("after canceled calls: counts %v, err %v; want nothing written", n, err)
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())
	for i := range 5 {
		create(t, db, peering(fmt.Sprintf("U%d", i), "cl-1", fmt.Sprintf("vpc-%08x", i), fmt.Sprintf("10.%d.0.0/16", i)))
	}
	apply(t, db, 2, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport})

	path := filepath.Join(t.TempDir(), "backup", "astrobot.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(ctx, f)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || n != fi.Size() {
		t.Errorf("Backup wrote %d bytes, file has %d", n, fi.Size())
	}

	copyDB, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open backup: %v", err)
	}
	defer copyDB.Close()
	for id := astrobot.RequestID(1); id <= 5; id++ {
		wantReq, wantEvents, err := db.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		gotReq, gotEvents, err := copyDB.History(ctx, id)
		if err != nil {
			t.Fatalf("History(%d) in the backup: %v", id, err)
		}
		if diff := cmp.Diff(wantReq, gotReq, cmpOpts()); diff != "" {
			t.Errorf("request %d in the backup (-want +got):\n%s", id, diff)
		}
		if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
			t.Errorf("events of %d in the backup (-want +got):\n%s", id, diff)
		}
	}
	// The copy continues the sequence of the original.
	r := create(t, copyDB, peering("U9", "cl-2", "vpc-000000ff", "10.99.0.0/16"))
	if r.ID != 6 {
		t.Errorf("next ID in the backup = %d, want PEER-0006", r.ID)
	}
}

func TestClusterCache(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())

	got, at, err := db.CachedClusters(ctx)
	if err != nil || got != nil || !at.IsZero() {
		t.Fatalf("CachedClusters on a new database = %v, %v, %v; want nothing", got, at, err)
	}

	clusters := []astrobot.Cluster{
		{ID: "cl-b", Name: "prod", Organization: "acme", Region: "us-east-1", AccountID: "111111111111", VPCID: "vpc-0000000b",
			CIDRs:       []netip.Prefix{netip.MustParsePrefix("172.20.0.0/19"), netip.MustParsePrefix("100.64.0.0/16")},
			ExternalIPs: []netip.Addr{netip.MustParseAddr("3.3.3.3"), netip.MustParseAddr("4.4.4.4")}},
		{ID: "cl-a", Name: "dev", Organization: "acme", Region: "eu-west-1", AccountID: "111111111111", VPCID: "vpc-0000000a",
			CIDRs:       []netip.Prefix{netip.MustParsePrefix("172.21.0.0/19")},
			ExternalIPs: []netip.Addr{netip.MustParseAddr("5.5.5.5")}},
	}
	fetched := time.Date(2025, 3, 4, 10, 30, 15, 123456789, time.FixedZone("CET", 3600))
	if err := db.PutClusters(ctx, clusters, fetched); err != nil {
		t.Fatalf("PutClusters: %v", err)
	}
	got, at, err = db.CachedClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(fetched) {
		t.Errorf("fetched at = %v, want %v", at, fetched)
	}
	want := []astrobot.Cluster{clusters[1], clusters[0]} // sorted by ID
	if diff := cmp.Diff(want, got, cmpOpts()); diff != "" {
		t.Errorf("CachedClusters (-want +got):\n%s", diff)
	}

	// A new set replaces the old one entirely.
	if err := db.PutClusters(ctx, clusters[1:], fetched.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, at, err = db.CachedClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(clusters[1:], got, cmpOpts()); diff != "" || !at.Equal(fetched.Add(time.Hour)) {
		t.Errorf("after replacing: fetched at %v, clusters (-want +got):\n%s", at, diff)
	}
}
