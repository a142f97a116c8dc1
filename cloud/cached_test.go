package cloud_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/clocktest"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
	"github.com/astrobot-dev/astrobot/store"
	"github.com/google/go-cmp/cmp"
)

var _ cloud.Cache = (*store.DB)(nil)

// fakeDiscoverer answers Discover with its current clusters or error. While
// gate is set, Discover waits for it to close (or for its context to end).
type fakeDiscoverer struct {
	mu       sync.Mutex
	calls    int
	clusters []astrobot.Cluster
	err      error
	gate     chan struct{}
	started  chan struct{} // receives one value per call
	returned chan struct{} // receives one value per call, when Discover returns
}

func newFakeDiscoverer(clusters []astrobot.Cluster) *fakeDiscoverer {
	return &fakeDiscoverer{clusters: clusters, started: make(chan struct{}, 1000), returned: make(chan struct{}, 1000)}
}

func (d *fakeDiscoverer) Discover(ctx context.Context) ([]astrobot.Cluster, error) {
	defer func() { d.returned <- struct{}{} }()
	d.mu.Lock()
	d.calls++
	clusters, err, gate := d.clusters, d.err, d.gate
	d.mu.Unlock()
	d.started <- struct{}{}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return slices.Clone(clusters), nil
}

// set changes the answer of the next calls.
func (d *fakeDiscoverer) set(clusters []astrobot.Cluster, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clusters, d.err = clusters, err
}

// hold makes the next calls wait until the returned function is called.
func (d *fakeDiscoverer) hold() (release func()) {
	gate := make(chan struct{})
	d.mu.Lock()
	d.gate = gate
	d.mu.Unlock()
	return sync.OnceFunc(func() { close(gate) })
}

func (d *fakeDiscoverer) callCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// waitStarted waits for the next call to Discover to begin.
func (d *fakeDiscoverer) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-d.started:
	case <-time.After(5 * time.Second):
		t.Fatal("Discover was not called within 5 seconds")
	}
}

// fakeCache is an in-memory Cache that counts reads and can fail.
type fakeCache struct {
	mu        sync.Mutex
	clusters  []astrobot.Cluster
	fetchedAt time.Time
	reads     int
	puts      int
	readErr   error
	putErr    error
}

func (c *fakeCache) CachedClusters(ctx context.Context) ([]astrobot.Cluster, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	if c.readErr != nil {
		return nil, time.Time{}, c.readErr
	}
	return slices.Clone(c.clusters), c.fetchedAt, nil
}

func (c *fakeCache) PutClusters(ctx context.Context, clusters []astrobot.Cluster, fetchedAt time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.puts++
	if c.putErr != nil {
		return c.putErr
	}
	c.clusters, c.fetchedAt = slices.Clone(clusters), fetchedAt
	return nil
}

func (c *fakeCache) state() (clusters []astrobot.Cluster, fetchedAt time.Time, reads, puts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.clusters), c.fetchedAt, c.reads, c.puts
}

// fakeClock is the settable clock of these tests.
type fakeClock = clocktest.Clock

func newFakeClock() *fakeClock { return clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)) }

// setA and setB are two cluster sets, before and after a change.
func setA() []astrobot.Cluster { return []astrobot.Cluster{acmeProd()} }

func setB() []astrobot.Cluster {
	c := acmeProd()
	c.ExternalIPs = append(c.ExternalIPs, netip.MustParseAddr("203.0.113.12"))
	d := acmeProd()
	d.ID, d.Name, d.VPCID = "clx999zzz", "acme-dev", "vpc-0abc12345678def91"
	return []astrobot.Cluster{c, d}
}

// newCached returns a Cached over d and c with a TTL of 10 minutes on clock,
// closed when the test ends.
func newCached(t *testing.T, d cloud.Discoverer, c cloud.Cache, clock *fakeClock, logs *bytes.Buffer) *cloud.Cached {
	opts := cloud.CachedOptions{TTL: 10 * time.Minute, FetchTimeout: 5 * time.Second, Now: clock.Now}
	if logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cd := cloud.NewCached(d, c, opts)
	t.Cleanup(cd.Close)
	return cd
}

