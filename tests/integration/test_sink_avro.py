"""hookpipe-sink's Avro targets end to end: webhooks POSTed through the stack's
gateway, our own sink processes (kafka-avro and avro-files, unique groups),
and the output read back with third-party readers only — confluent-kafka's
AvroDeserializer against the registry for <topic>.avro, fastavro for the
container files — and compared with json.loads of what was posted.

Each test's integrations get a topic prefix of their own and its sinks
subscribe to that prefix only: the stack's own sink (prefix webhooks.) never
writes the outputs a test reads, and a test's sinks never read others' topics.
"""
import decimal
import io
import json
import os
import pathlib
import threading
import time
import uuid
import zlib

import fastavro
import pytest
import requests
from confluent_kafka.schema_registry import SchemaRegistryClient

from hookpipe_support import Sink, free_port, metric, metrics, post_ok, read_avro_topic, read_topic

SYSTEM = {"_sdc_received_at", "_sdc_sequence", "_sdc_batched_at", "_sdc_table_version",
          "__sdc_primary_key"}

# An evolution sequence: field added, int then string, nested object grows,
# arrays of mixed items, exact numbers, names that need mapping.
EVOLUTION = [
    {"id": 1, "name": "alice", "n": 1},
    {"id": 2, "name": "bob", "n": 2, "email": "bob@example.com"},
    {"id": 3, "name": "carol", "n": "three"},
    {"id": 4, "addr": {"city": "Lyon"}},
    {"id": 5, "addr": {"city": "Oslo", "zip": "0150", "geo": {"lat": 59.91, "lon": 10.75}}},
    {"id": 6, "tags": [1, "a", True, None, 2.5]},
    {"id": 7, "tags": ["x", "y"], "flag": False, "n": 7},
    {"id": 8, "big": 123456789012345678901234567890, "price": 0.10000000000000000001},
    {"id": 9, "caf\u00e9": "cr\u00e8me", "a b": 1, "9lives": "yes", "emoji": "\U0001F600"},
    {"id": 10, "name": None, "addr": {"city": "Kyiv", "zip": 1000}, "empty": []},
]


# ---- helpers -------------------------------------------------------------

