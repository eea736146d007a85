"""hookpipe-gateway over real HTTP against the real broker.

Each test starts its own gateway process(es) on free loopback ports, creates
integrations with hookpipectl, posts webhooks with `requests` and reads the
topics back with a real Kafka consumer (confluent_kafka).
"""
import hashlib
import json
import re
import signal
import threading
import time

import pytest
import requests

from hookpipe_support import (JSON, UUID4, Gateway, admin, check_error, headers_of, post,
                              read_topic, set_topic_config, topic_config, topic_partitions)

RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def gw(bin_dir, bootstrap, tmp_path_factory):
    """One gateway shared by the tests that need no special settings."""
    g = Gateway(bin_dir, bootstrap, tmp_path_factory.mktemp("gw") / "gateway.log",
                "--max.depth=32")
    g.wait_ready()
    yield g
    assert g.stop() == 0


def murmur2(data):
    """Kafka's murmur2, as the Java client's default partitioner uses it."""
    m, length = 0x5BD1E995, len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest, tail = length % 4, length & ~3
    if rest >= 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


# --- values, keys, headers ---------------------------------------------------

RAW_RECORDS = [
    b'{"id":"a1","n":123456789012345678901234567890,"d":0.1000000000000000055511151231257827}',
    b'{ "z" : 1 , "id" : "a2", "a" : [ 1, 2 ], "esc": "\\u00e9\\n\\"q\\"\\/\\ud83d\\ude00" }',
    '{"id":"\u00e9t\u00e9 \u6771\u4eac","t":"\U0001F600","big":-1.5E+300}'.encode(),
    b'{"id":7,"b":true,"nested":{"x":{"y":[{"z":null}]}}}',
]


def test_values_keys_headers_byte_for_byte(gw, hookpipectl, bootstrap, unique_name):
    url = hookpipectl.create(unique_name, "--primary-key", "id", base_url=gw.base)
    assert re.match(r"^http://127\.0\.0\.1:\d+/v1/clients/[^/]+/token/[0-9a-f]{64}$", url)
    body = b"[\n  " + b",\n  ".join(RAW_RECORDS) + b"\n]\n"
    before = time.time()
    r = post(url, body)
    after = time.time()
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["status"] == "OK" and res["records"] == 4 and res["rejected"] == 0
    assert UUID4.match(res["request_id"]) and isinstance(res["message"], str)

    msgs = read_topic(bootstrap, "webhooks." + unique_name, 4)
    assert len(msgs) == 4
    by_key = {m.key(): m for m in msgs}
    keys = [b"a1", b"a2", "\u00e9t\u00e9 \u6771\u4eac".encode(), b"7"]
    assert sorted(by_key) == sorted(keys)
    seqs = []
    for key, raw in zip(keys, RAW_RECORDS):
        m = by_key[key]
        assert m.value() == raw                      # the exact bytes received
        h = headers_of(m)
        assert h["hookpipe-request-id"] == res["request_id"]
        assert h["hookpipe-integration"] == unique_name
        assert RFC3339_US.match(h["hookpipe-received-at"]), h
        assert "hookpipe-reject-reason" not in h
        seq = int(h["hookpipe-sequence"])
        assert abs(seq / 1e9 - before) < 60
        seqs.append(seq)
        ts_type, ts = m.timestamp()
        assert before - 1 <= ts / 1000 <= after + 1
        received = time.mktime(time.strptime(h["hookpipe-received-at"][:19], "%Y-%m-%dT%H:%M:%S"))
        assert abs(received - time.timezone - ts / 1000) < 2
    assert len(set(seqs)) == 4 and seqs == sorted(seqs)   # array order, strictly increasing


