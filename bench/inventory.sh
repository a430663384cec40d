#!/usr/bin/env bash
# Issue 13: the installed inventory at fleet scale. 10,000 hosts, each report with 150
# pending updates and ~1,000 installed packages (most hosts share most versions: one
# package in 20 is at another version, varying by host), pushed to the release
# aggregator on SQLite and on PostgreSQL, on this machine's 2 cores (generator and
# aggregator share them). `changed` rounds change 5% of the pending updates and 1% of
# the installed packages of every host.
# PostgreSQL: PAKITI_TEST_POSTGRES_URL (default this machine's, 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${HOSTS:-10000}
installed=${INSTALLED:-1000}
rounds=${ROUNDS:-3}
stores=${STORES:-sqlite postgres}
admin=${PAKITI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
root=${admin%/*}
cargo build --release -q -p pakiti-aggregator -p pakiti-bench
work=$(mktemp -d)
pid=
db=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$db" ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null; rm -rf "$work"' EXIT
median_ms() { for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done | sort -n | awk '{t[NR]=$1} END {printf "median %.1f ms, p95 %.1f ms", t[int((NR+1)/2)]*1000, t[int(NR*0.95)]*1000}'; }
run() { # storage url
  local port=$((20000 + RANDOM % 20000))
  ./target/release/pakiti-aggregator --config.file /dev/null --storage.url "$1" \
    --web.listen-address "127.0.0.1:$port" 2>"$work/aggregator.log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.1; done
  fleet() { ./target/release/pakiti-fleet --url "http://127.0.0.1:$port" --hosts "$hosts" --installed "$installed" "$@" 2>/dev/null; }
  echo "== $1: $hosts hosts x 150 pending updates x $installed installed packages"
  ./target/release/pakiti-fleet --url "http://127.0.0.1:$port" --hosts 1 --installed "$installed" --phase new 2>&1 | grep prepared
  fleet --phase new
  for round in $(seq "$rounds"); do
    fleet --phase unchanged --round $((round - 1))
    fleet --phase changed --change-percent 5 --installed-change-percent 1 --round "$round"
  done
  local q="http://127.0.0.1:$port/api/v1/packages"
  echo "packages query, a package on every host at 4 versions, version_lt (${hosts} hosts), first page: $(median_ms "$q/installed-0040-bin?version_lt=2.40.2")"
  echo "  answer: $(curl -s "$q/installed-0040-bin?version_lt=2.40.2" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["host_count"], "hosts,", len(d["versions"]), "versions")')"
  echo "  the whole answer in one page (limit=10000): $(median_ms "$q/installed-0040-bin?version_lt=2.40.2&limit=10000")"
  echo "packages query, all versions: $(median_ms "$q/installed-0040-bin")"
  echo "package page with its installed part: $(median_ms "http://127.0.0.1:$port/packages/installed-0040-bin?version_lt=2.40.2")"
  echo "host page (1,000 installed, 150 pending): $(median_ms "http://127.0.0.1:$port/hosts/host-00042.example.org")"
  echo "aggregator RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true; pid=
}
if [[ " $stores " == *" sqlite "* ]]; then
run "$work/pakiti.db"
python3 - "$work/pakiti.db" "$hosts" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
sizes = dict(c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
inv = [n for n in sizes if n.startswith(("packages", "package_hosts", "host_inventory", "installed_history", "sqlite_autoindex_packages"))]
total = sum(sizes[n] for n in inv)
hosts = int(sys.argv[2])
print("SQLite inventory tables: " + ", ".join(f"{n} {sizes[n] / 2**20:.1f} MiB" for n in sorted(inv)))
print(f"SQLite inventory growth: {total / 2**20:.1f} MiB = {total / hosts / 1024:.1f} KiB per host; distinct packages stored: {c.execute('SELECT COUNT(*) FROM packages').fetchone()[0]}, bitmaps: {c.execute('SELECT COUNT(*) FROM package_hosts').fetchone()[0]}")
PY
fi
[[ " $stores " == *" postgres "* ]] || exit 0
db="pakiti_inventory_bench_$$"
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db"
run "$root/$db"
psql "$root/$db" -qtA -c "SELECT 'PostgreSQL inventory growth: ' || pg_size_pretty(SUM(pg_total_relation_size(c))) || ' = ' || round(SUM(pg_total_relation_size(c)) / $hosts / 1024.0, 1) || ' KiB per host' FROM unnest(ARRAY['packages', 'host_blocks', 'installed_history']) c"
