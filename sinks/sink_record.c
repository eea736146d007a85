/* sink_record: the system fields of a consumed message (the rule is in sink_record.h). */
#include "sink_record.h"

#include <string.h>

#include "event.h"

#define SINK_RECORD_NS_PER_MS 1000000LL

/* The last value of header name, or -1 when absent. */
static int sink_record_header(const rd_kafka_headers_t *hdrs, const char *name, const char **val,
                              size_t *len) {
    const void *v;
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &v, len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !v)
        return -1;
    *val = v;
    return 0;
}

int64_t sink_record_sequence(int64_t received_at, int64_t offset) {
    /* floor, so that instants before 1970 stay in order too */
    int64_t ms = received_at / 1000 - (received_at % 1000 < 0);
    int64_t lo = offset > 0 ? offset % SINK_RECORD_NS_PER_MS : 0;
    if (ms > (INT64_MAX - lo) / SINK_RECORD_NS_PER_MS)
        return INT64_MAX;
    if (ms < INT64_MIN / SINK_RECORD_NS_PER_MS)
        return INT64_MIN;
    return ms * SINK_RECORD_NS_PER_MS + lo;
}

void sink_record_sys(const rd_kafka_headers_t *hdrs, int64_t timestamp_ms, int64_t offset,
                     const void *key, size_t key_len, int64_t batched_at, sink_sys_t *sys) {
    const char *v;
    size_t n;
    memset(sys, 0, sizeof(*sys));
    if (sink_record_header(hdrs, EVENT_HDR_RECEIVED_AT, &v, &n) < 0 ||
        event_received_at_parse(v, n, &sys->received_at) < 0) {
        if (timestamp_ms < 0)
            sys->received_at = batched_at;
        else if (timestamp_ms > INT64_MAX / 1000)
            sys->received_at = INT64_MAX;
        else
            sys->received_at = timestamp_ms * 1000;
    }
    if (sink_record_header(hdrs, EVENT_HDR_SEQUENCE, &v, &n) < 0 ||
        event_sequence_parse(v, n, &sys->sequence) < 0)
        sys->sequence = sink_record_sequence(sys->received_at, offset);
    sys->batched_at = batched_at;
    sys->key = key;
    sys->key_len = key ? key_len : 0;
}

void sink_record_from_message(const rd_kafka_message_t *rkm, const rd_kafka_headers_t *hdrs,
                              int64_t batched_at, sink_sys_t *sys) {
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
    sink_record_sys(hdrs, ts, rkm->offset, rkm->key, rkm->key_len, batched_at, sys);
}
