"""What the Python suites (tests/integration, tests/faults) share, written once:
our programs as processes of a test (gateway, sink of any target, registry
replica), hookpipectl, posting webhooks, reading topics back (plain and
Confluent wire-format Avro), /metrics, and the warehouse read with SQL
(PostgreSQL through psql, SQLite files) including the stack's PostgreSQL
server stopped and started.

Each suite's conftest.py puts this folder on sys.path; a test file imports
from here, never from another test file. Helpers fail with AssertionError
naming what was not reached.
"""
import json
import os
import pathlib
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

ROOT = pathlib.Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}
PG_SINK_GROUP = "hookpipe-sink-postgres"      # the consumer group of the stack's postgres sink
REGISTRY_CT = "application/vnd.schemaregistry.v1+json"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# --- small things ------------------------------------------------------------------

def run(cmd, check=True, timeout=60, **kw):
    """Runs a command, returning CompletedProcess with text output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check, **kw)


def free_port():
    """A loopback TCP port free at the time of the call."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=60, interval=0.1):
    """Polls check() until it returns something true, which it returns;
    fails naming `what` (and the last value) after timeout seconds."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.time() >= deadline:
            raise AssertionError(f"{what}: not reached in {timeout}s (last: {last!r})")
        time.sleep(interval)


def headers_of(m):
    """The headers of a Kafka message as {name: text}."""
    return {k: v.decode() for k, v in (m.headers() or [])}


def metrics(url):
    """A Prometheus /metrics page (url: the listener's base) as {series: value},
    a series being the name with its labels as printed: 'name{a="x"}'."""
    out = {}
    for line in requests.get(url + "/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def metric(url, name, **labels):
    """One series of metrics(url), 0.0 when it is not there."""
    series = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                     if labels else "")
    return metrics(url).get(series, 0.0)


# --- our programs as processes -----------------------------------------------------

class Proc:
    """A program run by a test, its output appended to a log file:
    restartable with the same command, stopped with SIGTERM (stop() returns
    its exit code: a program that needed SIGKILL returns -9)."""

    what = "process"

    def __init__(self, argv, log_path, env=None, start=True):
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self.proc = None
        if start:
            self.start()

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def kill(self):
        """SIGKILL, and waits until it is gone."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout=60):
        """SIGTERM: the program's orderly stop; its exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return None if self.proc is None else self.proc.returncode

    def wait_http(self, url, timeout=30):
        """Polls url until it answers 200; fails at once if the program exited."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, \
                f"{self.what} exited with {self.proc.returncode}:\n{self.tail()}"
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.what} not ready in {timeout}s ({url}):\n{self.tail()}")


def _env_with(env, bootstrap):
    """env (default: this process's environment) with the broker to use."""
    return dict(os.environ if env is None else env, KAFKA_BOOTSTRAP_SERVERS=bootstrap)


class Gateway(Proc):
    """hookpipe-gateway on free loopback ports (webhooks: base, /metrics,
    /readyz: metrics)."""

    what = "gateway"

    def __init__(self, bin_dir, bootstrap, log_path, *args, env=None):
        self.port, self.mport = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.metrics = f"http://127.0.0.1:{self.mport}"
        super().__init__([pathlib.Path(bin_dir) / "hookpipe-gateway",
                          f"--listen=127.0.0.1:{self.port}",
                          f"--metrics.listen=127.0.0.1:{self.mport}", *args],
                         log_path, _env_with(env, bootstrap))

    def wait_ready(self, timeout=30):
        return self.wait_http(self.metrics + "/readyz", timeout)

    def url(self, webhook_url):
        """The same webhook path on this gateway."""
        return self.base + webhook_url[webhook_url.index("/v1/"):]


class Sink(Proc):
    """hookpipe-sink with the given arguments (--target ... and its settings)."""

    what = "sink"

    def __init__(self, bin_dir, bootstrap, log_path, *args, env=None):
        super().__init__([pathlib.Path(bin_dir) / "hookpipe-sink", *args], log_path,
                         _env_with(env, bootstrap))


