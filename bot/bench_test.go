package bot

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/store"
)

// benchNoSupport is a support team without members.
type benchNoSupport struct{}

func (benchNoSupport) IsSupport(context.Context, string) bool { return false }

// benchConcurrency is how many goroutines send requests at once, as the load
// tool does by default.
const benchConcurrency = 32

// BenchmarkHTTPAstroIP measures the whole HTTP path of "/astro-ip clx123abc"
// in process: signing, then ServeHTTP verifying, parsing, looking the cluster
// up in the static directory, building the reply and encoding it, with 32
// requests in flight. Besides ns/op it reports the p50 and p99 latency of one
// request, in microseconds.
func BenchmarkHTTPAstroIP(b *testing.B) {
	const secret = "bench-signing-secret"
	file, err := cloud.LoadFile(filepath.Join("..", "examples", "clusters.yaml"))
	if err != nil {
		b.Fatalf("load the example cluster file: %v", err)
	}
	db, err := store.Open(filepath.Join(b.TempDir(), "astrobot.db"), store.Options{})
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	defer db.Close()
	log := slog.New(slog.DiscardHandler)
	h := handlers.New(handlers.Config{
		Directory: cloud.NewStatic(file.Clusters),
		Tenancy:   astrobot.NewTenancy(file.Organizations),
		Requests:  db,
		Support:   benchNoSupport{},
		Now:       time.Now,
		Logger:    log,
	})
	defer h.Close()
	srv := &HTTP{d: newDispatcher(h, NewMetrics(), log, time.Now), v: NewVerifier(secret, time.Now)}
	body := []byte(url.Values{
		"command": {handlers.CommandIP}, "text": {"clx123abc"},
		"team_id": {"T0001"}, "user_id": {"U0001"}, "channel_id": {"C0001"},
	}.Encode())
	serve := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/slack/events", bytes.NewReader(body))
		r.Header = Sign(secret, time.Now(), body)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	if w := serve(); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "vpc-0abc12345678def90") {
		b.Fatalf("/astro-ip answered %d %q; want 200 with acme-prod's VPC", w.Code, w.Body.String())
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.SetParallelism((benchConcurrency + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var lat []time.Duration
		for pb.Next() {
			start := time.Now()
			w := serve()
			lat = append(lat, time.Since(start))
			if w.Code != http.StatusOK {
				b.Errorf("/astro-ip answered %d: %s", w.Code, w.Body.String())
			}
		}
		mu.Lock()
		latencies = append(latencies, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(benchPercentile(latencies, 50), "p50-µs")
	b.ReportMetric(benchPercentile(latencies, 99), "p99-µs")
}

// benchPercentile returns the p-th percentile of sorted, in microseconds, by
// the nearest-rank method.
func benchPercentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	return float64(sorted[min(max(rank, 1), len(sorted))-1]) / float64(time.Microsecond)
}

// benchClusters returns n clusters of the organization acme (team T0001),
// each with its own VPC and CIDR, for the intake benchmarks.
func benchClusters(n int) []astrobot.Cluster {
	out := make([]astrobot.Cluster, n)
	for i := range out {
		out[i] = astrobot.Cluster{
			ID: fmt.Sprintf("cl%05d", i), Name: fmt.Sprintf("bench-%05d", i), Organization: "acme",
			Region: "us-east-1", AccountID: "111111111111", VPCID: fmt.Sprintf("vpc-%08x", i),
			CIDRs:       []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 28)},
			ExternalIPs: []netip.Addr{netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})},
		}
	}
	return out
}

// benchHTTP is the HTTP path of a bot on a fresh store, with the clusters
// of benchClusters, for benchmarks.
type benchHTTP struct {
	db     *store.DB
	srv    *HTTP
	secret string
}

func newBenchHTTP(b *testing.B, clusters []astrobot.Cluster, support []string) *benchHTTP {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "astrobot.db"), store.Options{})
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { db.Close() })
	log := slog.New(slog.DiscardHandler)
	orgs := []astrobot.Organization{{ID: "acme", Name: "Acme", SlackTeams: []string{"T0001"}}}
	h := handlers.New(handlers.Config{
		Directory: cloud.NewStatic(clusters),
		Tenancy:   astrobot.NewTenancy(orgs),
		Requests:  db,
		Support:   handlers.NewSupportTeam(support, "", nil, time.Minute, time.Now, log),
		Now:       time.Now,
		Logger:    log,
	})
	b.Cleanup(h.Close)
	const secret = "bench-signing-secret"
	return &benchHTTP{db: db, secret: secret, srv: &HTTP{d: newDispatcher(h, NewMetrics(), log, time.Now), v: NewVerifier(secret, time.Now)}}
}