func wantClusters(t *testing.T, what string, want, got []astrobot.Cluster, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// waitClusters waits for the background refresh to bring want.
func waitClusters(t *testing.T, cd *cloud.Cached, want []astrobot.Cluster) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := cd.Clusters(context.Background())
		if err == nil && cmp.Equal(want, got, netipOpts) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Clusters = %+v, %v after 5 seconds, want %+v", got, err, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCachedFreshAndWarm(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	d := newFakeDiscoverer(setB())
	cache := &fakeCache{clusters: setA(), fetchedAt: clock.Now().Add(-9 * time.Minute)}
	cd := newCached(t, d, cache, clock, nil)

	var first []astrobot.Cluster
	for i := range 100 {
		got, err := cd.Clusters(ctx)
		wantClusters(t, "Clusters", setA(), got, err)
		if i > 0 && &got[0] != &first[0] {
			t.Fatal("a warm lookup copied the cluster set; it should share it")
		}
		if i == 0 {
			first = got
		}
	}
	if n := d.callCount(); n != 0 {
		t.Errorf("a fresh set cost %d Discover calls, want 0", n)
	}
	if _, _, reads, puts := cache.state(); reads != 1 || puts != 0 {
		t.Errorf("100 lookups cost %d cache reads and %d writes, want 1 read and no write", reads, puts)
	}
}

func TestCachedStale(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	d := newFakeDiscoverer(setB())
	release := d.hold()
	defer release()
	cache := &fakeCache{clusters: setA(), fetchedAt: clock.Now().Add(-10 * time.Minute)}
	cd := newCached(t, d, cache, clock, nil)

	// Stale: the old set at once, while one refresh runs in the background.
	for range 10 {
		got, err := cd.Clusters(ctx)
		wantClusters(t, "Clusters while refreshing", setA(), got, err)
	}
	d.waitStarted(t)
	release()
	waitClusters(t, cd, setB())
	if n := d.callCount(); n != 1 {
		t.Errorf("Discover was called %d times, want 1", n)
	}
	cached, at, _, puts := cache.state()
	if puts != 1 || !at.Equal(clock.Now()) {
		t.Errorf("cache: %d writes, fetched at %v; want 1 write at %v", puts, at, clock.Now())
	}
	wantClusters(t, "cached set", setB(), cached, nil)

	// Fresh again until the TTL passes.
	clock.Advance(10*time.Minute - time.Nanosecond)
	got, err := cd.Clusters(ctx)
	wantClusters(t, "Clusters just before the TTL", setB(), got, err)
	if n := d.callCount(); n != 1 {
		t.Errorf("Discover was called %d times before the TTL, want 1", n)
	}
	clock.Advance(time.Nanosecond)
	d.set(setA(), nil)
	release = d.hold()
	got, err = cd.Clusters(ctx)
	wantClusters(t, "Clusters at the TTL", setB(), got, err)
	d.waitStarted(t)
	release()
	waitClusters(t, cd, setA())
	if n := d.callCount(); n != 2 {
		t.Errorf("Discover was called %d times, want 2", n)
	}
}