def test_single_object_without_primary_key_gets_uuid_key(gw, hookpipectl, bootstrap, unique_name):
    url = hookpipectl.create(unique_name, base_url=gw.base)
    raw = b'{"event":"x","amount":123456789012345678901234567890}'
    r = post(url, raw, headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200 and r.json()["records"] == 1, r.text
    (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
    assert m.value() == raw
    assert UUID4.match(m.key().decode()), m.key()


def test_composite_key_is_canonical_json_array(gw, hookpipectl, bootstrap, unique_name):
    url = hookpipectl.create(unique_name, "--primary-key", "org,n,flag", base_url=gw.base)
    raw = b'{"flag":false, "n": 1.50e2, "org":"a\\"b\\u00e9\\u0001\\/", "x":1}'
    r = post(url, raw)
    assert r.status_code == 200, r.text
    (m,) = read_topic(bootstrap, "webhooks." + unique_name, 1)
    assert m.key() == '["a\\"b\u00e9\\u0001/",1.50e2,false]'.encode()
    assert m.value() == raw


def test_rejected_records_go_to_dead_letter_topic(gw, hookpipectl, bootstrap, unique_name):
    url = hookpipectl.create(unique_name, "--primary-key", "id", base_url=gw.base)
    recs = [b'{"id":1}', b'{"x":1}', b'{"id":null}', b'{"id":{"a":1}}', b'{"id":[1]}',
            b'{"id":"ok"}']
    r = post(url, b"[" + b",".join(recs) + b"]")
    assert r.status_code == 200, r.text
    assert (r.json()["records"], r.json()["rejected"]) == (2, 4)
    good = read_topic(bootstrap, "webhooks." + unique_name, 2)
    assert sorted(m.value() for m in good) == [b'{"id":"ok"}', b'{"id":1}']
    bad = read_topic(bootstrap, f"webhooks.{unique_name}.rejected", 4)
    reasons = {m.value(): headers_of(m)["hookpipe-reject-reason"] for m in bad}
    assert reasons == {
        b'{"x":1}': "primary key field is missing: id",
        b'{"id":null}': "primary key field is null: id",
        b'{"id":{"a":1}}': "primary key field is an object: id",
        b'{"id":[1]}': "primary key field is an array: id",
    }
    for m in bad:
        assert headers_of(m)["hookpipe-request-id"] == r.json()["request_id"]


def test_same_key_same_partition_as_java_clients(gw, hookpipectl, bootstrap, unique_name):
    url = hookpipectl.create(unique_name, "--primary-key", "k", "--partitions", "5",
                             base_url=gw.base)
    keys = [f"key-{i}" for i in range(20)]
    for rnd in range(3):
        body = json.dumps([{"k": k, "round": rnd} for k in keys]).encode()
        assert post(url, body).status_code == 200
    msgs = read_topic(bootstrap, "webhooks." + unique_name, 60)
    assert len(msgs) == 60
    parts = {}
    for m in msgs:
        parts.setdefault(m.key(), set()).add(m.partition())
    for k, p in parts.items():
        assert p == {(murmur2(k) & 0x7FFFFFFF) % 5}, (k, p)
    assert len({p for ps in parts.values() for p in ps}) > 1


def test_ten_thousand_tiny_records(gw, hookpipectl, bootstrap, unique_name):
    url = hookpipectl.create(unique_name, base_url=gw.base)
    body = b"[" + b",".join(b'{"i":%d}' % i for i in range(10000)) + b"]"
    t0 = time.time()
    r = post(url, body)
    assert r.status_code == 200, r.text
    assert r.json()["records"] == 10000
    assert time.time() - t0 < 10
    msgs = read_topic(bootstrap, "webhooks." + unique_name, 10000, timeout=30)
    assert sorted(json.loads(m.value())["i"] for m in msgs) == list(range(10000))


# --- errors ------------------------------------------------------------------

def test_error_answers(gw, hookpipectl, unique_name):
    url = hookpipectl.create(unique_name, "--primary-key", "id", base_url=gw.base)
    assert post(url, b'{"id":1}').status_code == 200       # known to the gateway now

    check_error(post(url, b'{"id":1,}'), 400, "at byte 8")
    check_error(post(url, b'{"id": tru}'), 400, "at byte 10")
    check_error(post(url, b'{"id":"\xff"}'), 400, "invalid UTF-8 at byte 7")
    check_error(post(url, b'{"id":"\xc0\xaf"}'), 400, "invalid UTF-8 at byte 7")
    check_error(post(url, b'{"id":"\xed\xa0\x80"}'), 400, "invalid UTF-8")
    check_error(post(url, b'{"id":"a\x00"}'), 400, "NUL")
    check_error(post(url, b'{"id":"\\ud800"}'), 400, "surrogate")
    check_error(post(url, b'{"id":"\\u12'), 400, "at byte 11")
    check_error(post(url, b""), 400, "empty body")
    check_error(post(url, b"  \n"), 400, "empty body")
    check_error(post(url, b'"x"'), 400, "top level")
    check_error(post(url, b"[1,2]"), 400, "top level")
    check_error(post(url, b'[{"id":1},[]]'), 400, "at byte 10")
    check_error(post(url, b'{"a":' * 40 + b"1" + b"}" * 40), 400, "nesting deeper than 32")
    check_error(post(url, b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"), 400,
                "nesting deeper than 32 levels at byte 36")
    check_error(post(url, b"[" * 100000 + b"]" * 100000), 400, "top level")

    bad_token = url[:-1] + ("0" if url[-1] != "0" else "1")
    check_error(post(bad_token, b'{"id":1}', retry=()), 401)
    parts = url.split("/")
    parts[-3] = "wrong-client"
    check_error(post("/".join(parts), b'{"id":1}', retry=()), 401)
    check_error(post(url + "x" * 200, b'{"id":1}', retry=()), 404)

    check_error(requests.post(gw.base + "/v1/clients/x/token/", data=b"{}", headers=JSON), 404)
    check_error(requests.post(gw.base + "/", data=b"{}", headers=JSON), 404)
    check_error(requests.get(gw.base + "/v2/anything"), 404)
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        r = requests.request(method, url, data=b"{}", headers=JSON)
        check_error(r, 405)
        assert r.headers["Allow"] == "POST"

    check_error(post(url, b'{"id":1}', headers={"Content-Type": "text/plain"}), 415)
    check_error(post(url, b'{"id":1}', headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    check_error(post(url, b'{"id":1}', headers={"Content-Type": "application/json; charset=latin1"}), 415)
    for ct in ("application/json", "APPLICATION/JSON; charset=\"UTF-8\"", "application/cloudevents+json"):
        assert post(url, b'{"id":1}', headers={"Content-Type": ct}).status_code == 200
    # no Content-Type at all: accepted as JSON (documented decision)
    r = requests.post(url, data=b'{"id":2}')
    assert "Content-Type" not in r.request.headers
    assert r.status_code == 200, r.text

    # 413 from Content-Length, before the body is read
    big = b'{"id":1,"pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    check_error(post(url, big), 413, "exceeds the limit of 4194304 bytes")
    # 413 while reading a chunked body
    def chunks():
        yield b'{"id":1,"pad":"'
        for _ in range(80):
            yield b"y" * 65536
        yield b'"}'
    check_error(requests.post(url, data=chunks(), headers=JSON), 413, "exceeds the limit")
    # a small chunked body is fine
    r = requests.post(url, data=iter([b'{"id"', b':3}']), headers=JSON)
    assert r.status_code == 200, r.text


def test_integration_body_limit_and_pause(gw, hookpipectl, unique_name):
    url = hookpipectl.create(unique_name, "--max-body", "100", base_url=gw.base)
    assert post(url, b'{"a":1}').status_code == 200
    check_error(post(url, b'{"a":"' + b"x" * 100 + b'"}'), 413, "limit of 100 bytes")
    hookpipectl("pause", unique_name)
    deadline = time.time() + 2
    while post(url, b'{"a":1}').status_code != 403 and time.time() < deadline:
        time.sleep(0.05)
    check_error(post(url, b'{"a":1}'), 403, "paused")
    hookpipectl("resume", unique_name)
    deadline = time.time() + 2
    while post(url, b'{"a":1}').status_code != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert post(url, b'{"a":1}').status_code == 200


def test_503_when_inflight_budget_exceeded(gateways, hookpipectl, unique_name):
    g = gateways("--inflight.bytes=2048", "--retry.after=7")
    url = hookpipectl.create(unique_name, base_url=g.base)
    assert post(url, b'{"a":1}').status_code == 200
    r = post(url, b'{"a":"' + b"x" * 4000 + b'"}')
    check_error(r, 503, "retry later")
    assert r.headers["Retry-After"] == "7"
    # chunked bodies are counted as they arrive
    r = requests.post(url, data=iter([b'{"a":"', b"x" * 3000, b'"}']), headers=JSON)
    check_error(r, 503)
    assert post(url, b'{"a":2}').status_code == 200   # the budget was given back


def test_503_when_producer_queue_full(gateways, hookpipectl, unique_name):
    g = gateways("-X", "queue.buffering.max.messages=1", "-X", "linger.ms=200")
    url = hookpipectl.create(unique_name, base_url=g.base)
    r = post(url, b"[" + b",".join([b'{"a":1}'] * 50) + b"]")
    check_error(r, 503, "queue full")
    assert r.headers["Retry-After"] == "5"


def test_413_when_kafka_refuses_a_record_for_its_size(gateways, hookpipectl, bootstrap,
                                                      unique_name):
    """A record the broker refuses (over the topic's max.message.bytes): no
    2xx for the request, even though its other record was stored; a 413
    without Retry-After, as no retry can succeed (issue #7: it was a 503 that
    providers retried for ever). tests/integration/test_large_records.py has
    the sizes hookpipectl gives the topics."""
    g = gateways("--ack.timeout.ms=1500")
    url = hookpipectl.create(unique_name, "--partitions", "1", base_url=g.base)
    topic = "webhooks." + unique_name
    set_topic_config(bootstrap, topic, "max.message.bytes", 200)
    deadline = time.time() + 10
    while time.time() < deadline and topic_config(bootstrap, topic) != "200":
        time.sleep(0.1)
    t0 = time.time()
    r = post(url, b'[{"a":1},{"pad":"' + b"x" * 1000 + b'"}]')
    body = check_error(r, 413, f"larger than topic {topic} takes (its max.message.bytes")
    assert "other records may be stored" in body["message"], body
    assert "Retry-After" not in r.headers
    assert time.time() - t0 < 6
    text = requests.get(g.metrics + "/metrics").text
    assert re.search(r'^hookpipe_gateway_requests_total\{integration="%s",code="413"\} 1$'
                     % unique_name, text, re.M), text
    assert not re.search(r"^hookpipe_gateway_kafka_errors_total 0$", text, re.M)


# --- live configuration --------------------------------------------------------

def wait_status(urls, status, timeout=3):
    """Seconds until every URL answers status (polled every 20 ms). The body
    is malformed on purpose: 400 proves the token was accepted without
    waiting for Kafka, so this measures how fast the configuration spreads."""
    t0, pending = time.time(), list(urls)
    while pending and time.time() - t0 < timeout:
        pending = [u for u in pending
                   if requests.post(u, data=b"{", headers=JSON, timeout=10).status_code != status]
        if pending:
            time.sleep(0.02)
    assert not pending, f"{pending} did not answer {status} within {timeout}s"
    return time.time() - t0


def test_live_changes_reach_two_gateways_within_a_second(gateways, hookpipectl, unique_name):
    g1, g2 = gateways(), gateways()
    url = hookpipectl.create(unique_name, base_url=g1.base)
    urls = [g1.url(url), g2.url(url)]
    assert wait_status(urls, 400) < 1.0
    for u in urls:
        assert post(u, b'{"a":1}').status_code == 200

    url2 = hookpipectl("token", "add", unique_name, "--base-url", g1.base)
    urls2 = [g1.url(url2), g2.url(url2)]
    assert wait_status(urls2, 400) < 1.0
    shown = json.loads(hookpipectl("integration", "show", unique_name))
    first = [t["id"] for t in shown["tokens"]
             if t["sha256"] == hashlib.sha256(url.rsplit("/", 1)[1].encode()).hexdigest()]
    assert len(first) == 1
    hookpipectl("token", "revoke", unique_name, first[0])
    assert wait_status(urls, 401) < 1.0
    assert wait_status(urls2, 400) < 1.0           # the other token still works

    hookpipectl("pause", unique_name)
    assert wait_status(urls2, 403) < 1.0
    hookpipectl("resume", unique_name)
    assert wait_status(urls2, 400) < 1.0
    hookpipectl("delete", unique_name)
    assert wait_status(urls2, 401) < 1.0


def test_creates_missing_integrations_topic_and_becomes_ready(gateways, bootstrap,
                                                              unique_name):
    topic = "hookpipe.test_integrations." + unique_name
    g = gateways(f"--integrations.topic={topic}", ready=False)
    g.wait_ready()
    assert topic_config(bootstrap, topic, "cleanup.policy") == "compact"
    assert topic_partitions(bootstrap, topic) == 1
    admin(bootstrap).delete_topics([topic])


# --- health, metrics, shutdown ------------------------------------------------

def test_health_ready_metrics(gw, hookpipectl, unique_name):
    assert requests.get(gw.metrics + "/healthz").status_code == 200
    r = requests.get(gw.metrics + "/readyz")
    assert r.status_code == 200 and r.json()["integrations_caught_up"] is True
    url = hookpipectl.create(unique_name, base_url=gw.base)
    assert post(url, b'[{"a":1},{"a":2}]').status_code == 200
    text = requests.get(gw.metrics + "/metrics").text
    assert f'hookpipe_gateway_requests_total{{integration="{unique_name}",code="200"}} 1' in text
    assert f'hookpipe_gateway_records_total{{integration="{unique_name}",outcome="accepted"}} 2' in text
    for name in ("request_bytes_total", "request_duration_seconds_bucket",
                 "inflight_requests", "inflight_bytes", "producer_queue_messages",
                 "kafka_errors_total"):
        assert "hookpipe_gateway_" + name in text
    assert requests.get(gw.metrics + "/nope").status_code == 404
    r = requests.post(gw.metrics + "/metrics")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


def test_not_ready_before_kafka(gateways):
    g = gateways("-X", "bootstrap.servers=127.0.0.1:1", ready=False)
    time.sleep(1)
    assert requests.get(g.metrics + "/healthz").status_code == 200
    assert requests.get(g.metrics + "/readyz").status_code == 503
    r = requests.post(g.base + "/v1/clients/c/token/t", data=b"{}", headers=JSON)
    check_error(r, 503, "not ready")
    assert g.stop() == 0


def test_sigterm_drain_loses_nothing(gateways, hookpipectl, bootstrap, unique_name):
    g = gateways()
    url = hookpipectl.create(unique_name, "--primary-key", "id", base_url=g.base)
    assert post(url, b'{"id":"warmup"}').status_code == 200
    ok, others, stop = [], [], threading.Event()
    lock = threading.Lock()

    def client(cid):
        s, i = requests.Session(), 0
        while not stop.is_set():
            body = json.dumps([{"id": f"{cid}-{i}-{k}"} for k in range(5)]).encode()
            i += 1
            try:
                r = s.post(url, data=body, headers=JSON, timeout=30)
            except requests.RequestException:
                with lock:
                    others.append("connection")
                time.sleep(0.01)
                continue
            with lock:
                if r.status_code == 200:
                    ok.append(r.json()["request_id"])
                else:
                    others.append(r.status_code)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    g.proc.send_signal(signal.SIGTERM)
    assert g.proc.wait(30) == 0
    stop.set()
    for t in threads:
        t.join()
    assert len(ok) > 20, (len(ok), others[:10])
    assert set(others) <= {503, "connection"}, others[:10]
    msgs = read_topic(bootstrap, "webhooks." + unique_name, 5 * len(ok) + 1, timeout=30)
    by_request = {}
    for m in msgs:
        by_request.setdefault(headers_of(m)["hookpipe-request-id"], 0)
        by_request[headers_of(m)["hookpipe-request-id"]] += 1
    missing = [rid for rid in ok if by_request.get(rid) != 5]
    assert not missing, f"{len(missing)} acknowledged requests not (fully) in Kafka"
    assert "stopped" in g.tail()
