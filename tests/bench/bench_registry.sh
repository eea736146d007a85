#!/usr/bin/env bash
# hookpipe-registry: cached GET /schemas/ids/{id} per second (wrk, 64 and 256
# connections; target >= 20,000/s), and registrations per second (each one a
# new schema version acknowledged by Kafka with acks=all and read back), with
# 1 and 8 concurrent clients. Uses $KAFKA_BOOTSTRAP_SERVERS if set, else a
# local stack on ports of its own. Prints a markdown section.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${HOOKPIPE_BIN:-$root/build/bin}
work=$(mktemp -d)
duration=${BENCH_DURATION:-10}
runs=${BENCH_RUNS:-3}
pids=()
stack=0
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ "$stack" = 1 ] && HOOKPIPE_RUN_DIR=$work/stack compose/local/stack down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1/readyz" 2>/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  export HOOKPIPE_RUN_DIR=$work/stack HOOKPIPE_STACK_KAFKA_PORT=$(free_port) HOOKPIPE_STACK_CONTROLLER_PORT=$(free_port) \
         HOOKPIPE_STACK_GATEWAY_PORT=$(free_port) HOOKPIPE_STACK_METRICS_PORT=$(free_port) HOOKPIPE_STACK_REGISTRY_PORT=$(free_port) HOOKPIPE_STACK_PG_PORT=$(free_port)
  stack=1
  compose/local/stack up >/dev/null 2>&1
  set -a; . "$work/stack/stack.env"; set +a
fi

port=$(free_port)
url=http://127.0.0.1:$port
topic=_schemas_bench_$(date +%s)_$$
"$bin/hookpipe-registry" --listen "127.0.0.1:$port" --topic "$topic" --log.level warn \
  2> "$work/registry.log" &
pids+=($!)
wait_ready "$url"
ct='Content-Type: application/vnd.schemaregistry.v1+json'
curl -fsS -X PUT -H "$ct" -d '{"compatibility":"NONE"}' "$url/config" >/dev/null
id=$(curl -fsS -X POST -H "$ct" \
  -d '{"schema":"{\"type\":\"record\",\"name\":\"Bench\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"},{\"name\":\"b\",\"type\":[\"null\",\"string\"],\"default\":null}]}"}' \
  "$url/subjects/bench-value/versions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# each request registers a schema no one registered before
cat > "$work/register.lua" <<'LUA'
local n = 0
-- a tag per thread and run, so that runs and threads never repeat a schema
math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
local tag = tostring(math.random(1, 1e9))
request = function()
  n = n + 1
  local body = string.format(
    '{"schema":"{\\"type\\":\\"record\\",\\"name\\":\\"R%s_%d_%d\\",\\"fields\\":[]}"}',
    tag, n, math.random(1, 1e9))
  return wrk.format("POST", "/subjects/bench-reg-value/versions",
                    {["Content-Type"] = "application/vnd.schemaregistry.v1+json"}, body)
end
LUA

# wrk_median CONNS DURATION [SCRIPT] URL: median of $runs runs -> "rps p50_ms p99_ms non2xx"
wrk_median() {
  local c=$1 d=$2 script=$3 u=$4 i
  for i in $(seq 1 "$runs"); do
    wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"${d}s" --latency ${script:+-s "$script"} "$u" 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", t); p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(round(rps), round(ms(*p50.groups()), 2), round(ms(*p99.groups()), 2), bad.group(1) if bad else 0)'
  done | sort -n | awk -v n="$runs" '{a[NR]=$0} END {print a[int((n+1)/2)]}'
}

echo "## Schema registry"
echo
echo "hookpipe-registry alone (one replica, Kafka at ${KAFKA_BOOTSTRAP_SERVERS}), wrk -t2,"
echo "${duration} s per run, median of ${runs} runs; load generator on the same 2 cores."
echo
echo "| operation | connections | requests/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---|---|---|---|---|"
for c in 64 256; do
  read -r r p50 p99 bad < <(wrk_median "$c" "$duration" "" "$url/schemas/ids/$id")
  echo "| cached GET /schemas/ids/{id} | $c | $r | $p50 | $p99 | $bad |"
done
reg_duration=$(( duration < 5 ? duration : 5 ))
for c in 1 8; do
  read -r r p50 p99 bad < <(wrk_median "$c" "$reg_duration" "$work/register.lua" "$url")
  echo "| POST /subjects/{s}/versions (new schema each) | $c | $r | $p50 | $p99 | $bad |"
done
echo
echo "Registrations are serialised per replica (each waits for its record to be"
echo "acknowledged by Kafka and read back), so their rate is bounded by Kafka round trips."
warns=$(grep -c -E " (WARN|ERROR): " "$work/registry.log" || true)
if [ "$warns" -gt 0 ]; then
  echo
  echo "Registry warnings during the run: $warns; first: \`$(grep -m1 -E " (WARN|ERROR): " "$work/registry.log" | cut -c1-160)\`"
fi
