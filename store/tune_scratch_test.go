package store

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
)

func BenchmarkTuneScratch(b *testing.B) {
	for _, delay := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond} {
		for _, size := range []int{16, 32, 64} {
			for _, conc := range []int{32} {
			b.Run(fmt.Sprintf("delay=%v/size=%d/conc=%d", delay, size, conc), func(b *testing.B) {
				db, err := Open(filepath.Join(b.TempDir(), "a.db"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				db.bolt.MaxBatchDelay, db.bolt.MaxBatchSize = delay, size
				procs := runtime.GOMAXPROCS(0)
				b.SetParallelism((conc + procs - 1) / procs)
				var next atomic.Int64
				var mu sync.Mutex
				var lat []time.Duration
				b.RunParallel(func(pb *testing.PB) {
					var mine []time.Duration
					for pb.Next() {
						i := int(next.Add(1))
						r := astrobot.Request{Requester: astrobot.Requester{UserID: bigUser(i % bigUsers)}, ClusterID: fmt.Sprintf("cl-%08d", i),
							Peer: astrobot.Peer{AccountID: "123456789012", Region: "us-east-1", VPCID: fmt.Sprintf("vpc-%017x", i), CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}}
						s := time.Now()
						if _, _, err := db.CreateRequest(context.Background(), r, fmt.Sprintf("V%d", i)); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(s))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "subs/s")
				reportLatencies(b, lat)
			})
			}
		}
	}
}
