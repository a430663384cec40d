#!/usr/bin/env bash
# Exporter benchmarks of issue 2, on this machine, in one run:
#  1. a collection's wall time and peak memory against Debian's apt_info.py
#     (prometheus-node-exporter-collectors), with the results compared;
#  2. the idle exporter's resident memory;
#  3. /metrics latency with a 5,000-update snapshot under 50 concurrent clients.
# Needs: hyperfine, wrk, prometheus-node-exporter-collectors, python3-apt (apt-get install -y ...).
set -euo pipefail
cd "$(dirname "$0")/.."
for p in hyperfine wrk prometheus-node-exporter-collectors python3-apt; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || apt-get install -y -q "$p" >/dev/null
done
cargo build --release -q -p pakiti-exporter
exe=$PWD/target/release/pakiti-exporter
peer=/usr/share/prometheus-node-exporter-collectors/apt_info.py
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '[collector]\ncache_dir = "%s/cache"\nupdate_info = "all"\ninterval = "1h"\n' "$work" > "$work/exporter.toml"
ours=("$exe" --config.file "$work/exporter.toml" collect)

echo "== 1. one collection on this host ($(grep PRETTY_NAME /etc/os-release | cut -d= -f2))"
"${ours[@]}" > "$work/ours.prom"   # warms our apt cache, as every collection after the first finds it
/usr/bin/python3 "$peer" > "$work/peer.prom"
pending_ours=$(awk '$1=="pakiti_updates_pending"{print $2}' "$work/ours.prom")
pending_peer=$(awk '/^apt_upgrades_pending/{s+=$2} END{print s+0}' "$work/peer.prom")
held_ours=$("$exe" --config.file "$work/exporter.toml" collect --format json | /usr/bin/python3 -c 'import json,sys; print(sum(1 for u in json.load(sys.stdin)["updates"] if u.get("held_reason")=="hold"))')
held_peer=$(awk '/^apt_upgrades_held/{s+=$2} END{print s+0}' "$work/peer.prom")
reboot_ours=$(awk '$1=="pakiti_reboot_required"{print $2}' "$work/ours.prom")
reboot_peer=$(awk '$1=="node_reboot_required"{print $2}' "$work/peer.prom")
echo "pending: pakiti $pending_ours, apt_info.py $pending_peer; held (apt-mark hold): $held_ours vs $held_peer; reboot: $reboot_ours vs $reboot_peer"
echo "security (pakiti only): $(grep 'severity="unknown"}' "$work/ours.prom" | grep security_updates | awk '{print $2}')"
[ "$pending_ours" = "$pending_peer" ] && [ "$held_ours" = "$held_peer" ] && [ "$reboot_ours" = "$reboot_peer" ] \
  || { echo "RESULTS DIFFER" >&2; exit 1; }
hyperfine -N --warmup 2 --runs 15 --export-json "$work/hf.json" \
  -n pakiti "${ours[*]}" -n apt_info.py "/usr/bin/python3 $peer" | grep -E 'Time|±|faster|slower|pakiti|apt_info'
/usr/bin/python3 - "$work/hf.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, q = r["pakiti"]["median"], r["apt_info.py"]["median"]
print(f"median wall time: pakiti {p:.3f} s, apt_info.py {q:.3f} s, ratio {p/q:.2f}x")
PY
peak() { local m=0 v; for _ in 1 2 3; do v=$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1); ((v > m)) && m=$v; done; echo "$m"; }
echo "peak RSS (largest process of the run, KiB): pakiti $(peak "${ours[@]}"), apt_info.py $(peak /usr/bin/python3 "$peer")"
echo "first collection with a cold apt cache: $( { /usr/bin/time -f %e "$exe" --config.file /dev/null collect >/dev/null; } 2>&1 ) s"

echo "== 2. idle exporter memory"
port=$((20000 + RANDOM % 20000))
"$exe" --config.file "$work/exporter.toml" --web.listen-address "127.0.0.1:$port" serve 2>/dev/null &
pid=$!
until curl -sf "http://127.0.0.1:$port/api/v1/report" >/dev/null; do sleep 0.2; done
sleep 3
echo "idle RSS after the first collection: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
kill $pid; wait $pid 2>/dev/null || true

echo "== 3. /metrics with a 5,000-update snapshot, 50 concurrent clients"
/usr/bin/python3 bench/make_apt_tree.py "$work/tree" 5000 2>/dev/null
"$exe" --config.file "$work/exporter.toml" --path.rootfs "$work/tree" --web.listen-address "127.0.0.1:$port" serve 2>/dev/null &
pid=$!
export APT_CONFIG=$work/tree/etc/apt/apt.conf
until curl -sf "http://127.0.0.1:$port/api/v1/report" >/dev/null; do sleep 0.2; done
echo "snapshot: $(curl -s "http://127.0.0.1:$port/metrics" | grep -c '^pakiti_update_info{') update series, $(curl -s "http://127.0.0.1:$port/metrics" | wc -c) bytes"
echo "-- as Prometheus scrapes (Accept-Encoding: gzip; $(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/metrics" | wc -c) bytes on the wire)"
wrk -t2 -c50 -d10s --latency -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/metrics" | grep -E '50%|90%|99%|Requests/sec'
echo "-- uncompressed"
wrk -t2 -c50 -d10s --latency "http://127.0.0.1:$port/metrics" | grep -E '50%|90%|99%|Requests/sec'
echo "RSS after the load: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
kill $pid