class Registry(Proc):
    """One hookpipe-registry replica on a free port, over `topic`; started by
    start(), restartable on the same port and topic. get/post/put/delete/
    register call its API; dump() is everything a client can see."""

    what = "registry"

    def __init__(self, bin_dir, bootstrap, topic, log_path, *args, env=None):
        self.bootstrap, self.topic = bootstrap, topic
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([pathlib.Path(bin_dir) / "hookpipe-registry",
                          "--listen", f"127.0.0.1:{self.port}", "--topic", topic, *args],
                         log_path, _env_with(env, bootstrap), start=False)

    def start(self, wait=True):
        super().start()
        return self.wait_ready() if wait else self

    def wait_ready(self, timeout=30):
        return self.wait_http(self.url + "/readyz", timeout)

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=30, **kw)

    def post(self, path, body, **kw):
        return requests.post(self.url + path, data=json.dumps(body),
                             headers={"Content-Type": REGISTRY_CT}, timeout=30, **kw)

    def put(self, path, body):
        return requests.put(self.url + path, data=json.dumps(body),
                            headers={"Content-Type": REGISTRY_CT}, timeout=30)

    def delete(self, path, **kw):
        return requests.delete(self.url + path, timeout=30, **kw)

    def register(self, subject, schema):
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return self.post(f"/subjects/{subject}/versions", {"schema": text})

    def dump(self):
        """Everything a client can see, for comparing replicas."""
        state = {"config": self.get("/config").json(), "subjects": {}, "ids": {}}
        for s in self.get("/subjects", params={"deleted": "true"}).json():
            live = self.get(f"/subjects/{s}/versions").json()
            versions = {}
            for v in self.get(f"/subjects/{s}/versions", params={"deleted": "true"}).json():
                r = self.get(f"/subjects/{s}/versions/{v}", params={"deleted": "true"}).json()
                versions[v] = (r["id"], r["schema"], v in live if isinstance(live, list) else False)
                state["ids"][r["id"]] = self.get(f"/schemas/ids/{r['id']}").json()["schema"]
            cfg = self.get(f"/config/{s}")
            state["subjects"][s] = {"versions": versions,
                                    "config": cfg.json() if cfg.status_code == 200 else None}
        return state


def unique_schemas_topic():
    """A fresh registry topic."""
    return "_schemas_test_" + uuid.uuid4().hex[:12]


# --- hookpipectl and webhooks --------------------------------------------------------

class Ctl:
    """hookpipectl against one broker (-b bootstrap, then `args`, e.g. -X
    settings)."""

    def __init__(self, bin_dir, bootstrap, *args):
        self.argv = [str(pathlib.Path(bin_dir) / "hookpipectl"), "-b", bootstrap, *args]

    def run(self, *args, env=None):
        """One run, whatever its outcome: the CompletedProcess."""
        return run(self.argv + list(args), check=False, env=env)

    def call(self, *args, env=None):
        """A run that must succeed (its CompletedProcess); retried while
        another hookpipectl (other tests share the broker) changed the
        integrations at the same moment."""
        for _ in range(10):
            r = self.run(*args, env=env)
            if r.returncode == 0 or "at the same time" not in r.stderr:
                break
            time.sleep(0.2)
        assert r.returncode == 0, f"hookpipectl {' '.join(args)}: {r.stderr}"
        return r

    def __call__(self, *args, env=None):
        """call()'s output, stripped."""
        return self.call(*args, env=env).stdout.strip()

    def create(self, name, *opts, base_url=None, env=None):
        """Creates an integration; the webhook URL it printed (on base_url
        when given)."""
        base = ["--base-url", base_url] if base_url else []
        url = self(*(["integration", "create", name] + base + list(opts)), env=env)
        assert "/v1/clients/" in url, url
        return url


def post(url, body, headers=JSON, retry=(401,), within=5, timeout=30, **kw):
    """POSTs body (bytes, or a value sent as JSON); while the answer is one
    of `retry` (401: the gateway has not seen a new integration yet; 503: it
    is busy) retries for up to `within` seconds. The last response."""
    data = body if isinstance(body, (bytes, bytearray)) else \
        json.dumps(body, ensure_ascii=False).encode()
    deadline = time.time() + within
    while True:
        r = requests.post(url, data=data, headers=headers, timeout=timeout, **kw)
        if r.status_code not in retry or time.time() > deadline:
            return r
        time.sleep(0.05)


