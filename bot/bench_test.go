package bot

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
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
