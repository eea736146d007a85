#!/usr/bin/env bash
# Latency from POST to row visible in PostgreSQL at 2,000 events/s (targets:
# p50 <= 1 s, p99 <= 3 s): a local stack of its own (gateway, Kafka, the
# postgres sink with its defaults, PostgreSQL), an integration with a primary
# key, and tests/bench/latency.py sending paced POSTs and polling the table.
# BENCH_LATENCY_RATE, _SECONDS, _CONNECTIONS change the load. Prints a
# markdown section.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=$root/build/bin
rate=${BENCH_LATENCY_RATE:-2000}
seconds=${BENCH_LATENCY_SECONDS:-25}
conns=${BENCH_LATENCY_CONNECTIONS:-128}
work=$(mktemp -d)
export HOOKPIPE_RUN_DIR=$work/stack
cleanup() {
  compose/local/stack down --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

unset KAFKA_BOOTSTRAP_SERVERS HOOKPIPE_PG_URL
export HOOKPIPE_STACK_KAFKA_PORT=$(free_port) HOOKPIPE_STACK_CONTROLLER_PORT=$(free_port) \
       HOOKPIPE_STACK_GATEWAY_PORT=$(free_port) HOOKPIPE_STACK_METRICS_PORT=$(free_port) \
       HOOKPIPE_STACK_REGISTRY_PORT=$(free_port) HOOKPIPE_STACK_PG_PORT=$(free_port)
compose/local/stack up > "$work/stack.log" 2>&1 || { tail -n 20 "$work/stack.log" >&2; exit 1; }
set -a; . "$HOOKPIPE_RUN_DIR/stack.env"; set +a
url=$("$bin/hookpipectl" integration create "bench latency" --primary-key id --partitions 3)
# the gateway learns of the integration within a second
for _ in $(seq 1 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '[]' "$url")
  [ "$code" != 401 ] && break
  sleep 0.2
done
"$root/.cache/venv/bin/python" tests/bench/latency.py "$url" "$HOOKPIPE_PG_URL" bench_latency \
  "$rate" "$seconds" "$conns"
