package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/postgres"
)

// DefaultStorePath is the embedded store's file when the config names none.
const DefaultStorePath = "./data/tokengate.db"

// storeOpenTimeout bounds connecting to Postgres and migrating its schema.
const storeOpenTimeout = 30 * time.Second

// StoreConfig selects the token store.
type StoreConfig struct {
	// Type is "bolt" (default) or "postgres".
	Type string `json:"type,omitempty"`
	// Path is the bolt file (type bolt). Placeholders such as {env.X} work.
	Path string `json:"path,omitempty"`
	// DSN is the Postgres connection string (type postgres). Placeholders
	// such as {env.TOKENGATE_POSTGRES_DSN} work and keep the password out of
	// the config. It is never logged.
	DSN string `json:"dsn,omitempty"`
}

// resolve returns the store type and its resolved location (path or DSN).
func (s StoreConfig) resolve(repl *caddy.Replacer) (string, string, error) {
	switch s.Type {
	case "", "bolt":
		if s.DSN != "" {
			return "", "", errors.New("tokengate: store: dsn is only for type postgres")
		}
		path := s.Path
		if path == "" {
			path = DefaultStorePath
		}
		path = repl.ReplaceKnown(path, "")
		if path == "" {
			return "", "", errors.New("tokengate: store bolt: path is empty after replacing placeholders")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", "", fmt.Errorf("tokengate: store bolt: path %q: %w", path, err)
		}
		return "bolt", abs, nil
	case "postgres":
		if s.Path != "" {
			return "", "", errors.New("tokengate: store: path is only for type bolt")
		}
		dsn := repl.ReplaceKnown(s.DSN, "")
		if dsn == "" {
			return "", "", errors.New("tokengate: store postgres: dsn is empty (is the environment variable set?)")
		}
		return "postgres", dsn, nil
	default:
		return "", "", fmt.Errorf("tokengate: store: unknown type %q (want bolt or postgres)", s.Type)
	}
}

// storeKey names a store in storePool without holding its location (a DSN
// carries a password).
func storeKey(storeType, location string) string {
	sum := sha256.Sum256([]byte(location))
	return storeType + ":" + hex.EncodeToString(sum[:])
}

// OpenStore opens a token store of the given type ("bolt" with a file path,
// "postgres" with a DSN; skipMigrate leaves the Postgres schema alone).
// Errors never contain the DSN's password.
func OpenStore(ctx context.Context, storeType, location string, skipMigrate bool, logger *zap.Logger) (token.Store, error) {
	switch storeType {
	case "bolt":
		st, err := bolt.Open(location)
		if err != nil {
			return nil, fmt.Errorf("tokengate: store bolt: %w", err)
		}
		return st, nil
	case "postgres":
		ctx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
		defer cancel()
		st, err := postgres.Open(ctx, location, postgres.Options{
			SkipMigrate:  skipMigrate,
			OnWatchError: func(err error) { logger.Warn("revocation listener", zap.Error(err)) },
			OnWatchState: func(listening bool) {
				listenerState(listening)
				if listening {
					logger.Info("revocation listener connected; cache flushed")
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("tokengate: store postgres %s: %w", postgres.RedactDSN(location), err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("tokengate: store: unknown type %q", storeType)
	}
}
