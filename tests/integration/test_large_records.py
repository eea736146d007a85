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

import pytest
from confluent_kafka.admin import NewTopic

from hookpipe_support import (admin, post, read_avro_topic, read_topic, set_topic_config,
                              topic_config, wait_for)

DEFAULT_TOPIC_MAX = 2 * (4 << 20) + 65536      # 8,454,144: a 4 MiB body limit


@pytest.fixture
def create(hookpipectl, gateway_url):
    """create(name, *opts) -> (webhook URL, hookpipectl's stderr) of an
    integration with primary key id."""
    def call(name, *opts):
        r = hookpipectl.call("integration", "create", name, "--base-url", gateway_url,
                             "--primary-key", "id", *opts)
        return r.stdout.strip(), r.stderr
    return call


def big_record(rid, size):
    """A JSON object of about `size` bytes, with escapes, unicode and exact
    numbers that must pass through byte for byte."""
    head = '{"id":"%s","n":12345678901234567890123,"s":"caf\\u00e9 \u00e9","pad":"' % rid
    tail = '","x":0.10000000000000000001}'
    pad = ("0123456789abcdef" * (size // 16 + 1))[:size - len(head.encode()) - len(tail)]
    body = (head + pad + tail).encode()
    assert abs(len(body) - size) < 16
    return body, pad


def test_record_of_3_5_mb_flows_end_to_end(create, bootstrap, registry_url, pg, unique_name,
                                           lite):
    url, _ = create(unique_name)
    topic = "webhooks." + unique_name
    assert int(topic_config(bootstrap, topic)) == DEFAULT_TOPIC_MAX
    assert int(topic_config(bootstrap, topic + ".rejected")) == DEFAULT_TOPIC_MAX

    body, pad = big_record("big", 3_500_000)
    r = post(url, body, within=15, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["records"] == 1

    # the event topic: the exact bytes
    got = read_topic(bootstrap, topic, want=1)
    assert len(got) == 1
    assert got[0].key() == b"big"
    assert got[0].value() == body

    # PostgreSQL (the stack's postgres sink): the whole text, in a text column
    want = (str(len(pad)), hashlib.md5(pad.encode()).hexdigest())
    rows = wait_for("the 3.5 MB record in PostgreSQL", lambda: pg.rows(
        f'SELECT length(pad), md5(pad) FROM "{unique_name}"."data" WHERE id = \'big\''),
        timeout=90)
    assert rows == [want]
    assert pg.rows(f'SELECT count(*) FROM "{unique_name}"."_sdc_rejected"') in (None, [("0",)])

    # SQLite (a sink of our own)
    rows = wait_for("the 3.5 MB record in SQLite", lambda: lite.rows(
        f'SELECT length(pad), pad FROM "{unique_name}.data" WHERE id = \'big\''), timeout=90)
    assert rows[0][0] == str(len(pad)) and rows[0][1] == pad, lite.sink.tail()

    # <topic>.avro (the stack's kafka-avro sink), decoded with the registry
    msgs, seen = read_avro_topic(bootstrap, registry_url, topic + ".avro", {"big"}, timeout=90)
    assert "big" in seen
    rec = [m for m in msgs if m[2].get("id") == "big"][0][2]
    assert rec["pad"] == pad and rec["s"] == "caf\u00e9 \u00e9"
    assert int(topic_config(bootstrap, topic + ".avro")) >= 2 * DEFAULT_TOPIC_MAX
    # nothing went to the dead-letter topic
    assert read_topic(bootstrap, topic + ".rejected") == []


def test_body_limit_above_the_gateway_default(create, bootstrap, unique_name):
    """--max-body larger than the gateway's 4 MiB: the topics are sized to
    it, and a 5 MB record is stored."""
    url, _ = create(unique_name, "--max-body", "6m")
    topic = "webhooks." + unique_name
    assert int(topic_config(bootstrap, topic)) == 2 * (6 << 20) + 65536
    assert int(topic_config(bootstrap, topic + ".rejected")) == 2 * (6 << 20) + 65536
    body, _ = big_record("five", 5_000_000)
    r = post(url, body, within=15, timeout=60)
    assert r.status_code == 200, r.text
    got = read_topic(bootstrap, topic, want=1)
    assert [m.value() for m in got] == [body]


def test_over_the_body_limit_is_413(create, bootstrap, unique_name):
    url, _ = create(unique_name)
    body, _ = big_record("over", (4 << 20) + 100)
    r = post(url, body, within=15, timeout=60)
    assert r.status_code == 413, r.text
    assert "exceeds the limit of 4194304 bytes" in r.json()["message"]
    assert "Retry-After" not in r.headers


def test_topic_smaller_than_the_record_is_413_not_503(create, bootstrap,
                                                      unique_name):
    """Someone lowered the event topic's max.message.bytes: Kafka refuses
    the record for its size, which no retry changes."""
    url, _ = create(unique_name)
    topic = "webhooks." + unique_name
    assert post(url, b'{"id":"warm"}', within=15, timeout=60).status_code == 200

    # below the gateway's look-up floor: the broker's refusal is the answer
    set_topic_config(bootstrap, topic, "max.message.bytes", 100_000)
    body, _ = big_record("refused", 200_000)
    r = post(url, body, within=15, timeout=60)
    assert r.status_code == 413, r.text
    assert "Retry-After" not in r.headers
    msg = r.json()["message"]
    assert f"larger than topic {topic} takes" in msg and "max.message.bytes" in msg, msg
    assert "nothing stored" in msg, msg
    assert post(url, b'{"id":"small"}', within=15, timeout=60).status_code == 200

    # a body with a record over 1 MB: the gateway reads the topic's limit
    # first, and refuses the whole array before producing any of it
    set_topic_config(bootstrap, topic, "max.message.bytes", 1_200_000)
    big, _ = big_record("big", 1_300_000)
    arr = b'[{"id":"first"},' + big + b',{"id":"last"}]'
    r = post(url, arr, within=15, timeout=60)
    assert r.status_code == 413, r.text
    assert "Retry-After" not in r.headers
    msg = r.json()["message"]
    assert f"topic {topic} takes (max.message.bytes 1200000); nothing stored" in msg, msg
    keys = sorted(m.key() for m in read_topic(bootstrap, topic))
    assert keys == [b"small", b"warm"], keys


def test_existing_topic_is_raised_keeping_its_settings(create, bootstrap,
                                                       unique_name):
    """An event topic made beforehand with Kafka's defaults (or less) gets
    the size the body limit needs; its other settings stay."""
    topic = "webhooks." + unique_name
    fs = admin(bootstrap).create_topics([NewTopic(topic, 1, 1, config={
        "max.message.bytes": "100000", "retention.ms": "123456789"})])
    for _, f in fs.items():
        f.result(timeout=30)
    url, err = create(unique_name)
    assert f"topic {topic} existed with max.message.bytes=100000; raised to " \
           f"{DEFAULT_TOPIC_MAX}" in err, err
    assert int(topic_config(bootstrap, topic)) == DEFAULT_TOPIC_MAX
    assert topic_config(bootstrap, topic, "retention.ms") == "123456789"
    body, _ = big_record("big", 2_000_000)
    assert post(url, body, within=15, timeout=60).status_code == 200
