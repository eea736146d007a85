// Interop check of hookpipe-registry with @kafkajs/confluent-schema-registry:
// registers a schema, encodes and decodes a record, fetches by id and by
// subject, and decodes a message encoded by another client.
// Usage: node interop.js <registry-url> <subject> [hex-of-a-foreign-message]
// Prints one JSON object on stdout; exits non-zero on any failure.
'use strict';
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

async function main() {
  const [url, subject, foreignHex] = process.argv.slice(2);
  const registry = new SchemaRegistry({ host: url });
  const schema = {
    type: 'record', name: 'Event', namespace: 'hookpipe.interop',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'name', type: 'string' },
      { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
      { name: 'note', type: ['null', 'string'], default: null },
    ],
  };
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
  const again = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
  const latestId = await registry.getLatestSchemaId(subject);
  const versionId = await registry.getRegistryId(subject, 1);
  const payload = { id: 42, name: 'héllo', tags: ['a', 'b'], note: null };
  const encoded = await registry.encode(id, payload);
  const decoded = await registry.decode(encoded);
  const fetched = await registry.getSchema(id);
  const out = {
    id, again: again.id, latestId, versionId,
    encodedHex: encoded.toString('hex'),
    decoded,
    fetchedName: fetched.name,
  };
  if (foreignHex) {
    out.foreign = await registry.decode(Buffer.from(foreignHex, 'hex'));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`interop failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
