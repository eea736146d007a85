#!/usr/bin/env bash
# Gateway throughput and latency with wrk (~1 KB JSON bodies, 64 and 256
# connections) against (a) nginx answering 204, (b) the gateway producing to
# librdkafka's mock cluster, (c) the gateway producing to a real local broker;
# then the gateway's resident memory while 1,000 connections each send a
# 4 MiB body. Prints a markdown section.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=$root/build/bin
work=$(mktemp -d)
duration=${BENCH_DURATION:-10}
runs=${BENCH_RUNS:-3}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  HOOKPIPE_RUN_DIR=$work/stack compose/local/stack down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }

# wrk_median URL CONNS: median of $runs runs -> "rps p50_ms p99_ms non2xx"
wrk_median() {
  local url=$1 c=$2 i
  for i in $(seq 1 "$runs"); do
    wrk -t2 -c"$c" -d"${duration}s" --latency -s tests/bench/post.lua "$url" 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", t); p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {ms(*p50.groups()):.2f} {ms(*p99.groups()):.2f} {bad.group(1) if bad else 0}")'
  done | sort -n | awk -v n="$runs" '{a[NR]=$0} END {print a[int((n+1)/2)]}'
}

# (a) nginx answering 204
ngx_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  server { listen 127.0.0.1:$ngx_port; location / { return 204; } }
}
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
sleep 0.5

# an integration record with a known token, for the mock cluster (which has
# no CreateTopics, so hookpipectl cannot create one there)
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
record=$(python3 - "$token" <<'PY'
import hashlib, json, sys
t = sys.argv[1]
print(json.dumps({"name": "bench", "display_name": "bench", "client_id": "1",
  "topic": "webhooks.bench", "rejected_topic": "webhooks.bench.rejected",
  "primary_key": ["id"], "status": "active", "max_body": 0,
  "tokens": [{"id": hashlib.sha256(t.encode()).hexdigest()[:12],
              "sha256": hashlib.sha256(t.encode()).hexdigest(),
              "created_at": "2026-01-01T00:00:00.000000Z"}],
  "created_at": "2026-01-01T00:00:00.000000Z", "updated_at": "2026-01-01T00:00:00.000000Z"}))
PY
)
build/bench/mock_kafka 3 hookpipe.integrations:1 webhooks.bench:6 webhooks.bench.rejected:1 > "$work/mock.out" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
mock=$(head -1 "$work/mock.out")
printf 'bench\t%s\n' "$record" | kcat -b "$mock" -P -t hookpipe.integrations -K $'\t' 2>/dev/null

start_gateway() {  # BOOTSTRAP -> sets gw_url, gw_metrics, gw_pid
  local port mport; port=$(free_port); mport=$(free_port)
  KAFKA_BOOTSTRAP_SERVERS=$1 "$bin/hookpipe-gateway" --listen "127.0.0.1:$port" \
    --metrics.listen "127.0.0.1:$mport" --log.level warn 2>>"$work/gateway.log" &
  gw_pid=$!; pids+=($gw_pid)
  gw_url=http://127.0.0.1:$port; gw_metrics=http://127.0.0.1:$mport
  wait_http "$gw_metrics/readyz"
}

start_gateway "$mock"
mock_url="$gw_url/v1/clients/1/token/$token"

echo "## Gateway: wrk, ~1 KB JSON POSTs"
echo
echo "${duration}s per run, median of $runs runs, 2 wrk threads. (a) nginx \`return 204\`;"
echo "(b) hookpipe-gateway producing to librdkafka's mock cluster (3 brokers, acks=all, idempotent);"
echo "(c) hookpipe-gateway producing to the local single-node Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' compose/local/kafka/pom.xml)."
echo
echo "| target | connections | req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
declare -A rps
for c in 64 256; do
  read -r r p50 p99 bad < <(wrk_median "http://127.0.0.1:$ngx_port/v1/clients/1/token/x" "$c")
  rps[a$c]=$r; echo "| (a) nginx 204 | $c | $r | $p50 | $p99 | $bad |"
  read -r r p50 p99 bad < <(wrk_median "$mock_url" "$c")
  rps[b$c]=$r; echo "| (b) gateway, mock cluster | $c | $r | $p50 | $p99 | $bad |"
done
kill -TERM "$gw_pid"; wait "$gw_pid" 2>/dev/null || true

# (c) the real broker, through the local stack on ports of its own
export HOOKPIPE_RUN_DIR=$work/stack HOOKPIPE_STACK_KAFKA_PORT=$(free_port) HOOKPIPE_STACK_CONTROLLER_PORT=$(free_port) \
       HOOKPIPE_STACK_GATEWAY_PORT=$(free_port) HOOKPIPE_STACK_METRICS_PORT=$(free_port) HOOKPIPE_STACK_REGISTRY_PORT=$(free_port) HOOKPIPE_STACK_PG_PORT=$(free_port)
compose/local/stack up > "$work/stack.log" 2>&1 || { tail -n 20 "$work/stack.log" >&2; exit 1; }
set -a; . "$work/stack/stack.env"; set +a
real_url=$("$bin/hookpipectl" integration create "bench real" --primary-key id --partitions 6)
for c in 64 256; do
  read -r r p50 p99 bad < <(wrk_median "$real_url" "$c")
  echo "| (c) gateway, local Kafka | $c | $r | $p50 | $p99 | $bad |"
done
echo
for c in 64 256; do
  awk -v b="${rps[b$c]}" -v a="${rps[a$c]}" -v c="$c" \
    'BEGIN {printf "Ratio (b)/(a) at %d connections: %.2f (target at 256: >= 0.50, p99 <= 10 ms).\n", c, b / a}'
done
echo

# memory under 1,000 concurrent 4 MiB bodies, against the gateway on the real broker
gw=$(cat "$work/stack/gateway.pid")
python3 tests/bench/big_bodies.py "$real_url" "$gw" 1000 $((4 * 1024 * 1024))
