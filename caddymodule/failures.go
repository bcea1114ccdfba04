package caddymodule

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/token"
)

// failureLimiter counts failed authentications per key (client IP + user
// name) in fixed windows. It is keyed that way so one broken Power BI dataset
// cannot lock out colleagues behind the same egress IPs. Memory is bounded:
// when maxKeys is reached, expired windows are swept and, failing that, new
// keys are not tracked (fail open for counting, never for authentication).
type failureLimiter struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*failureWindow
	size    atomic.Int64 // len(entries), readable without the lock
}

type failureWindow struct {
	start time.Time
	count int
}

func newFailureLimiter(limit int, window time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{
		limit: limit, window: window, maxKeys: 100_000, now: now,
		entries: make(map[string]*failureWindow),
	}
}

// limiterKey keys a client IP and user name. User names longer than any
// owner can be (they never match a token's owner) share one key, so huge
// names cannot make the limiter hold megabytes per entry.
func limiterKey(ip, user string) string {
	if len(user) > token.MaxOwnerLen {
		user = "\x01(too long)"
	}
	return ip + "\x00" + user
}

// blocked reports whether key has reached the limit, and for how long it stays blocked.
func (l *failureLimiter) blocked(ip, user string) (bool, time.Duration) {
	if l == nil || l.size.Load() == 0 {
		return false, 0 // common case: nobody is failing; no key built, no lock taken
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.entries[limiterKey(ip, user)]
	if !ok || now.Sub(w.start) >= l.window || w.count < l.limit {
		return false, 0
	}
	return true, w.start.Add(l.window).Sub(now)
}

// fail records one failure for key.
func (l *failureLimiter) fail(ip, user string) {
	if l == nil {
		return
	}
	now := l.now()
	key := limiterKey(ip, user)
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.entries[key]
	if ok && now.Sub(w.start) < l.window {
		w.count++
		return
	}
	if !ok && len(l.entries) >= l.maxKeys {
		l.sweepLocked(now)
		if len(l.entries) >= l.maxKeys {
			return
		}
	}
	l.entries[key] = &failureWindow{start: now, count: 1}
	l.size.Store(int64(len(l.entries)))
}

// sweepUntil drops expired windows once per window until done is closed.
func (l *failureLimiter) sweepUntil(done <-chan struct{}) {
	t := time.NewTicker(l.window)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			l.sweep()
		}
	}
}

// sweep drops expired windows.
func (l *failureLimiter) sweep() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(l.now())
}

func (l *failureLimiter) sweepLocked(now time.Time) {
	for k, w := range l.entries {
		if now.Sub(w.start) >= l.window {
			delete(l.entries, k)
		}
	}
	l.size.Store(int64(len(l.entries)))
}
