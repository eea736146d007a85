"""What the fault scenarios share: the stack they run against, a bounded
webhook load, reading the warehouse back, and the one result line each
scenario reports.

Every scenario ends with report(), which prints

    <scenario>: sent N / 2xx N / in warehouse N / lost N / duplicated N (note)

and appends the figures to $HOOKPIPE_FAULTS_RESULTS (JSON lines), from which
tests/run writes tests/faults/RESULTS.md. "lost" counts events that got a 2xx
and are not in the warehouse; "duplicated" counts extra rows for a key.
"""
import collections
import json
import os
import pathlib
import signal
import threading
import time

import requests

from hookpipe_support import (JSON, ROOT, AvroValues, Ctl, Pg, StackPostgres, post, read_topic,
                              run)


class Stack:
    """The local stack of compose/local/stack: its URLs, processes and data."""

    def __init__(self, env):
        self.env = env
        self.run_dir = pathlib.Path(env["HOOKPIPE_RUN_DIR"])
        self.bin_dir = pathlib.Path(env.get("HOOKPIPE_BIN", ROOT / "build" / "bin"))
        self.bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        self.gateway_url = env["HOOKPIPE_GATEWAY_URL"]
        self.metrics_url = env["HOOKPIPE_METRICS_URL"]
        self.registry_url = env["HOOKPIPE_REGISTRY_URL"]
        self.pg_url = env["HOOKPIPE_PG_URL"]
        self.pg = Pg(self.pg_url)
        self.ctl = Ctl(self.bin_dir, self.bootstrap)

    @classmethod
    def from_env(cls):
        missing = [k for k in ("HOOKPIPE_RUN_DIR", "KAFKA_BOOTSTRAP_SERVERS", "HOOKPIPE_PG_URL")
                   if k not in os.environ]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not set: run the suites through tests/run")
        return cls(dict(os.environ))

    # --- processes -------------------------------------------------------
    def pid(self, name):
        """The pid of a stack component (kafka, postgres, registry, gateway,
        sink-postgres, sink-kafka-avro, ...), or None when it is not running."""
        try:
            pid = int((self.run_dir / f"{name}.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def kill(self, name, sig=signal.SIGKILL, timeout=30):
        """Sends sig to a component and, for SIGKILL/SIGTERM, waits until it is gone."""
        pid = self.pid(name)
        assert pid, f"{name} is not running"
        os.kill(pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)
            raise AssertionError(f"{name} (pid {pid}) still alive after {sig}")

    def up(self, timeout=180, env=None):
        """Starts whatever component of the stack is not running (compose/local/stack up).
        A port of the stack that the kernel lent to another program's outgoing
        connection (ports in the ephemeral range, until its TIME_WAIT ends)
        makes a restart fail with "already in use": retried for up to 70 s.
        env: variables added to the environment of what is started (e.g.
        HOOKPIPE_KAFKA_* settings of a restarted sink)."""
        env = {k: v for k, v in self.env.items()
               if k not in ("KAFKA_BOOTSTRAP_SERVERS", "HOOKPIPE_PG_URL")} | (env or {})
        self._keep_last_words()
        deadline = time.time() + 70
        while True:
            r = run([str(ROOT / "compose/local/stack"), "up"], check=False, timeout=timeout, env=env)
            busy = "already in use" in r.stdout + r.stderr
            if r.returncode == 0 or not busy or time.time() > deadline:
                break
            time.sleep(5)
        assert r.returncode == 0, f"stack up failed:\n{r.stdout}\n{r.stderr}"

    def _keep_last_words(self):
        """The stack starts a sink with an empty log: before it restarts a
        sink that died, its log is kept as <name>.died-<time>.log."""
        for p in self.run_dir.glob("sink-*.pid"):
            name = p.stem
            text = self.log(name)
            if self.pid(name) is None and text:
                (self.run_dir / f"{name}.died-{time.time():.0f}.log").write_text(text)

    def last_words(self, name, lines=25):
        """The end of the log of the last instance of `name` that died (kept by up())."""
        kept = sorted(self.run_dir.glob(f"{name}.died-*.log"))
        if not kept:
            return ""
        return "\n".join(kept[-1].read_text(errors="replace").splitlines()[-lines:])

    def stop_postgres(self, mode="fast", timeout=60):
        """Stops the stack's PostgreSQL server (pg_ctl stop -m mode), as the
        stack script does; stack.up() starts it again."""
        assert self.pid("postgres"), "postgres is not running"
        StackPostgres(self.run_dir, self.pg_url).stop(mode, timeout)

    def log(self, name):
        """The text of a component's log."""
        p = self.run_dir / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # --- integrations and the warehouse ----------------------------------
    def create_integration(self, name, *args, timeout=10):
        """Creates an integration; returns its webhook URL on the stack's
        gateway once the gateway accepts it (an empty array, which publishes
        nothing, answered 200)."""
        url = self.ctl.create(name, *args, base_url=self.gateway_url.rstrip("/"))
        status = post(url, b"[]", within=timeout, timeout=5).status_code
        assert status == 200, f"new integration answered {status}"
        return url

    def key_counts(self, schema, key):
        """{key value (text): row count} of "<schema>".data, {} before it exists."""
        if not self.pg.exists(schema, "data"):
            return {}
        rows = self.pg.query(f'SELECT "{key}", count(*) FROM {self.pg.table(schema, "data")} '
                             "GROUP BY 1")
        return {k: int(n) for k, n in rows}

    def key_values(self, schema, key, column):
        """{key value (text): (row count, max(column) as text)} of "<schema>".data."""
        if not self.pg.exists(schema, "data"):
            return {}
        rows = self.pg.query(f'SELECT "{key}", count(*), max("{column}") '
                             f'FROM {self.pg.table(schema, "data")} GROUP BY 1')
        return {k: (int(n), v) for k, n, v in rows}

    def avro_decoded(self, topic, timeout=60):
        """The records of a Confluent wire-format topic (the kafka-avro sink's
        <topic>.avro) to its end, decoded with their schemas from the
        registry: a list of (key text, record dict or None when it does not
        decode); the schema ids met are left in avro_schema_ids."""
        avro, out, sids = AvroValues(self.registry_url), [], set()
        for m in read_topic(self.bootstrap, topic, timeout=timeout):
            k, v, rec = m.key(), m.value(), None
            if v and len(v) > 5 and v[0] == 0:
                sids.add(int.from_bytes(v[1:5], "big"))
                try:
                    rec = avro.value(topic, v)[1]
                except Exception:
                    rec = None
            out.append((k.decode() if k is not None else None, rec))
        self.avro_schema_ids = sids
        return out

    def wait_avro(self, topic, want, timeout=60):
        """Reads <topic>.avro until it holds every event of `want` (a set of
        (key text, version or None)) or timeout; returns (records, lost,
        duplicated, undecodable): lost = events of want missing, duplicated =
        extra copies of an event, undecodable = records that do not decode or
        whose id is not their key."""
        deadline = time.time() + timeout
        while True:
            recs = self.avro_decoded(topic)
            seen = collections.Counter(
                (k, r.get("v")) for k, r in recs if r is not None and str(r.get("id")) == k)
            if want <= seen.keys() or time.time() > deadline:
                break
            time.sleep(2)
        bad = sum(1 for k, r in recs if r is None or str(r.get("id")) != k)
        return (len(recs), len(want - seen.keys()), sum(n - 1 for n in seen.values()), bad)

    def wait_loaded(self, schema, key, acked, timeout=120):
        """Polls the warehouse until every acked key is there (or timeout); returns key_counts."""
        deadline = time.time() + timeout
        rows = {}
        while time.time() < deadline:
            rows = self.key_counts(schema, key)
            if set(acked) <= rows.keys():
                break
            time.sleep(0.5)
        return rows


class Load:
    """Posts `count` events {"id": i, ...} to a webhook URL from `workers`
    threads in the background, at most `rate` per second in total (None: as
    fast as answered), stopping after `max_seconds` in any case. Records which
    ids got a 2xx (acked) and how every other attempt ended (statuses)."""

    def __init__(self, url, count, workers=8, rate=None, max_seconds=120, body=None, timeout=30):
        self.url, self.count, self.workers = url, count, workers
        self.rate, self.max_seconds, self.timeout = rate, max_seconds, timeout
        self.body = body or (lambda i: {"id": i, "kind": "fault", "pad": "x" * 200})
        self.acked, self.statuses = set(), {}
        self.events = []        # (seconds since start at the answer, id, status)
        self.reasons = collections.Counter()   # (status, message) of the non-2xx answers
        self.sent = 0
        self._lock = threading.Lock()
        self._next = iter(range(count))
        self._threads = []
        self._t0 = None

    def start(self):
        self._t0 = time.time()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]
        for t in self._threads:
            t.start()
        return self

    def wait(self):
        for t in self._threads:
            t.join(self.max_seconds + self.timeout + 10)
        return self

    def done(self):
        """Every worker has finished (all sent, or max_seconds over)."""
        return not any(t.is_alive() for t in self._threads)

    def elapsed(self):
        return time.time() - self._t0

    def answers(self, since=0.0, status=None):
        """How many answers came at or after `since` (seconds from the start),
        of `status` only when given (200, 503, an exception's name...)."""
        with self._lock:
            return sum(1 for t, _, s in self.events
                       if t >= since and (status is None or s == status))

    def _work(self):
        s = requests.Session()
        while time.time() - self._t0 < self.max_seconds:
            with self._lock:
                i = next(self._next, None)
                if i is None:
                    return
                self.sent += 1
                n = self.sent
            if self.rate:
                wait = self._t0 + n / self.rate - time.time()
                if wait > 0:
                    time.sleep(wait)
            try:
                r = s.post(self.url, data=json.dumps(self.body(i)), headers=JSON, timeout=self.timeout)
                status = r.status_code
                reason = None
                if status != 200:
                    try:
                        reason = str(r.json().get("message"))[:80]
                    except ValueError:
                        reason = r.text[:80]
            except requests.RequestException as e:
                status, reason = type(e).__name__, None
                s = requests.Session()
            with self._lock:
                self.events.append((time.time() - self._t0, i, status))
                if status == 200:
                    self.acked.add(i)
                else:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    self.reasons[(status, reason)] += 1


def report(scenario, sent, acked, warehouse, lost, duplicated, note=""):
    """Prints the scenario's result line and records it for tests/faults/RESULTS.md."""
    line = (f"{scenario}: sent {sent} / 2xx {acked} / in warehouse {warehouse} / "
            f"lost {lost} / duplicated {duplicated}" + (f" ({note})" if note else ""))
    print("\n" + line)
    path = os.environ.get("HOOKPIPE_FAULTS_RESULTS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"scenario": scenario, "sent": sent, "acked": acked,
                                "warehouse": warehouse, "lost": lost,
                                "duplicated": duplicated, "note": note}) + "\n")
    return line


