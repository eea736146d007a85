"""The warehouse targets end to end: hookpipectl creates an integration, the
stack's gateway takes the POSTs, and the rows are read back from the stack's
postgres sink (PostgreSQL) and from sqlite sinks these tests start (a file in
tmp_path). Layout rules, the sequence-guarded upsert, no-pk append, exactly
once across SIGKILL, and a signed delivery retried three times (issue 8).

Every wait polls for its outcome with a deadline; the sinks' stored offsets
("next offset" per partition, committed with the rows) tell when every
message of a topic has been loaded.
"""
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest
import requests
from confluent_kafka import Producer

from conftest import run
from test_gateway import Gateway

JSON = {"Content-Type": "application/json"}
PG_GROUP = "hookpipe-sink-postgres"   # the stack's postgres sink


# --- helpers ---------------------------------------------------------------------

def create(bin_dir, bootstrap, gateway_url, name, *opts, env=None):
    cmd = [str(bin_dir / "hookpipectl"), "-b", bootstrap, "integration", "create", name,
           "--base-url", gateway_url, *opts]
    for _ in range(10):
        r = run(cmd, check=False, env=env)
        if r.returncode == 0 or "at the same time" not in r.stderr:
            break
        time.sleep(0.2)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def post(url, body, headers=JSON, timeout=10):
    """POSTs (bytes or a JSON value); retries while the gateway has not yet
    seen the new integration (401) or is busy (503), up to `timeout` s."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    deadline = time.time() + timeout
    while True:
        r = requests.post(url, data=data, headers=headers, timeout=30)
        if r.status_code not in (401, 503) or time.time() > deadline:
            assert r.status_code == 200, r.text
            return r
        time.sleep(0.05)


def wait_for(what, check, timeout=60, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached in {timeout}s (last: {last!r})")


class Pg:
    """psql against the stack's PostgreSQL."""

    def __init__(self, url):
        self.url = url

    def rows(self, sql):
        r = subprocess.run(["psql", self.url, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-c", sql], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None    # e.g. the table does not exist yet
        return [tuple(line.split("\t")) for line in r.stdout.splitlines()]

    def loaded(self, topic):
        """Messages of topic loaded (the sum of the stored next offsets)."""
        r = self.rows("SELECT COALESCE(SUM(next_offset), 0) FROM \"hookpipe-sink\".offsets "
                      f"WHERE consumer_group = '{PG_GROUP}' AND topic = '{topic}'")
        return int(r[0][0]) if r else 0

    def table(self, schema, table):
        return f'"{schema}"."{table}"'

    def columns(self, schema, table):
        r = self.rows("SELECT column_name FROM information_schema.columns "
                      f"WHERE table_schema = '{schema}' AND table_name = '{table}'")
        return {c[0] for c in r or []}


class Lite:
    """sqlite3 on a sink's database file."""

    def __init__(self, path, group):
        self.path, self.group = str(path), group

    def rows(self, sql):
        if not os.path.exists(self.path):
            return None
        db = sqlite3.connect(self.path, timeout=10)
        try:
            return [tuple("" if v is None else str(v) for v in row)
                    for row in db.execute(sql).fetchall()]
        except sqlite3.OperationalError:
            return None
        finally:
            db.close()

    def loaded(self, topic):
        r = self.rows("SELECT COALESCE(SUM(next_offset), 0) FROM hookpipe_offsets "
                      f"WHERE consumer_group = '{self.group}' AND topic = '{topic}'")
        return int(r[0][0]) if r else 0

    def table(self, schema, table):
        return f'"{schema}.{table}"'

    def columns(self, schema, table):
        r = self.rows(f"SELECT name FROM pragma_table_info('{schema}.{table}')")
        return {c[0] for c in r or []}


class Sink:
    """A hookpipe-sink process of our own."""

    def __init__(self, bin_dir, bootstrap, log_path, *args):
        self.cmd = [str(bin_dir / "hookpipe-sink"), *args]
        self.env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
        self.log_path = log_path
        self.proc = None
        self.start()

    def start(self):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env)

    def tail(self):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-30:])

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                return -9
        return self.proc.returncode


@pytest.fixture(scope="module")
def pg(pg_url):
    return Pg(pg_url)


@pytest.fixture(scope="module")
def lite(bin_dir, bootstrap, tmp_path_factory):
    """A sqlite sink of this module, in its own consumer group."""
    d = tmp_path_factory.mktemp("sqlite")
    group = "test-wh-sqlite-" + uuid.uuid4().hex[:8]
    s = Sink(bin_dir, bootstrap, d / "sink.log", "--target", "sqlite",
             "--sqlite.path", str(d / "wh.db"), "--group.id", group)
    yield Lite(d / "wh.db", group)
    assert s.stop() == 0, s.tail()


@pytest.fixture(params=["postgres", "sqlite"])
def wh(request, pg):
    return pg if request.param == "postgres" else request.getfixturevalue("lite")


