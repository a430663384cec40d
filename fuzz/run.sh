#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600), two at a time, keeping what libFuzzer
# adds to the corpora. Needs cargo-fuzz and the nightly toolchain.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^pakiti-fuzz$')
cargo +nightly fuzz build -O
printf '%s\n' $targets | xargs -P 2 -I{} sh -c \
  "cargo +nightly fuzz run -O {} corpus/{} -- -max_total_time=$seconds -print_final_stats=1 > run-{}.log 2>&1; echo {}: \$(grep -E 'stat::number_of_executed_units|cov:' run-{}.log | tail -2 | tr '\n' ' ')"
