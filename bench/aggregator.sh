#!/usr/bin/env bash
# Aggregator benchmarks of issue 4: a synthetic fleet (bench/src/fleet.rs) of 10,000
# hosts with 150 pending updates each drives the real release aggregator over HTTP
# on loopback, on this machine's 2 cores (generator and aggregator share them).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${HOSTS:-10000}
updates=${UPDATES:-150}
cargo build --release -q -p pakiti-aggregator -p pakiti-bench
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
./target/release/pakiti-aggregator --config.file /dev/null --storage.url "$work/pakiti.db" \
  --web.listen-address "127.0.0.1:$port" 2>"$work/aggregator.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.1; done
fleet() { ./target/release/pakiti-fleet --url "http://127.0.0.1:$port" --hosts "$hosts" --updates "$updates" "$@" 2>/dev/null; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
echo "== ingestion: $hosts hosts x $updates pending updates, gzip JSON, 32 connections"
fleet --phase new
for round in 1 2 3; do
  c0=$(cpu); fleet --phase unchanged --round $((round - 1)); c1=$(cpu)
  echo "   aggregator CPU: $(( (c1 - c0) * 10000 / hosts )) us per report"
  c0=$(cpu); fleet --phase changed --change-percent 5 --round "$round"; c1=$(cpu)
  echo "   aggregator CPU: $(( (c1 - c0) * 10000 / hosts )) us per report"
done
echo "== one report of 50,000 pending updates (about 10 MB of JSON) pushed among 2,000 ordinary ones"
./target/release/pakiti-fleet --url "http://127.0.0.1:$port" --hosts 2000 --updates "$updates" \
  --phase unchanged --round 3 --huge 50000 2>/dev/null
echo "== /federate for $hosts hosts (10 requests, uncompressed)"
for _ in $(seq 10); do curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$port/federate"; done \
  | sort -n | awk '{t[NR]=$1; b=$2} END {printf "median %.1f ms, max %.1f ms, %d bytes\n", t[int((NR+1)/2)]*1000, t[NR]*1000, b}'
echo "series: $(curl -s "http://127.0.0.1:$port/federate" | grep -vc '^#')"
# The peak resident memory one /federate request adds (the kernel's high-water mark, reset first).
rss() { awk "/$1/{print \$2}" /proc/$pid/status; }
echo 5 > /proc/$pid/clear_refs
before=$(rss VmRSS)
curl -s -o /dev/null "http://127.0.0.1:$port/federate"
echo "/federate peak memory: $(( ($(rss VmHWM) - before) / 1024 )) MiB above the $((before / 1024)) MiB resident before it"
echo "/federate gzipped (as Prometheus asks): $(curl -s -H 'Accept-Encoding: gzip' -o /dev/null -w '%{time_total}s, %{size_download} bytes' "http://127.0.0.1:$port/federate")"
echo "/federate?match[] one site: $(curl -s -o /dev/null -w '%{time_total}s, %{size_download} bytes' -G --data-urlencode 'match[]={site="SiteA"}' "http://127.0.0.1:$port/federate")"
median_ms() { for _ in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done | sort -n | awk '{t[NR]=$1} END {printf "median %.1f ms, max %.1f ms", t[int((NR+1)/2)]*1000, t[NR]*1000}'; }
echo "== web pages for $hosts hosts, rendered server-side (10 requests each; the first read fills the fleet cache)"
curl -s -o /dev/null "http://127.0.0.1:$port/hosts"
echo "hosts page (50 rows, sorted by patch age): $(median_ms "http://127.0.0.1:$port/hosts")"
echo "hosts page, filtered and sorted (security, by pending): $(median_ms "http://127.0.0.1:$port/hosts?security=yes&sort=pending&order=desc")"
echo "overview: $(median_ms "http://127.0.0.1:$port/")"
echo "host page (150 updates and history): $(median_ms "http://127.0.0.1:$port/hosts/host-00042.example.org")"
echo "package page (a package pending on every host): $(median_ms "http://127.0.0.1:$port/packages/package-007-common")"
echo "== /api/v1/hosts for $hosts hosts, first page (1,000): $(curl -s -o /dev/null -w '%{time_total}s' "http://127.0.0.1:$port/api/v1/hosts"), all in one page: $(curl -s -o /dev/null -w '%{time_total}s' "http://127.0.0.1:$port/api/v1/hosts?limit=10000")"
bytes=$(( $(stat -c %s "$work/pakiti.db") + $(stat -c %s "$work/pakiti.db-wal" 2>/dev/null || echo 0) ))
echo "== database: $((bytes / 1024 / 1024)) MiB for $hosts hosts = $((bytes / hosts / 1024)) KiB per host ($updates pending updates and their history)"
echo "aggregator RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
