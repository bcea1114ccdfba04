#!/usr/bin/env bash
# The scale test (issue 14; README "Scale test"): about a million tokens over
# 50,000 owners, generated with SQL in a fresh Postgres database and with the
# bolt store's own Import, against the real binary, compared with 1k tokens;
# plus the cache hit ratio with 200k tokens in rotation. No race detector:
# it measures time and memory. Needs $TOKENGATE_TEST_POSTGRES_DSN (the test
# command, .ci/test.sh, sets it up).
#   TOKENGATE_SCALE_TOKENS  (default 1000000)
#   TOKENGATE_SCALE_OWNERS  (default 50000)
#   TOKENGATE_SCALE_REPORT  the markdown table is written there (default: a temp file, printed)
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-true}
export TOKENGATE_SCALE_TOKENS=${TOKENGATE_SCALE_TOKENS:-1000000}
export TOKENGATE_SCALE_OWNERS=${TOKENGATE_SCALE_OWNERS:-50000}
: "${TOKENGATE_TEST_POSTGRES_DSN:?set it to a Postgres server the test may create databases on}"
export TOKENGATE_TEST_POSTGRES_DSN

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
report=${TOKENGATE_SCALE_REPORT:-$tmp/report.md}
export TOKENGATE_SCALE_REPORT=$report
export TOKENGATE_SCALE_CACHE_ROWS=$tmp/cache-rows.md

start=$(date +%s)
status=0
TOKENGATE_HITRATIO_TOKENS=200000 go test -count=1 -timeout 10m -run '^TestCacheHitRatio$' -v ./token/ || status=$?
go test -tags scale -count=1 -timeout 45m -v ./caddymodule/scale/ || status=$?
printf '\nscale step: %d s\n\n' "$(( $(date +%s) - start ))" >&2
[ -s "$report" ] && cat "$report" >&2
[ "$status" = 0 ] || echo "FATAL: the scale test failed (see above)" >&2
exit "$status"
