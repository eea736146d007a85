#!/usr/bin/env bash
# The sink's JSON -> Avro conversion rate against jansson's parse rate on the
# same ~1 KB events (build/bench/bench_convert). Prints a markdown section.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HOOKPIPE_BUILD:-build}
exec "$root/$build/bench/bench_convert" "${BENCH_CONVERT_RECORDS:-50000}" "${BENCH_CONVERT_RUNS:-5}"
