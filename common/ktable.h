/* ktable: a compacted topic read as a table — every reader of such a topic
 * (hookpipe.integrations for the gateway, hookpipectl and the sink; _schemas
 * for the registry) reads it this way, so the rules below hold for all.
 *
 * Each keyed record is handed to a callback in log order as key, value and
 * offset; a NULL value is a tombstone (the key is deleted). A record without
 * a key is skipped with a warning: a compacted topic cannot hold it. What a
 * value means is the caller's business (the last one per key wins).
 *
 * Two ways to read:
 *
 * ktable_read: once, from the beginning to the end as of the call, on the
 *   caller's thread. The end of each partition is its high watermark when
 *   the read starts. A read_committed consumer (librdkafka's default) sees
 *   the last stable offset, which trails the high watermark until the
 *   commit marker of the latest transaction is written — a few ms after its
 *   writer returned — and the marker itself is never delivered. So with
 *   eof_grace_ms > 0 a partition is done at the end-of-partition event at
 *   its watermark (a reader then sees every change an earlier writer
 *   finished), and an end-of-partition event short of it starts a grace of
 *   eof_grace_ms after which the partition is done anyway (a transaction
 *   left open by a dead writer holds it back until its timeout). With
 *   eof_grace_ms 0 the first end-of-partition event ends the partition.
 *   Bounded twice: stall_ms without a record fails, and total_ms in all.
 *
 * ktable_follow: for good, on a thread of its own, partition 0 only (the
 *   topics we follow have one partition). It creates the topic when missing
 *   (one partition, cleanup.policy=compact) if asked, retrying every
 *   retry_ms while Kafka does not answer, reads from the beginning and then
 *   follows live. Caught up = the follower has reached the end the topic had
 *   when it started (KTABLE_READY_AT_END: the position reached the high
 *   watermark asked after the topic was found), or reached an end once
 *   (KTABLE_READY_AT_EOF: the first end-of-partition event, which for a
 *   read_committed consumer is the last stable offset — an open transaction
 *   does not keep such a follower from being ready). Until then a service
 *   answers "not ready". With probe_ms > 0 the follower also asks Kafka for
 *   the watermark every probe_ms and keeps the answer (ktable_kafka_ok),
 *   logging each change.
 *
 * Threads: ktable_read uses the caller's thread and consumer. A follower's
 * callback runs on the follower's thread (guard shared state); every other
 * ktable_* call is safe from any thread. */
#ifndef HOOKPIPE_KTABLE_H
#define HOOKPIPE_KTABLE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

typedef enum {
    KTABLE_OK = 0,
    KTABLE_ENOTOPIC,    /* the topic does not exist */
    KTABLE_EKAFKA,      /* Kafka refused or did not answer a request */
    KTABLE_ETIMEOUT,    /* the read or wait did not finish within its bound */
    KTABLE_ESTOPPED,    /* the callback stopped the read, or the follower stopped */
    KTABLE_ENOMEM
} ktable_err_t;

/* One record. Borrowed for the callback's duration only. */
typedef struct ktable_rec {
    const char *key;        /* never NULL; not NUL-terminated, may hold NULs */
    size_t key_len;         /* > 0 */
    const char *value;      /* NULL: tombstone; else not NUL-terminated */
    size_t value_len;
    int32_t partition;
    int64_t offset;
} ktable_rec_t;

/* Called per record. Return 0 to go on; non-zero stops a ktable_read
 * (which then returns KTABLE_ESTOPPED); a follower ignores the answer. */
typedef int ktable_cb_t(void *opaque, const ktable_rec_t *rec);

/* A consumer configuration for reading a table: kafka_conf_new(cfg) with
 * enable.partition.eof=true and enable.auto.commit=false, and group.id =
 * group_id unless the user set kafka.group.id (librdkafka wants one for
 * assign(); no group is joined and nothing is committed). The caller owns
 * the result. NULL with errstr if a property is refused. */
rd_kafka_conf_t *ktable_conf_new(const cfg_t *cfg, const char *group_id, char *errstr,
                                 size_t errstr_size);

typedef struct ktable_read_opts {
    int request_ms;     /* bound on each metadata / watermark request (> 0) */
    int stall_ms;       /* KTABLE_ETIMEOUT when no record comes for this long; 0 = none */
    int total_ms;       /* KTABLE_ETIMEOUT when the read takes longer; 0 = none */
    int eof_grace_ms;   /* see above; 0 = done at the first end of partition */
} ktable_read_opts_t;

/* Reads every partition of `topic` once, as above, with `rk` (a consumer
 * made from ktable_conf_new; it is assign()ed to the topic and left so).
 * KTABLE_OK after the last record; KTABLE_ENOTOPIC if the topic does not
 * exist (nothing read); else the error, with the reason in errstr
 * (KTABLE_ESTOPPED: no reason added). Records read before an error were
 * handed over. */
ktable_err_t ktable_read(rd_kafka_t *rk, const char *topic, const ktable_read_opts_t *opts,
                         ktable_cb_t *cb, void *opaque, char *errstr, size_t errstr_size);

typedef enum {
    KTABLE_READY_AT_END = 0,    /* caught up at the watermark asked at start */
    KTABLE_READY_AT_EOF         /* caught up at the first end of partition */
} ktable_ready_t;

typedef struct ktable_follow_opts {
    const char *topic;
    ktable_cb_t *cb;
    void *opaque;
    int create;             /* create the topic when missing */
    int retry_ms;           /* between attempts while Kafka does not answer (> 0) */
    int request_ms;         /* bound on each metadata / create / watermark request */
    int probe_ms;           /* reachability probe period; 0 = no probe */
    ktable_ready_t ready;
} ktable_follow_opts_t;

typedef struct ktable ktable_t;

/* Starts following opts->topic with a consumer made from `conf` (taken in
 * every case; ktable_conf_new makes a suitable one). opts is copied (the
 * topic too); opaque is borrowed for the follower's life. NULL with errstr
 * if the consumer or the thread cannot be made. */
ktable_t *ktable_follow(rd_kafka_conf_t *conf, const ktable_follow_opts_t *opts, char *errstr,
                        size_t errstr_size);

/* Stops the thread (a callback under way finishes first), closes the
 * consumer and frees. ktable_destroy(NULL) is a no-op. */
void ktable_destroy(ktable_t *kt);

/* 1 once caught up (see above); stays 1. */
int ktable_caught_up(ktable_t *kt);

/* 1 if the last probe was answered (1 before the first with probe_ms 0). */
int ktable_kafka_ok(ktable_t *kt);

/* The offset of the next record to hand over: every record below it was. */
int64_t ktable_position(ktable_t *kt);

/* Waits until every record below `offset` was handed over. KTABLE_OK,
 * KTABLE_ETIMEOUT after timeout_ms, or KTABLE_ESTOPPED if the follower is
 * being destroyed. */
ktable_err_t ktable_wait(ktable_t *kt, int64_t offset, int timeout_ms);

/* Asks Kafka for the high watermark now and waits until the follower got
 * there: afterwards the callback has seen everything written before the
 * call. KTABLE_OK, or KTABLE_EKAFKA (reason in errstr), KTABLE_ETIMEOUT,
 * KTABLE_ESTOPPED. */
ktable_err_t ktable_sync(ktable_t *kt, int timeout_ms, char *errstr, size_t errstr_size);

/* The consumer, for watermark queries and the like (owned by kt). */
rd_kafka_t *ktable_consumer(ktable_t *kt);

#endif
