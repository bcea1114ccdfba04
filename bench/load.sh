#!/usr/bin/env bash
# Load benchmark: plain reverse_proxy vs tokengate_auth + reverse_proxy to the
# same upstream, interleaved in one run, with wrk. Prints req/s, p50/p99 of
# each round and the throughput ratio (target ≥ 0.95 on cache hits).
#
#   bash bench/load.sh                 # 8 interleaved rounds of 5 s each
#   ROUNDS=5 DURATION=20s CONNS=32 bash bench/load.sh
#   PROFILE_DIR=/tmp/prof bash bench/load.sh   # also CPU-profile the proxy in round 1
#
# Everything listens on 127.0.0.1 only and stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-8}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}

command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq wrk >/dev/null; }

WORK=$(mktemp -d /tmp/tokengate-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

go build -o "$WORK/tokengate" ./cmd/tokengate
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); ADMIN1=$(free_port); ADMIN2=$(free_port)

# The upstream: a separate process answering a small JSON body.
cat >"$WORK/upstream.caddyfile" <<CF
{
	admin 127.0.0.1:$ADMIN1
}
http://127.0.0.1:$UP {
	header Content-Type application/json
	respond \`{"value":[{"Key":"JRA-1","Summary":"benchmark"}]}\` 200
}
CF
# The proxy under test: both variants in one process, same upstream.
cat >"$WORK/proxy.caddyfile" <<CF
{
	admin 127.0.0.1:$ADMIN2
	tokengate {
		store bolt $WORK/tokengate.db
	}
}
# Same shape as the gate site (a route on /odata/*), minus tokengate_auth.
http://127.0.0.1:$PLAIN {
	route /odata/* {
		reverse_proxy 127.0.0.1:$UP
	}
}
http://127.0.0.1:$GATE {
	route /odata/* {
		tokengate_auth
		reverse_proxy 127.0.0.1:$UP
	}
	handle_path /tokens/* {
		basic_auth {
			bench \$2a\$10\$3QASvN55GCFDuavb/t8vVeMK8arOs6vxloR6NJPe4WdhrnKE04oOC
		}
		tokengate_portal
	}
}
CF
# Pin the servers and wrk to separate CPUs (when there are at least two):
# less scheduler noise between the interleaved rounds.
SERVER_CPUS=""; WRK_CPUS=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	WRK_CPUS="taskset -c 0"; SERVER_CPUS="taskset -c 1-$(($(nproc) - 1))"
fi
(cd "$WORK" && exec $SERVER_CPUS ./tokengate run --config upstream.caddyfile --adapter caddyfile >"$WORK/upstream.log" 2>&1) & PIDS+=($!)
(cd "$WORK" && exec $SERVER_CPUS ./tokengate run --config proxy.caddyfile --adapter caddyfile >"$WORK/proxy.log" 2>&1) & PIDS+=($!)
for port in $UP $PLAIN $GATE; do
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

# A token created the way a person would: through the token page's API.
TOKEN=$(curl -sf -u bench:alice-demo -H 'Content-Type: application/json' -H "Origin: http://127.0.0.1:$GATE" \
	-d '{"label":"load benchmark","expires_on":null}' "http://127.0.0.1:$GATE/tokens/api/tokens" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
AUTH="Authorization: Basic $(printf 'bench:%s' "$TOKEN" | base64 -w0)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "http://127.0.0.1:$GATE/odata/x")
[ "$code" = 200 ] || { echo "token check failed: HTTP $code" >&2; cat "$WORK/proxy.log" >&2; exit 1; }

run() { # name url [header]
	local out
	if [ $# -eq 3 ]; then
		out=$($WRK_CPUS wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$3" "$2")
	else
		out=$($WRK_CPUS wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2")
	fi
	if echo "$out" | grep -q 'Non-2xx'; then echo "$1: non-2xx responses!" >&2; echo "$out" >&2; exit 1; fi
	local rps p50 p99
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p50=$(echo "$out" | awk '$1=="50%" {print $2}')
	p99=$(echo "$out" | awk '$1=="99%" {print $2}')
	printf '%-6s round %d  %10s req/s  p50 %8s  p99 %8s\n' "$1" "$ROUND" "$rps" "$p50" "$p99" >&2
	echo "$rps"
}

echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS interleaved rounds, $(nproc) cores" >&2
wrk -t1 -c4 -d2s -H "$AUTH" "http://127.0.0.1:$GATE/odata/x" >/dev/null # warm up
SUM_PLAIN=0; SUM_GATE=0; RATIOS=""
for ROUND in $(seq "$ROUNDS"); do
	p=$(run plain "http://127.0.0.1:$PLAIN/odata/x")
	if [ -n "${PROFILE_DIR:-}" ] && [ "$ROUND" = 1 ]; then
		mkdir -p "$PROFILE_DIR"
		curl -s -o "$PROFILE_DIR/gate.cpu.pprof" "http://127.0.0.1:$ADMIN2/debug/pprof/profile?seconds=5" &
		PROF_PID=$!
	fi
	g=$(run gate "http://127.0.0.1:$GATE/odata/x" "$AUTH")
	SUM_PLAIN=$(python3 -c "print($SUM_PLAIN + $p)")
	SUM_GATE=$(python3 -c "print($SUM_GATE + $g)")
	RATIOS="$RATIOS $(python3 -c "print($g / $p)")"
done
[ -n "${PROF_PID:-}" ] && wait "$PROF_PID"
[ -n "${PROFILE_DIR:-}" ] && cp "$WORK/tokengate" "$PROFILE_DIR/tokengate" && echo "profile: go tool pprof $PROFILE_DIR/tokengate $PROFILE_DIR/gate.cpu.pprof" >&2
python3 - "$SUM_PLAIN" "$SUM_GATE" "$ROUNDS" $RATIOS <<'PY'
import statistics, sys
plain, gate, rounds = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
per_round = sorted(float(r) for r in sys.argv[4:])
ratio = gate / plain
median = statistics.median(per_round)
print(f"mean req/s: plain reverse_proxy {plain/rounds:.0f}, tokengate_auth + reverse_proxy {gate/rounds:.0f}")
print(f"per-round ratios: {' '.join(f'{r:.3f}' for r in per_round)}")
print(f"ratio (tokengate / plain): {ratio:.3f} overall, {median:.3f} median of rounds  (target >= 0.95) {'OK' if median >= 0.95 else 'BELOW TARGET'}")
PY
