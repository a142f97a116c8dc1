package cloud

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/astrobot-dev/astrobot"
)

// Cache keeps the last discovered cluster set, and when it was fetched, across
// restarts. store.DB implements it.
type Cache interface {
	// CachedClusters returns the cached clusters and when they were fetched;
	// the time is zero when nothing was ever cached.
	CachedClusters(ctx context.Context) ([]astrobot.Cluster, time.Time, error)
	// PutClusters replaces the cached clusters.
	PutClusters(ctx context.Context, clusters []astrobot.Cluster, fetchedAt time.Time) error
}

// Discoverer finds every cluster, slowly: AWS implements it.
type Discoverer interface {
	Discover(ctx context.Context) ([]astrobot.Cluster, error)
}

// CachedOptions configure a Cached directory.
type CachedOptions struct {
	// TTL is the age after which a cluster set is refreshed. Default 10 minutes.
	TTL time.Duration
	// FetchTimeout bounds one refresh. Default 30 seconds.
	FetchTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives failed refreshes. Default: discard.
	Logger *slog.Logger
}

// Cached is a cluster directory that answers from memory and refreshes from a
// Discoverer behind the caller's back.
//
// The cluster set is kept in memory, loaded from the Cache on first use and
// saved there after every refresh. A set younger than the TTL is served as is.
// An older one is served too, and one refresh starts in the background. With
// no set at all, a lookup waits for a refresh. Concurrent callers share one
// refresh, which runs on a context of its own, bounded by FetchTimeout, so a
// caller that gives up does not cancel it for the others. A failed background
// refresh keeps the old set in service and is retried no sooner than a minute
// (or the TTL, if shorter) later.
type Cached struct {
	discoverer   Discoverer
	cache        Cache
	ttl          time.Duration
	fetchTimeout time.Duration
	retryDelay   time.Duration
	now          func() time.Time
	logger       *slog.Logger

	ctx    context.Context // parent of every refresh; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // running refreshes

	mu        sync.Mutex
	loaded    bool // the cache was read, or a refresh succeeded
	have      bool // clusters holds a fetched set
	clusters  []astrobot.Cluster
	fetchedAt time.Time
	failedAt  time.Time // of the last failed refresh; zero after a success
	flight    *flight   // the running refresh, or nil
	closed    bool
}

// flight is one refresh. Its fields other than done are written once, before
// done is closed.
type flight struct {
	done     chan struct{}
	clusters []astrobot.Cluster
	err      error
}

// NewCached returns a directory of the clusters d discovers, kept in c. Call
// Close to stop its refreshes.
func NewCached(d Discoverer, c Cache, opts CachedOptions) *Cached {
	ctx, cancel := context.WithCancel(context.Background())
	cd := &Cached{
		discoverer:   d,
		cache:        c,
		ttl:          cmp.Or(opts.TTL, 10*time.Minute),
		fetchTimeout: cmp.Or(opts.FetchTimeout, 30*time.Second),
		now:          opts.Now,
		logger:       opts.Logger,
		ctx:          ctx,
		cancel:       cancel,
	}
	cd.retryDelay = min(cd.ttl, time.Minute)
	if cd.now == nil {
		cd.now = time.Now
	}
	if cd.logger == nil {
		cd.logger = slog.New(slog.DiscardHandler)
	}
	return cd
}

// Clusters returns the current clusters. The slice is shared by every caller
// (a refresh replaces it, never changes it): read it, do not modify it.
//
// When no cluster set was ever fetched, Clusters waits for the refresh it
// starts or joins. If ctx ends first, it returns ctx's error, wrapped; the
// refresh goes on, and a later call gets its result. A failed first refresh
// returns the Discoverer's error, wrapped.
func (c *Cached) Clusters(ctx context.Context) ([]astrobot.Cluster, error) {
	c.mu.Lock()
	if err := c.loadLocked(ctx); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	if c.have {
		out := c.clusters
		now := c.now()
		if now.Sub(c.fetchedAt) >= c.ttl && c.flight == nil && !c.closed && now.Sub(c.failedAt) >= c.retryDelay {
			c.startLocked()
		}
		c.mu.Unlock()
		return out, nil
	}
	f, err := c.flightLocked()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return wait(ctx, f)
}

// Cluster returns the current cluster with the given ID, or an ENotFound
// error; it waits as Clusters does.
func (c *Cached) Cluster(ctx context.Context, id string) (astrobot.Cluster, error) {
	cs, err := c.Clusters(ctx)
	if err != nil {
		return astrobot.Cluster{}, err
	}
	return clusterByID(cs, id)
}

// Refresh fetches the clusters now, or joins the refresh under way, and waits
// for it: for start-up warm-up and for an operator who asks. Its errors are
// those of Clusters.
func (c *Cached) Refresh(ctx context.Context) ([]astrobot.Cluster, error) {
	c.mu.Lock()
	f, err := c.flightLocked()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return wait(ctx, f)
}

// Close stops the refresh under way, waits for it to end, and starts no other.
// Clusters then serves the set in memory, if any.
func (c *Cached) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// loadLocked reads the cache on first use. A cache that cannot be read is
// logged and treated as empty; only ctx ending is returned.
func (c *Cached) loadLocked(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	clusters, at, err := c.cache.CachedClusters(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("look up clusters: %w", ctx.Err())
	case err != nil:
		c.logger.Error("cluster cache: cannot read the cached clusters; fetching them again", "err", err)
	case !at.IsZero():
		c.clusters, c.fetchedAt, c.have = clusters, at, true
		c.logger.Info("cluster cache: loaded", "clusters", len(clusters), "fetched_at", at)
	}
	c.loaded = true
	return nil
}

// flightLocked returns the refresh under way, starting one if there is none.
func (c *Cached) flightLocked() (*flight, error) {
	if c.flight != nil {
		return c.flight, nil
	}
	if c.closed {
		return nil, astrobot.Errorf(astrobot.EInternal, "astrobot is shutting down and cannot look up clusters; try again in a minute.")
	}
	return c.startLocked(), nil
}

// startLocked starts a refresh; there must be none under way, and c must not
// be closed.
func (c *Cached) startLocked() *flight {
	f := &flight{done: make(chan struct{})}
	c.flight = f
	c.wg.Add(1)
	go c.run(f)
	return f
}

// run refreshes the clusters and ends f.
func (c *Cached) run(f *flight) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.fetchTimeout)
	defer cancel()
	clusters, err := c.discoverer.Discover(ctx)
	now := c.now()
	if err == nil {
		if err := c.cache.PutClusters(ctx, clusters, now); err != nil {
			c.logger.Error("cluster cache: cannot save the clusters; serving them from memory", "err", err)
		}
	}

	c.mu.Lock()
	c.flight = nil
	if err == nil {
		c.clusters, c.fetchedAt, c.have, c.loaded = clusters, now, true, true
		c.failedAt = time.Time{}
	} else {
		c.failedAt = now
		switch {
		case c.ctx.Err() != nil:
			c.logger.Debug("cluster refresh: stopped by Close")
		case c.have:
			c.logger.Warn("cluster refresh failed; serving the clusters fetched before", "fetched_at", c.fetchedAt, "err", err)
		default:
			c.logger.Error("cluster refresh failed; no clusters to serve", "err", err)
		}
		err = fmt.Errorf("discover clusters: %w", err)
	}
	c.mu.Unlock()

	f.clusters, f.err = clusters, err
	close(f.done)
}

// wait waits for f or for ctx to end.
func wait(ctx context.Context, f *flight) ([]astrobot.Cluster, error) {
	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return f.clusters, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("look up clusters: %w", ctx.Err())
	}
}
