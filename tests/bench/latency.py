"""POST-to-row-visible latency of the warehouse path (bench_latency.sh).

  latency.py WEBHOOK_URL PG_URL SCHEMA [RATE] [SECONDS] [CONNECTIONS]

Sends one ~1 KB JSON event per POST at a paced RATE events/s for SECONDS over
CONNECTIONS keep-alive HTTP/1.1 connections (asyncio, event i is due at
t0 + i/RATE; a connection sends its next due event as soon as it has the
answer to the last). Each event carries its primary key `id` and its send
time. A second thread polls PostgreSQL through one psql session, asking for
the ids at or above the lowest one not yet seen, and notes when each first
appears. Latency = first seen - sent (the same monotonic clock); its
resolution is one poll (reported). Prints a markdown section on stdout.
"""
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

PAD = "x" * 900
WARMUP = 200


def pct(values, p):
    """Nearest-rank percentile of a sorted list."""
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))
    return values[k]


class Psql:
    """One psql session: queries in, rows out (None when the query failed,
    e.g. before the table exists)."""

    def __init__(self, url):
        self.p = subprocess.Popen(["psql", url, "-X", "-A", "-t", "-q"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  bufsize=1)

    def rows(self, sql):
        self.p.stdin.write(sql + ";\n\\echo __END__\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("psql exited")
            line = line.rstrip("\n")
            if line == "__END__":
                return out
            out.append(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


class Poller(threading.Thread):
    """Notes the monotonic time at which each id is first seen in the table."""

    def __init__(self, url, table, first_id, failed):
        super().__init__(daemon=True)
        self.failed = failed        # ids never acknowledged: not waited for
        self.db = Psql(url)
        self.table = table
        self.lo = first_id          # every id below it has been seen
        self.hi = first_id          # ids below it have been sent (set by the sender)
        self.seen = {}
        self.polls = 0
        self.poll_s = []            # duration of each poll
        self.first_poll = self.last_poll = 0   # monotonic ns
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            hi = self.hi
            if hi <= self.lo:
                time.sleep(0.005)
                continue
            t0 = time.monotonic_ns()
            ids = self.db.rows(f"SELECT id FROM {self.table} WHERE id >= {self.lo} AND id < {hi}")
            now = time.monotonic_ns()
            self.polls += 1
            self.first_poll = self.first_poll or t0
            self.last_poll = now
            self.poll_s.append((now - t0) / 1e9)
            for s in ids:
                i = int(s)
                if i not in self.seen:
                    self.seen[i] = now
            while self.lo in self.seen or self.lo in self.failed:
                self.lo += 1
            time.sleep(0.01)
        self.db.close()


class Sender:
    def __init__(self, url, rate, seconds, conns, first_id):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path
        self.rate, self.n, self.conns = rate, int(rate * seconds), conns
        self.first = first_id
        self.next = 0
        self.sent = {}        # id -> monotonic ns when its request was written
        self.acked = {}       # id -> monotonic ns of its 2xx
        self.failed = {}      # id -> status or error
        self.lag = 0.0        # the most a request was sent behind its due time, s
        self.poller = None

    def request(self, i):
        body = json.dumps({"id": i, "sent_ns": time.time_ns(), "type": "latency.probe",
                           "data": {"amount": 4200 + i % 100, "currency": "eur"},
                           "note": PAD}).encode()
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    async def answer(self, reader):
        status = await reader.readline()
        code = int(status.split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return code

    async def worker(self, t0):
        conn = None
        while self.next < self.n:
            k = self.next
            self.next += 1
            i = self.first + k
            due = t0 + k / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.lag = max(self.lag, -delay)
            try:
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = conn
                req = self.request(i)
                self.sent[i] = time.monotonic_ns()
                if self.poller and i >= self.poller.hi:
                    self.poller.hi = i + 1
                writer.write(req)
                await writer.drain()
                code = await self.answer(reader)
                if 200 <= code < 300:
                    self.acked[i] = time.monotonic_ns()
                else:
                    self.failed[i] = code
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as e:
                self.failed[i] = repr(e)
                if conn:
                    conn[1].close()
                conn = None
        if conn:
            conn[1].close()

    async def run(self):
        t0 = time.monotonic()
        await asyncio.gather(*(self.worker(t0) for _ in range(self.conns)))
        return time.monotonic() - t0


def main():
    url, pg_url, schema = sys.argv[1:4]
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 2000
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 25
    conns = int(sys.argv[6]) if len(sys.argv) > 6 else 128
    table = f'"{schema}"."data"'

    # warm-up: the table exists and every connection is open before the clock starts
    warm = Sender(url, rate / 4, WARMUP / (rate / 4), conns, -WARMUP)
    asyncio.run(warm.run())
    db = Psql(pg_url)
    deadline = time.time() + 60
    while time.time() < deadline:
        r = db.rows(f"SELECT count(*) FROM {table} WHERE id < 0")
        if r and int(r[0]) >= len(warm.acked):
            break
        time.sleep(0.2)
    else:
        sys.exit(f"warm-up: {len(warm.acked)} events acknowledged but not visible in 60 s")

    load_before = open("/proc/loadavg").read().split()[0]
    sender = Sender(url, rate, seconds, conns, 0)
    poller = Poller(pg_url, table, 0, sender.failed)
    sender.poller = poller
    poller.start()
    elapsed = asyncio.run(sender.run())
    # wait for every acknowledged event to be seen (or 60 s)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not set(sender.acked) <= poller.seen.keys():
        time.sleep(0.1)
    load_after = open("/proc/loadavg").read().split()[0]
    poller.stop.set()
    poller.join(timeout=30)
    final = db.rows(f"SELECT count(*) FROM {table} WHERE id >= 0")
    db.close()

    lat = sorted((poller.seen[i] - sender.sent[i]) / 1e9 for i in sender.acked if i in poller.seen)
    post_lat = sorted((sender.acked[i] - sender.sent[i]) / 1e9 for i in sender.acked)
    poll_ms = statistics.median(poller.poll_s) * 1000 if poller.poll_s else float("nan")
    period_ms = (poller.last_poll - poller.first_poll) / 1e6 / max(1, poller.polls - 1)
    acked, seen = len(sender.acked), len(lat)
    achieved = len(sender.sent) / elapsed

    def ok(v, target):
        return "yes" if v <= target else "**no**"

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1048576

    print("## Warehouse: POST to row visible at 2,000 events/s")
    print()
    print(f"One gateway, the local single-node Kafka, one `hookpipe-sink --target postgres` with "
          f"its defaults (batch.max.ms 500) and the local PostgreSQL, as `compose/local/stack up` "
          f"starts them (its `kafka-avro` sink also runs and reads the same topic). Integration "
          f"with a primary key, 3 partitions. One ~1 KB event per POST, paced at "
          f"{rate:.0f} events/s for {seconds:.0f} s over {conns} keep-alive connections "
          f"(Python asyncio, on the same machine). Visibility: one psql session polling for new "
          f"ids (median poll {poll_ms:.1f} ms, one every {period_ms:.0f} ms on average; "
          f"a row is timed when the poll that first returns it ends, so figures are at most "
          f"about one poll period late). Machine: {os.cpu_count()} cores ({cpu}), "
          f"{mem:.0f} GiB memory, shared by every process above and by whatever else runs "
          f"(1-minute load average {load_before} before the run, {load_after} after it).")
    print()
    print("| events sent | acknowledged (2xx) | visible | not acknowledged | achieved send rate | "
          "most behind schedule |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(sender.sent)} | {acked} | {seen} (table: {final[0] if final else '?'}) | "
          f"{len(sender.failed)} | {achieved:.0f} events/s | {sender.lag * 1000:.0f} ms |")
    print()
    print("| latency | p50 | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    print("| POST to row visible, s | " + " | ".join(f"{pct(lat, p):.3f}" for p in (50, 90, 99))
          + f" | {lat[-1] if lat else float('nan'):.3f} |")
    print("| POST to 2xx (Kafka acks=all), s | " +
          " | ".join(f"{pct(post_lat, p):.3f}" for p in (50, 90, 99)) +
          f" | {post_lat[-1] if post_lat else float('nan'):.3f} |")
    print()
    print(f"Targets: p50 <= 1 s ({ok(pct(lat, 50), 1.0)}), p99 <= 3 s ({ok(pct(lat, 99), 3.0)}).")
    if seen < acked:
        print()
        print(f"**{acked - seen} acknowledged events were not visible within 60 s of the end.**")
    if sender.failed:
        print()
        print(f"Not acknowledged, e.g.: {list(sender.failed.items())[:3]}")


if __name__ == "__main__":
    main()
