package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

// Two pools share state across config reloads: stores by location, and
// validators (cache + listener) by location and cache settings, so that a
// reload that changes only cache_ttl gets a new cache on the same open store
// (a bolt file cannot be opened twice).
var (
	storePool = caddy.NewUsagePool()
	cachePool = caddy.NewUsagePool()
)

// listenWait bounds how long acquiring a validator waits for the
// revocation listener's first connection.
const listenWait = 5 * time.Second

// poolKeys names a config's store and validator in the pools.
type poolKeys struct {
	store string // store type and a digest of its location (never the DSN itself)
	cache string // store key plus every cache setting
}

// sharedStore is one open store, owned by storePool, with the route of its
// stored rejections to the current Notifier.
type sharedStore struct {
	store   token.Store
	notices notifySlot
}

// Destruct closes the store when the last validator using it is gone.
func (s *sharedStore) Destruct() error { return s.store.Close() }

// shared is one validator with its listener, owned by cachePool.
type shared struct {
	store     token.Store
	storeKey  string
	home      *sharedStore
	validator *token.Validator
	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// Destruct stops the listener, flushes the validator and releases the store.
func (s *shared) Destruct() error {
	if s.stopWatch != nil {
		s.stopWatch()
		<-s.watchDone
	}
	verr := s.validator.Close()
	_, serr := storePool.Delete(s.storeKey)
	return errors.Join(verr, serr)
}

// acquireShared returns the pooled validator for keys.cache, opening the
// store, the validator and the listener when no config holds them yet. The
// caller releases it with cachePool.Delete(keys.cache).
func acquireShared(keys poolKeys, storeType, location string, vcfg token.ValidatorConfig, logger *zap.Logger) (*shared, error) {
	val, _, err := cachePool.LoadOrNew(keys.cache, func() (caddy.Destructor, error) {
		return openShared(keys.store, storeType, location, vcfg, logger)
	})
	if err != nil {
		return nil, err
	}
	return val.(*shared), nil
}

// openShared opens the store, starts the validator and, for shared stores,
// the revocation listener.
func openShared(storeKey, storeType, location string, vcfg token.ValidatorConfig, logger *zap.Logger) (*shared, error) {
	val, _, err := storePool.LoadOrNew(storeKey, func() (caddy.Destructor, error) {
		st, err := OpenStore(context.Background(), storeType, location, false, logger)
		if err != nil {
			return nil, err
		}
		return &sharedStore{store: st}, nil
	})
	if err != nil {
		return nil, err
	}
	home := val.(*sharedStore)
	st := home.store
	vcfg.OnRejectionsStored = home.notices.forward
	vcfg.OnError = func(err error) { logger.Error("token store background write failed", zap.Error(err)) }
	v, err := token.NewValidator(st, vcfg)
	if err != nil {
		_, _ = storePool.Delete(storeKey)
		return nil, fmt.Errorf("tokengate: starting validator: %w", err)
	}
	v.Start()
	sh := &shared{store: st, storeKey: storeKey, home: home, validator: v}
	if w, ok := st.(token.Watcher); ok {
		sh.watch(w, v, logger)
	}
	return sh, nil
}

// watch starts the revocation listener and waits (at most listenWait) for
// its first connection.
func (sh *shared) watch(w token.Watcher, v *token.Validator, logger *zap.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	sh.stopWatch = cancel
	sh.watchDone = make(chan struct{})
	inv := &firstFlush{Invalidator: v, done: make(chan struct{})}
	go func() {
		defer close(sh.watchDone)
		if err := w.Watch(ctx, inv); err != nil && ctx.Err() == nil {
			logger.Error("revocation listener stopped", zap.Error(err))
		}
	}()
	// Serve only once revocations from other instances are heard: the
	// listener flushes the cache when it connects, and anything cached
	// before then would be flushed (and looked up) again.
	t := time.NewTimer(listenWait)
	defer t.Stop()
	select {
	case <-inv.done:
	case <-t.C:
		logger.Warn("revocation listener not connected yet; serving anyway (the cache is flushed when it connects)",
			zap.Duration("waited", listenWait))
	}
}

// firstFlush passes invalidations on and closes done at the first FlushAll,
// which a Watcher sends once it is listening.
type firstFlush struct {
	token.Invalidator
	once sync.Once
	done chan struct{}
}

// FlushAll flushes and marks the listener as connected.
func (f *firstFlush) FlushAll() {
	f.Invalidator.FlushAll()
	f.once.Do(func() { close(f.done) })
}

// Interface guards.
var (
	_ caddy.Destructor = (*sharedStore)(nil)
	_ caddy.Destructor = (*shared)(nil)
)
