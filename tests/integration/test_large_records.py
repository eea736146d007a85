"""Records larger than Kafka's 1 MB defaults (issue #7 / #2), against the real
stack: a record within its integration's body limit (4 MiB by default) is
accepted and flows through — the event topic byte for byte, the stack's
postgres sink, the stack's kafka-avro sink (<topic>.avro) and a sqlite sink
of our own — and a record Kafka cannot take is a 413, never a 503 a provider
would retry for ever.

The sizes: hookpipectl creates the event and dead-letter topics with
max.message.bytes = 2 x body limit + 64 KiB (common/integ.h), the gateway's
producer leaves the size check to the topic (message.max.bytes 1e9), the
kafka-avro sink creates <topic>.avro with twice the event topic's limit.
"""
import hashlib
import json
import time
import uuid

import pytest
import requests
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic)

from conftest import run
from test_sink_avro import read_avro_topic
from test_warehouse import Lite, Pg, Sink, wait_for

JSON = {"Content-Type": "application/json"}
DEFAULT_TOPIC_MAX = 2 * (4 << 20) + 65536      # 8,454,144: a 4 MiB body limit


def create(bin_dir, bootstrap, gateway_url, name, *opts):
    cmd = [str(bin_dir / "hookpipectl"), "-b", bootstrap, "integration", "create", name,
           "--base-url", gateway_url, "--primary-key", "id", *opts]
    r = run(cmd, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip(), r.stderr


def post(url, data, timeout=15):
    """POSTs bytes; retries while the gateway has not seen the integration yet."""
    deadline = time.time() + timeout
    while True:
        r = requests.post(url, data=data, headers=JSON, timeout=60)
        if r.status_code != 401 or time.time() > deadline:
            return r
        time.sleep(0.1)


_admins = {}


def admin(bootstrap):
    """One client per bootstrap, kept: a client freed while its futures are
    pending fails them ("Handle is terminating")."""
    if bootstrap not in _admins:
        _admins[bootstrap] = AdminClient({"bootstrap.servers": bootstrap})
    return _admins[bootstrap]


def topic_config(bootstrap, topic, name="max.message.bytes"):
    res = ConfigResource("topic", topic)
    for _, f in admin(bootstrap).describe_configs([res]).items():
        return f.result(timeout=30)[name].value
    return None


def set_topic_config(bootstrap, topic, name, value):
    res = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry(name, str(value), incremental_operation=AlterConfigOpType.SET)])
    for _, f in admin(bootstrap).incremental_alter_configs([res]).items():
        f.result(timeout=30)


