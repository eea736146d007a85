"""Issue 5: the postgres target under faults, end to end (hookpipectl, the
stack's gateway and Kafka, hookpipe-sink processes of these tests, the
stack's PostgreSQL).

- Two sinks in one consumer group, the partitions of one integration split
  between them, meet the same schema changes at the same moment (a new
  column, a new flattened object, a new subtable, a type change): no error,
  both alive, every row present with the new columns filled.
- PostgreSQL stopped for several seconds and started again while a sink
  loads a steady stream: the sink waits it out in the same process, and in
  the end holds every acknowledged event exactly once (the latest value per
  key by Stitch's MAX(_sdc_sequence) query; rejections, which are appended,
  counted one by one).

Each test's integration gets a topic prefix of its own (hookpipectl
--topic-prefix, the sinks' --topic.prefix): its sinks subscribe to its topic
alone, and the stack's sinks (subscribed to webhooks.*) never see it, so the
rows in its schema are exactly what these sinks loaded.
"""
import os
import threading
import time
import uuid

import requests
from confluent_kafka.admin import AdminClient

from hookpipe_support import JSON, ROOT, Pg, Sink, StackPostgres, post_ok, wait_for

PARTITIONS = 4


def wait_loaded(pg, group, topic, n, timeout=30):
    """Waits until group loaded n messages of topic, and not more."""
    assert pg.wait_loaded(topic, n, timeout, group=group, interval=0.2) == n


def pg_sink(bin_dir, bootstrap, pg_url, log_path, group, prefix, *args):
    return Sink(bin_dir, bootstrap, log_path, "--target", "postgres", "--pg.url", pg_url,
                "--group.id", group, "--topic.prefix", prefix, *args)


def log_lines(sink, level):
    return [line for line in sink.log_text().splitlines(keepends=True) if f" {level}: " in line]


def assignment(admin, group, topic):
    """{member id: sorted partitions of topic} of a stable group, else None."""
    desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
    if desc.state.name != "STABLE":
        return None
    return {m.member_id: sorted(tp.partition for tp in m.assignment.topic_partitions
                                if tp.topic == topic)
            for m in desc.members}


# --- two sinks meet the same schema change --------------------------------------

def record(i, r):
    """Record of key i in round r: each round brings a schema change, and
    carries the fields of the rounds before (a record replaces its row)."""
    rec = {"id": i, "round": r, "n": i if r < 4 else f"n{i}"}  # round 4: n changes type
    if r >= 1:
        rec["c1"] = f"c1-{i}"                                   # a new column
    if r >= 2:
        rec["obj"] = {"x": i * 2, "y": r + 0.5}                 # two new flattened columns
    if r >= 3:
        rec["tags"] = [f"t{i}", "u"]                            # a new subtable
    return rec


def test_two_sinks_meet_new_columns_at_once(hookpipectl, bin_dir, bootstrap, gateway_url, pg_url,
                                             unique_name, tmp_path):
    pg = Pg(pg_url)
    prefix = f"faults_{uuid.uuid4().hex[:8]}."
    topic = prefix + unique_name
    group = "test-faults-ddl-" + uuid.uuid4().hex[:8]
    url = hookpipectl.create(unique_name, "--primary-key", "id", "--partitions", str(PARTITIONS),
                             "--topic-prefix", prefix, base_url=gateway_url)
    sinks = [pg_sink(bin_dir, bootstrap, pg_url, tmp_path / f"sink{k}.log", group, prefix)
             for k in range(2)]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        # both members hold partitions of the topic, together all of them
        def split():
            a = assignment(admin, group, topic)
            if a and len(a) == 2 and all(a.values()) and \
                    sorted(p for ps in a.values() for p in ps) == list(range(PARTITIONS)):
                return a
            return None
        split_seen = wait_for("both sinks sharing the partitions", split, timeout=60,
                              interval=0.5)

        s = unique_name
        data = f'"{s}"."data"'
        sent = 0
        n_keys = 400
        for r in range(5):
            if r:
                n_keys += 100          # updates of every key so far, and new keys
            # one POST: records of every partition reach Kafka together, and
            # both sinks' batches carry the change
            post_ok(url, [record(i, r) for i in range(n_keys)])
            sent += n_keys
            wait_loaded(pg, group, topic, sent)

            cols = ["id", "round", "n"] + (["c1"] if r >= 1 else []) + \
                (["obj__x", "obj__y"] if r >= 2 else []) + (["n__st"] if r >= 4 else [])
            rows = pg.rows(f"SELECT {', '.join(cols)} FROM {data} ORDER BY id")
            assert rows is not None and len(rows) == n_keys, (r, rows and len(rows))
            expect = []
            for i in range(n_keys):
                row = [str(i), str(r), str(i) if r < 4 else ""]
                row += [f"c1-{i}"] if r >= 1 else []
                row += [str(i * 2), str(r + 0.5)] if r >= 2 else []
                row += [f"n{i}"] if r >= 4 else []
                expect.append(tuple(row))
            bad = [(e, g) for e, g in zip(expect, rows) if e != g]
            assert not bad, f"round {r}: {len(bad)} rows differ, e.g. {bad[:3]}"
            if r >= 3:
                tags = pg.rows(f'SELECT _sdc_source_key_id, _sdc_level_0_id, value '
                               f'FROM "{s}"."data__tags" ORDER BY 1, 2')
                assert tags == [(str(i), str(lvl), v) for i in range(n_keys)
                                for lvl, v in enumerate([f"t{i}", "u"])], f"round {r}: tags"
            assert pg.rows(f'SELECT count(*) FROM "{s}"."_sdc_rejected"') in (None, [("0",)])

        for k, sink in enumerate(sinks):
            assert sink.proc.poll() is None, f"sink {k} exited:\n{sink.tail()}"
            # schema changes of the two met without a failed statement
            assert not log_lines(sink, "ERROR"), sink.tail()
            assert not [x for x in log_lines(sink, "WARN") if "postgres:" in x], sink.tail()
        # still both members, with the same partitions as before the load
        assert assignment(admin, group, topic) == split_seen
        print(f"\nsplit: {sorted(split_seen.values())}")
    finally:
        codes = [sink.stop() for sink in sinks]
    assert codes == [0, 0], [sink.tail() for sink in sinks]