def clean_env(bootstrap):
    """Only what our programs need: stray HOOKPIPE_* variables of the test
    runner (ports) must not reach their configuration."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KAFKA_BOOTSTRAP_SERVERS": bootstrap}


def avro_name(json_name):
    """The documented JSON -> Avro name mapping (sinks/sink_name.h),
    re-implemented here independently of the C code."""
    out = []
    for ch in json_name:
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            out.append(ch)
        elif ch.isascii():
            out.append("_")
        else:
            out.append("_u%04X" % ord(ch))
    s = "".join(out)
    if not s or s[0].isdigit():
        s = "_" + s
    return s


def same(posted, decoded):
    """True if an Avro-decoded value equals the JSON value that was posted
    (posted parsed with exact decimals)."""
    if posted is None:
        return decoded is None
    if isinstance(posted, bool):
        return isinstance(decoded, bool) and decoded == posted
    if isinstance(posted, int):
        if isinstance(decoded, bool):
            return False
        if isinstance(decoded, decimal.Decimal):
            return decoded == posted
        return isinstance(decoded, int) and decoded == posted
    if isinstance(posted, decimal.Decimal):
        if isinstance(decoded, float):
            return decoded == float(posted)
        return isinstance(decoded, decimal.Decimal) and decoded == posted
    if isinstance(posted, str):
        return isinstance(decoded, str) and decoded == posted
    if isinstance(posted, list):
        return (isinstance(decoded, list) and len(decoded) == len(posted)
                and all(same(p, d) for p, d in zip(posted, decoded)))
    if isinstance(posted, dict):
        return same_record(posted, decoded, top=False)
    return False


def same_record(posted, decoded, top=True):
    """Every posted member is there, equal; every other field is null."""
    if not isinstance(decoded, dict):
        return False
    want = {avro_name(k): v for k, v in posted.items()}
    for name, value in decoded.items():
        if top and name in SYSTEM:
            continue
        if name in want:
            if not same(want[name], value):
                return False
        elif value is not None:
            return False
    return all(name in decoded for name in want)


def parse_posted(obj):
    """What a consumer of the posted bytes sees: exact numbers."""
    return json.loads(json.dumps(obj), parse_float=decimal.Decimal)


@pytest.fixture
def create_integration(hookpipectl, gateway_url, bootstrap):
    """create_integration(name, prefix, primary_key=True) -> the webhook URL
    (on the stack's gateway) of an integration with topic prefix `prefix`."""
    def create(name, prefix, primary_key=True):
        return hookpipectl.create(name, "--topic-prefix", prefix,
                                  *(["--primary-key", "id"] if primary_key else []),
                                  base_url=gateway_url, env=clean_env(bootstrap))
    return create


def post(url, body):
    """POSTs a JSON value; retried while the gateway does not know the new
    integration yet (it reaches the gateway within a second)."""
    post_ok(url, body, retry=(401, 404, 503))


@pytest.fixture
def prefix():
    """The topic prefix of one test's integrations."""
    return "st" + uuid.uuid4().hex[:8] + "."


@pytest.fixture
def sinks(bin_dir, bootstrap, registry_url, tmp_path, prefix):
    """sinks(target, *extra, group=None) -> a started sink of this test's
    prefix (its own group unless given), with a short batch time."""
    started = []

    def make(target, *extra, group=None):
        group = group or f"test-sink-{target}-{uuid.uuid4().hex[:8]}"
        s = Sink(bin_dir, bootstrap, tmp_path / f"sink-{target}-{group}.log",
                 "--target", target, "--group.id", group, "--registry.url", registry_url,
                 "--batch.max.ms", "200", "--topic.prefix", prefix,
                 "--kafka.session.timeout.ms", "6000", *extra, env=clean_env(bootstrap))
        started.append(s)
        return s

    yield make
    for s in started:
        s.kill()


def snappy_decompress(buf):
    """Raw snappy (the format Avro's snappy codec uses), written from the
    format description: fastavro needs cramjam for it, which the test
    environment does not install."""
    pos, shift, n = 0, 0, 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    while pos < len(buf):
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            ln = (tag >> 2) + 1
            if ln > 60:
                extra = ln - 60
                ln = int.from_bytes(buf[pos:pos + extra], "little") + 1
                pos += extra
            out += buf[pos:pos + ln]
            pos += ln
            continue
        if kind == 1:
            ln = 4 + ((tag >> 2) & 7)
            off = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(buf[pos:pos + 2], "little")
            pos += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        assert 0 < off <= len(out), "bad snappy copy offset"
        for _ in range(ln):
            out.append(out[-off])
    assert len(out) == n, (len(out), n)
    return bytes(out)


def read_long(fh):
    b = fh.read(1)
    if not b:
        return None
    n, shift = 0, 0
    while True:
        n |= (b[0] & 0x7F) << shift
        shift += 7
        if b[0] < 0x80:
            break
        b = fh.read(1)
    return (n >> 1) ^ -(n & 1)


def ocf_records(path, reader_schema=None):
    """(codec, schema text, writer schema, records) of one container file."""
    with open(path, "rb") as fh:
        r = fastavro.reader(fh, reader_schema=reader_schema)
        codec, text, writer = r.codec, r.metadata["avro.schema"], r.writer_schema
        if codec != "snappy":
            return codec, text, writer, list(r)
    # snappy: the blocks by hand, each checked against its CRC-32
    writer = fastavro.parse_schema(json.loads(text))
    reader = fastavro.parse_schema(reader_schema) if reader_schema else writer
    recs = []
    with open(path, "rb") as fh:
        fastavro.reader(fh)                      # reads the header
        fh.seek(0)
        data = fh.read()
    sync = data[-16:]
    bio = io.BytesIO(data)
    bio.seek(data.index(sync) + 16)              # after the header's sync marker
    while True:
        count = read_long(bio)
        if count is None:
            break
        size = read_long(bio)
        block = bio.read(size)
        assert bio.read(16) == sync, "bad sync marker"
        raw = snappy_decompress(block[:-4])
        assert zlib.crc32(raw) == int.from_bytes(block[-4:], "big"), "bad block CRC"
        rb = io.BytesIO(raw)
        recs += [fastavro.schemaless_reader(rb, writer, reader) for _ in range(count)]
    return "snappy", text, writer, recs


def read_files(root):
    """Every record of every finished .avro file under root:
    [(path, raw schema text, writer schema, record)]."""
    out = []
    for path in sorted(pathlib.Path(root).rglob("*.avro")):
        _, text, writer, recs = ocf_records(path)
        out += [(path, text, writer, rec) for rec in recs]
    return out


def wait_files(root, want_ids, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        recs = read_files(root)
        seen = {rec.get("id") for _, _, _, rec in recs}
        if want_ids <= seen or time.monotonic() > deadline:
            return recs, seen
        time.sleep(0.5)


# ---- tests ---------------------------------------------------------------

def test_evolution_topic_and_files(bootstrap, create_integration, registry_url, sinks, prefix,
                                   tmp_path, unique_name):
    url = create_integration(unique_name, prefix)
    topic = f"{prefix}{unique_name}"
    out_dir = tmp_path / "files"
    ka = sinks("kafka-avro")
    fs = sinks("avro-files", "--output.dir", str(out_dir), "--file.max.age.ms", "1000",
               "--codec", "deflate")
    posted = {}
    for obj in EVOLUTION:
        post(url, obj)
        posted[obj["id"]] = parse_posted(obj)
    want = set(posted)

    msgs, seen = read_avro_topic(bootstrap, registry_url, topic + ".avro", want)
    assert want <= seen, f"missing from {topic}.avro: {want - seen}\n{ka.tail()}"
    for key, headers, rec, _, _ in msgs:
        assert same_record(posted[rec["id"]], rec), (posted[rec["id"]], rec)
        assert key == str(rec["id"]).encode(), key       # keyed as the source
        assert headers.get("hookpipe-integration") == unique_name.encode()
        assert "hookpipe-request-id" in headers
        assert rec["_sdc_table_version"] is None
        assert isinstance(rec["_sdc_sequence"], int) and rec["_sdc_sequence"] > 0

    # the registry has BACKWARD-compatible versions; every record, written
    # with whichever version, reads with the latest one
    sr = SchemaRegistryClient({"url": registry_url})
    versions = sr.get_versions(topic + "-value")
    assert len(versions) >= 2, versions
    latest_text = sr.get_latest_version(topic + "-value").schema.schema_str
    latest = fastavro.parse_schema(json.loads(latest_text))
    assert "logicalType" in latest_text and '"default"' in latest_text
    for _, _, rec, sid, raw in msgs:
        writer = fastavro.parse_schema(json.loads(sr.get_schema(sid).schema_str))
        again = fastavro.schemaless_reader(io.BytesIO(raw[5:]), writer, latest)
        assert same_record(posted[again["id"]], again), (posted[again["id"]], again)

    recs, seen = wait_files(out_dir / unique_name, want)
    assert want <= seen, f"missing from files: {want - seen}\n{fs.tail()}"
    assert fs.stop() == 0, fs.tail()
    assert ka.stop() == 0, ka.tail()
    # the sink reads every integration; ours has a directory of its own
    recs = read_files(out_dir / unique_name)
    assert not list(out_dir.rglob("*.tmp")), "a .tmp file is left after SIGTERM"
    files = {path for path, _, _, _ in recs}
    # both sinks register under the same subject: its latest reads every file
    file_latest = sr.get_latest_version(topic + "-value").schema.schema_str
    for path, text, _, rec in recs:
        assert same_record(posted[rec["id"]], rec), (path, posted[rec["id"]], rec)
        # the schema text in the file is the generated one, defaults kept
        assert '"default"' in text and "timestamp-micros" in text
        for again in ocf_records(path, reader_schema=json.loads(file_latest))[3]:
            assert same_record(posted[again["id"]], again)
    # one schema per file, one partition per file, named <ts>-<partition>-<offset>.avro
    for p in files:
        ts, part, first = p.stem.split("-")[:3]
        assert ts.endswith("Z") and part.isdigit() and first.split("_")[0].isdigit(), p.name


@pytest.mark.parametrize("codec", ["null", "snappy"])
def test_file_codecs(bootstrap, create_integration, registry_url, sinks, prefix, tmp_path,
                     unique_name, codec):
    url = create_integration(unique_name, prefix)
    out_dir = tmp_path / "files"
    fs = sinks("avro-files", "--output.dir", str(out_dir), "--file.max.age.ms", "500",
               "--codec", codec)
    objs = [{"id": i, "text": "x" * i, "v": i / 8} for i in range(1, 41)]
    posted = {o["id"]: parse_posted(o) for o in objs}
    post(url, objs)
    recs, seen = wait_files(out_dir / unique_name, set(posted))
    assert set(posted) <= seen, fs.tail()
    for path, _, _, rec in recs:
        assert ocf_records(path)[0] == codec
        assert same_record(posted[rec["id"]], rec)
    assert fs.stop() == 0, fs.tail()


def test_size_roll(bootstrap, create_integration, registry_url, sinks, prefix, tmp_path,
                   unique_name):
    url = create_integration(unique_name, prefix)
    out_dir = tmp_path / "files"
    listen = f"127.0.0.1:{free_port()}"
    fs = sinks("avro-files", "--output.dir", str(out_dir), "--file.max.bytes", "4096",
               "--file.max.age.ms", "600000", "--codec", "null", "--metrics.listen", listen)
    ids = set(range(1, 201))
    for start in range(1, 201, 50):
        post(url, [{"id": i, "pad": "p" * 100} for i in range(start, start + 50)])
    # size alone rolls files; what is left open is renamed by SIGTERM's flush,
    # so stop only once every record was consumed (on a busy machine the
    # third file can come before the last records)
    deadline = time.monotonic() + 60
    mine = out_dir / unique_name

    def consumed():
        try:
            return metric(f"http://{listen}", "hookpipe_sink_consumed_total", target="avro-files")
        except requests.ConnectionError:
            return 0

    while time.monotonic() < deadline and (len(list(mine.rglob("*.avro"))) < 3
                                           or consumed() < len(ids)):
        time.sleep(0.5)
    assert len(list(mine.rglob("*.avro"))) >= 3, fs.tail()
    assert consumed() >= len(ids), fs.tail()
    assert fs.stop() == 0, fs.tail()
    recs = read_files(mine)
    assert ids <= {rec["id"] for _, _, _, rec in recs}
    for p in mine.rglob("*.avro"):
        assert p.stat().st_size < 4096 + 2048, (p, p.stat().st_size)


def test_no_primary_key(bootstrap, create_integration, registry_url, sinks, prefix, unique_name):
    url = create_integration(unique_name, prefix, primary_key=False)
    listen = f"127.0.0.1:{free_port()}"
    ka = sinks("kafka-avro", "--metrics.listen", listen)
    tags = {f"t{i}" for i in range(5)}
    post(url, [{"tag": t} for t in sorted(tags)])
    msgs, seen = read_avro_topic(bootstrap, registry_url, f"{prefix}{unique_name}.avro", tags,
                                 key_of=lambda r: r.get("tag"))
    assert tags <= seen, ka.tail()
    for key, _, rec, _, _ in msgs:
        # the gateway's generated key becomes __sdc_primary_key
        assert rec["__sdc_primary_key"] == key.decode()
        uuid.UUID(rec["__sdc_primary_key"])
    counters = metrics(f"http://{listen}")
    assert counters['hookpipe_sink_written_total{target="kafka-avro"}'] >= len(tags), counters
    assert counters['hookpipe_sink_assigned_partitions{target="kafka-avro"}'] == 3, counters
    assert ka.stop() == 0, ka.tail()


def test_rejected_to_dead_letter_topic(bootstrap, create_integration, registry_url, sinks, prefix,
                                       unique_name):
    url = create_integration(unique_name, prefix)
    ka = sinks("kafka-avro")
    bad = {"id": 2, "a-b": 1, "a_b": 2}          # two names, one Avro field
    post(url, {"id": 1, "ok": True})
    post(url, bad)
    post(url, {"id": 3, "ok": False})
    # the partition keeps moving past the bad record
    msgs, seen = read_avro_topic(bootstrap, registry_url, f"{prefix}{unique_name}.avro", {1, 3})
    assert {1, 3} <= seen and 2 not in seen, ka.tail()

    rejected = f"{prefix}{unique_name}.rejected"
    found = (read_topic(bootstrap, rejected, want=1, timeout=60) or [None])[0]
    assert found is not None, f"nothing in {rejected}\n{ka.tail()}"
    headers = dict(found.headers() or [])
    assert json.loads(found.value()) == bad           # the original bytes
    assert found.key() == b"2"
    assert b"a_b" in headers["hookpipe-reject-reason"], headers
    assert "hookpipe-request-id" in headers and "hookpipe-received-at" in headers
    assert ka.stop() == 0, ka.tail()


@pytest.mark.parametrize("target", ["kafka-avro", "avro-files"])
def test_sigkill_then_restart_loses_nothing(bootstrap, create_integration, registry_url,
                                            sinks, prefix, tmp_path, unique_name, target):
    url = create_integration(unique_name, prefix)
    topic = f"{prefix}{unique_name}"
    out_dir = tmp_path / "files"
    group = f"test-kill-{uuid.uuid4().hex[:8]}"
    extra = ["--output.dir", str(out_dir), "--file.max.age.ms", "700",
             "--codec", "snappy"] if target == "avro-files" else []
    first = sinks(target, *extra, group=group)
    batch, limit = 20, 6000
    posted = []
    errors = []
    stop_loading = threading.Event()

    def load():
        # posts until told to stop: the kill always lands in the middle
        try:
            for start in range(0, limit, batch):
                if stop_loading.is_set():
                    return
                post(url, [{"id": i, "v": "x" * (i % 50), "n": i * 1.5,
                            # the shape keeps growing during the load
                            f"f{i // 200}": i}
                           for i in range(start, start + batch)])
                posted.extend(range(start, start + batch))
                time.sleep(0.05)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        # kill it once it has written part of the load, while more arrives
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if target == "avro-files" and list((out_dir / unique_name).glob("*.avro")):
                break
            if target == "kafka-avro" and "registered as schema id" in first.tail(200):
                break
            time.sleep(0.2)
        time.sleep(1)
        assert first.alive(), first.tail()
        assert loader.is_alive(), "the load finished before the kill"
        first.kill()   # a file it had open is left as .tmp: the restart deletes it
        second = sinks(target, *extra, group=group)
        time.sleep(2)
    finally:
        stop_loading.set()
        loader.join(timeout=120)
    assert not errors, errors
    want = set(posted)
    assert len(want) >= 200, len(want)
    if target == "kafka-avro":
        _, seen = read_avro_topic(bootstrap, registry_url, topic + ".avro", want, timeout=180)
    else:
        _, seen = wait_files(out_dir / unique_name, want, timeout=180)
    assert want <= seen, f"lost {len(want - seen)} records\n{second.tail()}"
    assert second.stop() == 0, second.tail()
    log = second.log_text()
    # the restarted sink continued from the registered versions
    assert "refused" not in log, second.tail()
    if target == "avro-files":
        assert not list(out_dir.rglob("*.tmp")), "a .tmp file is left after SIGTERM"


def test_new_integration_picked_up_without_restart(bootstrap, create_integration, registry_url,
                                                   sinks, prefix, tmp_path, unique_name):
    out_dir = tmp_path / "files"
    fs = sinks("avro-files", "--output.dir", str(out_dir), "--file.max.age.ms", "200")
    time.sleep(2)   # subscribed, with no topic of the prefix yet
    url = create_integration(unique_name, prefix)
    post(url, {"id": 1, "hello": "world"})
    t0 = time.monotonic()
    # the regex subscription sees the topic at the next metadata refresh (5 s)
    recs, seen = wait_files(out_dir / unique_name, {1}, timeout=30)
    assert seen == {1}, fs.tail()
    assert time.monotonic() - t0 < 20
    assert fs.stop() == 0, fs.tail()


@pytest.mark.parametrize("strategy", ["range,roundrobin", "cooperative-sticky"])
def test_rebalance_hands_over_without_loss(bootstrap, create_integration, registry_url, sinks,
                                           prefix, tmp_path, unique_name, strategy):
    """Two sinks in one group; one leaves (SIGTERM) during a load: on revoke
    it flushes and commits, the other takes its partitions over."""
    url = create_integration(unique_name, prefix)
    out_dir = tmp_path / "files"
    group = f"test-rebalance-{uuid.uuid4().hex[:8]}"
    extra = ["--output.dir", str(out_dir), "--file.max.age.ms", "1000",
             "--kafka.partition.assignment.strategy", strategy]
    a = sinks("avro-files", *extra, group=group)
    b = sinks("avro-files", *extra, group=group)
    total = 600
    for start in range(0, total // 2, 30):
        post(url, [{"id": i, "side": "first"} for i in range(start, start + 30)])
    _, seen = wait_files(out_dir / unique_name, set(range(total // 2)), timeout=60)
    assert seen >= set(range(total // 2)), a.tail() + b.tail()
    assert a.stop() == 0, a.tail()   # revoke: its open files are renamed, offsets committed
    for start in range(total // 2, total, 30):
        post(url, [{"id": i, "side": "second"} for i in range(start, start + 30)])
    # the survivor takes a's partitions over (at its next heartbeat, then a rejoin)
    _, seen = wait_files(out_dir / unique_name, set(range(total)), timeout=90)
    assert seen == set(range(total)), b.tail()
    assert b.stop() == 0, b.tail()
    recs = read_files(out_dir / unique_name)
    assert {rec["id"] for _, _, _, rec in recs} == set(range(total))
    if strategy == "range,roundrobin":
        # an eager hand-over commits in the revoke callback what was written:
        # nothing is written twice. (Cooperative rebalances let members go on
        # consuming, and a commit the coordinator refuses mid-rebalance only
        # costs a re-read: at least once.)
        assert len(recs) == total, len(recs)
    assert not list(out_dir.rglob("*.tmp"))