class Updates:
    """A load of updates over `keys` primary keys (for Load's body): event i
    sets key i % keys to version i // keys, so each key is written in turn
    and a later version of a key was sent after every earlier one (far
    apart: `keys` other events lie between them). verify() checks the
    warehouse against Stitch's rule, the row of a key being its record with
    the highest _sdc_sequence: the last version acknowledged, or a later one
    that was stored although its request got no 2xx."""

    def __init__(self, keys, pad=200, items=0):
        self.keys, self.pad, self.items = keys, pad, items

    def key(self, i):
        return i % self.keys

    def version(self, i):
        return i // self.keys

    def body(self, i):
        v = self.version(i)
        b = {"id": self.key(i), "v": v, "kind": "fault", "pad": "x" * self.pad}
        if self.items:
            b["items"] = [{"n": n, "v": v} for n in range(self.items)]
        return b

    def events(self, ids):
        """{(key text, version)} of the events `ids`."""
        return {(str(self.key(i)), self.version(i)) for i in ids}

    def want(self, acked):
        """{key text: the highest acknowledged version}"""
        w = {}
        for i in acked:
            k = str(self.key(i))
            w[k] = max(w.get(k, -1), self.version(i))
        return w

    def verify(self, stack, schema, load, timeout=120):
        """Waits (bounded) until every acknowledged version is in the
        warehouse, then returns the figures: rows, lost (acknowledged events
        whose version is missing: no row, or an older version in it),
        duplicated (extra rows of a key; extra subtable rows when items),
        exact (keys whose row is the last acknowledged version), newer (keys
        whose row is a later version that got no 2xx), wrong (keys whose row
        is a version never sent, or acknowledged but not the last)."""
        acked = set(load.acked)
        want = self.want(acked)

        def caught_up():
            rows = stack.key_values(schema, "id", "v")
            ok = all(k in rows and int(rows[k][1]) >= v for k, v in want.items())
            return rows if ok else None

        deadline = time.time() + timeout
        rows = {}
        while time.time() < deadline:
            rows = caught_up()
            if rows is not None:
                break
            time.sleep(0.5)
        else:
            rows = stack.key_values(schema, "id", "v")
        lost = sum(1 for i in acked
                   if str(self.key(i)) not in rows
                   or int(rows[str(self.key(i))][1]) < self.version(i))
        dup = sum(n - 1 for n, _ in rows.values())
        exact = newer = wrong = 0
        for k, (_, v) in rows.items():
            v = int(v)
            i = v * self.keys + int(k)
            if k in want and v == want[k]:
                exact += 1
            elif i < load.sent and i not in acked and v > want.get(k, -1):
                newer += 1
            else:
                wrong += 1
        if self.items:
            for k, n, lo, hi in stack.pg.query(
                    'SELECT "_sdc_source_key_id", count(*), min("v"), max("v") '
                    f'FROM {stack.pg.table(schema, "data__items")} GROUP BY 1'):
                if int(n) != self.items or lo != hi or (k in rows and int(rows[k][1]) != int(hi)):
                    dup += max(int(n) - self.items, 0)
                    wrong += 1
        return {"rows": len(rows), "lost": lost, "duplicated": dup, "exact": exact,
                "newer": newer, "wrong": wrong, "keys_acked": len(want)}