def check_error(r, status, message_part=None):
    """r is the gateway's error answer: status, its JSON body (returned) with
    a request id, and message_part in its message when given."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "error"
    assert UUID4.match(body["request_id"]), body
    assert r.headers["X-Request-Id"] == body["request_id"]
    if message_part:
        assert message_part in body["message"], body
    return body


def post_ok(url, body, headers=JSON, retry=(401, 503), within=10, **kw):
    """post() that must end in 200."""
    r = post(url, body, headers=headers, retry=retry, within=within, **kw)
    assert r.status_code == 200, (r.status_code, r.text)
    return r


# --- Kafka -----------------------------------------------------------------------------

def read_topic(bootstrap, topic, want=None, timeout=30, **conf):
    """The messages of every partition of topic from its beginning, sorted by
    partition and offset: until `want` were read (or fewer after timeout),
    or, want None, to the end every partition has when reached (known by
    the end-of-partition event, which also passes a transaction's last
    marker); a topic that does not exist reads as []. Fails on a consumer
    error, or, want None, when not at the end after timeout."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-read-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": True, **conf})
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return []
        pending = set()
        for p in md.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if hi > lo:
                pending.add(p)
        if want is None and not pending:
            return []
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions])
        out, deadline = [], time.time() + timeout
        while time.time() < deadline and (len(out) < want if want is not None else pending):
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
                    continue
                raise KafkaException(m.error())
            out.append(m)
        assert want is not None or not pending, f"{topic}: not read to its end within {timeout}s"
        out.sort(key=lambda m: (m.partition(), m.offset()))
        return out
    finally:
        c.close()


_admins = {}


def admin(bootstrap):
    """One AdminClient per broker, kept: a client freed while its futures are
    pending fails them ("Handle is terminating")."""
    if bootstrap not in _admins:
        _admins[bootstrap] = AdminClient({"bootstrap.servers": bootstrap})
    return _admins[bootstrap]


def topic_config(bootstrap, topic, name="max.message.bytes"):
    """The value (text) of one setting of a topic."""
    res = ConfigResource("topic", topic)
    return admin(bootstrap).describe_configs([res])[res].result(timeout=30)[name].value


def set_topic_config(bootstrap, topic, name, value):
    """Sets one setting of a topic (an incremental alter)."""
    res = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry(name, str(value), incremental_operation=AlterConfigOpType.SET)])
    for f in admin(bootstrap).incremental_alter_configs([res]).values():
        f.result(timeout=30)


def topic_partitions(bootstrap, topic):
    """How many partitions a topic has (it must exist)."""
    t = admin(bootstrap).list_topics(topic, timeout=10).topics[topic]
    assert t.error is None, t.error
    return len(t.partitions)


def high_watermarks(bootstrap, topic):
    """{partition: high watermark} of a topic."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-read-" + uuid.uuid4().hex})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in md.partitions}
    finally:
        c.close()


def produce(bootstrap, topic, records, **conf):
    """Produces records [(key, value, headers or None)] to topic with a plain
    idempotent client; returns once the broker acknowledged every one."""
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, **conf})
    for key, value, headers in records:
        p.produce(topic, key=key, value=value, headers=headers,
                  on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0
    assert not errors, errors[:3]


class AvroValues:
    """Decodes Confluent wire-format values (magic 0, schema id, Avro) with
    their writer schemas from a registry (confluent-kafka's
    AvroDeserializer): value(topic, raw) -> (schema id, record)."""

    def __init__(self, registry_url):
        self.deser = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))

    def value(self, topic, raw):
        rec = self.deser(raw, SerializationContext(topic, MessageField.VALUE))
        return int.from_bytes(raw[1:5], "big"), rec


def read_avro_topic(bootstrap, registry_url, topic, want_ids, timeout=90, key_of=None):
    """Consumes topic (which may not exist yet) from the start until every id
    in want_ids was seen (or timeout), decoding with AvroValues. key_of(rec)
    names a record (default: its "id"). Returns ([(key, headers, record,
    writer schema id, raw value)], ids seen)."""
    avro = AvroValues(registry_url)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-read-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "topic.metadata.refresh.interval.ms": 1000})
    out, seen = [], set()
    deadline = time.monotonic() + timeout
    try:
        c.subscribe([topic])
        while time.monotonic() < deadline and not want_ids <= seen:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() in (KafkaError._PARTITION_EOF,
                                        KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                pytest.fail(f"reading {topic}: {m.error()}")
            sid, rec = avro.value(topic, m.value())
            out.append((m.key(), dict(m.headers() or []), rec, sid, m.value()))
            seen.add(rec.get("id") if key_of is None else key_of(rec))
    finally:
        c.close()
    return out, seen


# --- the warehouse ---------------------------------------------------------------------

class _Loaded:
    """What a warehouse tells of a sink group's progress, from the offsets
    (next offset per partition) it stores with its rows: stored_offsets()
    is the warehouse's."""

    def loaded(self, topic, group=None):
        """Messages of topic loaded by a sink group (the sum of its stored next offsets)."""
        return sum(self.stored_offsets(topic, group).values())

    def wait_loaded(self, topic, n, timeout=60, group=None, interval=0.1):
        """Waits until a sink group (default: the warehouse's) loaded at
        least n messages of topic; how many it loaded."""
        wait_for(f"{n} messages of {topic} loaded by {group or self.group}",
                 lambda: self.loaded(topic, group) >= n, timeout, interval)
        return self.loaded(topic, group)


