#!/usr/bin/env bash
# The test command (README): sets up what the tests need, then runs them all.
#   - Postgres: $TOKENGATE_TEST_POSTGRES_DSN if set, else the local server on
#     127.0.0.1:5432 if it answers, else a throwaway cluster started from the
#     installed binaries; fails loudly if none can be had.
#   - Chromium for the token page's browser test (Debian's package).
#   - Mailpit (SMTP + HTTP API) for the notification tests, built from its Go module.
# Postgres and browser tests never skip when CI=true (this script sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-true}

log() { printf '== %s\n' "$*" >&2; }

# --- Go toolchain -----------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
	[ -x /usr/local/go/bin/go ] && export PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null 2>&1 || { echo "FATAL: Go is not installed (need go $(sed -n 's/^go //p' go.mod))" >&2; exit 1; }

apt_install() {
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing $*"
		(apt-get update -qq || true) >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
	else
		echo "FATAL: please install: $*" >&2
		exit 1
	fi
}

# --- Chromium ---------------------------------------------------------------
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
	apt_install chromium
fi

# --- Mailpit (a real SMTP server with an HTTP API, for the notification tests)
# Built once from its Go module into a cache directory; tests start their own
# instances on free ports from $TOKENGATE_TEST_MAILPIT.
MAILPIT_VERSION=v1.33.1
if [ -z "${TOKENGATE_TEST_MAILPIT:-}" ]; then
	mpdir="${XDG_CACHE_HOME:-$HOME/.cache}/tokengate/mailpit-$MAILPIT_VERSION"
	if [ ! -x "$mpdir/mailpit" ]; then
		log "building mailpit $MAILPIT_VERSION (once)"
		mkdir -p "$mpdir"
		(cd "$mpdir" && GOBIN="$mpdir" GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@$MAILPIT_VERSION") ||
			{ echo "FATAL: could not build mailpit $MAILPIT_VERSION" >&2; exit 1; }
	fi
	export TOKENGATE_TEST_MAILPIT="$mpdir/mailpit"
fi
[ -x "$TOKENGATE_TEST_MAILPIT" ] || { echo "FATAL: TOKENGATE_TEST_MAILPIT=$TOKENGATE_TEST_MAILPIT is not executable" >&2; exit 1; }
log "Mailpit: $TOKENGATE_TEST_MAILPIT"

# --- Postgres ---------------------------------------------------------------
pg_answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }
find_pg_bin() {
	local b
	b=$(command -v "$1" 2>/dev/null || true)
	[ -n "$b" ] || b=$(ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1 || true)
	echo "$b"
}
PGTMP=""
cleanup() {
	if [ -n "$PGTMP" ]; then
		runuser -u postgres -- "$(find_pg_bin pg_ctl)" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$PGTMP"
	fi
}
trap cleanup EXIT

if ! command -v psql >/dev/null 2>&1; then apt_install postgresql-client; fi
if [ -n "${TOKENGATE_TEST_POSTGRES_DSN:-}" ]; then
	pg_answers "$TOKENGATE_TEST_POSTGRES_DSN" || { echo "FATAL: TOKENGATE_TEST_POSTGRES_DSN is set but does not answer" >&2; exit 1; }
	log "Postgres: using \$TOKENGATE_TEST_POSTGRES_DSN"
elif pg_answers "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"; then
	export TOKENGATE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	log "Postgres: using the local server on 127.0.0.1:5432"
else
	if [ -z "$(find_pg_bin initdb)" ]; then apt_install postgresql; fi
	INITDB=$(find_pg_bin initdb)
	PGCTL=$(find_pg_bin pg_ctl)
	[ -n "$INITDB" ] && [ -n "$PGCTL" ] || { echo "FATAL: no Postgres server and no initdb/pg_ctl to start one" >&2; exit 1; }
	id postgres >/dev/null 2>&1 || useradd --system --home /nonexistent postgres
	PGTMP=$(mktemp -d /tmp/tokengate-pg.XXXXXX)
	chown postgres "$PGTMP"
	PORT=""
	for p in $(seq 55432 55482); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
	done
	[ -n "$PORT" ] || { echo "FATAL: no free port in 55432-55482 for a throwaway Postgres" >&2; exit 1; }
	log "Postgres: starting a throwaway cluster on 127.0.0.1:$PORT"
	runuser -u postgres -- "$INITDB" -D "$PGTMP/data" -A trust -U postgres >/dev/null
	runuser -u postgres -- "$PGCTL" -D "$PGTMP/data" -w -l "$PGTMP/log" \
		-o "-p $PORT -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
	export TOKENGATE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
	pg_answers "$TOKENGATE_TEST_POSTGRES_DSN" || { echo "FATAL: the throwaway Postgres does not answer; log:" >&2; cat "$PGTMP/log" >&2; exit 1; }
fi

# --- Checks and tests -------------------------------------------------------
log "gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || { echo "FATAL: gofmt needed: $unformatted" >&2; exit 1; }
go vet ./...

log "go test -race ./..."
go test -race -count=1 -timeout 30m ./...

log "benchmarks compile and run once"
benchlog=$(mktemp)
if ! go test -run '^$' -bench . -benchtime 1x -timeout 10m ./... >"$benchlog" 2>&1; then
	cat "$benchlog" >&2
	echo "FATAL: a benchmark failed" >&2
	exit 1
fi
rm -f "$benchlog"
log "scale test (1M tokens)"; bash .ci/scale.sh
log "all tests passed"
