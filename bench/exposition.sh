#!/usr/bin/env bash
# Issue 19: the fleet's families written by the snapshot writer, or built as the prometheus
# crate's metric families and written by its TextEncoder, at HOSTS hosts (default 10,000;
# 18 series each, as /federate has them). Release build; median of 10 and peak heap each.
# Usage: bench/exposition.sh [HOSTS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked -q -p pakiti-bench --bin pakiti-exposition -- "${1:-10000}"