def wait_loaded(wh, topic, n, timeout=60):
    wait_for(f"{n} messages of {topic} loaded", lambda: wh.loaded(topic) >= n, timeout)


# --- layout ----------------------------------------------------------------------

def test_layout(wh, bin_dir, bootstrap, gateway_url, unique_name):
    # one partition: the records arrive in the order sent, so the first
    # type of a field is the one its plain column keeps
    url = create(bin_dir, bootstrap, gateway_url, unique_name, "--primary-key", "id",
                 "--partitions", "1")
    s = unique_name
    post(url, {"id": 1, "v": 7, "o": {"a": 1, "b": {"c": "x"}},
               "items": [{"x": 1, "sub": [10, 11]}, {"x": 2}], "tags": ["a", "b"]})
    post(url, {"id": 2, "v": "seven", "o": {"a": 2.5}})
    # reserved names and a collision: the field is left out, the record goes
    # to _sdc_rejected, the rest of the row is loaded
    post(url, b'{"id": 3, "w__st": 1, "_sdc_x": 2, "a b": 1, "a_b": 2, "ok": true}')
    wait_loaded(wh, "webhooks." + s, 3)

    data = wh.table(s, "data")
    cols = wh.columns(s, "data")
    assert {"id", "v", "v__st", "o__a", "o__a__do", "o__b__c", "ok", "_sdc_sequence",
            "_sdc_received_at", "_sdc_batched_at", "_sdc_table_version"} <= cols, cols
    assert not cols & {"w__st", "_sdc_x", "items", "tags", "__sdc_primary_key"}, cols
    assert wh.rows(f"SELECT id, v, v__st, o__a, o__b__c FROM {data} ORDER BY id") == [
        ("1", "7", "", "1", "x"), ("2", "", "seven", "", ""), ("3", "", "", "", "")]
    assert wh.rows(f"SELECT o__a__do FROM {data} WHERE id = 2") == [("2.5",)]

    items = wh.table(s, "data__items")
    assert wh.rows(f"SELECT _sdc_source_key_id, _sdc_level_0_id, x FROM {items} "
                   "ORDER BY _sdc_level_0_id") == [("1", "0", "1"), ("1", "1", "2")]
    sub = wh.table(s, "data__items__sub")
    assert wh.rows(f"SELECT _sdc_source_key_id, _sdc_level_0_id, _sdc_level_1_id, value "
                   f"FROM {sub} ORDER BY 2, 3") == [("1", "0", "0", "10"), ("1", "0", "1", "11")]
    tags = wh.table(s, "data__tags")
    assert wh.rows(f"SELECT _sdc_level_0_id, value FROM {tags} ORDER BY 1") == [
        ("0", "a"), ("1", "b")]

    rej = wh.rows(f"SELECT table_name, reason, record FROM {wh.table(s, '_sdc_rejected')}")
    assert len(rej) == 1, rej
    assert rej[0][0] == "data" and '"w__st"' in rej[0][2] and rej[0][1], rej
    assert wh.rows(f"SELECT ok FROM {data} WHERE id = 3")[0][0] in ("t", "1"), "ok"


# --- upsert, sequence guard, no-pk append ------------------------------------------

