#!/usr/bin/env bash
# Issue 15: Red Hat's CSAF VEX at real size. A bulk archive of DOCS documents (default 40,000;
# bench/make_vex.py, ~1.4 GB of JSON, zstd-compressed as Red Hat serves it) imported by
# `feeds import` (read one document at a time; wall time and peak RSS), then the full
# rematch of HOSTS RHEL 9 hosts (default 10,000, pakiti-fleet --os rhel --installed 1000)
# that the import runs, first (every finding new) and again (nothing changed). SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${HOSTS:-10000}
docs=${DOCS:-40000}
cargo build --release -q -p pakiti-aggregator -p pakiti-bench
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
python3 bench/make_vex.py "$work/csaf_vex_2026-12-01.tar.zst" "$docs"
db="$work/pakiti.db"
port=$((20000 + RANDOM % 20000))
./target/release/pakiti-aggregator --config.file /dev/null --storage.url "$db" \
  --web.listen-address "127.0.0.1:$port" 2>"$work/aggregator.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.1; done
./target/release/pakiti-fleet --url "http://127.0.0.1:$port" --hosts "$hosts" --installed 1000 \
  --os rhel --phase new 2>&1 | tail -1
kill $pid; wait $pid 2>/dev/null || true; pid=
for pass in first again; do
  echo "== feeds import + full rematch ($pass)"
  /usr/bin/time -f "  wall %e s, peak RSS %M KiB" ./target/release/pakiti-aggregator --config.file /dev/null \
    --storage.url "$db" feeds import --allow-older "$work/csaf_vex_2026-12-01.tar.zst" 2>&1 | grep -v "rematching:" | sed 's/^/  /'
done
echo "SQLite file: $(du -h "$db" | cut -f1)"
# The read side over the findings just written: the fleet's list (its first
# request computes it; later ones are served from its cache), one host's list,
# one vulnerability's first page of hosts.
./target/release/pakiti-aggregator --config.file /dev/null --storage.url "$db" \
  --web.listen-address "127.0.0.1:$port" 2>>"$work/aggregator.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.1; done
base="http://127.0.0.1:$port/api/v1"
echo "GET /api/v1/vulnerabilities, first (computed): $(curl -sf -o "$work/list.json" -w '%{time_total}' "$base/vulnerabilities") s"
echo "GET /api/v1/vulnerabilities, again (cached): $(curl -sf -o /dev/null -w '%{time_total}' "$base/vulnerabilities") s"
vid=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); v=v.get("vulnerabilities", v); print(max(v, key=lambda x: x["hosts"])["id"])' "$work/list.json")
host=$(curl -sf "$base/hosts?limit=1" | python3 -c 'import json,sys; h=json.load(sys.stdin); print((h.get("hosts") or h)[0]["hostname"])')
for url in "$base/vulnerabilities/$vid" "$base/hosts/$host/vulnerabilities"; do
  echo "GET ${url#http://127.0.0.1:$port}: $(curl -sf -o /dev/null -w '%{time_total}' "$url") s"
done
