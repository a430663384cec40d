#!/usr/bin/env bash
# Issue 8: the 10,000-host ingestion of bench/aggregator.sh on PostgreSQL, with one
# aggregator replica and with two sharing the database (each fed half the fleet).
# PostgreSQL: PAKITI_TEST_POSTGRES_URL (default this machine's, 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${HOSTS:-10000}
admin=${PAKITI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release -q -p pakiti-aggregator -p pakiti-bench
root=${admin%/*}
pids=()
tmp=$(mktemp -d)
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
run() { # replicas
  local n=$1 db="pakiti_bench_$1_$$" ports=()
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db"
  for i in $(seq "$n"); do
    local port=$((20000 + RANDOM % 20000))
    ./target/release/pakiti-aggregator --config.file /dev/null --storage.url "$root/$db" \
      --web.listen-address "127.0.0.1:$port" 2>/dev/null &
    pids+=($!)
    ports+=("$port")
    until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.1; done
  done
  echo "== $n replica(s) on one PostgreSQL database, $hosts hosts x 150 updates"
  for phase in "new" "unchanged" "changed --round 1" "unchanged --round 1" "changed --round 2"; do
    local share=$((hosts / n)) gen=()
    for i in $(seq 0 $((n - 1))); do
      ./target/release/pakiti-fleet --url "http://127.0.0.1:${ports[$i]}" --hosts "$share" --first $((i * share)) \
        --concurrency $((32 / n)) --phase $phase >"$tmp/gen$i" 2>/dev/null &
      gen+=($!)
    done
    wait "${gen[@]}"
    # Each generator times its own sending (reports are built before its clock starts);
    # together they took as long as the slower one.
    cat "$tmp"/gen* | awk -v p="$phase" '{n += $3; if ($6 + 0 > t) t = $6 + 0} END {printf "phase %-20s %d reports in %.2fs = %.0f reports/s\n", p, n, t, n / t}'
  done
  echo "hosts stored: $(curl -s "http://127.0.0.1:${ports[0]}/api/v1/hosts?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
  echo "database size: $(psql "$admin" -qtAc "SELECT pg_size_pretty(pg_database_size('$db'))")"
  kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
run 1
run 2
