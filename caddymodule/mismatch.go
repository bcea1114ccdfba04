package caddymodule

import (
	"sync"
	"time"
)

// User name mismatches (match_username off) are logged once per token per
// mismatchLogEvery; at most mismatchLogMaxKeys tokens are remembered.
const (
	mismatchLogEvery   = 10 * time.Minute
	mismatchLogMaxKeys = 10_000
	mismatchLogMsg     = "user name differs from token owner (match_username off; logged once per token per 10m)"
)

// onceEvery remembers when something was last reported per key, so a
// Power BI refresh (hundreds of requests) logs a user name mismatch once
// per mismatchLogEvery, not per request. It is bounded: past
// mismatchLogMaxKeys keys it starts over.
type onceEvery struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// first reports whether key was not reported in the last mismatchLogEvery,
// and records now for it.
func (o *onceEvery) first(key string, now time.Time) bool {
	if o == nil {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.last[key]; ok && now.Sub(t) < mismatchLogEvery {
		return false
	}
	if o.last == nil || len(o.last) >= mismatchLogMaxKeys {
		o.last = make(map[string]time.Time)
	}
	o.last[key] = now
	return true
}
