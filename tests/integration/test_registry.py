"""hookpipe-registry against the real broker: the Confluent API and its
error codes, two replicas racing, SIGKILL and restart, replay.

Each test starts its own replicas (build/bin/hookpipe-registry) on free
loopback ports, with a fresh `--topic _schemas_test_<uuid>`.
"""
import json
import socket
import threading
import time

import pytest
import requests
from confluent_kafka.admin import NewTopic

from hookpipe_support import REGISTRY_CT as CT
from hookpipe_support import Registry, admin, produce, read_topic, unique_schemas_topic


def record(name, fields):
    return {"type": "record", "name": name, "fields": fields}


def s_int(name):
    return record(name, [{"name": "a", "type": "int"}])


# --- the API ---------------------------------------------------------------

def test_register_lookup_fetch(replicas):
    (r,) = replicas(1)
    v1 = record("User", [{"name": "id", "type": "long"}])
    v2 = record("User", [{"name": "id", "type": "long"},
                         {"name": "email", "type": ["null", "string"], "default": None,
                          "doc": "kept"},
                         {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"},
                          "default": 0}])
    a = r.register("u-value", v1)
    assert a.status_code == 200, a.text
    assert a.headers["Content-Type"] == CT
    id1 = a.json()["id"]
    assert r.register("u-value", v1).json() == {"id": id1}
    # the same schema, other whitespace: same identity (canonical form)
    assert r.register("u-value", json.dumps(v1, indent=2)).json() == {"id": id1}
    assert r.register("other-value", v1).json() == {"id": id1}
    id2 = r.register("u-value", v2).json()["id"]
    assert id2 != id1

    assert r.get("/subjects").json() == ["other-value", "u-value"]
    assert r.get("/subjects/u-value/versions").json() == [1, 2]
    got = r.get("/subjects/u-value/versions/latest").json()
    assert got["subject"] == "u-value" and got["version"] == 2 and got["id"] == id2
    # the registered text is returned: defaults, doc and logicalType survive
    assert json.loads(got["schema"]) == v2
    assert r.get("/subjects/u-value/versions/1").json()["id"] == id1
    assert r.get("/subjects/u-value/versions/-1").json()["version"] == 2
    assert json.loads(r.get("/subjects/u-value/versions/2/schema").text) == v2
    assert json.loads(r.get(f"/schemas/ids/{id2}").json()["schema"]) == v2
    assert sorted(r.get(f"/schemas/ids/{id1}/versions").json(), key=lambda x: x["subject"]) == [
        {"subject": "other-value", "version": 1}, {"subject": "u-value", "version": 1}]
    assert r.get(f"/schemas/ids/{id1}/subjects").json() == ["other-value", "u-value"]
    assert r.get("/schemas/types").json() == ["AVRO"]

    look = r.post("/subjects/u-value", {"schema": json.dumps(v1)})
    assert look.status_code == 200
    assert look.json()["version"] == 1 and look.json()["id"] == id1

    # subject names are any text: escaped '/', spaces, UTF-8
    odd = "team/a b-ü-value"
    q = requests.utils.quote(odd, safe="")
    assert r.register(q, v1).json() == {"id": id1}
    assert r.get(f"/subjects/{q}/versions/1").json()["subject"] == odd
    assert odd in r.get("/subjects").json()
    assert r.get("/subjects", params={"subjectPrefix": "team/a b"}).json() == [odd]
    assert r.get("/subjects", params={"subjectPrefix": "u-"}).json() == ["u-value"]
    assert error(r.get("/subjects/x%00y/versions")) == (404, 404)

    # the three content types are accepted
    for ct in ("application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json",
               "application/json"):
        resp = requests.post(r.url + "/subjects/u-value", data=json.dumps({"schema": json.dumps(v1)}),
                             headers={"Content-Type": ct}, timeout=10)
        assert resp.status_code == 200, (ct, resp.text)


def error(resp):
    return resp.status_code, resp.json()["error_code"]


