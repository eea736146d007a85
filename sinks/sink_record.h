/* sink_record: the record model every sink pipeline shares — the system
 * fields added to every record (Stitch's _sdc_* columns) and the ONE rule
 * that takes them from a consumed Kafka message.
 *
 * The rule (README "What lands in Kafka"; DESIGN "Event topics"). Each
 * field on its own, the header winning when present and well-formed:
 *   received_at = header hookpipe-received-at (RFC 3339, µs);
 *                 else the Kafka timestamp (ms) × 1000;
 *                 else, with no timestamp (< 0), batched_at.
 *   sequence    = header hookpipe-sequence (decimal int64);
 *                 else sink_record_sequence(received_at, offset):
 *                   floor(received_at / 1000) × 1,000,000 + offset mod 1,000,000
 *                 i.e. the receive time in whole ms as ns (comparable with
 *                 the gateway's ns sequences), plus the offset in the
 *                 nanosecond digits, so header-less updates of one key in
 *                 one millisecond still order by offset. It is a pure
 *                 function of the message, so a replay gets the same value
 *                 (the loaders' guard then keeps the row as is).
 *                 Limit: two updates in one millisecond whose offsets lie
 *                 on either side of a multiple of 1,000,000 compare the
 *                 wrong way (a ms holds 10^6 ns, no more room in an int64).
 *                 Receive times beyond 2262-04-11 saturate at INT64_MAX.
 *   key         = the Kafka key (borrowed), batched_at = as given.
 * A message from our gateway has both headers; one from another producer
 * (a public interface: DESIGN "Event topics") may have neither.
 *
 * Use: the consumer calls sink_record_from_message() once per message, for
 * every pipeline; code that only has a message's parts (the warehouse's
 * wh_msg_from_kafka gets a sink_rec_t) calls sink_record_sys(). Both apply
 * the same rule; neither allocates; any thread. */
#ifndef HOOKPIPE_SINK_RECORD_H
#define HOOKPIPE_SINK_RECORD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* Avro field names, in schema order; the last only when the integration
 * has no primary key. A payload field mapping to one of them is rejected. */
#define SINK_SYS_RECEIVED_AT   "_sdc_received_at"    /* long timestamp-micros */
#define SINK_SYS_SEQUENCE      "_sdc_sequence"       /* long */
#define SINK_SYS_BATCHED_AT    "_sdc_batched_at"     /* long timestamp-micros */
#define SINK_SYS_TABLE_VERSION "_sdc_table_version"  /* ["null","long"] default null */
#define SINK_SYS_PRIMARY_KEY   "__sdc_primary_key"   /* string */

/* The system fields of one record. */
typedef struct sink_sys {
    int64_t received_at;     /* µs since the epoch */
    int64_t sequence;        /* ns since the epoch, or derived (see the rule) */
    int64_t batched_at;      /* µs since the epoch, when the sink took the batch */
    int has_table_version;   /* 0: _sdc_table_version is null (webhooks) */
    int64_t table_version;
    const char *key;         /* the Kafka key (borrowed for the call); becomes
                                __sdc_primary_key when there is no primary key */
    size_t key_len;
} sink_sys_t;

/* The derived sequence of a header-less message: received_at in µs, the
 * message's offset (a negative offset counts as 0). */
int64_t sink_record_sequence(int64_t received_at, int64_t offset);

/* The system fields of a consumed message: rkm and its headers hdrs (NULL
 * when it has none), batched_at in µs. *sys borrows rkm's key. */
void sink_record_from_message(const rd_kafka_message_t *rkm, const rd_kafka_headers_t *hdrs,
                              int64_t batched_at, sink_sys_t *sys);

/* The same from a message's parts: its headers (NULL if none), Kafka
 * timestamp in ms (-1 if none), offset and key (borrowed). */
void sink_record_sys(const rd_kafka_headers_t *hdrs, int64_t timestamp_ms, int64_t offset,
                     const void *key, size_t key_len, int64_t batched_at, sink_sys_t *sys);

#endif
