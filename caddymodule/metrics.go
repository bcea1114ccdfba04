package caddymodule

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

// Metrics are process-wide collectors registered into each config's Caddy
// metrics registry (values survive reloads), as Caddy's own modules do.
var metrics = struct {
	once         sync.Once
	requests     *prometheus.CounterVec
	cache        *prometheus.CounterVec
	storeLatency prometheus.Histogram
	storeErrors  prometheus.Counter
	listeners    prometheus.Gauge
	usesDropped  prometheus.Counter
	rejsDropped  prometheus.Counter
	notices      *prometheus.CounterVec
}{}

func initMetrics() {
	metrics.once.Do(func() {
		const ns, sub = "caddy", "tokengate"
		metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "auth_requests_total",
			Help: "Requests seen by tokengate_auth, by outcome.",
		}, []string{"outcome"})
		metrics.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cache_lookups_total",
			Help: "Validation cache lookups, by result (hit or miss).",
		}, []string{"result"})
		metrics.storeLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "store_lookup_duration_seconds",
			Help:    "Latency of token store lookups on cache misses.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		})
		metrics.storeErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "store_lookup_errors_total",
			Help: "Token store lookups that failed (store unavailable).",
		})
		metrics.listeners = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "revocation_listeners_connected",
			Help: "Postgres LISTEN connections currently receiving revocations (0 with a Postgres store: revocations from other instances are not heard).",
		})
		metrics.usesDropped = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "last_used_dropped_total",
			Help: "Last-used records dropped because the write-behind buffer was full (the store slow or down).",
		})
		metrics.rejsDropped = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "rejections_dropped_total",
			Help: "Rejection records dropped because the write-behind buffer was full (the store slow or down).",
		})
		metrics.notices = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "notifications_total",
			Help: "Notification deliveries by channel (email, webhook), event (token.expiring, token.expired, token.rejected) and result (delivered, retried, failed, dropped).",
		}, []string{"channel", "event", "result"})
	})
}

// registerMetrics adds the collectors to a config's registry, tolerating the
// duplicate registrations that several handlers in one config produce.
func registerMetrics(reg prometheus.Registerer) {
	initMetrics()
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{metrics.requests, metrics.cache, metrics.storeLatency, metrics.storeErrors, metrics.listeners, metrics.usesDropped, metrics.rejsDropped, metrics.notices} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // programming error: a conflicting metric name
			}
		}
	}
}

// outcomeCounters caches the per-outcome counters so the request path does
// not look up label values.
type outcomeCounters struct {
	byOutcome map[string]prometheus.Counter
}

func newOutcomeCounters() outcomeCounters {
	initMetrics()
	m := make(map[string]prometheus.Counter)
	for _, o := range []string{"valid", "malformed", "unknown", "expired", "revoked", "unavailable", "missing", "username_mismatch", "method_not_allowed", string(token.RejectIPNotAllowed), string(token.RejectOutOfScope)} {
		m[o] = metrics.requests.WithLabelValues(o)
	}
	return outcomeCounters{byOutcome: m}
}

func (c outcomeCounters) inc(outcome string) {
	if ctr, ok := c.byOutcome[outcome]; ok {
		ctr.Inc()
	}
}

// validatorMetrics implements token.Observer with the global collectors.
type validatorMetrics struct{}

var (
	cacheHitCounter  prometheus.Counter
	cacheMissCounter prometheus.Counter
	metricsInitOnce  sync.Once
)

func counters() {
	metricsInitOnce.Do(func() {
		initMetrics()
		cacheHitCounter = metrics.cache.WithLabelValues("hit")
		cacheMissCounter = metrics.cache.WithLabelValues("miss")
	})
}

// CacheHit counts a cache hit.
func (validatorMetrics) CacheHit() { counters(); cacheHitCounter.Inc() }

// CacheMiss counts a cache miss.
func (validatorMetrics) CacheMiss() { counters(); cacheMissCounter.Inc() }

// StoreLookup records the latency of a store lookup and whether it failed.
func (validatorMetrics) StoreLookup(d time.Duration, err error) {
	initMetrics()
	metrics.storeLatency.Observe(d.Seconds())
	if err != nil && !errors.Is(err, token.ErrNotFound) {
		metrics.storeErrors.Inc()
	}
}

// UsesDropped counts last-used records the validator dropped.
func (validatorMetrics) UsesDropped(n int) {
	initMetrics()
	metrics.usesDropped.Add(float64(n))
}

// RejectionsDropped counts rejections the validator dropped.
func (validatorMetrics) RejectionsDropped(n int) {
	initMetrics()
	metrics.rejsDropped.Add(float64(n))
}

var (
	_ token.Observer     = validatorMetrics{}
	_ token.DropObserver = validatorMetrics{}
)

// listenerState counts LISTEN connections that are up (postgres.Options.OnWatchState).
func listenerState(listening bool) {
	initMetrics()
	if listening {
		metrics.listeners.Inc()
	} else {
		metrics.listeners.Dec()
	}
}

// notifyMetrics implements notify.Observer with caddy_tokengate_notifications_total.
type notifyMetrics struct{}

func (notifyMetrics) count(channel, event, result string) {
	initMetrics()
	metrics.notices.WithLabelValues(channel, event, result).Inc()
}

// Delivered counts a message the channel accepted.
func (m notifyMetrics) Delivered(channel, event string) { m.count(channel, event, "delivered") }

// Retried counts a failed attempt that will be retried.
func (m notifyMetrics) Retried(channel, event string) { m.count(channel, event, "retried") }

// Failed counts a message given up on (the next scan may claim it again).
func (m notifyMetrics) Failed(channel, event string) { m.count(channel, event, "failed") }

// Dropped counts a message not queued because the queue was full.
func (m notifyMetrics) Dropped(channel, event string) { m.count(channel, event, "dropped") }

var _ notify.Observer = notifyMetrics{}