def test_errors(replicas):
    (r,) = replicas(1)
    r.register("s", s_int("R"))
    assert error(r.get("/subjects/nope/versions")) == (404, 40401)
    assert error(r.get("/subjects/nope/versions/1")) == (404, 40401)
    assert error(r.get("/subjects/s/versions/7")) == (404, 40402)
    assert error(r.get("/schemas/ids/999")) == (404, 40403)
    assert error(r.post("/subjects/s", {"schema": '"string"'})) == (404, 40403)
    assert error(r.post("/subjects/nope", {"schema": '"string"'})) == (404, 40401)
    assert error(r.register("s", "{not json")) == (422, 42201)
    assert error(r.register("s", {"type": "record", "name": "R"})) == (422, 42201)
    bad_default = record("R", [{"name": "a", "type": "int", "default": "x"}])
    resp = r.register("s", bad_default)
    assert error(resp) == (422, 42201)
    assert "default" in resp.json()["message"]
    resp = r.post("/subjects/s/versions", {"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})
    assert error(resp) == (422, 42201)
    assert "AVRO" in resp.json()["message"]
    resp = r.post("/subjects/s/versions", {"schema": '"int"', "references": [
        {"name": "x", "subject": "y", "version": 1}]})
    assert error(resp) == (422, 42201)
    for v in ("0", "abc", "2147483648", "1.5"):
        assert error(r.get(f"/subjects/s/versions/{v}")) == (422, 42202), v
    assert error(r.put("/config", {"compatibility": "SIDEWAYS"})) == (422, 42203)
    resp = r.register("s", record("R", [{"name": "a", "type": "string"}]))
    assert error(resp) == (409, 409)
    assert "incompatible" in resp.json()["message"]
    assert error(r.get("/config/s")) == (404, 40408)
    resp = requests.post(r.url + "/subjects/s/versions", data="{}",
                         headers={"Content-Type": "text/plain"}, timeout=10)
    assert error(resp) == (415, 415)
    assert error(r.post("/subjects/s/versions", {"nothing": 1})) == (422, 42201)
    resp = requests.post(r.url + "/subjects/s/versions", data="[1,", headers={"Content-Type": CT})
    assert error(resp) == (400, 400)
    assert error(r.get("/nope")) == (404, 404)
    assert error(requests.put(r.url + "/subjects/s/versions", data="{}", timeout=10)) == (405, 405)
    big = "x" * (3 << 20)
    resp = requests.post(r.url + "/subjects/s/versions", data=big, headers={"Content-Type": CT})
    assert error(resp) == (413, 413)
    # still serving after all that
    assert r.get("/subjects").json() == ["s"]


HOSTILE = [
    # (method, path, raw body, expected status, expected error_code)
    ("POST", "/subjects/s/versions", '{"schema":""}', 422, 42201),
    ("POST", "/subjects/s/versions", '{"schema":5}', 422, 42201),
    ("POST", "/subjects/s/versions", '{"schema":"' + "[" * 100000 + '"}', 422, 42201),
    ("POST", "/subjects/s/versions", json.dumps({"schema": json.dumps(
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "R"}] * 2})}), 422, 42201),
    ("POST", "/subjects/s/versions", "[]", 400, 400),
    ("POST", "/subjects/s/versions", "", 400, 400),
    ("POST", "/subjects/s/versions", '{"schema":"\\"int\\"","schemaType":"JSON"}', 422, 42201),
    ("POST", "/subjects/s", '{"schema":"{"}', 422, 42201),
    ("POST", "/compatibility/subjects/s/versions/latest", '{"schema":"nope"}', 422, 42201),
    ("PUT", "/config", "not json", 400, 400),
    ("PUT", "/config/s", '{"compatibility":5}', 422, 42203),
    ("GET", "/schemas/ids/abc", None, 404, 40403),
    ("GET", "/schemas/ids/-1", None, 404, 40403),
    ("GET", "/schemas/ids/99999999999", None, 404, 40403),
    ("GET", "/schemas/ids/1/nope", None, 404, 404),
    ("GET", "/subjects/empty/versions/latest", None, 404, 40401),
    ("GET", "/subjects/s/versions/latest/nope", None, 404, 404),
    ("GET", "/" + "/".join(["a"] * 20), None, 404, 404),
    ("GET", "/subjects/" + "x" * 3000 + "/versions", None, 404, 404),
    ("DELETE", "/schemas/ids/1", None, 405, 405),
    ("POST", "/subjects", "{}", 405, 405),
]


@pytest.fixture(scope="module")
def hostile_target(bin_dir, bootstrap, tmp_path_factory):
    """One replica with subject "s" -> "int" (id 1) for the hostile table."""
    r = Registry(bin_dir, bootstrap, unique_schemas_topic(),
                 tmp_path_factory.mktemp("hostile") / "h.log").start()
    assert r.register("s", '"int"').json() == {"id": 1}
    yield r
    r.stop()


@pytest.mark.parametrize("method,path,body,status,code", HOSTILE)
def test_hostile_requests(hostile_target, method, path, body, status, code):
    r = hostile_target
    resp = requests.request(method, r.url + path, data=body, timeout=30,
                            headers={"Content-Type": CT} if body is not None else {})
    assert (resp.status_code, resp.json()["error_code"]) == (status, code), resp.text[:300]
    assert r.get("/schemas/types").json() == ["AVRO"]


