package notify

import (
	"crypto/tls"
	"time"
)

// Fast returns cfg tuned for tests: the given waits between attempts (none:
// a single attempt), five-second attempts and store calls, and tlsConfig
// (nil: system roots) for STARTTLS/TLS.
func Fast(cfg Config, tlsConfig func(serverName string) *tls.Config, backoff ...time.Duration) Config {
	t := defaultTuning()
	t.backoff = backoff
	t.sendTO, t.storeTO = 5*time.Second, 5*time.Second
	t.tlsConfig = tlsConfig
	cfg.tuning = t
	return cfg
}

// Lease is the claim lease the notifier uses.
func Lease() time.Duration { return defaultTuning().lease }

// WithLease returns cfg (from Fast) with the claim lease set to lease.
func WithLease(cfg Config, lease time.Duration) Config {
	t := *cfg.tuning
	t.lease = lease
	cfg.tuning = &t
	return cfg
}

// WithQueues returns cfg (from Fast) with the given queue lengths: per
// channel, and of rejection batches.
func WithQueues(cfg Config, deliveries, alerts int) Config {
	t := *cfg.tuning
	t.queueLen, t.alertQueue = deliveries, alerts
	cfg.tuning = &t
	return cfg
}
