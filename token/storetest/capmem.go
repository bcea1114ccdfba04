package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// CapRun is what MeasureCap saw of one cap run.
type CapRun struct {
	// Changed is how many tokens the run capped.
	Changed int
	// Took is the run's wall time.
	Took time.Duration
	// PeakHeap is the most heap in use (runtime.MemStats.HeapInuse) during
	// the run above what was in use when it began, in bytes.
	PeakHeap uint64
}

// MeasureCap caps every token of store to a 90-day lifetime through a
// Service (no cache) as an operator, sampling the heap in use every
// millisecond. The collector runs at GOGC=20 meanwhile, so the heap in use
// follows what the run keeps alive rather than the collector's headroom.
func MeasureCap(tb testing.TB, store token.Store) CapRun {
	tb.Helper()
	svc := token.NewService(store, token.Policy{}, nil, nil)
	var (
		n   int
		err error
	)
	peak, took := PeakHeap(func() {
		n, err = svc.CapLifetime(context.Background(), token.Operator("bench"), 90*24*time.Hour)
	})
	if err != nil {
		tb.Fatalf("CapLifetime: %v", err)
	}
	return CapRun{Changed: n, Took: took, PeakHeap: peak}
}
