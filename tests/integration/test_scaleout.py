"""Scale-out under failures: two gateways, two registry replicas and two
PostgreSQL sinks in one consumer group, against the stack's Kafka and
PostgreSQL. 20,000 events are posted round-robin through both gateways while
one gateway and one sink are killed with SIGKILL and restarted. Every event
that got a 2xx must be in PostgreSQL exactly once.

The integration has no primary key, so a sink that loaded a replayed message
twice would add a second row: exactly-once rests on the offsets the sink
stores with the rows, not on an upsert."""
import concurrent.futures
import json
import os
import subprocess
import threading
import time

import requests

from conftest import run
from test_gateway import Gateway, free_port

EVENTS = 20_000
WORKERS = 8


class Proc:
    """A long-running program with a log, killable and restartable."""

    def __init__(self, argv, log_path, env):
        self.argv, self.log_path, self.env = argv, log_path, env
        self.proc = None
        self.start()

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {timeout}s")


def psql(pg_url, sql):
    return run(["psql", pg_url, "-Atqc", sql]).stdout


def test_two_of_everything_with_kills(bin_dir, bootstrap, pg_url, unique_name, tmp_path):
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    url = run([str(bin_dir / "hookpipectl"), "integration", "create", unique_name,
               "--partitions", "4"], env=env).stdout.strip()

    schemas = f"_schemas_{unique_name}"
    registries = []
    for i in range(2):
        port = free_port()
        registries.append((Proc([str(bin_dir / "hookpipe-registry"), f"--listen=127.0.0.1:{port}",
                                 f"--topic={schemas}"], tmp_path / f"registry{i}.log", env), port))
    for _, port in registries:
        wait_http(f"http://127.0.0.1:{port}/readyz")

    gateways = [Gateway(bin_dir, bootstrap, tmp_path / f"gateway{i}.log").wait_ready() for i in range(2)]
    group = f"scaleout-{unique_name}"
    sink_argv = [str(bin_dir / "hookpipe-sink"), "--target=postgres", f"--pg.url={pg_url}",
                 f"--group.id={group}"]
    sinks = [Proc(sink_argv, tmp_path / f"sink{i}.log", env) for i in range(2)]

    acked, failed = set(), 0
    lock = threading.Lock()
    counter = iter(range(EVENTS))
    sessions = threading.local()

    def post(n):
        nonlocal failed
        gw = gateways[n % 2]
        s = getattr(sessions, "s", None) or setattr(sessions, "s", requests.Session()) or sessions.s
        body = json.dumps({"n": n, "kind": "scaleout", "pad": "x" * 200})
        try:
            r = s.post(gw.url(url), data=body, timeout=30,
                       headers={"Content-Type": "application/json"})
            ok = r.status_code == 200
        except requests.RequestException:
            ok = False
        with lock:
            if ok:
                acked.add(n)
            else:
                failed += 1

    def worker():
        for n in counter:
            post(n)
            if n == EVENTS * 3 // 10:
                gateways[0].proc.kill()           # gateway 1 down mid-load
                gateways[0].proc.wait()
            elif n == EVENTS * 4 // 10:
                sinks[0].kill()                   # sink 1 down mid-load
            elif n == EVENTS * 5 // 10:
                gateways[0] = Gateway(bin_dir, bootstrap, tmp_path / "gateway0b.log").wait_ready()
            elif n == EVENTS * 7 // 10:
                sinks[0].start()

    t0 = time.time()
    try:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            for f in [pool.submit(worker) for _ in range(WORKERS)]:
                f.result(timeout=600)
        table = f'"{unique_name}"."data"'
        deadline = time.time() + 180
        rows = {}
        while time.time() < deadline:
            out = psql(pg_url, f"SELECT n, count(*) FROM {table} GROUP BY n") \
                if psql(pg_url, f"SELECT to_regclass('{table}')").strip() else ""
            rows = {int(a): int(b) for a, b in (line.split("|") for line in out.split())}
            if acked <= rows.keys():
                break
            time.sleep(1)
        loaded = len(acked & rows.keys())
        lost = len(acked - rows.keys())
        duplicated = sum(c - 1 for c in rows.values() if c > 1)
        print(f"\nscale-out: sent {EVENTS} / acknowledged {len(acked)} / loaded {loaded} / "
              f"lost {lost} / duplicated {duplicated} (not acknowledged {failed}, "
              f"{time.time() - t0:.0f}s)")
        assert len(acked) > EVENTS // 2, "most events should be acknowledged"
        assert lost == 0
        assert duplicated == 0
    finally:
        for g in gateways:
            g.stop()
        for p in sinks + [r for r, _ in registries]:
            p.stop()
