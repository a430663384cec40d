#!/usr/bin/env bash
# Issue 14: vulnerability matching at fleet scale. 10,000 Debian hosts x ~1,000 installed
# packages (bench/src/fleet.rs), a Debian tracker feed of real size (bench/make_tracker.py:
# ~400,000 records, ~50 MB), on this machine's 2 cores:
#   - feeds import + full rematch of the fleet (wall time, peak RSS), first and again;
#   - a round of changed reports, each rematching its host (the store's "rematch"
#     histogram gives the per-report time);
#   - /api/v1/vulnerabilities, /vulnerabilities, a host's list, one vulnerability's hosts.
# STORES: sqlite and/or postgres (PAKITI_TEST_POSTGRES_URL, default 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${HOSTS:-10000}
installed=${INSTALLED:-1000}
stores=${STORES:-sqlite postgres}
admin=${PAKITI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
root=${admin%/*}
cargo build --release -q -p pakiti-aggregator -p pakiti-bench
work=$(mktemp -d)
pid=
db=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$db" ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null; rm -rf "$work"' EXIT
python3 bench/make_tracker.py "$work/tracker.json"
echo "feed: $(du -h "$work/tracker.json" | cut -f1)"
timings() { for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done | sort -n | awk '{t[NR]=$1} END {printf "median %.1f ms, p95 %.1f ms", t[int((NR+1)/2)]*1000, t[int(NR*0.95)]*1000}'; }
start() {
  port=$((20000 + RANDOM % 20000))
  ./target/release/pakiti-aggregator --config.file /dev/null --storage.url "$1" \
    --web.listen-address "127.0.0.1:$port" 2>"$work/aggregator.log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.1; done
}
stop() { kill $pid; wait $pid 2>/dev/null || true; pid=; }
# The store's rematch histogram since the last call (its buckets saved in $2).
quantiles() {
  curl -s "$1/metrics" | python3 -c '
import os, sys
saved, label = sys.argv[1], sys.argv[2]
now = []
for l in sys.stdin:
    if l.startswith("pakiti_aggregator_store_duration_seconds_bucket{operation=\"rematch\""):
        le = l.split("le=\"")[1].split("\"")[0]
        now.append((float("inf") if le == "+Inf" else float(le), float(l.split()[-1])))
before = [float(x) for x in open(saved).read().split()] if os.path.exists(saved) else [0] * len(now)
open(saved, "w").write(" ".join(str(c) for _, c in now))
b = [(le, c - p) for (le, c), p in zip(now, before)]
n = b[-1][1]
q = lambda f: next(le for le, c in b if c >= f * n) * 1000
print(f"  per-report rematch {label} ({int(n)} reports): p50 <= {q(0.5):g} ms, p95 <= {q(0.95):g} ms, p99 <= {q(0.99):g} ms (histogram bucket bounds)")' "$2" "$3"
}
import() {
  /usr/bin/time -f "  wall %e s, peak RSS %M KiB" ./target/release/pakiti-aggregator --config.file /dev/null \
    --storage.url "$1" feeds import "$work/tracker.json" 2>&1 | grep -v "rematching:" | sed 's/^/  /'
}
run() { # storage url
  echo "== $1: $hosts hosts x $installed installed packages"
  rm -f "$work/before"
  start "$1"
  fleet() { ./target/release/pakiti-fleet --url "http://127.0.0.1:$port" --hosts "$hosts" --installed "$installed" "$@" 2>/dev/null; }
  fleet --phase new
  stop # SQLite serves one process: the import runs with the aggregator stopped
  echo "feeds import + full rematch (first: every finding new):"
  import "$1"
  echo "feeds import + full rematch (again: nothing changed):"
  import "$1"
  start "$1"
  local base="http://127.0.0.1:$port"
  echo "a round of changed reports (5% of pending, 1% of installed per host), each rematched, 32 at a time:"
  fleet --phase changed --change-percent 5 --installed-change-percent 1 --round 1 | sed 's/^/  /'
  quantiles "$base" "$work/before" "under that load"
  echo "200 changed reports one at a time (the rematch alone):"
  ./target/release/pakiti-fleet --url "$base" --hosts 200 --installed "$installed" --concurrency 1 \
    --phase changed --change-percent 5 --installed-change-percent 1 --round 2 2>/dev/null | sed 's/^/  /'
  quantiles "$base" "$work/before" "one at a time"
  local top
  top=$(curl -s "$base/api/v1/vulnerabilities" | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = d["vulnerabilities"]
print(v[0]["id"])
print("  %d vulnerabilities, %d hosts covered; top: %s %s on %d hosts" % (d["total"], d["hosts_covered"], v[0]["id"], v[0]["severity"], v[0]["hosts"]), file=sys.stderr)')
  echo "GET /api/v1/vulnerabilities: $(timings "$base/api/v1/vulnerabilities")"
  echo "GET /vulnerabilities (page): $(timings "$base/vulnerabilities")"
  echo "GET /api/v1/hosts/host-00042.example.org/vulnerabilities: $(timings "$base/api/v1/hosts/host-00042.example.org/vulnerabilities")"
  echo "  $(curl -s "$base/api/v1/hosts/host-00042.example.org/vulnerabilities" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["vulnerabilities"]), "findings")')"
  echo "GET /api/v1/vulnerabilities/$top (its hosts): $(timings "$base/api/v1/vulnerabilities/$top")"
  echo "aggregator RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
  stop
}
if [[ " $stores " == *" sqlite "* ]]; then
  run "$work/pakiti.db"
fi
if [[ " $stores " == *" postgres "* ]]; then
  db="pakiti_vulns_bench_$$"
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db"
  run "$root/$db"
fi