class Pg(_Loaded):
    """SQL on a PostgreSQL database (psql): rows as tuples of text ("" for
    NULL), and the offsets the postgres sinks store with their rows."""

    def __init__(self, url, group=PG_SINK_GROUP):
        self.url, self.group = url, group

    def rows(self, sql):
        """The rows of sql, or None when it fails (e.g. the table does not exist yet)."""
        r = subprocess.run(["psql", self.url, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-c", sql], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None
        return [tuple(line.split("\t")) for line in r.stdout.splitlines()]

    def query(self, sql):
        """The rows of sql, which must succeed."""
        r = run(["psql", self.url, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        return [tuple(line.split("\t")) for line in r.stdout.splitlines()]

    def table(self, schema, table):
        return f'"{schema}"."{table}"'

    def exists(self, schema, table):
        return self.query(f"SELECT to_regclass('{self.table(schema, table)}')") != [("",)]

    def columns(self, schema, table):
        r = self.rows("SELECT column_name FROM information_schema.columns "
                      f"WHERE table_schema = '{schema}' AND table_name = '{table}'")
        return {c[0] for c in r or []}

    def stored_offsets(self, topic, group=None):
        """{partition: next offset} a sink group stored with its rows."""
        r = self.rows('SELECT "partition", next_offset FROM "hookpipe-sink".offsets '
                      f"WHERE consumer_group = '{group or self.group}' AND topic = '{topic}'")
        return {int(p): int(o) for p, o in r or []}


class Lite(_Loaded):
    """SQL on a sqlite sink's database file, as Pg; sink: the sink process
    when a fixture started one."""

    def __init__(self, path, group, sink=None):
        self.path, self.group, self.sink = str(path), group, sink

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

    def table(self, schema, table):
        return f'"{schema}.{table}"'

    def columns(self, schema, table):
        r = self.rows(f"SELECT name FROM pragma_table_info('{schema}.{table}')")
        return {c[0] for c in r or []}

    def stored_offsets(self, topic, group=None):
        r = self.rows("SELECT partition, next_offset FROM hookpipe_offsets "
                      f"WHERE consumer_group = '{group or self.group}' AND topic = '{topic}'")
        return {int(p): int(o) for p, o in r or []}



class StackPostgres:
    """The PostgreSQL server of the local stack (compose/local/stack) under
    run_dir, stopped and started again with the options it was started with
    (its postmaster.opts); as user postgres when we are root, as the stack
    runs it. pg_url, when given, must name that server."""

    def __init__(self, run_dir, pg_url=None):
        self.run_dir = pathlib.Path(run_dir)
        self.data = self.run_dir / "postgres" / "data"
        opts = self.data / "postmaster.opts"
        if not opts.exists():
            pytest.skip(f"no PostgreSQL of the local stack under {self.run_dir} (an external one?)")
        argv = shlex.split(opts.read_text())
        self.bin = pathlib.Path(argv[0]).parent
        self.opts = []
        args = iter(argv[1:])
        for a in args:
            if a == "-D":
                next(args)
            else:
                self.opts.append(a)
        if pg_url:
            port = str(urllib.parse.urlsplit(pg_url).port)
            assert port in self.opts, f"{pg_url} is not the server of {self.data}"

    def pg_ctl(self, *args, timeout=60):
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return run(cmd, check=False, timeout=timeout)

    def running(self):
        return self.pg_ctl("status").returncode == 0

    def stop(self, mode="fast", timeout=30):
        r = self.pg_ctl("stop", "-w", "-t", str(timeout), "-m", mode, timeout=timeout + 10)
        assert r.returncode == 0, r.stdout + r.stderr

    def start(self):
        r = self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.data.parent / "postgres.log"),
                        "-o", shlex.join(self.opts), timeout=70)
        assert r.returncode == 0, r.stdout + r.stderr
        # the stack stops the server by this pid
        pid = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        (self.run_dir / "postgres.pid").write_text(pid + "\n")
