package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// The large fixture: bigTotal requests from bigUsers requesters on bigClusters
// clusters, one in twenty still open.
const (
	bigTotal    = 1_000_000
	bigUsers    = 10_000
	bigClusters = 1_000
	bigPerTx    = 10_000
)

// bigFixture builds the large database file once per process, the first time
// a benchmark asks for it, so that plain go test never pays for it.
type bigFixture struct {
	once sync.Once
	dir  string
	path string
	err  error
}

var big bigFixture

func TestMain(m *testing.M) {
	code := m.Run()
	if big.dir != "" {
		os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

// bigPath returns the path of the large database, closed, building it first.
func bigPath(b *testing.B) string {
	b.Helper()
	big.once.Do(func() {
		if big.dir, big.err = os.MkdirTemp("", "astrobot-store-bench-"); big.err != nil {
			return
		}
		big.path = filepath.Join(big.dir, "astrobot.db")
		start := time.Now()
		big.err = buildBig(big.path)
		if fi, err := os.Stat(big.path); err == nil && big.err == nil {
			b.Logf("built %d requests in %v: %s, %d MB", bigTotal, time.Since(start).Round(time.Second), big.path, fi.Size()>>20)
		}
	})
	if big.err != nil {
		b.Fatalf("build the %d-request database: %v", bigTotal, big.err)
	}
	return big.path
}

// openBig opens the large database for one benchmark.
func openBig(b *testing.B) *DB {
	b.Helper()
	db, err := Open(bigPath(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// buildBig writes the large database through the same private write path as
// CreateRequest and Apply, bigPerTx requests per transaction. The conflict
// check is left out: the generated VPCs and CIDRs are distinct by design.
func buildBig(path string) error {
	db, err := Open(path, Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	epoch := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < bigTotal; start += bigPerTx {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			for i := start; i < start+bigPerTx; i++ {
				at := epoch.Add(time.Duration(i) * time.Minute)
				r, ev, err := astrobot.Submit(astrobot.Request{
					Kind:      astrobot.KindPeering,
					Requester: astrobot.Requester{UserID: bigUser(i % bigUsers), TeamID: "T01ABCDEF", ChannelID: "C01ABCDEF"},
					ClusterID: bigCluster(i % bigClusters),
					Spec: astrobot.PeeringSpec{AccountID: fmt.Sprintf("%012d", 100000000000+i%5000), Region: "us-east-1",
						VPCID: fmt.Sprintf("vpc-%017x", i), CIDRs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), 0}), 24)}},
					Note: "Peering for the data platform team.",
				}, at)
				if err != nil {
					return err
				}
				seq, err := bucket(tx, bucketRequests).NextSequence()
				if err != nil {
					return err
				}
				r.ID = astrobot.RequestID(seq)
				if err := db.write(tx, nil, &r, ev); err != nil {
					return err
				}
				for j, c := range bigFate(i) {
					c.At = at.Add(time.Duration(j+1) * time.Hour)
					if _, _, err := db.apply(tx, r.ID, c); err != nil {
						return err
					}
				}
			}
			// A running bot's worker keeps the outbox short.
			if err := tx.DeleteBucket([]byte(bucketOutbox)); err != nil {
				return err
			}
			_, err := tx.CreateBucket([]byte(bucketOutbox))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func bigUser(n int) string    { return fmt.Sprintf("U%08d", n) }
func bigCluster(n int) string { return fmt.Sprintf("cl-%04d", n) }

// bigFate returns the changes request i goes through: one in twenty stays
// open (submitted, approved, pending acceptance or active), the others are
// cancelled or rejected.
func bigFate(i int) []astrobot.Change {
	support := func(a astrobot.Action, note string) astrobot.Change {
		return astrobot.Change{Action: a, Actor: "USUPPORT1", Role: astrobot.RoleSupport, Note: note}
	}
	bot := func(a astrobot.Action) astrobot.Change {
		return astrobot.Change{Action: a, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot,
			Resource: fmt.Sprintf("pcx-%017x", i), ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	if i%20 != 0 {
		if i%2 == 0 {
			return []astrobot.Change{{Action: astrobot.ActCancel, Actor: bigUser(i % bigUsers), Role: astrobot.RoleRequester}}
		}
		return []astrobot.Change{support(astrobot.ActReject, "The account is not one of yours.")}
	}
	path := []astrobot.Change{support(astrobot.ActApprove, ""), bot(astrobot.ActPeeringCreated),
		bot(astrobot.ActAccepted), bot(astrobot.ActConfigured)}
	switch (i / 20) % 4 {
	case 0:
		return nil
	case 1:
		return path[:1]
	case 2:
		return path[:2]
	default:
		return path
	}
}

// reportLatencies reports the 50th and 99th percentiles of lat in milliseconds.
func reportLatencies(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkCreateRequestParallel files requests from about 32 goroutines at
// once, with a real fsync per commit; distinct clusters, so no conflicts.
func BenchmarkCreateRequestParallel(b *testing.B) {
	const concurrency = 32
	ctx := context.Background()
	db, err := Open(filepath.Join(b.TempDir(), "astrobot.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()

	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((concurrency + procs - 1) / procs)
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  []time.Duration
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := int(next.Add(1))
			r := astrobot.Request{
				Requester: astrobot.Requester{UserID: bigUser(i % bigUsers), TeamID: "T01ABCDEF", ChannelID: "C01ABCDEF"},
				ClusterID: fmt.Sprintf("cl-%08d", i),
				Kind:      astrobot.KindPeering,
				Spec: astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: fmt.Sprintf("vpc-%017x", i),
					CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}},
				Note: "Peering for the data platform team.",
			}
			start := time.Now()
			_, created, err := db.CreateRequest(ctx, r, fmt.Sprintf("V%d", i))
			mine = append(mine, time.Since(start))
			if err != nil || !created {
				b.Errorf("CreateRequest %d: created=%v err=%v", i, created, err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submissions/s")
	reportLatencies(b, lat)
}

// BenchmarkMyRequests lists the 20 newest requests of a random requester
// among 1M requests.
func BenchmarkMyRequests(b *testing.B) {
	ctx := context.Background()
	db := openBig(b)
	rng := rand.New(rand.NewPCG(1, 2))
	var lat []time.Duration
	for b.Loop() {
		user := bigUser(rng.IntN(bigUsers))
		start := time.Now()
		rs, err := db.RequestsByRequester(ctx, user, 20)
		lat = append(lat, time.Since(start))
		if err != nil || len(rs) != 20 || rs[0].ID < rs[19].ID {
			b.Fatalf("RequestsByRequester(%s) = %d requests, %v", user, len(rs), err)
		}
	}
	reportLatencies(b, lat)
}

// BenchmarkOpenQueue lists the 50 oldest open requests among 1M.
func BenchmarkOpenQueue(b *testing.B) {
	ctx := context.Background()
	db := openBig(b)
	var open []astrobot.Status
	for _, s := range astrobot.Statuses() {
		if !s.Terminal() {
			open = append(open, s)
		}
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		rs, err := db.RequestsByStatus(ctx, open, 50)
		lat = append(lat, time.Since(start))
		if err != nil || len(rs) != 50 || !rs[0].Open() {
			b.Fatalf("RequestsByStatus = %d requests, %v", len(rs), err)
		}
	}
	reportLatencies(b, lat)
}

// BenchmarkStatusLookup reads a random request and its history among 1M.
func BenchmarkStatusLookup(b *testing.B) {
	ctx := context.Background()
	db := openBig(b)
	rng := rand.New(rand.NewPCG(3, 4))
	var lat []time.Duration
	for b.Loop() {
		id := astrobot.RequestID(1 + rng.IntN(bigTotal))
		start := time.Now()
		r, events, err := db.History(ctx, id)
		lat = append(lat, time.Since(start))
		if err != nil || r.ID != id || len(events) == 0 {
			b.Fatalf("History(%d) = %d events, %v", id, len(events), err)
		}
	}
	reportLatencies(b, lat)
}

// BenchmarkOpen opens (and closes) the 1M-request database.
func BenchmarkOpen(b *testing.B) {
	path := bigPath(b)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		db, err := Open(path, Options{})
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportLatencies(b, lat)
}