def messages(bootstrap, topic, want=None, timeout=30):
    """Every message of topic from the start, until `want` are read or the
    end was reached everywhere (want None) or timeout."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-large-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    out, eof = [], set()
    deadline = time.monotonic() + timeout
    try:
        c.subscribe([topic])
        nparts = None
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    if nparts is None:
                        md = c.list_topics(topic, timeout=10)
                        nparts = len(md.topics[topic].partitions)
                    if want is None and len(eof) >= nparts:
                        break
                    continue
                pytest.fail(f"reading {topic}: {m.error()}")
            out.append(m)
            if want is not None and len(out) >= want:
                break
    finally:
        c.close()
    return out


def big_record(rid, size):
    """A JSON object of about `size` bytes, with escapes, unicode and exact
    numbers that must pass through byte for byte."""
    head = '{"id":"%s","n":12345678901234567890123,"s":"caf\\u00e9 \u00e9","pad":"' % rid
    tail = '","x":0.10000000000000000001}'
    pad = ("0123456789abcdef" * (size // 16 + 1))[:size - len(head.encode()) - len(tail)]
    body = (head + pad + tail).encode()
    assert abs(len(body) - size) < 16
    return body, pad


@pytest.fixture(scope="module")
def lite(bin_dir, bootstrap, tmp_path_factory):
    """A sqlite sink of this module, in its own consumer group."""
    d = tmp_path_factory.mktemp("sqlite-large")
    group = "test-large-sqlite-" + uuid.uuid4().hex[:8]
    s = Sink(bin_dir, bootstrap, d / "sink.log", "--target", "sqlite",
             "--sqlite.path", str(d / "wh.db"), "--group.id", group)
    yield Lite(d / "wh.db", group), s
    assert s.stop() == 0, s.tail()


def test_record_of_3_5_mb_flows_end_to_end(bin_dir, bootstrap, gateway_url, registry_url,
                                           pg_url, unique_name, lite):
    url, _ = create(bin_dir, bootstrap, gateway_url, unique_name)
    topic = "webhooks." + unique_name
    assert int(topic_config(bootstrap, topic)) == DEFAULT_TOPIC_MAX
    assert int(topic_config(bootstrap, topic + ".rejected")) == DEFAULT_TOPIC_MAX

    body, pad = big_record("big", 3_500_000)
    r = post(url, body)
    assert r.status_code == 200, r.text
    assert r.json()["records"] == 1

    # the event topic: the exact bytes
    got = messages(bootstrap, topic, want=1)
    assert len(got) == 1
    assert got[0].key() == b"big"
    assert got[0].value() == body

    # PostgreSQL (the stack's postgres sink): the whole text, in a text column
    pg = Pg(pg_url)
    want = (str(len(pad)), hashlib.md5(pad.encode()).hexdigest())
    rows = wait_for("the 3.5 MB record in PostgreSQL", lambda: pg.rows(
        f'SELECT length(pad), md5(pad) FROM "{unique_name}"."data" WHERE id = \'big\''),
        timeout=90)
    assert rows == [want]
    assert pg.rows(f'SELECT count(*) FROM "{unique_name}"."_sdc_rejected"') in (None, [("0",)])

    # SQLite (a sink of our own)
    db, sink = lite
    rows = wait_for("the 3.5 MB record in SQLite", lambda: db.rows(
        f'SELECT length(pad), pad FROM "{unique_name}.data" WHERE id = \'big\''), timeout=90)
    assert rows[0][0] == str(len(pad)) and rows[0][1] == pad, sink.tail()

    # <topic>.avro (the stack's kafka-avro sink), decoded with the registry
    msgs, seen = read_avro_topic(bootstrap, registry_url, topic + ".avro", {"big"}, timeout=90)
    assert "big" in seen
    rec = [m for m in msgs if m[2].get("id") == "big"][0][2]
    assert rec["pad"] == pad and rec["s"] == "caf\u00e9 \u00e9"
    assert int(topic_config(bootstrap, topic + ".avro")) >= 2 * DEFAULT_TOPIC_MAX
    # nothing went to the dead-letter topic
    assert messages(bootstrap, topic + ".rejected") == []


def test_body_limit_above_the_gateway_default(bin_dir, bootstrap, gateway_url, unique_name):
    """--max-body larger than the gateway's 4 MiB: the topics are sized to
    it, and a 5 MB record is stored."""
    url, _ = create(bin_dir, bootstrap, gateway_url, unique_name, "--max-body", "6m")
    topic = "webhooks." + unique_name
    assert int(topic_config(bootstrap, topic)) == 2 * (6 << 20) + 65536
    assert int(topic_config(bootstrap, topic + ".rejected")) == 2 * (6 << 20) + 65536
    body, _ = big_record("five", 5_000_000)
    r = post(url, body)
    assert r.status_code == 200, r.text
    got = messages(bootstrap, topic, want=1)
    assert [m.value() for m in got] == [body]


def test_over_the_body_limit_is_413(bin_dir, bootstrap, gateway_url, unique_name):
    url, _ = create(bin_dir, bootstrap, gateway_url, unique_name)
    body, _ = big_record("over", (4 << 20) + 100)
    r = post(url, body)
    assert r.status_code == 413, r.text
    assert "exceeds the limit of 4194304 bytes" in r.json()["message"]
    assert "Retry-After" not in r.headers


def test_topic_smaller_than_the_record_is_413_not_503(bin_dir, bootstrap, gateway_url,
                                                      unique_name):
    """Someone lowered the event topic's max.message.bytes: Kafka refuses
    the record for its size, which no retry changes."""
    url, _ = create(bin_dir, bootstrap, gateway_url, unique_name)
    topic = "webhooks." + unique_name
    assert post(url, b'{"id":"warm"}').status_code == 200

    # below the gateway's look-up floor: the broker's refusal is the answer
    set_topic_config(bootstrap, topic, "max.message.bytes", 100_000)
    body, _ = big_record("refused", 200_000)
    r = post(url, body)
    assert r.status_code == 413, r.text
    assert "Retry-After" not in r.headers
    msg = r.json()["message"]
    assert f"larger than topic {topic} takes" in msg and "max.message.bytes" in msg, msg
    assert "nothing stored" in msg, msg
    assert post(url, b'{"id":"small"}').status_code == 200

    # a body with a record over 1 MB: the gateway reads the topic's limit
    # first, and refuses the whole array before producing any of it
    set_topic_config(bootstrap, topic, "max.message.bytes", 1_200_000)
    big, _ = big_record("big", 1_300_000)
    arr = b'[{"id":"first"},' + big + b',{"id":"last"}]'
    r = post(url, arr)
    assert r.status_code == 413, r.text
    assert "Retry-After" not in r.headers
    msg = r.json()["message"]
    assert f"topic {topic} takes (max.message.bytes 1200000); nothing stored" in msg, msg
    keys = sorted(m.key() for m in messages(bootstrap, topic))
    assert keys == [b"small", b"warm"], keys


def test_existing_topic_is_raised_keeping_its_settings(bin_dir, bootstrap, gateway_url,
                                                       unique_name):
    """An event topic made beforehand with Kafka's defaults (or less) gets
    the size the body limit needs; its other settings stay."""
    topic = "webhooks." + unique_name
    fs = admin(bootstrap).create_topics([NewTopic(topic, 1, 1, config={
        "max.message.bytes": "100000", "retention.ms": "123456789"})])
    for _, f in fs.items():
        f.result(timeout=30)
    url, err = create(bin_dir, bootstrap, gateway_url, unique_name)
    assert f"topic {topic} existed with max.message.bytes=100000; raised to " \
           f"{DEFAULT_TOPIC_MAX}" in err, err
    assert int(topic_config(bootstrap, topic)) == DEFAULT_TOPIC_MAX
    assert topic_config(bootstrap, topic, "retention.ms") == "123456789"
    body, _ = big_record("big", 2_000_000)
    assert post(url, body).status_code == 200
