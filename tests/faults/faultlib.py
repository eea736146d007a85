"""What the fault scenarios share: the stack they run against, a bounded
webhook load, reading the warehouse back, and the one result line each
scenario reports.

Every scenario ends with report(), which prints

    <scenario>: sent N / 2xx N / in warehouse N / lost N / duplicated N (note)

and appends the figures to $HOOKPIPE_FAULTS_RESULTS (JSON lines), from which
tests/run writes tests/faults/RESULTS.md. "lost" counts events that got a 2xx
and are not in the warehouse; "duplicated" counts extra rows for a key.
"""
import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}


def run(cmd, check=True, timeout=60, **kw):
    """Runs a command, returning CompletedProcess with text output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check, **kw)


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

    def up(self, timeout=180):
        """Starts whatever component of the stack is not running (compose/local/stack up)."""
        env = {k: v for k, v in self.env.items()
               if k not in ("KAFKA_BOOTSTRAP_SERVERS", "HOOKPIPE_PG_URL")}
        r = run([str(ROOT / "compose/local/stack"), "up"], check=False, timeout=timeout, env=env)
        assert r.returncode == 0, f"stack up failed:\n{r.stdout}\n{r.stderr}"

    def log(self, name):
        """The text of a component's log."""
        p = self.run_dir / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # --- integrations and the warehouse ----------------------------------
    def ctl(self, *args):
        """Runs hookpipectl against the stack's Kafka; retried when another
        hookpipectl changed the integrations at the same moment."""
        env = dict(self.env, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap)
        for _ in range(10):
            r = run([str(self.bin_dir / "hookpipectl"), *args], check=False, env=env)
            if r.returncode == 0 or "at the same time" not in r.stderr:
                break
            time.sleep(0.2)
        assert r.returncode == 0, f"hookpipectl {' '.join(args)}: {r.stderr}"
        return r.stdout

    def create_integration(self, name, *args, timeout=10):
        """Creates an integration; returns its webhook URL on the stack's
        gateway once the gateway accepts it (an empty array, which publishes
        nothing, answered 200)."""
        url = self.ctl("integration", "create", name, *args).strip()
        url = self.gateway_url.rstrip("/") + url[url.index("/v1/"):]
        deadline = time.time() + timeout
        while True:
            status = requests.post(url, data=b"[]", headers=JSON, timeout=5).status_code
            if status == 200:
                return url
            assert status == 401 and time.time() < deadline, f"new integration answered {status}"
            time.sleep(0.05)

    def psql(self, sql):
        return run(["psql", self.pg_url, "-Atqc", sql]).stdout

    def key_counts(self, schema, key):
        """{key value (text): row count} of "<schema>".data, {} before it exists."""
        table = f'"{schema}"."data"'
        if not self.psql(f"SELECT to_regclass('{table}')").strip():
            return {}
        out = self.psql(f'SELECT "{key}", count(*) FROM {table} GROUP BY 1')
        return {a: int(b) for a, b in (line.rsplit("|", 1) for line in out.splitlines() if line)}

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

    def progress(self):
        with self._lock:
            return self.sent

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
                due = self._t0 + n / self.rate
                if due > time.time():
                    time.sleep(due - time.time())
            try:
                r = s.post(self.url, data=json.dumps(self.body(i)), headers=JSON, timeout=self.timeout)
                status = r.status_code
            except requests.RequestException as e:
                status = type(e).__name__
                s = requests.Session()
            with self._lock:
                if status == 200:
                    self.acked.add(i)
                else:
                    self.statuses[status] = self.statuses.get(status, 0) + 1


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
