#!/usr/bin/env bash
# pg_loader rows/s for ~1 KB events with a primary key, half of them updates,
# against a raw COPY of the same rows in the same run (target: >= 50%)
# (build/bench/bench_warehouse). Uses $HOOKPIPE_PG_URL if set, else a local
# stack on ports of its own. Prints a markdown section.
#   BENCH_WAREHOUSE_RECORDS (50000), BENCH_WAREHOUSE_RUNS (5),
#   BENCH_WAREHOUSE_BATCH (records per batch, both paths; 5000),
#   BENCH_LOADER_URL: the loader's connection instead of $HOOKPIPE_PG_URL,
#     to compare session settings side by side, e.g.
#     "$HOOKPIPE_PG_URL?options=-csynchronous_commit%3Doff"
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${HOOKPIPE_BUILD:-build}
work=$(mktemp -d)
stack=0
cleanup() {
  [ "$stack" = 1 ] && HOOKPIPE_RUN_DIR=$work/stack compose/local/stack down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ -z "${HOOKPIPE_PG_URL:-}" ]; then
  export HOOKPIPE_RUN_DIR=$work/stack HOOKPIPE_STACK_KAFKA_PORT=$(free_port) HOOKPIPE_STACK_CONTROLLER_PORT=$(free_port) \
         HOOKPIPE_STACK_GATEWAY_PORT=$(free_port) HOOKPIPE_STACK_METRICS_PORT=$(free_port) HOOKPIPE_STACK_REGISTRY_PORT=$(free_port) \
         HOOKPIPE_STACK_PG_PORT=$(free_port)
  stack=1
  compose/local/stack up >/dev/null 2>&1
  set -a; . "$HOOKPIPE_RUN_DIR/stack.env"; set +a
fi
load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$root/$build/bench/bench_warehouse" "$HOOKPIPE_PG_URL" "${BENCH_WAREHOUSE_RECORDS:-50000}" "${BENCH_WAREHOUSE_RUNS:-5}" ${BENCH_WAREHOUSE_BATCH:-}
echo
echo "Load average (1, 5, 15 min) of the shared machine: $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after."
