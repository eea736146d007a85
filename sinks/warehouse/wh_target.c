/* wh_target: the postgres and sqlite sink targets over wh_sink (see wh_target.h). */
#include "wh_target.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct wh_target {
    sink_target_t base;     /* first: the consumer sees a sink_target_t */
    wh_sink_t *sink;
} wh_target_t;

static int t_open(sink_target_t *t, const char *topic, const char *integration,
                  const sink_schema_t *schema, char *errstr, size_t errstr_size) {
    /* the warehouse evolves its tables from the JSON, not from Avro schemas */
    (void)t, (void)topic, (void)integration, (void)schema, (void)errstr, (void)errstr_size;
    return 0;
}

static int t_write(sink_target_t *t, const sink_rec_t *rec, char *errstr, size_t errstr_size) {
    (void)t, (void)rec;
    snprintf(errstr, errstr_size, "the warehouse targets take JSON: use wh_target_write_json");
    return -1;
}

static int t_poll(sink_target_t *t, char *errstr, size_t errstr_size) {
    return wh_sink_poll(((wh_target_t *)t)->sink, errstr, errstr_size);
}

static int64_t t_pending(sink_target_t *t, const char *topic, int32_t partition) {
    return wh_sink_pending(((wh_target_t *)t)->sink, topic, partition);
}

static int t_flush(sink_target_t *t, char *errstr, size_t errstr_size) {
    return wh_sink_flush(((wh_target_t *)t)->sink, errstr, errstr_size);
}

static void t_close(sink_target_t *t, const char *topic) {
    wh_sink_forget(((wh_target_t *)t)->sink, topic);
}

static void t_destroy(sink_target_t *t) {
    if (!t)
        return;
    wh_sink_destroy(((wh_target_t *)t)->sink);
    free(t);
}

static const sink_target_ops_t wh_ops = {
    .name = "warehouse",
    .open = t_open,
    .write = t_write,
    .poll = t_poll,
    .pending = t_pending,
    .flush = t_flush,
    .close = t_close,
    .destroy = t_destroy,
};

sink_target_t *wh_target_new(const wh_sink_conf_t *conf, char *errstr, size_t errstr_size) {
    wh_target_t *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    t->base.ops = &wh_ops;
    if (!(t->sink = wh_sink_new(conf, errstr, errstr_size))) {
        free(t);
        return NULL;
    }
    return &t->base;
}

int wh_target_is(const sink_target_t *t) { return t && t->ops == &wh_ops; }

int wh_target_write_json(sink_target_t *t, const sink_rec_t *rec, const void *value,
                         size_t value_len, const char *const *pk, size_t npk, char *errstr,
                         size_t errstr_size) {
    wh_msg_t m;
    wh_msg_from_kafka(&m, rec->topic, rec->partition, rec->offset, rec->timestamp_ms, rec->key,
                      rec->key_len, value, value_len, rec->headers);
    wh_integration_t in = {rec->integration, pk, npk};
    return wh_sink_write(((wh_target_t *)t)->sink, &in, &m, errstr, errstr_size);
}

int wh_target_assigned(sink_target_t *t, const char *topic, int32_t partition, int64_t *next,
                       char *errstr, size_t errstr_size) {
    return wh_sink_offset(((wh_target_t *)t)->sink, topic, partition, next, errstr, errstr_size);
}
