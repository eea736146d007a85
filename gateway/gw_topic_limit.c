/* gw_topic_limit: a small TTL cache of topics' max.message.bytes. */
#include "gw_topic_limit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_ids.h"
#include "kafka.h"
#include "log.h"

typedef struct gw_topic_limit_entry {
    char *topic;
    long long limit;            /* -1: unknown */
    int64_t at_ms;              /* monotonic, when read */
    struct gw_topic_limit_entry *next;
} gw_topic_limit_entry_t;

static pthread_mutex_t gw_topic_limit_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_topic_limit_entry_t *gw_topic_limits;

long long gw_topic_limit(rd_kafka_t *rk, const char *topic) {
    int64_t now = gw_ids_mono_ms();
    pthread_mutex_lock(&gw_topic_limit_lock);
    gw_topic_limit_entry_t *e = gw_topic_limits;
    while (e && strcmp(e->topic, topic) != 0)
        e = e->next;
    if (e && now - e->at_ms < GW_TOPIC_LIMIT_TTL_MS) {
        long long v = e->limit;
        pthread_mutex_unlock(&gw_topic_limit_lock);
        return v;
    }
    pthread_mutex_unlock(&gw_topic_limit_lock);
    /* outside the lock: two threads may both look it up, which is harmless */
    char why[512];
    long long v = kafka_topic_max_message_bytes(rk, topic, GW_TOPIC_LIMIT_TIMEOUT_MS, why,
                                                sizeof(why));
    if (v <= 0) {
        log_warn("max.message.bytes of %s unknown (%s): the broker will decide", topic,
                 v < 0 ? why : "no such topic");
        v = -1;
    }
    pthread_mutex_lock(&gw_topic_limit_lock);
    for (e = gw_topic_limits; e && strcmp(e->topic, topic) != 0; e = e->next)
        ;
    if (!e && (e = calloc(1, sizeof(*e)))) {
        if ((e->topic = strdup(topic))) {
            e->next = gw_topic_limits;
            gw_topic_limits = e;
        } else {
            free(e);
            e = NULL;       /* out of memory: not cached, asked again next time */
        }
    }
    if (e) {
        e->limit = v;
        e->at_ms = now;
    }
    pthread_mutex_unlock(&gw_topic_limit_lock);
    return v;
}

void gw_topic_limit_reset(void) {
    pthread_mutex_lock(&gw_topic_limit_lock);
    while (gw_topic_limits) {
        gw_topic_limit_entry_t *e = gw_topic_limits;
        gw_topic_limits = e->next;
        free(e->topic);
        free(e);
    }
    pthread_mutex_unlock(&gw_topic_limit_lock);
}
