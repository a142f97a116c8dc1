package cloud_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/mototest"
)

// benchClusters returns n clusters.
func benchClusters(n int) []astrobot.Cluster {
	out := make([]astrobot.Cluster, n)
	for i := range out {
		c := acmeProd()
		c.ID, c.Name = fmt.Sprintf("clx%05d", i), fmt.Sprintf("acme-%05d", i)
		c.CIDRs = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		out[i] = c
	}
	return out
}

// BenchmarkLookupCold measures a lookup with nothing cached: one discovery
// through the real SDK against moto (5 cluster VPCs with a NAT gateway each,
// one account, one region), and the cache write.
func BenchmarkLookupCold(b *testing.B) {
	account := mototest.NewAccount(b)
	cfg := mototest.Config(b, account, "us-east-1")
	seed := newEC2Env(b, account, "us-east-1")
	for i := range 5 {
		vpc := seed.vpc(fmt.Sprintf("10.%d.0.0/16", i), map[string]string{"astro:cluster-id": fmt.Sprintf("clx%d", i), "astro:organization": "acme"})
		seed.nat(vpc, fmt.Sprintf("10.%d.1.0/24", i))
	}
	aws := cloud.NewAWS(cfg, cloud.AWSOptions{})
	if _, err := aws.Discover(context.Background()); err != nil { // assume the role once, as a running bot has
		b.Fatal(err)
	}
	for b.Loop() {
		cd := cloud.NewCached(aws, &fakeCache{}, cloud.CachedOptions{})
		got, err := cd.Clusters(context.Background())
		if err != nil || len(got) != 5 {
			b.Fatalf("Clusters = %d clusters, %v; want 5", len(got), err)
		}
		cd.Close()
	}
}

// BenchmarkLookupWarm measures a lookup of a fresh set of 100 clusters held in
// memory.
func BenchmarkLookupWarm(b *testing.B) {
	clock := newFakeClock()
	d := newFakeDiscoverer(benchClusters(100))
	cd := cloud.NewCached(d, &fakeCache{}, cloud.CachedOptions{Now: clock.Now})
	defer cd.Close()
	if _, err := cd.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if got, err := cd.Clusters(context.Background()); err != nil || len(got) != 100 {
			b.Fatalf("Clusters = %d clusters, %v; want 100", len(got), err)
		}
	}
	if n := d.callCount(); n != 1 {
		b.Errorf("warm lookups caused %d Discover calls, want 1 (the warm-up)", n)
	}
}

// BenchmarkLookupStale measures a lookup of a stale set of 100 clusters: while
// a refresh is under way, and when every lookup starts one.
func BenchmarkLookupStale(b *testing.B) {
	b.Run("refreshing", func(b *testing.B) {
		clock := newFakeClock()
		d := newFakeDiscoverer(nil)
		release := d.hold()
		defer release()
		cache := &fakeCache{clusters: benchClusters(100), fetchedAt: clock.Now().Add(-time.Hour)}
		cd := cloud.NewCached(d, cache, cloud.CachedOptions{Now: clock.Now})
		defer cd.Close()
		for b.Loop() {
			if got, err := cd.Clusters(context.Background()); err != nil || len(got) != 100 {
				b.Fatalf("Clusters = %d clusters, %v; want 100", len(got), err)
			}
		}
		if n := d.callCount(); n != 1 {
			b.Errorf("stale lookups caused %d Discover calls, want 1", n)
		}
	})
	b.Run("starting-refresh", func(b *testing.B) {
		clock := newFakeClock()
		d := newFakeDiscoverer(benchClusters(100))
		cache := &fakeCache{clusters: benchClusters(100), fetchedAt: clock.Now().Add(-time.Hour)}
		cd := cloud.NewCached(d, cache, cloud.CachedOptions{Now: clock.Now})
		defer cd.Close()
		for b.Loop() {
			clock.Advance(time.Hour) // whatever the last refresh brought is stale
			if got, err := cd.Clusters(context.Background()); err != nil || len(got) != 100 {
				b.Fatalf("Clusters = %d clusters, %v; want 100", len(got), err)
			}
		}
	})
}
