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
import threading
import time

import requests

from hookpipe_support import Gateway, Pg, Registry, Sink

EVENTS = 20_000
WORKERS = 8


def test_two_of_everything_with_kills(hookpipectl, bin_dir, bootstrap, pg_url, unique_name,
                                      tmp_path):
    url = hookpipectl.create(unique_name, "--partitions", "4")

    schemas = f"_schemas_{unique_name}"
    registries = [Registry(bin_dir, bootstrap, schemas, tmp_path / f"registry{i}.log")
                  .start(wait=False) for i in range(2)]
    for r in registries:
        r.wait_ready(timeout=60)

    gateways = [Gateway(bin_dir, bootstrap, tmp_path / f"gateway{i}.log").wait_ready()
                for i in range(2)]
    group = f"scaleout-{unique_name}"
    sinks = [Sink(bin_dir, bootstrap, tmp_path / f"sink{i}.log", "--target=postgres",
                  f"--pg.url={pg_url}", f"--group.id={group}") for i in range(2)]

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
                gateways[0].kill()                # gateway 1 down mid-load
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
        pg = Pg(pg_url)
        table = pg.table(unique_name, "data")
        deadline = time.time() + 180
        rows = {}
        while time.time() < deadline:
            out = pg.query(f"SELECT n, count(*) FROM {table} GROUP BY n") \
                if pg.exists(unique_name, "data") else []
            rows = {int(a): int(b) for a, b in out}
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
        for p in sinks + registries:
            p.stop(timeout=30)