def test_many_large_bodies_get_503_not_memory(replicas):
    """Bodies held at once share one budget (64 MiB): beyond it, 503 with
    Retry-After; the memory comes back when they are done."""
    (r,) = replicas(1)
    size = 1536 * 1024
    body = b'{"schema":"' + b"x" * (size - 13) + b'"}'
    socks = []
    try:
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", r.port), timeout=30)
            sock.sendall(b"POST /subjects/big/versions HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nConnection: close\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:1200 * 1024])
            socks.append(sock)
        time.sleep(1.0)
        statuses = []
        for sock in socks:
            sock.sendall(body[1200 * 1024:])
        for sock in socks:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            statuses.append(int(data.split(b" ", 2)[1]))
            if statuses[-1] == 503:
                assert b"Retry-After: 1" in data
    finally:
        for sock in socks:
            sock.close()
    assert statuses.count(503) >= 1, statuses
    assert set(statuses) <= {422, 503}, statuses
    assert r.register("s", '"int"').status_code == 200


def test_compatibility_and_config(replicas):
    (r,) = replicas(1)
    v1 = record("R", [{"name": "a", "type": "int"}])
    r.register("s", v1)
    added_no_default = record("R", [{"name": "a", "type": "int"}, {"name": "b", "type": "string"}])
    added_default = record("R", [{"name": "a", "type": "int"},
                                 {"name": "b", "type": "string", "default": ""}])
    resp = r.post("/compatibility/subjects/s/versions/latest",
                  {"schema": json.dumps(added_no_default)}, params={"verbose": "true"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["is_compatible"] is False
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m and "'b'" in m for m in body["messages"])
    assert r.post("/compatibility/subjects/s/versions/1",
                  {"schema": json.dumps(added_default)}).json() == {"is_compatible": True}
    assert r.post("/compatibility/subjects/s/versions",
                  {"schema": json.dumps(added_default)}).json() == {"is_compatible": True}
    assert error(r.post("/compatibility/subjects/s/versions/9",
                        {"schema": json.dumps(v1)})) == (404, 40402)
    assert error(r.post("/compatibility/subjects/nope/versions/latest",
                        {"schema": json.dumps(v1)})) == (404, 40401)

    assert r.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert r.put("/config/s", {"compatibility": "NONE"}).json() == {"compatibility": "NONE"}
    assert r.get("/config/s").json() == {"compatibilityLevel": "NONE"}
    assert r.register("s", record("R", [{"name": "a", "type": "string"}])).status_code == 200
    assert r.delete("/config/s").json() == {"compatibilityLevel": "NONE"}
    assert error(r.delete("/config/s")) == (404, 40401)
    assert r.get("/config/s", params={"defaultToGlobal": "true"}).json() == {
        "compatibilityLevel": "BACKWARD"}
    assert r.put("/config", {"compatibility": "FULL_TRANSITIVE"}).status_code == 200
    assert r.get("/config").json() == {"compatibilityLevel": "FULL_TRANSITIVE"}
    assert r.delete("/config").json() == {"compatibilityLevel": "FULL_TRANSITIVE"}
    assert r.get("/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_deletes(replicas):
    (r,) = replicas(1)
    r.put("/config/s", {"compatibility": "NONE"})
    ids = [r.register("s", s).json()["id"] for s in ('"int"', '"long"', '"string"')]
    assert error(r.delete("/subjects/s/versions/2", params={"permanent": "true"})) == (404, 40407)
    assert r.delete("/subjects/s/versions/2").json() == 2
    assert error(r.delete("/subjects/s/versions/2")) == (404, 40406)
    assert r.get("/subjects/s/versions").json() == [1, 3]
    assert r.get("/subjects/s/versions", params={"deleted": "true"}).json() == [1, 2, 3]
    assert error(r.get("/subjects/s/versions/2")) == (404, 40402)
    assert r.get("/subjects/s/versions/2", params={"deleted": "true"}).json()["id"] == ids[1]
    # a soft-deleted id still resolves, as in Confluent
    assert r.get(f"/schemas/ids/{ids[1]}").status_code == 200
    assert r.delete("/subjects/s/versions/2", params={"permanent": "true"}).json() == 2
    assert error(r.get(f"/schemas/ids/{ids[1]}")) == (404, 40403)

    assert error(r.delete("/subjects/s", params={"permanent": "true"})) == (404, 40405)
    assert r.delete("/subjects/s").json() == [1, 3]
    assert error(r.delete("/subjects/s")) == (404, 40404)
    assert r.get("/subjects").json() == []
    assert r.get("/subjects", params={"deleted": "true"}).json() == ["s"]
    assert r.delete("/subjects/s", params={"permanent": "true"}).json() == [1, 3]
    assert error(r.delete("/subjects/s")) == (404, 40401)
    # re-registering after a permanent delete continues the version numbers
    again = r.register("s", '"int"')
    assert again.status_code == 200
    assert r.get("/subjects/s/versions").json() == [4]


def test_not_ready_until_kafka_answers(bin_dir, tmp_path):
    r = Registry(bin_dir, "127.0.0.1:1", unique_schemas_topic(), tmp_path / "down.log",
                 "--timeout.ms", "500", "-X", "socket.connection.setup.timeout.ms=1000")
    r.start(wait=False)
    try:
        deadline = time.time() + 10
        while True:
            try:
                resp = r.get("/readyz")
                break
            except requests.RequestException:
                assert time.time() < deadline
                time.sleep(0.05)
        assert resp.status_code == 503
        assert error(r.get("/subjects")) == (503, 50003)
        assert error(r.register("s", '"int"')) == (503, 50003)
    finally:
        r.stop()


# --- replicas --------------------------------------------------------------

def race(replica_list, jobs):
    """Runs jobs [(replica_index, subject, schema_text)] concurrently; returns
    [(job, status, body)]."""
    out = [None] * len(jobs)

    def run(i, job):
        idx, subject, text = job
        resp = replica_list[idx].register(subject, text)
        out[i] = (job, resp.status_code, resp.json())

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


def check_consistent(replica_list, acknowledged):
    """acknowledged: [(subject, text, id)]. No id or version names two
    schemas; every acknowledged registration is visible; replicas agree."""
    dumps = [r.dump() for r in replica_list]
    for d in dumps[1:]:
        assert d == dumps[0]
    d = dumps[0]
    by_id = {}
    for subject, text, sid in acknowledged:
        canon = json.dumps(json.loads(text), sort_keys=True)
        assert by_id.setdefault(sid, canon) == canon, f"id {sid} given to two schemas"
        versions = d["subjects"][subject]["versions"]
        assert any(v[0] == sid and json.dumps(json.loads(v[1]), sort_keys=True) == canon
                   for v in versions.values()), (subject, sid)
    for sid, text in d["ids"].items():
        if sid in by_id:
            assert json.dumps(json.loads(text), sort_keys=True) == by_id[sid]
    for subject, info in d["subjects"].items():
        seen = {}
        for v, (sid, text, live) in info["versions"].items():
            assert seen.setdefault(sid, v) == v or not live, "one schema twice live in a subject"
    return d


def compacted_copy(bootstrap, topic):
    """Copies `topic` to a new topic as log compaction would leave it: only
    the last record of each key, in log order. Returns the new topic."""
    records = [(m.offset(), m.key(), m.value()) for m in read_topic(bootstrap, topic)]
    assert records
    last = {}
    for off, key, value in records:
        last[key] = off
    out = unique_schemas_topic()
    # create it first: a broker need not auto-create topics (the test stack's
    # does not), and a produce to a missing topic fails only per message
    admin(bootstrap).create_topics(
        [NewTopic(out, 1, -1, config={"cleanup.policy": "compact"})])[out].result(30)
    produce(bootstrap, out, [(key, value, None) for off, key, value in records
                             if last[key] == off])
    return out, len(records), len(last)


def test_concurrent_registrations_two_replicas(replicas):
    a, b = replicas(2)
    assert a.put("/config", {"compatibility": "NONE"}).status_code == 200
    b.wait_ready()
    acknowledged, lock = [], threading.Lock()

    def duel(rounds, replica, side, barrier):
        # both sides register a different schema under the same subject at
        # the same moment, then the same schema: the log decides
        for i in range(rounds):
            mine = json.dumps(record(f"{side}{i}", [{"name": "a", "type": "int"}]))
            shared = json.dumps(record(f"S{i}", [{"name": "a", "type": "int"}]))
            for subject, text in (("race-value", mine), ("race-value", shared),
                                  (f"solo-{i % 3}", shared)):
                barrier.wait(timeout=60)
                resp = replica.register(subject, text)
                assert resp.status_code == 200, resp.text
                with lock:
                    acknowledged.append((subject, text, resp.json()["id"]))

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=duel, args=(15, r, side, barrier))
               for r, side in ((a, "A"), (b, "B"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(acknowledged) == 90
    ids = {}
    for subject, text, sid in acknowledged:
        assert ids.setdefault(text, sid) == sid, "one schema got two ids"
    d = check_consistent([a, b], acknowledged)
    assert sorted(d["subjects"]["race-value"]["versions"]) == list(range(1, 46))
    lost = sum(r.log_text().count("lost a race") for r in (a, b))
    print(f"races lost and retried: {lost}")

    # losing records were superseded under their keys, so what compaction
    # leaves of the log folds to the same state
    topic, n_all, n_kept = compacted_copy(a.bootstrap, a.topic)
    (after,) = replicas(1, topic=topic)
    assert after.dump() == d, (n_all, n_kept)


def test_sigkill_during_registrations(replicas):
    a, b = replicas(2)
    a.put("/config", {"compatibility": "NONE"})
    acknowledged, lock, stop = [], threading.Lock(), threading.Event()

    def writer(replica, prefix):
        i = 0
        while not stop.is_set() and i < 400:
            text = json.dumps(record(f"{prefix}{i}", [{"name": "x", "type": "long"}]))
            try:
                resp = replica.register("k-value", text)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if resp.status_code == 200:
                with lock:
                    acknowledged.append(("k-value", text, resp.json()["id"]))
            i += 1

    threads = [threading.Thread(target=writer, args=(a, "A")),
               threading.Thread(target=writer, args=(b, "B"))]
    for t in threads:
        t.start()
    time.sleep(1.5)
    a.kill()
    time.sleep(0.5)
    a.start()
    time.sleep(1.0)
    b.kill()
    b.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acknowledged) > 20
    d = check_consistent([a, b], acknowledged)
    topic, n_all, n_kept = compacted_copy(a.bootstrap, a.topic)
    (after,) = replicas(1, topic=topic)
    assert after.dump() == d, (n_all, n_kept)


def test_dead_losers_records_are_superseded(replicas):
    """Losing records whose replica died before superseding them: one that
    lost its version slot, one that lost only its id. The surviving replicas
    supersede both, so that what compaction leaves folds to the same state
    even after the winner is deleted."""
    a, b = replicas(2)
    winner = json.dumps(s_int("W"))
    sid = a.register("s", winner).json()["id"]

    def key(subject, version):
        return json.dumps({"keytype": "SCHEMA", "subject": subject, "version": version,
                           "magic": 1}, separators=(",", ":"))

    def value(subject, version, schema_id, text):
        return json.dumps({"subject": subject, "version": version, "id": schema_id,
                           "schema": text, "deleted": False})

    produce(a.bootstrap, a.topic, [
        (key("s", 1), value("s", 1, sid + 1, json.dumps(s_int("L"))), None),
        (key("t", 1), value("t", 1, sid, json.dumps(s_int("M"))), None)])
    # deleting the winner rewrites its key after the losers: without the
    # supersedes, a compacted log would give its id to M
    assert a.delete("/subjects/s/versions/1").status_code == 200

    deadline = time.time() + 20
    while True:
        topic, n_all, n_kept = compacted_copy(a.bootstrap, a.topic)
        (copy,) = replicas(1, topic=topic)
        compacted = copy.dump()
        copy.stop()
        if compacted == a.dump() or time.time() > deadline:
            break
        time.sleep(1)
    assert compacted == a.dump() == b.dump()
    assert a.get("/subjects/s/versions/1", params={"deleted": "true"}).json()["id"] == sid
    assert json.loads(a.get(f"/schemas/ids/{sid}").json()["schema"]) == s_int("W")
    # the dead proposer's schema M is there only as a soft-deleted version
    assert error(a.get("/subjects/t/versions")) == (404, 40401)
    m = a.get("/subjects/t/versions/1", params={"deleted": "true"}).json()
    assert json.loads(m["schema"]) == s_int("M") and m["id"] != sid
    assert "superseding a lost record" in a.log_text() + b.log_text()


def test_replay_gives_same_state(replicas):
    a, b = replicas(2)
    a.put("/config", {"compatibility": "FORWARD"})
    a.put("/config/x", {"compatibility": "NONE"})
    for i in range(5):
        a.register("x", json.dumps(record("X", [{"name": f"f{j}", "type": "int", "default": j}
                                                for j in range(i + 1)])))
        b.register("y", json.dumps(record(f"Y{i}", [])) if i == 0 else
                   json.dumps(record("Y0", [{"name": f"g{j}", "type": "int", "default": 0}
                                            for j in range(i)])))
    a.delete("/subjects/x/versions/2")
    a.delete("/subjects/x/versions/2", params={"permanent": "true"})
    b.delete("/subjects/y/versions/1")
    before = a.dump()
    assert before == b.dump()
    (fresh,) = replicas(1, topic=a.topic)
    assert fresh.dump() == before
    a.kill()
    a.start()
    assert a.dump() == before
