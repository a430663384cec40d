#!/usr/bin/env bash
# The restart scan (processes running replaced code) on a host with many processes:
# starts PROCS `sleep` processes (default 5000), a tenth of them running a copy of libc
# that is then replaced as an upgrade replaces it, and times `pakiti-exporter collect`'s
# look through /proc (its log line), RUNS times. Needs root (a folder under /opt).
# Usage: bench/restart.sh [PROCS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
procs=${1:-5000}
runs=${2:-5}
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --locked -q -p pakiti-exporter
exporter="$target/release/pakiti-exporter"
dir=/opt/pakiti-restart-bench-$$
mkdir -p "$dir"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
libc=$(ldd /usr/bin/sleep | awk '/libc.so/ {print $3}')
cp "$libc" "$dir/libc.so.6"
ulimit -u unlimited 2>/dev/null || true
for i in $(seq 1 "$procs"); do
  if (( i % 10 == 0 )); then
    LD_LIBRARY_PATH="$dir" sleep 600 & pids+=($!)
  else
    sleep 600 & pids+=($!)
  fi
done
sleep 1
cp "$libc" "$dir/libc.so.6.new" && mv "$dir/libc.so.6.new" "$dir/libc.so.6"
echo "processes on this machine: $(ls -d /proc/[0-9]* | wc -l); outdated made: $((procs / 10))"
for r in $(seq 1 "$runs"); do
  "$exporter" --config.file /dev/null --log.format logfmt collect 2>&1 >/dev/null |
    grep 'looked for processes' | sed -E 's/.*(duration_ms=[0-9]+ scanned=[0-9]+ unreadable=[0-9]+ outdated=[0-9]+).*/\1/'
done
