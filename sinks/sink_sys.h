/* sink_sys: the system fields added to every record (Stitch's _sdc_*
 * columns) and the parsers for the Kafka headers they come from. */
#ifndef HOOKPIPE_SINK_SYS_H
#define HOOKPIPE_SINK_SYS_H

#include <stddef.h>
#include <stdint.h>

/* Avro field names, in schema order; the last only when the integration
 * has no primary key. A payload field mapping to one of them is rejected. */
#define SINK_SYS_RECEIVED_AT   "_sdc_received_at"    /* long timestamp-micros */
#define SINK_SYS_SEQUENCE      "_sdc_sequence"       /* long */
#define SINK_SYS_BATCHED_AT    "_sdc_batched_at"     /* long timestamp-micros */
#define SINK_SYS_TABLE_VERSION "_sdc_table_version"  /* ["null","long"] default null */
#define SINK_SYS_PRIMARY_KEY   "__sdc_primary_key"   /* string */

/* Filled by the consumer for each Kafka message. */
typedef struct sink_sys {
    int64_t received_at;     /* µs since the epoch, header hookpipe-received-at */
    int64_t sequence;        /* header hookpipe-sequence (ns since the epoch) */
    int64_t batched_at;      /* µs since the epoch, when the sink took the batch */
    int has_table_version;   /* 0: _sdc_table_version is null (webhooks) */
    int64_t table_version;
    const char *key;         /* the Kafka key (borrowed for the call); becomes
                                __sdc_primary_key when there is no primary key */
    size_t key_len;
} sink_sys_t;

/* RFC 3339 UTC text ("2026-11-26T20:14:37.123456Z"; 'Z' or "+00:00"; 0 to 9
 * fraction digits, beyond microseconds truncated) to µs since the epoch.
 * 0, or -1 if malformed. */
int sink_sys_parse_time(const char *s, size_t len, int64_t *us);

/* Decimal int64 text (optional '-', digits only) to *out. 0, or -1. */
int sink_sys_parse_sequence(const char *s, size_t len, int64_t *out);

#endif