func TestCachedMissingWaits(t *testing.T) {
	ctx := context.Background()
	d := newFakeDiscoverer(setB())
	release := d.hold()
	defer release()
	cache := &fakeCache{}
	cd := newCached(t, d, cache, newFakeClock(), nil)

	type result struct {
		clusters []astrobot.Cluster
		err      error
	}
	done := make(chan result)
	go func() {
		cs, err := cd.Clusters(ctx)
		done <- result{cs, err}
	}()
	d.waitStarted(t)
	select {
	case r := <-done:
		t.Fatalf("Clusters returned %+v, %v before Discover answered", r.clusters, r.err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	r := <-done
	wantClusters(t, "Clusters", setB(), r.clusters, r.err)
	if cached, _, _, _ := cache.state(); len(cached) != 2 {
		t.Errorf("the cache holds %d clusters, want 2", len(cached))
	}
}

func TestCachedMissingCallerGivesUp(t *testing.T) {
	d := newFakeDiscoverer(setB())
	release := d.hold()
	defer release()
	cd := newCached(t, d, &fakeCache{}, newFakeClock(), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	got, err := cd.Clusters(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Clusters with a short deadline = %+v, %v; want context.DeadlineExceeded", got, err)
	}
	// The refresh goes on without the caller; a later call waits for it.
	d.waitStarted(t)
	release()
	got, err = cd.Clusters(context.Background())
	wantClusters(t, "Clusters later", setB(), got, err)
	if n := d.callCount(); n != 1 {
		t.Errorf("Discover was called %d times, want 1", n)
	}
}

func TestCachedSingleFlight(t *testing.T) {
	d := newFakeDiscoverer(setB())
	release := d.hold()
	defer release()
	cd := newCached(t, d, &fakeCache{}, newFakeClock(), nil)

	const callers = 100
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			got, err := cd.Clusters(context.Background())
			if err == nil && len(got) != 2 {
				err = errors.New("wrong cluster set")
			}
			errs <- err
		})
	}
	d.waitStarted(t)
	time.Sleep(10 * time.Millisecond) // let the other callers join the refresh
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Clusters: %v", err)
		}
	}
	if n := d.callCount(); n != 1 {
		t.Errorf("%d cold callers caused %d Discover calls, want 1", callers, n)
	}
}

func TestCachedRefreshFailureKeepsOldData(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	outage := astrobot.Errorf(astrobot.EInternal, "AWS is throttling cluster look-ups right now; try again in a minute.")
	d := newFakeDiscoverer(nil)
	d.set(nil, outage)
	cache := &fakeCache{clusters: setA(), fetchedAt: clock.Now().Add(-time.Hour)}
	var logs bytes.Buffer
	cd := newCached(t, d, cache, clock, &logs)

	got, err := cd.Clusters(ctx)
	wantClusters(t, "Clusters", setA(), got, err)
	d.waitStarted(t)
	<-d.returned
	// Until a minute has passed, the failed refresh is not retried.
	for range 10 {
		got, err = cd.Clusters(ctx)
		wantClusters(t, "Clusters after a failed refresh", setA(), got, err)
	}
	if n := d.callCount(); n != 1 {
		t.Errorf("Discover was called %d times within a minute of a failure, want 1", n)
	}
	if _, _, _, puts := cache.state(); puts != 0 {
		t.Errorf("a failed refresh wrote the cache %d times", puts)
	}

	clock.Advance(time.Minute)
	d.set(setB(), nil)
	got, err = cd.Clusters(ctx)
	wantClusters(t, "Clusters a minute later", setA(), got, err)
	d.waitStarted(t)
	got, err = cd.Refresh(ctx)
	wantClusters(t, "Refresh", setB(), got, err)
	if n := d.callCount(); n < 2 {
		t.Errorf("Discover was called %d times, want a retry after a minute", n)
	}
	cd.Close()
	if !strings.Contains(logs.String(), "cluster refresh failed; serving the clusters fetched before") || !strings.Contains(logs.String(), "throttling") {
		t.Errorf("the failed refresh was not logged; logs:\n%s", logs.String())
	}
}

func TestCachedColdFailure(t *testing.T) {
	outage := astrobot.Errorf(astrobot.EInternal, "AWS is throttling cluster look-ups right now; try again in a minute.")
	d := newFakeDiscoverer(nil)
	d.set(nil, outage)
	cd := newCached(t, d, &fakeCache{}, newFakeClock(), nil)

	_, err := cd.Clusters(context.Background())
	if got, ok := errors.AsType[*astrobot.Error](err); !ok || got != outage {
		t.Fatalf("Clusters = %v, want the Discoverer's *astrobot.Error", err)
	}
	// The next caller tries again.
	d.set(setA(), nil)
	got, err := cd.Clusters(context.Background())
	wantClusters(t, "Clusters after AWS came back", setA(), got, err)
}

