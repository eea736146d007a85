"""Third-party clients, unchanged, against hookpipe-registry: Python
confluent-kafka (SchemaRegistryClient, AvroSerializer, AvroDeserializer) and
the npm package @kafkajs/confluent-schema-registry (tests/interop). Each
registers, fetches, encodes and decodes; each decodes what the other wrote."""
import json
import pathlib
import shutil
import struct

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from hookpipe_support import run

INTEROP = pathlib.Path(__file__).resolve().parents[1] / "interop"

EVENT = {
    "type": "record", "name": "Event", "namespace": "hookpipe.interop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


def test_confluent_kafka_python(replicas):
    (r,) = replicas(1)
    client = SchemaRegistryClient({"url": r.url})
    text = json.dumps(EVENT)
    ctx = SerializationContext("orders", MessageField.VALUE)
    ser = AvroSerializer(client, text)
    value = {"id": 7, "name": "ünïcode", "tags": ["x"], "note": "n"}
    data = ser(value, ctx)
    assert data[0] == 0
    (sid,) = struct.unpack(">I", data[1:5])

    # a fresh client (empty caches) reads it back
    fresh = SchemaRegistryClient({"url": r.url})
    assert AvroDeserializer(fresh)(data, ctx) == value
    assert json.loads(fresh.get_schema(sid).schema_str) == EVENT
    latest = fresh.get_latest_version("orders-value")
    assert latest.schema_id == sid and latest.version == 1
    assert fresh.get_version("orders-value", 1).schema_id == sid
    found = fresh.lookup_schema("orders-value", Schema(text, "AVRO"))
    assert found.schema_id == sid and found.version == 1
    assert fresh.get_subjects() == ["orders-value"]
    assert fresh.get_versions("orders-value") == [1]
    assert fresh.register_schema("orders-value", Schema(text, "AVRO")) == sid

    evolved = dict(EVENT, fields=EVENT["fields"] + [
        {"name": "amount", "type": ["null", "double"], "default": None}])
    assert fresh.test_compatibility("orders-value", Schema(json.dumps(evolved), "AVRO"))
    broken = dict(EVENT, fields=[{"name": "id", "type": "string"}])
    assert not fresh.test_compatibility("orders-value", Schema(json.dumps(broken), "AVRO"))
    with pytest.raises(SchemaRegistryError) as e:
        fresh.register_schema("orders-value", Schema(json.dumps(broken), "AVRO"))
    assert e.value.http_status_code == 409 and e.value.error_code == 409
    with pytest.raises(SchemaRegistryError) as e:
        fresh.get_schema(9999)
    assert e.value.error_code == 40403
    fresh.set_compatibility("orders-value", "FULL")
    assert fresh.get_compatibility("orders-value") == "FULL"

    # old data read with the evolved schema (the sink's evolution path)
    id2 = fresh.register_schema("orders-value", Schema(json.dumps(evolved), "AVRO"))
    assert id2 != sid
    reader = AvroDeserializer(fresh, json.dumps(evolved))
    assert reader(data, ctx) == dict(value, amount=None)
    assert fresh.delete_version("orders-value", 2) == 2
    assert fresh.delete_subject("orders-value") == [1]


def node_interop(url, subject, foreign_hex=None):
    if shutil.which("node") is None:
        pytest.fail("node is not installed (see compose/local/install-deps)")
    if not (INTEROP / "node_modules" / "@kafkajs").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP, timeout=300)
    args = ["node", str(INTEROP / "interop.js"), url, subject] + ([foreign_hex] if foreign_hex else [])
    done = run(args, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_kafkajs_schema_registry_and_cross_decoding(replicas):
    (r,) = replicas(1)
    # Python writes first under the same subject and schema
    client = SchemaRegistryClient({"url": r.url})
    ctx = SerializationContext("events", MessageField.VALUE)
    py_value = {"id": 1, "name": "from python", "tags": [], "note": None}
    py_bytes = AvroSerializer(client, json.dumps(EVENT))(py_value, ctx)

    out = node_interop(r.url, "events-value", py_bytes.hex())
    (py_id,) = struct.unpack(">I", py_bytes[1:5])
    assert out["id"] == out["again"] == out["latestId"] == out["versionId"] == py_id
    assert out["decoded"] == {"id": 42, "name": "héllo", "tags": ["a", "b"], "note": None}
    assert out["foreign"] == py_value
    assert out["fetchedName"] == "hookpipe.interop.Event"
    # and Python decodes what node wrote
    node_bytes = bytes.fromhex(out["encodedHex"])
    assert AvroDeserializer(SchemaRegistryClient({"url": r.url}))(node_bytes, ctx) == out["decoded"]
