/* gw_ids: identifiers and clocks stamped on every request and message:
 * UUID v4 strings (request ids, keys of records without a primary key), the
 * strictly increasing per-process sequence, the wall and monotonic clocks
 * (their text forms for the event headers are event.h's).
 * Thread-safe; the random source is a per-thread generator seeded from the
 * OS (getrandom): unpredictable enough for ids, not for secrets. */
#ifndef HOOKPIPE_GW_IDS_H
#define HOOKPIPE_GW_IDS_H

#include <stddef.h>
#include <stdint.h>

#define GW_UUID_LEN 36   /* characters, without the NUL */

/* Writes a random UUID v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") and a NUL. */
void gw_ids_uuid(char out[GW_UUID_LEN + 1]);

/* The key of a record without a primary key when its delivery has an id:
 * a name-based UUID (version 5: SHA-1, RFC 9562) in namespace
 * GW_IDS_DELIVERY_NS over the bytes
 *   <integration> "\n" <delivery id> "\n" <index as decimal>
 * (index = the record's position in an array body, 0 for an object body).
 * The same delivery posted again gets the same keys, so the sink's upsert
 * by __sdc_primary_key absorbs the retry. Other systems can compute it. */
#define GW_IDS_DELIVERY_NS "5e0b6c1a-8f3d-4b27-9c45-d21a7e6f0b93"
void gw_ids_delivery_key(const char *integration, const char *delivery_id, size_t id_len,
                         size_t index, char out[GW_UUID_LEN + 1]);

/* Nanoseconds since the epoch, strictly greater than every value returned
 * before in this process (the wall clock, nudged forward when two calls
 * land in the same nanosecond or the clock steps back). */
int64_t gw_ids_sequence(void);

/* The wall clock in nanoseconds since the epoch. */
int64_t gw_ids_now_ns(void);

/* The monotonic clock in milliseconds (deadlines, timers, rate buckets). */
int64_t gw_ids_mono_ms(void);

#endif
