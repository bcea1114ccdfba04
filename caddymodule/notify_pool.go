package caddymodule

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

// One Notifier per store and notify settings, shared across config reloads:
// a reload with the same settings keeps it (and its queue), changed settings
// get a new one and the old one stops when its last config is cleaned up.
var notifyPool = caddy.NewUsagePool()

// pooledNotifier is one Notifier, owned by notifyPool.
type pooledNotifier struct {
	n     *notify.Notifier
	home  *notifySlot
	start sync.Once
}

// begin starts the Notifier (once, however many configs share it) and
// makes it the one the store's rejections go to.
func (p *pooledNotifier) begin() {
	p.start.Do(p.n.Start)
	p.home.use(p)
}

// Destruct stops the Notifier (bounded wait) when the last config using it
// is gone, and hands the store's rejections to the newest other one.
func (p *pooledNotifier) Destruct() error {
	p.home.drop(p)
	p.n.Stop()
	return nil
}

// notifySlot routes a store's stored rejections (token.ValidatorConfig's
// OnRejectionsStored, fixed when the pooled validator is made) to the
// Notifier of the newest started config. Started Notifiers are kept in start
// order, so a reload whose new config fails to start and is cleaned up hands
// the rejections back to the running config's Notifier.
type notifySlot struct {
	current atomic.Pointer[notify.Notifier]
	mu      sync.Mutex
	started []*pooledNotifier
}

// forward passes stored rejections on to the current Notifier, if any
// (never blocking: Notifier.Rejected queues).
func (s *notifySlot) forward(rs []token.Rejection) {
	if n := s.current.Load(); n != nil {
		n.Rejected(rs)
	}
}

func (s *notifySlot) use(p *pooledNotifier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(slices.DeleteFunc(s.started, func(q *pooledNotifier) bool { return q == p }), p)
	s.current.Store(p.n)
}

func (s *notifySlot) drop(p *pooledNotifier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = slices.DeleteFunc(s.started, func(q *pooledNotifier) bool { return q == p })
	if len(s.started) == 0 {
		s.current.Store(nil)
		return
	}
	s.current.Store(s.started[len(s.started)-1].n)
}

// acquireNotifier returns the pooled Notifier of settings on sh's store,
// making it when no config holds it yet; it starts in App.Start. The caller
// releases it with notifyPool.Delete(key).
func acquireNotifier(sh *shared, ns *notifySettings, logger *zap.Logger) (*pooledNotifier, string, error) {
	key := sh.storeKey + ":" + ns.digest
	val, _, err := notifyPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		notices, ok := any(sh.store).(token.NoticeStore)
		if !ok {
			return nil, fmt.Errorf("tokengate: notify: the %T store cannot record sent notifications", sh.store)
		}
		cfg := ns.cfg
		cfg.Observer = notifyMetrics{}
		cfg.OnError = func(err error) { logger.Error("notification failed", zap.Error(err)) }
		n, err := notify.New(notices, sh.store, cfg)
		if err != nil {
			return nil, fmt.Errorf("tokengate: notify: %w", err)
		}
		return &pooledNotifier{n: n, home: &sh.home.notices}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*pooledNotifier), key, nil
}

// releaseNotifier drops a config's use of its Notifier (none: key "").
func releaseNotifier(key string) error {
	if key == "" {
		return nil
	}
	_, err := notifyPool.Delete(key)
	if err != nil {
		return errors.Join(errors.New("tokengate: releasing the notifier"), err)
	}
	return nil
}

// NotifyTarget says where owner's expiry warnings and alerts go: the mail
// address ("" without mail) and the channels ("email", "webhook"; none when
// notifications are off or the config is only checked).
func (a *App) NotifyTarget(owner string) (address string, channels []string) {
	r := a.running()
	if r == nil || r.notifier == nil {
		return "", nil
	}
	return r.notifier.n.AddressFor(owner), r.notifier.n.Channels()
}

var _ caddy.Destructor = (*pooledNotifier)(nil)