func TestCachedAWSOutage(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	down := cloud.NewAWS(fakeaws.RetryConfig(url, 2), cloud.AWSOptions{})

	// Cold: the user learns what happened.
	cd := newCached(t, down, &fakeCache{}, newFakeClock(), nil)
	_, err = cd.Clusters(context.Background())
	if diff := cmp.Diff("astrobot could not reach AWS to look up clusters; try again in a few minutes.", astrobot.ErrorMessageOf(err)); diff != "" || astrobot.ErrorCodeOf(err) != astrobot.EInternal {
		t.Errorf("Clusters with AWS down = %v (-want +got message:\n%s)", err, diff)
	}

	// Stale: the old set is served, and Refresh reports the outage.
	clock := newFakeClock()
	cd = newCached(t, down, &fakeCache{clusters: setA(), fetchedAt: clock.Now().Add(-time.Hour)}, clock, nil)
	got, err := cd.Clusters(context.Background())
	wantClusters(t, "Clusters with AWS down", setA(), got, err)
	if _, err := cd.Refresh(context.Background()); astrobot.ErrorCodeOf(err) != astrobot.EInternal {
		t.Errorf("Refresh with AWS down = %v, want an internal *astrobot.Error", err)
	}
	got, err = cd.Clusters(context.Background())
	wantClusters(t, "Clusters after the failed refresh", setA(), got, err)
}

func TestCachedFetchTimeout(t *testing.T) {
	d := newFakeDiscoverer(setA())
	release := d.hold() // never released before the timeout
	defer release()
	cd := cloud.NewCached(d, &fakeCache{}, cloud.CachedOptions{FetchTimeout: 20 * time.Millisecond})
	defer cd.Close()
	_, err := cd.Clusters(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Clusters with a Discover slower than FetchTimeout = %v, want context.DeadlineExceeded", err)
	}
}

func TestCachedClose(t *testing.T) {
	d := newFakeDiscoverer(setA())
	release := d.hold() // never released: Close must stop the refresh
	defer release()
	cd := cloud.NewCached(d, &fakeCache{}, cloud.CachedOptions{})
	go cd.Refresh(context.Background())
	d.waitStarted(t)
	cd.Close()
	select {
	case <-d.returned:
	default:
		t.Fatal("Close returned while Discover was still running")
	}
	_, err := cd.Clusters(context.Background())
	if astrobot.ErrorCodeOf(err) != astrobot.EInternal || !strings.Contains(astrobot.ErrorMessageOf(err), "shutting down") {
		t.Errorf("Clusters after Close = %v, want an internal error saying astrobot is shutting down", err)
	}
	if n := d.callCount(); n != 1 {
		t.Errorf("Discover was called %d times, want 1", n)
	}
}

func TestCachedUnreadableCache(t *testing.T) {
	var logs bytes.Buffer
	cache := &fakeCache{readErr: errors.New("disk on fire"), putErr: errors.New("disk still on fire")}
	d := newFakeDiscoverer(setA())
	cd := newCached(t, d, cache, newFakeClock(), &logs)
	for range 3 {
		got, err := cd.Clusters(context.Background())
		wantClusters(t, "Clusters", setA(), got, err)
	}
	if n := d.callCount(); n != 1 {
		t.Errorf("Discover was called %d times, want 1", n)
	}
	for _, want := range []string{"cannot read the cached clusters", "disk on fire", "cannot save the clusters", "disk still on fire"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestCachedWithStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "astrobot.db")
	clock := newFakeClock()

	db, err := store.Open(path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	d := newFakeDiscoverer(setB())
	cd := newCached(t, d, db, clock, nil)
	got, err := cd.Refresh(ctx)
	wantClusters(t, "Refresh", setB(), got, err)
	cd.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the set comes from the store, with no AWS call.
	clock.Advance(5 * time.Minute)
	db, err = store.Open(path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	down := newFakeDiscoverer(nil)
	down.set(nil, errors.New("AWS is down"))
	cd = newCached(t, down, db, clock, nil)
	got, err = cd.Clusters(ctx)
	wantClusters(t, "Clusters after a restart", setB(), got, err)
	if n := down.callCount(); n != 0 {
		t.Errorf("a fresh cached set cost %d Discover calls, want 0", n)
	}
}
