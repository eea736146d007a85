#!/usr/bin/env bash
# End-to-end sink throughput: N ~1 KB events already on an event topic (as the
# gateway writes them: key, headers), then one hookpipe-sink --target
# kafka-avro started with a fresh group; records/s from its start until all N
# are on <topic>.avro (start-up included). Prints a markdown section.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=$root/build/bin
n=${BENCH_SINK_RECORDS:-100000}
work=$(mktemp -d)
sink_pid=
cleanup() {
  [ -n "$sink_pid" ] && kill -TERM "$sink_pid" 2>/dev/null || true
  HOOKPIPE_RUN_DIR=$work/stack compose/local/stack down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export HOOKPIPE_RUN_DIR=$work/stack HOOKPIPE_STACK_KAFKA_PORT=$(free_port) HOOKPIPE_STACK_CONTROLLER_PORT=$(free_port) \
       HOOKPIPE_STACK_GATEWAY_PORT=$(free_port) HOOKPIPE_STACK_METRICS_PORT=$(free_port) \
       HOOKPIPE_STACK_REGISTRY_PORT=$(free_port) HOOKPIPE_STACK_PG_PORT=$(free_port) HOOKPIPE_STACK_SINKS=0
compose/local/stack up > "$work/stack.log" 2>&1 || { tail -n 20 "$work/stack.log" >&2; exit 1; }
set -a; . "$work/stack/stack.env"; set +a
"$bin/hookpipectl" integration create "bench sink" --primary-key id --partitions 3 > /dev/null

"$root/.cache/venv/bin/python" - "$KAFKA_BOOTSTRAP_SERVERS" "$n" <<'PY'
import datetime, json, sys, time
from confluent_kafka import Producer
bootstrap, n = sys.argv[1], int(sys.argv[2])
p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
pad = "x" * 820
for i in range(n):
    now = time.time_ns()
    ts = datetime.datetime.fromtimestamp(now / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    value = json.dumps({"id": i, "type": "invoice.paid", "created": 1764187200, "livemode": False,
                        "data": {"amount": 4200 + i % 100, "currency": "eur"}, "note": pad})
    while True:
        try:
            p.produce("webhooks.bench_sink", key=str(i), value=value,
                      headers=[("hookpipe-received-at", ts), ("hookpipe-sequence", str(now)),
                               ("hookpipe-request-id", "bench"), ("hookpipe-integration", "bench_sink")])
            break
        except BufferError:
            p.poll(0.1)
assert p.flush(120) == 0
PY

count() {
  "$root/.cache/venv/bin/python" - "$KAFKA_BOOTSTRAP_SERVERS" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "bench-count"})
md = c.list_topics("webhooks.bench_sink.avro", timeout=5).topics.get("webhooks.bench_sink.avro")
total = 0
if md and not md.error:
    for p in md.partitions:
        total += c.get_watermark_offsets(TopicPartition("webhooks.bench_sink.avro", p), timeout=5)[1]
print(total)
c.close()
PY
}

t0=$(date +%s.%N)
"$bin/hookpipe-sink" --target kafka-avro --group.id "bench-$$" --log.level warn 2> "$work/sink.log" &
sink_pid=$!
got=0
for _ in $(seq 1 600); do
  got=$(count)
  [ "$got" -ge "$n" ] && break
  sleep 0.5
done
t1=$(date +%s.%N)
echo "## Sink: event topic to <topic>.avro (kafka-avro), end to end"
echo
echo "$n events of ~1 KB (primary key, 3 partitions) already on \`webhooks.bench_sink\`; one"
echo "\`hookpipe-sink --target kafka-avro\` with a fresh group, timed from its start (registry"
echo "round trip and group join included) until all are on \`webhooks.bench_sink.avro\`."
echo
awk -v n="$got" -v a="$t0" -v b="$t1" 'BEGIN {printf "- %d records in %.1f s: **%.0f records/s**\n", n, b - a, n / (b - a)}'
