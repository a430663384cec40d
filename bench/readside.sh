#!/usr/bin/env bash
# Issue 22: the read side at fleet scale. A synthetic fleet (bench/src/fleet.rs) of
# HOSTS hosts (default 100,000) with 150 pending updates each is pushed into the real
# release aggregator, then every read the issue names is timed (median and p99 of
# REQUESTS requests each, one at a time, as curl's total time) and the aggregator's
# resident memory is read before and after.
#   STORE=sqlite (default)          one aggregator on a SQLite file; with DB=FILE on that
#                                   file, kept afterwards, and an existing one is not
#                                   fed again (the reads alone, measured again)
#   STORE=postgres REPLICAS=2       replicas on one PostgreSQL database, each fed a
#                                   share of the fleet; the reads go to each in turn
#                                   and the replicas' answers are compared
# PostgreSQL: PAKITI_TEST_POSTGRES_URL (default this machine's, 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${HOSTS:-100000}
updates=${UPDATES:-150}
requests=${REQUESTS:-100}
store=${STORE:-sqlite}
replicas=${REPLICAS:-1}
[ "$store" = sqlite ] && replicas=1
cargo build --release -q -p pakiti-aggregator -p pakiti-bench
work=$(mktemp -d)
pids=()
ports=()
admin=${PAKITI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db="pakiti_readside_$$"
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "$store" = postgres ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
fed=no
case $store in
  sqlite) url=${DB:-$work/pakiti.db}; [ -s "$url" ] && fed=yes ;;
  postgres)
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db"
    url="${admin%/*}/$db" ;;
  *) echo "STORE=$store: expected sqlite or postgres" >&2; exit 2 ;;
esac
for i in $(seq "$replicas"); do
  port=$((20000 + RANDOM % 20000))
  ./target/release/pakiti-aggregator --config.file /dev/null --storage.url "$url" \
    --web.listen-address "127.0.0.1:$port" 2>"$work/aggregator$i.log" &
  pids+=($!)
  ports+=("$port")
  until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.1; done
done
rss() { for p in "${pids[@]}"; do awk '/VmRSS/{printf "%d MiB ", $2 / 1024}' "/proc/$p/status"; done; }

echo "== $hosts hosts x $updates pending updates on $store, $replicas replica(s)"
echo "resident memory at start: $(rss)"
phases=("new" "unchanged" "changed --round 1")
[ $fed = yes ] && phases=()
for phase in "${phases[@]}"; do
  share=$((hosts / replicas)) gen=()
  for i in $(seq 0 $((replicas - 1))); do
    ./target/release/pakiti-fleet --url "http://127.0.0.1:${ports[$i]}" --hosts "$share" --first $((i * share)) \
      --updates "$updates" --concurrency $((32 / replicas)) --phase $phase >"$work/gen$i" 2>/dev/null &
    gen+=($!)
  done
  wait "${gen[@]}"
  cat "$work"/gen* | awk -v p="$phase" '{n += $3; if ($6 + 0 > t) t = $6 + 0} END {printf "ingestion %-18s %d reports in %.1fs = %.0f reports/s\n", p, n, t, n / t}'
done
echo "resident memory after ingestion: $(rss)"

base() { echo "http://127.0.0.1:${ports[$(( $1 % replicas ))]}"; }
# time_ms PATH...: REQUESTS requests spread over the replicas; median and p99 in ms.
time_ms() {
  for n in $(seq "$requests"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$(base "$n")$1"
  done | sort -n | awk '{t[NR] = $1} END {printf "median %6.1f ms  p99 %6.1f ms", t[int((NR + 1) / 2)] * 1000, t[int(NR * 0.99 + 0.999)] * 1000}'
}
# The cursor of page 400 of the hosts API at 100 hosts a page (fewer in a fleet under
# 40,000 hosts): follow 399 next links.
per=$((hosts / 400 < 100 ? hosts / 400 : 100))
cursor=$(python3 - "$(base 0)" "$per" <<'EOF'
import json, sys, urllib.parse, urllib.request
base, link = sys.argv[1], "/api/v1/hosts?limit=" + sys.argv[2]
for _ in range(399):
    link = json.load(urllib.request.urlopen(base + link))["next"]
print(urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["after"][0])
EOF
)
for p in "${ports[@]}"; do curl -s -o /dev/null "http://127.0.0.1:$p/hosts"; done # fill the fleet copy
echo "resident memory with the fleet copy: $(rss)"
echo "== reads, $requests requests each"
echo "hosts page (50 rows by patch age)              $(time_ms /hosts)"
echo "hosts page, filtered and sorted                $(time_ms '/hosts?security=yes&sort=pending&order=desc')"
echo "overview                                       $(time_ms /)"
echo "hosts API, first page ($per)                    $(time_ms "/api/v1/hosts?limit=$per")"
echo "hosts API, page 400 ($per a page)               $(time_ms "/api/v1/hosts?limit=$per&after=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$cursor")")"
echo "package on every host, page (first 200 rows)   $(time_ms /packages/package-007-common)"
echo "package on every host, JSON                    $(time_ms /packages/package-007-common?format=json)"
echo "host page                                      $(time_ms /hosts/host-00042.example.org)"
if [ "$store" = postgres ]; then
  # A count reads the index alone only where the visibility map says the rows are
  # visible: right after the bulk load it is not, until (auto)vacuum has run.
  psql "$url" -qc "VACUUM ANALYZE"
  echo "after VACUUM ANALYZE (what autovacuum does after a bulk load):"
  echo "package on every host, page (first 200 rows)   $(time_ms /packages/package-007-common)"
  echo "host page                                      $(time_ms /hosts/host-00042.example.org)"
fi
echo "== /federate, 10 requests"
requests=10
echo "/federate                                      $(time_ms /federate)"
echo "series: $(curl -s "$(base 0)/federate" | grep -vc '^#')"
pid=${pids[0]}
echo 5 > "/proc/$pid/clear_refs"
before=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
curl -s -o /dev/null "$(base 0)/federate"
echo "/federate peak memory: $(( ($(awk '/VmHWM/{print $2}' "/proc/$pid/status") - before) / 1024 )) MiB above the $((before / 1024)) MiB resident before it"
echo "/federate gzipped: $(curl -s -H 'Accept-Encoding: gzip' -o /dev/null -w '%{time_total}s, %{size_download} bytes' "$(base 0)/federate")"
echo 5 > "/proc/$pid/clear_refs"
before=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
echo "hosts CSV export: $(curl -s -o /dev/null -w '%{time_total}s, %{size_download} bytes' "$(base 0)/hosts?format=csv"), peak memory $(( ($(awk '/VmHWM/{print $2}' "/proc/$pid/status") - before) / 1024 )) MiB above $((before / 1024)) MiB"
if ((replicas > 1)); then
  a=$(curl -s "$(base 0)/api/v1/hosts?limit=10000" | sha256sum)
  b=$(curl -s "$(base 1)/api/v1/hosts?limit=10000" | sha256sum)
  echo "replicas agree on the first 10,000 hosts: $([ "$a" = "$b" ] && echo yes || echo NO)"
fi
echo "resident memory after the reads: $(rss)"