// serve sends one signed form body through the HTTP path.
func (e *benchHTTP) serve(v url.Values) *httptest.ResponseRecorder {
	body := []byte(v.Encode())
	r := httptest.NewRequest(http.MethodPost, "/slack/events", bytes.NewReader(body))
	r.Header = Sign(e.secret, time.Now(), body)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

// benchSubmission is the view_submission of peering request i: on one of
// nClusters clusters, with a VPC and CIDR of its own.
func benchSubmission(i, nClusters int) url.Values {
	j := i / nClusters
	form := fuzzForm{cluster: fmt.Sprintf("cl%05d", i%nClusters), account: "123456789012", region: "us-east-1",
		vpc: fmt.Sprintf("vpc-%017x", i), cidrs: fmt.Sprintf("10.%d.%d.0/24", j/256, j%256), note: "Peering for the data platform team."}
	return url.Values{"payload": {fuzzSubmission("U0001", "T0001", fmt.Sprintf("V%d", i), "C0001", form)}}
}

// BenchmarkHTTPSubmitPeering files peering requests through the whole HTTP
// path (verify, parse, validate, check conflicts, store with fsync, answer)
// with 32 in flight, spread over 2,000 clusters. It reports submissions per
// second and the p50 and p99 latency in microseconds.
func BenchmarkHTTPSubmitPeering(b *testing.B) {
	const nClusters = 2000
	e := newBenchHTTP(b, benchClusters(nClusters), nil)
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.SetParallelism((benchConcurrency + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var lat []time.Duration
		for pb.Next() {
			v := benchSubmission(int(next.Add(1)), nClusters)
			start := time.Now()
			w := e.serve(v)
			lat = append(lat, time.Since(start))
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"update"`) {
				b.Errorf("submission answered %d: %s", w.Code, w.Body.String())
				return
			}
		}
		mu.Lock()
		latencies = append(latencies, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submissions/s")
	b.ReportMetric(benchPercentile(latencies, 50), "p50-µs")
	b.ReportMetric(benchPercentile(latencies, 99), "p99-µs")
}

// BenchmarkHTTPList answers "/astro-peer list" through the whole HTTP path,
// for support (the 20 oldest of 2,000 open requests) and for a requester
// (their 20 newest of 2,000).
func BenchmarkHTTPList(b *testing.B) {
	const nClusters, nRequests = 200, 2000
	for _, who := range []string{"support", "requester"} {
		b.Run(who, func(b *testing.B) {
			e := newBenchHTTP(b, benchClusters(nClusters), []string{"USUPPORT"})
			var wg sync.WaitGroup
			for i := range nRequests {
				wg.Go(func() {
					if w := e.serve(benchSubmission(i, nClusters)); !strings.Contains(w.Body.String(), `"update"`) {
						b.Errorf("filing request %d: %d %s", i, w.Code, w.Body.String())
					}
				})
				if i%32 == 31 {
					wg.Wait()
				}
			}
			wg.Wait()
			user := map[string]string{"support": "USUPPORT", "requester": "U0001"}[who]
			list := url.Values{"command": {handlers.CommandPeer}, "text": {"list"},
				"team_id": {"T0001"}, "user_id": {user}, "channel_id": {"C0001"}}
			var latencies []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				w := e.serve(list)
				latencies = append(latencies, time.Since(start))
				if w.Code != http.StatusOK || strings.Count(w.Body.String(), "PEER-") < 20 {
					b.Fatalf("list answered %d: %s", w.Code, w.Body.String())
				}
			}
			b.StopTimer()
			slices.Sort(latencies)
			b.ReportMetric(benchPercentile(latencies, 50), "p50-µs")
			b.ReportMetric(benchPercentile(latencies, 99), "p99-µs")
		})
	}
}
