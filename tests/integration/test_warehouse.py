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
import threading
import time
import uuid

from hookpipe_support import JSON, Lite, Sink, post_ok, produce


# --- layout ----------------------------------------------------------------------

def test_layout(wh, hookpipectl, gateway_url, unique_name):
    # one partition: the records arrive in the order sent, so the first
    # type of a field is the one its plain column keeps
    url = hookpipectl.create(unique_name, "--primary-key", "id", "--partitions", "1",
                             base_url=gateway_url)
    s = unique_name
    post_ok(url, {"id": 1, "v": 7, "o": {"a": 1, "b": {"c": "x"}},
                  "items": [{"x": 1, "sub": [10, 11]}, {"x": 2}], "tags": ["a", "b"]})
    post_ok(url, {"id": 2, "v": "seven", "o": {"a": 2.5}})
    # reserved names and a collision: the field is left out, the record goes
    # to _sdc_rejected, the rest of the row is loaded
    post_ok(url, b'{"id": 3, "w__st": 1, "_sdc_x": 2, "a b": 1, "a_b": 2, "ok": true}')
    wh.wait_loaded("webhooks." + s, 3)

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

def produce_as_gateway(bootstrap, topic, key, value, sequence):
    """A message as the gateway would write it, with our own sequence."""
    headers = [("hookpipe-received-at", "2020-01-01T00:00:00.000000Z"),
               ("hookpipe-sequence", str(sequence))]
    produce(bootstrap, topic, [(key, value, headers)])


def test_upsert_guarded_by_sequence(wh, hookpipectl, bootstrap, gateway_url, unique_name):
    url = hookpipectl.create(unique_name, "--primary-key", "id", base_url=gateway_url)
    topic = "webhooks." + unique_name
    post_ok(url, {"id": 1, "a": 1})
    post_ok(url, [{"id": 1, "a": 2}, {"id": 2, "a": 20}])
    wh.wait_loaded(topic, 3)
    # an older record (a lower _sdc_sequence) for a key never overwrites it
    produce_as_gateway(bootstrap, topic, b"1", b'{"id": 1, "a": -1}', 1)
    wh.wait_loaded(topic, 4)
    data = wh.table(unique_name, "data")
    assert wh.rows(f"SELECT id, a FROM {data} ORDER BY id") == [("1", "2"), ("2", "20")]
    # Stitch's latest row per key
    latest = wh.rows(f"SELECT d.id, d.a FROM {data} d JOIN (SELECT id, MAX(_sdc_sequence) AS seq "
                     f"FROM {data} GROUP BY id) m ON d.id = m.id AND d._sdc_sequence = m.seq "
                     "ORDER BY d.id")
    assert latest == [("1", "2"), ("2", "20")]


def test_no_pk_appends(wh, hookpipectl, bootstrap, gateway_url, unique_name):
    url = hookpipectl.create(unique_name, base_url=gateway_url)
    topic = "webhooks." + unique_name
    post_ok(url, [{"n": 1}, {"n": 1}])
    post_ok(url, {"n": 2})
    wh.wait_loaded(topic, 3)
    data = wh.table(unique_name, "data")
    rows = wh.rows(f"SELECT __sdc_primary_key, n FROM {data} ORDER BY n")
    assert sorted(r[1] for r in rows) == ["1", "1", "2"]
    keys = [r[0] for r in rows]
    assert len(set(keys)) == 3 and all(uuid.UUID(k) for k in keys), keys
    # the same message again (same key): no second row
    produce_as_gateway(bootstrap, topic, keys[0].encode(), b'{"n": 1}', time.time_ns())
    wh.wait_loaded(topic, 4)
    assert len(wh.rows(f"SELECT n FROM {data}")) == 3


# --- exactly once across SIGKILL ------------------------------------------------------

def test_sqlite_sink_sigkill_exactly_once(hookpipectl, bin_dir, bootstrap, gateway_url, unique_name,
                                          tmp_path):
    url = hookpipectl.create(unique_name, "--primary-key", "id", "--partitions", "3",
                             base_url=gateway_url)
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
                post_ok(url, b)
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
        db.wait_loaded(topic, total, timeout=120)
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

def test_signed_delivery_three_times_is_one_row(pg, hookpipectl, gateways, unique_name):
    # a gateway of our own holding a fresh sealing key, which hookpipectl gets too
    keyed_gateway = gateways(env=dict(os.environ, HOOKPIPE_SECRET_KEY=os.urandom(32).hex()))
    secret = "hookpipe-test-" + uuid.uuid4().hex
    env = dict(keyed_gateway.env, GH_SECRET=secret)
    hook = hookpipectl.create(unique_name, "--signature", "github", "--secret-env", "GH_SECRET",
                              base_url=keyed_gateway.base, env=env)
    url = keyed_gateway.url(hook)
    body = b'{"action":"opened","number":42}'
    h = dict(JSON, **{"X-Hub-Signature-256": "sha256=" + hmac.new(
        secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-GitHub-Delivery": str(uuid.uuid4())})
    for _ in range(3):
        post_ok(url, body, headers=h)
    topic = "webhooks." + unique_name
    pg.wait_loaded(topic, 3)
    rows = pg.rows(f"SELECT __sdc_primary_key, action, number FROM {pg.table(unique_name, 'data')}")
    assert len(rows) == 1 and rows[0][1:] == ("opened", "42"), rows
