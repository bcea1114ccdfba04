package storetest

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// PeakHeap runs fn and returns the most heap in use
// (runtime.MemStats.HeapInuse) during it above what was in use when it
// began, in bytes, sampled every millisecond, and how long fn took. The
// collector runs at GOGC=20 meanwhile, so the heap in use follows what fn
// keeps alive rather than the collector's headroom.
func PeakHeap(fn func()) (peak uint64, took time.Duration) {
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak = base
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	fn()
	took = time.Since(start)
	close(done)
	wg.Wait()
	return peak - base, took
}
