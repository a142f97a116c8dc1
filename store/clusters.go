package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// CachedClusters returns the cached clusters, sorted by ID, and when they were
// fetched; the time is zero when nothing was ever cached.
func (db *DB) CachedClusters(ctx context.Context) ([]astrobot.Cluster, time.Time, error) {
	var (
		out       []astrobot.Cluster
		fetchedAt time.Time
	)
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if v := bucket(tx, bucketMeta).Get([]byte(keyClustersFetchedAt)); v != nil {
			if err := fetchedAt.UnmarshalText(v); err != nil {
				return fmt.Errorf("decode %s: %w", keyClustersFetchedAt, err)
			}
		}
		return bucket(tx, bucketClusters).ForEach(func(_, v []byte) error {
			c, err := decodeCluster(v)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read cached clusters: %w", err)
	}
	return out, fetchedAt, nil
}

// PutClusters replaces the cached clusters with clusters, fetched at
// fetchedAt. Of two clusters with the same ID the last is kept.
func (db *DB) PutClusters(ctx context.Context, clusters []astrobot.Cluster, fetchedAt time.Time) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucketClusters)); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte(bucketClusters))
		if err != nil {
			return err
		}
		for i := range clusters {
			data, err := encodeCluster(&clusters[i])
			if err != nil {
				return err
			}
			if err := b.Put([]byte(clusters[i].ID), data); err != nil {
				return fmt.Errorf("cluster %q: %w", clusters[i].ID, err)
			}
		}
		at, err := utc(fetchedAt).MarshalText()
		if err != nil {
			return err
		}
		return bucket(tx, bucketMeta).Put([]byte(keyClustersFetchedAt), at)
	})
	if err != nil {
		return fmt.Errorf("cache clusters: %w", err)
	}
	return nil
}
