"""Records produced to webhooks.<integration> by a plain Kafka client, with no
hookpipe-* headers (the event topics are a public interface: DESIGN "Event
topics"), land in both warehouses by the one rule of sinks/sink_record.h:
_sdc_received_at = the Kafka timestamp, _sdc_sequence = the timestamp's ms x
1,000,000 + the offset mod 1,000,000, and a key's row holds its LAST update
by offset, also when several updates share one millisecond.

PostgreSQL through the stack's postgres sink, SQLite through the module's
sqlite sink (conftest's `pg` and `lite`); and the same two fields in the Avro
records the stack's kafka-avro sink writes to <topic>.avro (one rule for
every pipeline). The produced messages' offsets and timestamps come from the
producer's delivery reports.
"""
import datetime
import time
import uuid

import pytest
from confluent_kafka import Producer

from hookpipe_support import Pg, read_avro_topic

PK_VALUES = ["1", "2", "3", "4"]


def expected_sequence(ts_ms, offset):
    """The documented derivation (README "What lands in Kafka")."""
    return ts_ms * 1_000_000 + offset % 1_000_000


@pytest.fixture(scope="module")
def produced(hookpipectl, bootstrap):
    """One integration (primary key id) and its records, produced once for
    both warehouses by a plain client: a list of (key, value, offset, ts_ms)
    in offset order."""
    name = "t_" + uuid.uuid4().hex[:12]
    hookpipectl.create(name, "--primary-key", "id", "--partitions", "1")
    topic = "webhooks." + name
    reports = []

    def delivered(err, msg):
        assert err is None, err
        reports.append((msg.key().decode(), msg.value().decode(), msg.offset(),
                        msg.timestamp()[1]))

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "linger.ms": 20})
    t0 = int(time.time() * 1000) - 60_000

    def send(key, a, ts=None):
        # keyed as the gateway keys: the primary-key value's literal
        value = f'{{"id": {key}, "a": {a}}}'
        kw = {"timestamp": ts} if ts is not None else {}
        p.produce(topic, key=key.encode(), value=value.encode(), on_delivery=delivered, **kw)

    # key 1: three updates in one millisecond
    for a in (1, 2, 3):
        send("1", a, t0)
    # key 2: updates in quick succession, timestamped by the client (now)
    for a in (10, 20, 30, 40, 50):
        send("2", a)
    # key 3: one record; key 4: an update in a later millisecond, then two
    # in that same millisecond again
    send("3", 100, t0 + 1)
    send("4", 1000, t0)
    send("4", 2000, t0 + 7)
    send("4", 3000, t0 + 7)
    assert p.flush(30) == 0
    reports.sort(key=lambda r: r[2])
    assert len(reports) == 12 and [r[2] for r in reports] == list(range(12)), reports
    return name, topic, reports


def last_by_offset(reports):
    last = {}
    for key, value, offset, ts_ms in reports:
        last[key] = (value, offset, ts_ms)
    return last


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def received_us(wh, text):
    """_sdc_received_at as read back: µs since the epoch."""
    if isinstance(wh, Pg):
        return int(text)
    # SQLite keeps it as 'YYYY-MM-DD HH:MM:SS.ffffff+00:00' text
    return (datetime.datetime.fromisoformat(text) - EPOCH) // datetime.timedelta(microseconds=1)


def test_plain_records_upsert_in_offset_order(wh, produced):
    target = "postgres" if isinstance(wh, Pg) else "sqlite"
    name, topic, reports = produced
    wh.wait_loaded(topic, len(reports))
    data = wh.table(name, "data")
    at = ("(EXTRACT(EPOCH FROM _sdc_received_at) * 1000000)::bigint" if isinstance(wh, Pg)
          else "_sdc_received_at")
    rows = wh.rows(f"SELECT id, a, {at}, _sdc_sequence FROM {data} ORDER BY id")
    assert rows is not None, "no data table"
    got = {r[0]: r for r in rows}
    assert sorted(got) == PK_VALUES, rows
    for key, (value, offset, ts_ms) in sorted(last_by_offset(reports).items()):
        row = got[key]
        want_a = value.split('"a": ')[1].rstrip("}")
        # the row holds the key's last update by offset
        assert row[1] == want_a, (target, key, row, "want the update at offset", offset)
        # the receive time is the Kafka timestamp, not 1970
        assert received_us(wh, row[2]) == ts_ms * 1000, (target, key, row, ts_ms)
        # the sequence is derived as documented
        assert int(row[3]) == expected_sequence(ts_ms, offset), (target, key, row, ts_ms, offset)
    # one millisecond, three updates: the derived sequences still grow with the offset
    seqs = [expected_sequence(ts, off) for k, _, off, ts in reports if k == "1"]
    assert seqs == sorted(set(seqs)), seqs


def test_plain_records_avro(produced, bootstrap, registry_url):
    name, topic, reports = produced
    want = {}
    for key, value, offset, ts_ms in reports:
        a = int(value.split('"a": ')[1].rstrip("}"))
        want[(int(key), a)] = (offset, ts_ms)
    msgs, seen = read_avro_topic(bootstrap, registry_url, topic + ".avro", set(want),
                                 key_of=lambda rec: (rec["id"], rec["a"]))
    assert set(want) <= seen, (sorted(set(want) - seen), "not in", topic + ".avro")
    for _, _, rec, _, _ in msgs:
        offset, ts_ms = want[(rec["id"], rec["a"])]
        at = rec["_sdc_received_at"]
        if isinstance(at, datetime.datetime):  # timestamp-micros, decoded
            at = (at - EPOCH) // datetime.timedelta(microseconds=1)
        assert at == ts_ms * 1000, (rec, ts_ms)
        assert rec["_sdc_sequence"] == expected_sequence(ts_ms, offset), (rec, ts_ms, offset)