def produce(bootstrap, topic, key, value, sequence):
    """A message as the gateway would write it, with our own sequence."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    p.produce(topic, key=key, value=value,
              headers=[("hookpipe-received-at", "2020-01-01T00:00:00.000000Z"),
                       ("hookpipe-sequence", str(sequence))])
    assert p.flush(30) == 0


def test_upsert_guarded_by_sequence(wh, bin_dir, bootstrap, gateway_url, unique_name):
    url = create(bin_dir, bootstrap, gateway_url, unique_name, "--primary-key", "id")
    topic = "webhooks." + unique_name
    post(url, {"id": 1, "a": 1})
    post(url, [{"id": 1, "a": 2}, {"id": 2, "a": 20}])
    wait_loaded(wh, topic, 3)
    # an older record (a lower _sdc_sequence) for a key never overwrites it
    produce(bootstrap, topic, b"1", b'{"id": 1, "a": -1}', 1)
    wait_loaded(wh, topic, 4)
    data = wh.table(unique_name, "data")
    assert wh.rows(f"SELECT id, a FROM {data} ORDER BY id") == [("1", "2"), ("2", "20")]
    # Stitch's latest row per key
    latest = wh.rows(f"SELECT d.id, d.a FROM {data} d JOIN (SELECT id, MAX(_sdc_sequence) AS seq "
                     f"FROM {data} GROUP BY id) m ON d.id = m.id AND d._sdc_sequence = m.seq "
                     "ORDER BY d.id")
    assert latest == [("1", "2"), ("2", "20")]


def test_no_pk_appends(wh, bin_dir, bootstrap, gateway_url, unique_name):
    url = create(bin_dir, bootstrap, gateway_url, unique_name)
    topic = "webhooks." + unique_name
    post(url, [{"n": 1}, {"n": 1}])
    post(url, {"n": 2})
    wait_loaded(wh, topic, 3)
    data = wh.table(unique_name, "data")
    rows = wh.rows(f"SELECT __sdc_primary_key, n FROM {data} ORDER BY n")
    assert sorted(r[1] for r in rows) == ["1", "1", "2"]
    keys = [r[0] for r in rows]
    assert len(set(keys)) == 3 and all(uuid.UUID(k) for k in keys), keys
    # the same message again (same key): no second row
    produce(bootstrap, topic, keys[0].encode(), b'{"n": 1}', time.time_ns())
    wait_loaded(wh, topic, 4)
    assert len(wh.rows(f"SELECT n FROM {data}")) == 3


# --- exactly once across SIGKILL ------------------------------------------------------

def test_sqlite_sink_sigkill_exactly_once(bin_dir, bootstrap, gateway_url, unique_name, tmp_path):
    url = create(bin_dir, bootstrap, gateway_url, unique_name, "--primary-key", "id",
                 "--partitions", "3")
    topic = "webhooks." + unique_name
    group = "test-wh-kill-" + uuid.uuid4().hex[:8]
    db = Lite(tmp_path / "kill.db", group)
    sink = Sink(bin_dir, bootstrap, tmp_path / "sink.log", "--target", "sqlite",
                "--sqlite.path", str(tmp_path / "kill.db"), "--group.id", group,
                "--batch.max.records", "200", "--batch.max.ms", "100",
                # a killed member leaves the group at once for the restarted one
                "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000")
    total, per_post = 4000, 50
    # every 10th record carries a reserved name: its _sdc_rejected row must
    # be written exactly once too
    bodies = [[dict({"id": i, "n": i * 7}, **({"x__st": 1} if i % 10 == 0 else {}))
               for i in range(k, k + per_post)] for k in range(0, total, per_post)]
    errors = []

    def load():
        try:
            for b in bodies:
                post(url, b)
        except Exception as e:     # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=load)
    t.start()
    try:
        kills = 0
        deadline = time.time() + 120
        while kills < 2 and time.time() < deadline and db.loaded(topic) < total:
            got = db.loaded(topic)
            if got >= (kills + 1) * total // 4:
                sink.kill()
                kills += 1
                sink.start()
            time.sleep(0.05)
        t.join(timeout=120)
        assert not t.is_alive() and not errors, errors
        assert kills >= 1, "the load finished before the sink could be killed"
        wait_loaded(db, topic, total, timeout=120)
        data = db.table(unique_name, "data")
        rows = db.rows(f"SELECT id, n FROM {data}")
        assert len(rows) == total
        assert sorted((int(a), int(b)) for a, b in rows) == [(i, i * 7) for i in range(total)]
        rej = db.rows(f"SELECT record FROM {db.table(unique_name, '_sdc_rejected')}")
        assert len(rej) == total // 10, len(rej)
        assert sorted(json.loads(r[0])["id"] for r in rej) == list(range(0, total, 10))
    finally:
        assert sink.stop() == 0, sink.tail()


# --- issue 8: a signed delivery retried -------------------------------------------------

@pytest.fixture
def keyed_gateway(bin_dir, bootstrap, tmp_path):
    """A gateway of our own holding a fresh sealing key (also in this
    process's environment, for hookpipectl)."""
    old = os.environ.get("HOOKPIPE_SECRET_KEY")
    os.environ["HOOKPIPE_SECRET_KEY"] = os.urandom(32).hex()
    g = Gateway(bin_dir, bootstrap, tmp_path / "gateway.log")
    try:
        yield g.wait_ready()
    finally:
        assert g.stop() == 0, g.tail()
        if old is None:
            os.environ.pop("HOOKPIPE_SECRET_KEY", None)
        else:
            os.environ["HOOKPIPE_SECRET_KEY"] = old


def test_signed_delivery_three_times_is_one_row(pg, bin_dir, bootstrap, keyed_gateway,
                                                 unique_name):
    secret = "hookpipe-test-" + uuid.uuid4().hex
    env = dict(os.environ, GH_SECRET=secret)
    hook = create(bin_dir, bootstrap, keyed_gateway.base, unique_name, "--signature", "github",
                  "--secret-env", "GH_SECRET", env=env)
    url = keyed_gateway.url(hook)
    body = b'{"action":"opened","number":42}'
    h = dict(JSON, **{"X-Hub-Signature-256": "sha256=" + hmac.new(
        secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-GitHub-Delivery": str(uuid.uuid4())})
    for _ in range(3):
        post(url, body, headers=h)
    topic = "webhooks." + unique_name
    wait_loaded(pg, topic, 3)
    rows = pg.rows(f"SELECT __sdc_primary_key, action, number FROM {pg.table(unique_name, 'data')}")
    assert len(rows) == 1 and rows[0][1:] == ("opened", "42"), rows