# --- PostgreSQL stopped and started under load ------------------------------------

EVENTS = 3000       # events, sent 10 to a POST at 30 POSTs/s: about 10 s
KEYS = 1000         # each key sent three times (v = e, pass = e // KEYS)
PER_POST = 10
POSTS_PER_S = 30
OUTAGE_S = 5


def test_postgres_restart_under_load(hookpipectl, bin_dir, bootstrap, gateway_url, pg_url,
                                     unique_name, tmp_path):
    server = StackPostgres(os.environ.get("HOOKPIPE_RUN_DIR", ROOT / ".run"), pg_url)
    stack_sink_pid = server.run_dir / "sink-postgres.pid"
    stack_sink_pid = stack_sink_pid.read_text().strip() if stack_sink_pid.exists() else None
    pg = Pg(pg_url)
    prefix = f"faults_{uuid.uuid4().hex[:8]}."
    topic = prefix + unique_name
    group = "test-faults-pg-" + uuid.uuid4().hex[:8]
    url = hookpipectl.create(unique_name, "--primary-key", "id", "--partitions", "2",
                             "--topic-prefix", prefix, base_url=gateway_url)
    sink = pg_sink(bin_dir, bootstrap, pg_url, tmp_path / "sink.log", group, prefix)

    def event(e):
        # every 10th carries a reserved name: a _sdc_rejected row, appended,
        # so one loaded twice would show
        return dict({"id": e % KEYS, "v": e, "pass": e // KEYS},
                    **({"bad__st": 1} if e % 10 == 0 else {}))

    bodies = [[event(e) for e in range(k, k + PER_POST)] for k in range(0, EVENTS, PER_POST)]
    # the first POST waits until the gateway knows the integration
    post_ok(url, bodies[0])
    answers = {}

    def send():
        session = requests.Session()
        t0 = time.monotonic()
        for k, body in enumerate(bodies[1:], 1):
            time.sleep(max(0.0, t0 + k / POSTS_PER_S - time.monotonic()))
            try:
                r = session.post(url, json=body, headers=JSON, timeout=30)
                answers[k] = r.status_code
            except requests.RequestException as e:
                answers[k] = repr(e)

    sender = threading.Thread(target=send)
    sender.start()
    outage = None
    try:
        # stop the server once the sink is loading
        wait_for("the sink loading", lambda: pg.loaded(topic, group) >= 300, timeout=60,
                 interval=0.2)
        before = pg.loaded(topic, group)
        server.stop()
        t_stop = time.monotonic()
        time.sleep(OUTAGE_S)
        server.start()
        outage = time.monotonic() - t_stop
        sender.join(timeout=120)
        assert not sender.is_alive(), "the sender did not finish"
        not_ok = {k: a for k, a in answers.items() if a != 200}
        assert not not_ok and len(answers) == len(bodies) - 1, f"POSTs not acknowledged: {not_ok}"
        wait_loaded(pg, group, topic, EVENTS, timeout=60)

        assert sink.proc.poll() is None, f"the sink exited:\n{sink.tail()}"
        retries = [line for line in log_lines(sink, "WARN") if "postgres:" in line
                   and "retrying" in line]
        assert retries, f"no retry logged while PostgreSQL was down:\n{sink.tail()}"
        assert not log_lines(sink, "ERROR"), sink.tail()

        data = f'"{unique_name}"."data"'
        # Stitch's latest row per key: the last value sent for each key
        latest = pg.rows(f"SELECT d.id, d.v, d.pass FROM {data} d JOIN (SELECT id, "
                         f"MAX(_sdc_sequence) AS seq FROM {data} GROUP BY id) m "
                         "ON d.id = m.id AND d._sdc_sequence = m.seq ORDER BY d.id")
        assert latest == [(str(i), str(2 * KEYS + i), "2") for i in range(KEYS)], \
            f"{len(latest or [])} rows, e.g. {(latest or [])[:3]}"
        assert pg.rows(f"SELECT count(*) FROM {data}") == [(str(KEYS),)]
        rejected = pg.rows("SELECT (record::json->>'v')::int FROM "
                           f'"{unique_name}"."_sdc_rejected" ORDER BY 1')
        assert [int(v) for (v,) in rejected] == list(range(0, EVENTS, 10)), \
            f"{len(rejected)} rejections for {EVENTS // 10} rejected events"
        if stack_sink_pid:
            # the stack's own postgres sink, idle with a connection the
            # restart broke, lived through it and loads a new integration
            assert os.path.exists(f"/proc/{stack_sink_pid}"), "the stack's postgres sink died"
            after = unique_name + "_after"
            post_ok(hookpipectl.create(after, "--primary-key", "id", base_url=gateway_url),
                    {"id": 1})
            wait_loaded(pg, "hookpipe-sink-postgres", "webhooks." + after, 1, timeout=30)
        print(f"\nPostgreSQL down {outage:.1f}s after {before} of {EVENTS} loaded; "
              f"{len(retries)} retries logged")
    finally:
        if not server.running():
            server.start()
        sender.join(timeout=120)
        code = sink.stop()
    assert code == 0, sink.tail()
