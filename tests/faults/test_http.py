"""Hostile HTTP clients against the stack's gateway (issue #7): slow clients
holding connections, a thousand concurrent 4 MiB bodies, and malformed
requests sent over raw sockets. Webhook providers retry on any non-2xx and
stop trusting a receiver that loses data: whatever the clients do, every
record answered 2xx must reach Kafka and the warehouse exactly once, nothing
else may be published, and the gateway must stay up and answer others.
"""
import errno
import json
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

import requests

from faultlib import report
from hookpipe_support import metrics, read_topic

# --- helpers -----------------------------------------------------------------


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE soft limit to want (or the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Target:
    """Where a webhook URL points: host, port and the raw request head."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path
        self.hostport = f"{self.host}:{self.port}"

    def head(self, *lines, content_type="application/json"):
        """The request line and headers (no blank line) of a POST to the URL."""
        out = [f"POST {self.path} HTTP/1.1", f"Host: {self.hostport}"]
        if content_type:
            out.append(f"Content-Type: {content_type}")
        return ("\r\n".join(out + list(lines)) + "\r\n").encode()


def parse_responses(data):
    """The complete HTTP responses at the start of data: [(status, headers, body)]."""
    out = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0 or not data.startswith(b"HTTP/1."):
            return out
        lines = data[:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        if len(data) < end + 4 + n:
            return out
        out.append((int(lines[0].split()[1]), headers, data[end + 4:end + 4 + n]))
        data = data[end + 4 + n:]


def exchange(target, data, expect=1, timeout=3.0, then_close=False):
    """Sends raw bytes on a new connection and reads until `expect` responses
    arrived, the server closed, or timeout. Returns (responses, how) where how
    is "answered", "closed", "reset" or "timeout". then_close: close right
    after sending, reading nothing."""
    s = socket.create_connection((target.host, target.port), timeout=timeout)
    buf = b""
    how = "timeout"
    try:
        try:
            s.sendall(data)
        except OSError:
            pass                    # the server may refuse before reading it all
        if then_close:
            return [], "client closed"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                how = "reset"
                break
            if not d:
                how = "closed"
                break
            buf += d
            if len(parse_responses(buf)) >= expect:
                how = "answered"
                break
    finally:
        s.close()
    return parse_responses(buf), how


def post_timed(target, body, timeout=10.0):
    """One POST on a new connection, as a webhook provider sends it. Returns
    (status or an error name, seconds from connect to the whole answer)."""
    head = target.head(f"Content-Length: {len(body)}")
    t0 = time.perf_counter()
    try:
        resp, how = exchange(target, head + b"\r\n" + body, timeout=timeout)
    except OSError as e:
        return type(e).__name__, time.perf_counter() - t0
    return (resp[0][0] if resp else how), time.perf_counter() - t0


def pct(values, q):
    """The q-quantile (nearest rank) of values."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))] if v else float("nan")


def gateway_mem_kib(pid):
    """{VmRSS, VmHWM} of a process in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0])
    return out


def cpu_pressure():
    """The machine's CPU pressure (PSI 'some avg10', %), or None."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split("avg10=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def healthy(stack, pid):
    """The gateway is the same process and /healthz answers 200."""
    return stack.pid("gateway") == pid and \
        requests.get(stack.metrics_url + "/healthz", timeout=5).status_code == 200


# --- 1. slowloris ---------------------------------------------------------------

# The slow clients run in a child process so that their bookkeeping does not
# compete with the measured requests for this interpreter's lock. Commands on
# stdin: "open N" opens N connections (half drip their headers a byte at a
# time, never ending them; half send complete headers announcing a 1000-byte
# body and drip that body a byte at a time) and answers "held N"; "close"
# answers "alive A answered R" (connections the gateway had not closed,
# connections that got an answer) and closes them; "quit" ends it.
SLOW_CLIENT = r'''
import resource, select, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DRIP_S = 2.0
conns = []   # [sock, bytes to drip, position, closed, answered]
def open_n(n):
    for i in range(n):
        s = socket.create_connection((host, port), timeout=10)
        s.setblocking(False)
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        if i % 2:
            s.send((head + "Content-Length: 1000\r\n\r\n").encode())
            drip = b'{"id":"slow-%d","pad":"' % i + b"x" * 2000
        else:
            drip = (head + "X-Slow: " + "s" * 4000).encode()
        conns.append([s, drip, 0, False, False])
def tick():
    for c in conns:
        if c[3]:
            continue
        try:
            d = c[0].recv(4096)
            if d:
                c[4] = True
            else:
                c[3] = True
                continue
        except BlockingIOError:
            pass
        except OSError:
            c[3] = True
            continue
        try:
            c[0].send(c[1][c[2]:c[2] + 1])
            c[2] += 1
        except BlockingIOError:
            pass
        except OSError:
            c[3] = True
last = 0.0
while True:
    r, _, _ = select.select([sys.stdin], [], [], 0.2)
    if r:
        cmd = sys.stdin.readline().split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "open":
            open_n(int(cmd[1]))
            tick()
            print("held", len(conns), flush=True)
        elif cmd[0] == "close":
            tick()
            alive = sum(1 for c in conns if not c[3])
            answered = sum(1 for c in conns if c[4])
            for c in conns:
                c[0].close()
            conns.clear()
            print("alive", alive, "answered", answered, flush=True)
    if conns and time.monotonic() - last >= DRIP_S:
        last = time.monotonic()
        tick()
'''

SLOW_N = 1000
WINDOWS = 4            # pairs of (without, with slow clients) measuring windows
PER_WINDOW = 100       # normal POSTs per window
RATE = 40.0            # normal POSTs per second
P99_MS = 100.0


def test_slowloris(stack, unique_name):
    """1,000 slow clients hold connections open while normal webhooks are
    posted at a modest rate: those are answered quickly and all stored.

    The 2xx of a normal POST waits for Kafka's acks=all. On a quiet machine
    its p99 is a few tens of ms; on this shared 2-core machine the broker's
    acknowledgement alone can put the p99 over 100 ms whatever the gateway
    does (the answers without Kafka stay fast). So the same POSTs are measured
    in alternating windows without and with the slow clients, and the bound
    asserted is: p99 with slow clients <= max(100 ms, 1.5 x p99 without
    them), i.e. 100 ms unless the machine's noise (reported with its CPU
    pressure) already puts the windows without slow clients near or over it.
    A gateway starved by slow clients (connection limit, a blocked worker)
    answers in seconds or not at all."""
    raise_nofile(8192)
    url = stack.create_integration(unique_name, "--primary-key", "id")
    t = Target(url)
    gw_pid = stack.pid("gateway")
    child = subprocess.Popen([sys.executable, "-c", SLOW_CLIENT, t.host, str(t.port), t.path],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(line, timeout=60):
        child.stdin.write(line + "\n")
        child.stdin.flush()
        box = []
        th = threading.Thread(target=lambda: box.append(child.stdout.readline()), daemon=True)
        th.start()
        th.join(timeout)
        assert box and box[0], f"slow clients: no answer to {line!r}"
        return box[0].split()

    lat = {False: [], True: []}
    statuses = {}
    acked, n = set(), 0
    held, alive, answered = [], [], []
    psi = []
    t_start = time.time()
    try:
        for w in range(2 * WINDOWS):
            slow = w % 2 == 1
            if slow:
                r = cmd(f"open {SLOW_N}")
                held.append(int(r[1]))
                time.sleep(0.5)        # the gateway has taken them all in
            psi.append(cpu_pressure())
            w0 = time.monotonic()
            for i in range(PER_WINDOW):
                due = w0 + i / RATE
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
                key = f"n{n}"
                n += 1
                status, secs = post_timed(t, json.dumps({"id": key, "slow": slow}).encode())
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    acked.add(key)
                    lat[slow].append(secs * 1e3)
            if slow:
                r = cmd("close")
                alive.append(int(r[1]))
                answered.append(int(r[3]))
    finally:
        try:
            child.stdin.write("quit\n")
            child.stdin.flush()
        except OSError:
            pass
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    took = time.time() - t_start

    rows = stack.wait_loaded(unique_name, "id", acked, timeout=60)
    lost = len(acked - rows.keys())
    dup = sum(c - 1 for c in rows.values())
    p50 = {k: pct(v, 0.5) for k, v in lat.items()}
    p99 = {k: pct(v, 0.99) for k, v in lat.items()}
    bound = max(P99_MS, 1.5 * p99[False])
    psi_known = [p for p in psi if p is not None]
    note = (f"{SLOW_N} slow clients held in {WINDOWS} windows (still open at the end of each: "
            f"{'/'.join(map(str, alive))}, answered {sum(answered)}); normal POSTs at "
            f"{RATE:.0f}/s: with slow clients p50 {p50[True]:.1f} ms p99 {p99[True]:.1f} ms, "
            f"without p50 {p50[False]:.1f} ms p99 {p99[False]:.1f} ms; bound {bound:.0f} ms; "
            f"CPU pressure {statistics.mean(psi_known) if psi_known else float('nan'):.0f}%; "
            f"answers {statuses}; {took:.0f} s")
    report("slowloris: 1,000 slow clients", n, len(acked), len(rows), lost, dup, note)
    assert healthy(stack, gw_pid), "gateway restarted or unhealthy"
    assert held == [SLOW_N] * WINDOWS, held
    assert alive == [SLOW_N] * WINDOWS, f"the gateway dropped slow connections: {alive}"
    assert statuses == {200: n}, statuses
    assert lost == 0 and dup == 0 and len(rows) == n
    assert p99[True] <= bound, note


MAX_BODY = 4 * 1024 * 1024     # the gateway's default max.body


def test_slow_bodies_holding_the_budget(stack, unique_name):
    """A few slow clients, holding a valid webhook URL (without one they get
    401 at their headers and hold nothing), announce bodies of the largest
    size allowed and drip them a byte at a time: the gateway reserves in-flight budget
    from Content-Length before any byte of the body, so inflight.bytes /
    max.body (6) such clients hold the whole budget for as long as they keep
    dripping (connection.timeout is reset by each byte), and every other
    webhook is answered 503 meanwhile. Nothing is lost (a 503 is retried) and
    the budget comes back when they go; what this scenario reports is how
    much service the normal POSTs got. Asserted: no loss, no crash, every
    answer 200 or 503 with Retry-After, 200 again once the slow clients left."""
    url = stack.create_integration(unique_name, "--primary-key", "id")
    t = Target(url)
    gw_pid = stack.pid("gateway")
    n_slow = -(-INFLIGHT // MAX_BODY)
    slow = []
    for _ in range(n_slow):
        s = socket.create_connection((t.host, t.port), timeout=5)
        s.sendall(t.head(f"Content-Length: {MAX_BODY}") + b"\r\n[")
        slow.append(s)
    stop = threading.Event()

    def drip():
        while not stop.wait(2.0):
            for s in slow:
                try:
                    s.send(b" ")
                except OSError:
                    pass

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    time.sleep(0.3)
    statuses, acked, n = {}, set(), 0
    no_retry_after = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 12 and n < 60:
            key = f"s{n}"
            n += 1
            resp, how = exchange(t, t.head(f"Content-Length: {len(key) + 10}") + b"\r\n"
                                 + json.dumps({"id": key}).encode(), timeout=10)
            st = resp[0][0] if resp else how
            statuses[st] = statuses.get(st, 0) + 1
            if st == 200:
                acked.add(key)
            elif st == 503 and "retry-after" not in resp[0][1]:
                no_retry_after += 1
            time.sleep(0.2)
    finally:
        stop.set()
        dripper.join(5)
        held_open = 0
        for s in slow:
            s.setblocking(False)
            try:
                if s.recv(1) != b"":
                    held_open += 1
            except BlockingIOError:
                held_open += 1
            except OSError:
                pass
            s.close()
    during = dict(statuses)
    # the budget comes back once the gateway has seen them go
    deadline = time.time() + 10
    while time.time() < deadline and \
            metrics(stack.metrics_url)["hookpipe_gateway_inflight_bytes"] >= MAX_BODY:
        time.sleep(0.05)
    after = {}
    for i in range(10):
        key = f"a{i}"
        st, _ = post_timed(t, json.dumps({"id": key}).encode())
        after[st] = after.get(st, 0) + 1
        if st == 200:
            acked.add(key)
    rows = stack.wait_loaded(unique_name, "id", acked, timeout=60)
    lost = len(acked - rows.keys())
    dup = sum(c - 1 for c in rows.values())
    note = (f"{n_slow} clients each announcing a {MAX_BODY} B body and sending a byte every 2 s "
            f"({held_open} still held at the end): the {n} normal POSTs meanwhile were answered "
            f"{during}; the 10 after they left {after}")
    if during.get(503):
        note += ("; the budget is reserved from Content-Length before the body arrives, so "
                 "a few slow clients with a valid URL deny service (503) to every integration "
                 "for as long as they drip")
    report("slow bodies holding the in-flight budget", n + 10, len(acked), len(rows), lost, dup,
           note)
    assert healthy(stack, gw_pid), "gateway restarted or unhealthy"
    assert set(during) <= {200, 503} and no_retry_after == 0, during
    assert after == {200: 10}, after
    assert lost == 0 and dup == 0


# --- 2. a thousand concurrent 4 MiB bodies ---------------------------------------

BIG_N = 1000
BIG_RECORDS = 256              # records per body, ~16 KiB each: a ~4 MiB array
BIG_PAD = b"x" * (16 * 1024 - 40)
MHD_POOL = 32 * 1024           # libmicrohttpd's default memory per connection
SLACK = 16 * 1024 * 1024
INFLIGHT = 24 * 1024 * 1024    # the gateway's default inflight.bytes, which the stack runs with


def big_body_parts(i):
    parts = [b"["]
    for j in range(BIG_RECORDS):
        parts.append((b"," if j else b"") + b'{"id":"b%d_%d","pad":"' % (i, j))
        parts.append(BIG_PAD)
        parts.append(b'"}')
    parts.append(b"]")
    return parts


class BigClient:
    """A client sending one big body as fast as the socket takes it, reading
    whatever the server answers meanwhile (an early 503 included)."""

    def __init__(self, i, target):
        self.i = i
        body = big_body_parts(i)
        self.len = sum(map(len, body))
        self.parts = [target.head(f"Content-Length: {self.len}") + b"\r\n"] + body
        self.k = self.off = 0
        self.resp = b""
        self.status = None
        self.ended = None
        self.t0 = time.monotonic()
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex((target.host, target.port))

    def on_read(self):
        try:
            d = self.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError as e:
            self.ended = errno.errorcode.get(e.errno, str(e))
            return True
        if not d:
            self.ended = "closed"
            return True
        self.resp += d
        r = parse_responses(self.resp)
        if r:
            self.status, self.headers = r[0][0], r[0][1]
            self.ended = "answered"
            return True
        return False

    def on_write(self):
        """Sends what the socket takes; True when everything was sent or
        the server refused more."""
        try:
            while self.k < len(self.parts):
                n = self.sock.send(memoryview(self.parts[self.k])[self.off:])
                self.off += n
                if self.off < len(self.parts[self.k]):
                    return False
                self.k += 1
                self.off = 0
        except BlockingIOError:
            return False
        except OSError:
            pass                    # refused early: the answer is read
        return True


def test_thousand_concurrent_4mib_bodies(stack, unique_name):
    """1,000 clients each send a ~4 MiB body (an array of 256 records of
    16 KiB) at once. The gateway holds at most inflight.bytes (24 MiB by
    default: six such bodies) and answers the excess 503 with Retry-After
    before reading it; every 2xx'd body is stored whole, a refused one not at
    all. Memory bound asserted on the gateway's VmHWM (its peak):

        VmRSS before + inflight.bytes (the bodies)
                     + 1,000 x 32 KiB (libmicrohttpd's memory pool per connection)
                     + 16 MiB (librdkafka's produce requests in flight, which copy
                       records <= 64 KiB: at most 5 requests of <= 1 MB per broker;
                       per-record metadata; allocator slack)

    "VmRSS before" counts what the process already holds, including memory
    glibc keeps after free (its per-thread arenas keep freed bodies and
    connection pools for reuse, so VmRSS stays near the last peak after a
    burst; over ten bursts in a row on one gateway it stayed under 90 MiB)."""
    raise_nofile(8192)
    url = stack.create_integration(unique_name, "--primary-key", "id")
    t = Target(url)
    gw_pid = stack.pid("gateway")
    inflight = INFLIGHT
    time.sleep(0.5)
    before = gateway_mem_kib(gw_pid)
    bound_kib = before["VmRSS"] + (inflight + BIG_N * MHD_POOL + SLACK) // 1024

    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], gateway_mem_kib(gw_pid)["VmRSS"])
            except OSError:
                return
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    clients = [BigClient(i, t) for i in range(BIG_N)]
    sel = selectors.DefaultSelector()
    for c in clients:
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    left = BIG_N
    deadline = t0 + 90
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(0.5):
            c = key.data
            done = False
            if ev & selectors.EVENT_READ:
                done = c.on_read()
            if not done and ev & selectors.EVENT_WRITE and c.on_write():
                sel.modify(c.sock, selectors.EVENT_READ, c)
            if done:
                sel.unregister(c.sock)
                c.sock.close()
                c.took = time.monotonic() - c.t0
                left -= 1
    for c in clients:
        if c.ended is None:
            c.ended = "unfinished"
            sel.unregister(c.sock)
            c.sock.close()
    took = time.monotonic() - t0
    stop.set()
    sampler.join(5)
    after = gateway_mem_kib(gw_pid)

    ok = [c for c in clients if c.status == 200]
    refused = [c for c in clients if c.status == 503]
    other = {}
    for c in clients:
        if c.status not in (200, 503):
            k = f"{c.status or 'none'}/{c.ended}"
            other[k] = other.get(k, 0) + 1
    no_retry_after = sum(1 for c in refused if "retry-after" not in c.headers)
    acked = {f"b{c.i}_{j}" for c in ok for j in range(BIG_RECORDS)}
    rows = stack.wait_loaded(unique_name, "id", acked, timeout=120)
    bodies_in = sum(1 for c in ok if all(f"b{c.i}_{j}" in rows for j in range(BIG_RECORDS)))
    lost = sum(1 for c in ok if any(f"b{c.i}_{j}" not in rows for j in range(BIG_RECORDS)))
    dup = sum(v - 1 for v in rows.values())
    refused_ids = {c.i for c in refused}
    leaked = sorted(k for k in rows if int(k[1:].split("_")[0]) in refused_ids)
    ok_took = sorted(getattr(c, "took", 0) for c in ok)
    refused_took = sorted(getattr(c, "took", 0) for c in refused)
    note = (f"bodies of {clients[0].len} B; {len(refused)} answered 503 "
            f"({no_retry_after} without Retry-After) in p50 "
            f"{pct(refused_took, 0.5) * 1e3:.0f} ms, {len(ok)} 2xx ({len(acked)} records) "
            f"in p50 {pct(ok_took, 0.5):.1f} s, other {other}; "
            f"gateway VmRSS {before['VmRSS'] // 1024} MiB before, peak sampled "
            f"{peak[0] // 1024} MiB, VmHWM {after['VmHWM'] // 1024} MiB <= bound "
            f"{bound_kib // 1024} MiB (RSS before + inflight.bytes 24 MiB + 1,000 x 32 KiB "
            f"+ 16 MiB), "
            f"VmRSS after {after['VmRSS'] // 1024} MiB; {took:.0f} s")
    report("1,000 concurrent 4 MiB bodies", BIG_N, len(ok), bodies_in, lost, dup, note)
    assert healthy(stack, gw_pid), "gateway restarted or unhealthy"
    assert not other, other
    assert ok, "no body was accepted"
    assert no_retry_after == 0
    assert lost == 0 and dup == 0 and not leaked, leaked[:5]
    assert after["VmHWM"] <= bound_kib, note


# --- 3. malformed requests ------------------------------------------------------


def chunked(t, payload, *extra):
    return t.head("Transfer-Encoding: chunked", *extra) + b"\r\n" + payload


def malformed_cases(t):
    """(class, name, bytes, how to send) of each malformed request; every one
    carries records with ids "m-..." that must never be published."""
    body = lambda name: json.dumps({"id": f"m-{name}"}).encode()     # noqa: E731
    b = body("chunk-size")
    cases = [
        ("chunked encoding", "bad chunk size",
         chunked(t, b"zz\r\n" + b + b"\r\n0\r\n\r\n"), {}),
        ("chunked encoding", "chunk without its CRLF",
         chunked(t, b"%x\r\n" % len(body("crlf")) + body("crlf") + b"0\r\n\r\n"), {}),
        ("chunked encoding", "chunk longer than declared",
         chunked(t, b"5\r\n" + body("longer") + b"\r\n0\r\n\r\n"), {}),
        ("chunked encoding", "negative chunk size",
         chunked(t, b"-5\r\n" + body("negative") + b"\r\n0\r\n\r\n"), {}),
        ("chunked encoding", "huge chunk size",
         chunked(t, b"fffffffffffffffffff\r\n" + body("huge") + b"\r\n0\r\n\r\n"), {}),
        ("chunked encoding", "truncated final chunk",
         chunked(t, b"%x\r\n" % len(body("trunc")) + body("trunc") + b"\r\n0\r\n"),
         {"then_close_after": 0.5}),
        ("chunked encoding", "no final chunk",
         chunked(t, b"%x\r\n" % len(body("nofinal")) + body("nofinal") + b"\r\n"),
         {"then_close_after": 0.5}),
        ("oversized headers", "100 KB header line",
         t.head("X-Big: " + "a" * 100_000, f"Content-Length: {len(body('bighdr'))}") + b"\r\n"
         + body("bighdr"), {}),
        ("oversized headers", "5,000 headers",
         t.head(*[f"X-H{i}: v" for i in range(5000)], f"Content-Length: {len(body('manyhdr'))}")
         + b"\r\n" + body("manyhdr"), {}),
        ("oversized headers", "100 KB request line",
         t.head(f"Content-Length: {len(body('bigurl'))}").replace(
             t.path.encode(), t.path.encode() + b"?" + b"q" * 100_000, 1)
         + b"\r\n" + body("bigurl"),
         {}),
        ("duplicated headers", "two Content-Length, first longer",
         t.head(f"Content-Length: {len(body('cl1'))}", "Content-Length: 5") + b"\r\n" + body("cl1"),
         {}),
        ("duplicated headers", "two Content-Length, first shorter",
         t.head("Content-Length: 5", f"Content-Length: {len(body('cl2'))}") + b"\r\n" + body("cl2"),
         {}),
        ("duplicated headers", "two Content-Type",
         t.head(f"Content-Length: {len(body('ct2'))}", "Content-Type: text/plain") + b"\r\n"
         + body("ct2"), {}),
        ("duplicated headers", "Transfer-Encoding and Content-Length",
         chunked(t, b"%x\r\n" % len(body("tecl")) + body("tecl") + b"\r\n0\r\n\r\n",
                 "Content-Length: 3"), {}),
        ("duplicated headers", "Content-Length and Transfer-Encoding",
         t.head("Content-Length: 3", "Transfer-Encoding: chunked") + b"\r\n"
         + b"%x\r\n" % len(body("clte")) + body("clte") + b"\r\n0\r\n\r\n", {}),
        ("duplicated headers", "two Transfer-Encoding",
         chunked(t, b"%x\r\n" % len(body("te2")) + body("te2") + b"\r\n0\r\n\r\n",
                 "Transfer-Encoding: gzip"), {}),
        ("duplicated headers", "Transfer-Encoding gzip, chunked",
         t.head("Transfer-Encoding: gzip, chunked") + b"\r\n"
         + b"%x\r\n" % len(body("tegz")) + body("tegz") + b"\r\n0\r\n\r\n", {}),
        ("duplicated headers", "Transfer-Encoding identity",
         t.head("Transfer-Encoding: identity") + b"\r\n" + body("teid"), {}),
        ("dropped mid-body", "Content-Length 1000, 500 sent, closed",
         t.head("Content-Length: 1000") + b"\r\n"
         + (b'{"id":"m-dropped","pad":"' + b"x" * 500)[:500], {"then_close_after": 0.2}),
        ("dropped mid-body", "chunked, half a chunk sent, closed",
         chunked(t, b"3e8\r\n" + (b'{"id":"m-dropped2","pad":"' + b"x" * 500)[:500]),
         {"then_close_after": 0.2}),
    ]
    return cases


def send_case(t, data, opts):
    """Sends one malformed request; (status or None, how it ended)."""
    if "then_close_after" in opts:
        s = socket.create_connection((t.host, t.port), timeout=5)
        try:
            s.sendall(data)
            s.settimeout(opts["then_close_after"])
            try:
                d = s.recv(65536)
            except socket.timeout:
                d = None
        finally:
            s.close()
        r = parse_responses(d or b"")
        return (r[0][0] if r else None), ("answered" if r else "client closed")
    resp, how = exchange(t, data, timeout=3.0)
    return (resp[0][0] if resp else None), how


def test_malformed_requests(stack, unique_name):
    """Malformed chunked encoding, oversized and duplicated headers, bodies
    longer than their Content-Length, connections dropped mid-body: the
    gateway stays up, answers 4xx or closes, and publishes only the records of
    the well-formed requests it answered 2xx (read back from the integration's
    topic to its end, and from the warehouse)."""
    url = stack.create_integration(unique_name, "--primary-key", "id")
    t = Target(url)
    gw_pid = stack.pid("gateway")
    topic = f"webhooks.{unique_name}"
    results = []        # (class, name, status, how, expected ids, 2xx)
    good = set()        # ids of well-formed requests answered 2xx
    control = 0
    problems = []       # answers that are not what the case calls for

    def well_formed():
        nonlocal control
        key = f"ok{control}"
        control += 1
        status, _ = post_timed(t, json.dumps({"id": key}).encode())
        assert status == 200, f"a well-formed POST got {status}"
        good.add(key)

    for cls, name, data, opts in malformed_cases(t):
        status, how = send_case(t, data, opts)
        results.append((cls, name, status, how, set(), status is not None and status < 300))
        # a 4xx (501 for a transfer coding it does not implement), or closed
        # without an answer; never a 2xx nor a 5xx, never left hanging
        if not (status is None or 400 <= status < 500 or status == 501) or \
                ("then_close_after" not in opts and how == "timeout"):
            problems.append(f"{name}: {status} ({how})")
        assert healthy(stack, gw_pid), f"gateway down after {name!r}"
        well_formed()

    # bodies longer than their Content-Length: the declared body is the
    # record; the extra bytes are neither part of it nor a request that publishes
    cls = "body longer than Content-Length"
    rec = json.dumps({"id": "x-1"}).encode()
    for name, extra in [
            ("a second JSON object after the body", b'{"id":"m-extra1"}'),
            ("a second object and a blank line", b'{"id":"m-extra2"}\r\n\r\n'),
            ("half of a second request", t.head("Content-Length: 100") + b"\r\n"
             + b'{"id":"m-extra3"}'),
            ("bytes after the end of a chunked body", b'{"id":"m-extra4"}\r\n\r\n')]:
        key = f"x-{len(results)}"
        rec = json.dumps({"id": key}).encode()
        if "chunked" in name:
            data = chunked(t, b"%x\r\n" % len(rec) + rec + b"\r\n0\r\n\r\n" + extra)
        else:
            data = t.head(f"Content-Length: {len(rec)}") + b"\r\n" + rec + extra
        resp, how = exchange(t, data, expect=2, timeout=2.0)
        statuses = [r[0] for r in resp]
        first = statuses[0] if statuses else None
        if first == 200:
            good.add(key)
        else:
            problems.append(f"{name}: {statuses} ({how})")
        results.append((cls, name, "+".join(map(str, statuses)) or None, how, {key}, first == 200))
        assert healthy(stack, gw_pid), f"gateway down after {name!r}"
        well_formed()

    # everything published, read to the end of the topic
    msgs = [(m.key(), m.value()) for m in read_topic(stack.bootstrap, topic)]
    keys = [k.decode() for k, _ in msgs]
    values = {k.decode(): v for k, v in msgs}
    rows = stack.wait_loaded(unique_name, "id", good, timeout=60)
    unexpected = sorted(set(keys) - good)
    extra_rows = sorted(set(rows) - good)

    by_class = {}
    for cls, name, status, how, ids, ok in results:
        by_class.setdefault(cls, []).append((name, status, how, ids, ok))
    for cls, items in by_class.items():
        sent = len(items)
        acked = {i for _, _, _, ids, ok in items if ok for i in ids}
        in_wh = sum(1 for i in acked if i in rows)
        lost = sum(1 for i in acked if i not in rows)
        dup = sum(rows.get(i, 1) - 1 for i in acked)
        hows = {"answered": "", "client closed": " (the client closed)",
                "closed": " (the gateway closed the connection)", "reset": " (then reset)",
                "timeout": " (nothing more within 2 s: the extra bytes wait as the start "
                           "of a next request)"}
        note = "; ".join(f"{name}: {status if status else 'no answer'}" + hows.get(how, how)
                         for name, status, how, _, _ in items)
        report(f"malformed: {cls}", sent, sum(1 for *_, ok in items if ok), in_wh, lost, dup,
               note)
    report("malformed: well-formed requests in between", control, control,
           sum(1 for k in good if k.startswith("ok") and k in rows),
           sum(1 for k in good if k.startswith("ok") and k not in rows),
           sum(rows.get(k, 1) - 1 for k in good if k.startswith("ok")),
           f"records on the topic that no 2xx answered: {len(unexpected)} {unexpected[:5]}")

    assert healthy(stack, gw_pid), "gateway restarted or unhealthy"
    assert not unexpected, f"published from malformed requests: {unexpected}"
    assert not extra_rows, extra_rows
    assert sorted(keys) == sorted(good), "a record published twice or missing"
    for k in good:
        assert json.loads(values[k]) == {"id": k}, values[k]      # nothing appended
    assert set(rows) == good and all(v == 1 for v in rows.values())
    assert not problems, problems
