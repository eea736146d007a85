/* sink_ocf: writes Avro object container files (Avro 1.11 specification,
 * "Object Container Files") from records already encoded as Avro binary.
 *
 * Why our own writer: avro-c's file writer re-serialises the schema with
 * avro_schema_to_json, which drops "default" and "logicalType" (DESIGN.md).
 * Here the metadata key "avro.schema" holds exactly the text the caller gives.
 *
 * Layout: magic "Obj\x01"; the metadata map {"avro.schema": text,
 * "avro.codec": "null"|"deflate"|"snappy"}; a 16-byte sync marker from the
 * OS random source; then blocks of (record count, byte size, data, sync).
 * deflate blocks are raw deflate (RFC 1951, zlib without header); snappy
 * blocks are snappy-compressed data followed by the big-endian CRC-32 of the
 * uncompressed data.
 *
 * A writer owns its file descriptor and is used by one thread at a time.
 * Errors are sticky: after a failed write every later call fails too, and the
 * file must be abandoned (sink_ocf_destroy) — a half-written block cannot be
 * repaired. */
#ifndef HOOKPIPE_SINK_OCF_H
#define HOOKPIPE_SINK_OCF_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SINK_OCF_NULL = 0, SINK_OCF_DEFLATE, SINK_OCF_SNAPPY } sink_ocf_codec_t;

/* "null", "deflate" or "snappy" -> codec; -1 for anything else. */
int sink_ocf_codec_parse(const char *name);
const char *sink_ocf_codec_name(sink_ocf_codec_t codec);

/* Default uncompressed bytes gathered before a block is written. */
#define SINK_OCF_BLOCK_BYTES (64 * 1024)

typedef struct sink_ocf sink_ocf_t;

/* Creates `path` (which must not exist: O_EXCL, mode 0644) and writes the
 * header. `schema` (schema_len bytes) is copied into the file as is.
 * block_bytes 0 picks SINK_OCF_BLOCK_BYTES. Returns the writer (caller owns:
 * sink_ocf_close or sink_ocf_destroy) or NULL with errstr. */
sink_ocf_t *sink_ocf_open(const char *path, const char *schema, size_t schema_len,
                          sink_ocf_codec_t codec, size_t block_bytes,
                          char *errstr, size_t errstr_size);

/* Appends one record: `datum` is its Avro binary encoding under the file's
 * schema (not checked). Writes a block once block_bytes are gathered.
 * 0, or -1 with errstr. */
int sink_ocf_append(sink_ocf_t *w, const void *datum, size_t len,
                    char *errstr, size_t errstr_size);

/* Writes the gathered records as a block (nothing if there are none) and
 * fsyncs the file. After 0, every appended record is on disk. */
int sink_ocf_sync(sink_ocf_t *w, char *errstr, size_t errstr_size);

/* Records appended so far, and the file size once the gathered records are
 * written (an estimate before compression). */
uint64_t sink_ocf_records(const sink_ocf_t *w);
uint64_t sink_ocf_bytes(const sink_ocf_t *w);

/* sink_ocf_sync, then closes the file and frees the writer, also on error
 * (the caller then deletes the file). 0 or -1 with errstr. */
int sink_ocf_close(sink_ocf_t *w, char *errstr, size_t errstr_size);

/* Closes the file without writing what is gathered and frees the writer;
 * the file is left as it is for the caller to delete. NULL is a no-op. */
void sink_ocf_destroy(sink_ocf_t *w);

#endif
