package store

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func BenchmarkTrivialCommit(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "a.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var lat []time.Duration
	i := uint64(0)
	for b.Loop() {
		i++
		s := time.Now()
		db.bolt.Update(func(tx *bolt.Tx) error { return bucket(tx, bucketMeta).Put(u64(i), []byte("x")) })
		lat = append(lat, time.Since(s))
	}
	reportLatencies(b, lat)
}
