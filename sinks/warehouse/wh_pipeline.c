/* wh_pipeline: the postgres and sqlite pipelines over wh_sink (see wh_pipeline.h). */
#include "wh_pipeline.h"

#include <stdlib.h>

#include "errstr.h"

typedef struct wh_pipeline {
    sink_pipeline_t base;   /* first: the consumer sees a sink_pipeline_t */
    wh_sink_t *sink;
} wh_pipeline_t;

static wh_sink_t *wh_pipeline_sink(sink_pipeline_t *p) {
    return ((wh_pipeline_t *)p)->sink;
}

static sink_pipe_start_t wh_pipeline_assigned(sink_pipeline_t *p, const char *topic,
                                              int32_t partition, int64_t *next, char *errstr,
                                              size_t errstr_size) {
    int rc = wh_sink_offset(wh_pipeline_sink(p), topic, partition, next, errstr, errstr_size);
    return rc < 0 ? SINK_PIPE_START_FAILED
                  : rc == 0 ? SINK_PIPE_START_STORED : SINK_PIPE_START_NONE;
}

static sink_pipe_rc_t wh_pipeline_write(sink_pipeline_t *p, const sink_msg_t *msg,
                                        char *errstr, size_t errstr_size) {
    wh_msg_t m = {
        .topic = msg->topic, .partition = msg->partition, .offset = msg->offset,
        .value = msg->value, .value_len = msg->value ? msg->value_len : 0, .sys = *msg->sys,
    };
    wh_integration_t in = {msg->integration, msg->pk, msg->npk};
    if (wh_sink_write(wh_pipeline_sink(p), &in, &m, errstr, errstr_size) < 0)
        return SINK_PIPE_FAILED;
    return SINK_PIPE_WRITTEN;
}

static int wh_pipeline_poll(sink_pipeline_t *p, char *errstr, size_t errstr_size) {
    return wh_sink_poll(wh_pipeline_sink(p), errstr, errstr_size);
}

static int64_t wh_pipeline_pending(sink_pipeline_t *p, const char *topic, int32_t partition) {
    return wh_sink_pending(wh_pipeline_sink(p), topic, partition);
}

static int wh_pipeline_flush(sink_pipeline_t *p, char *errstr, size_t errstr_size) {
    return wh_sink_flush(wh_pipeline_sink(p), errstr, errstr_size);
}

static void wh_pipeline_revoked(sink_pipeline_t *p, const char *topic) {
    wh_sink_forget(wh_pipeline_sink(p), topic);
}

static void wh_pipeline_stats(const sink_pipeline_t *p, sink_pipeline_stats_t *out) {
    /* the warehouse evolves its tables from the JSON: no schema versions */
    (void)p;
    out->versions = 0;
}

static void wh_pipeline_destroy(sink_pipeline_t *p) {
    if (!p)
        return;
    wh_sink_destroy(wh_pipeline_sink(p));
    free(p);
}

static const sink_pipeline_ops_t wh_pipeline_ops = {
    .name = "warehouse",
    .assigned = wh_pipeline_assigned,
    .write = wh_pipeline_write,
    .poll = wh_pipeline_poll,
    .pending = wh_pipeline_pending,
    .flush = wh_pipeline_flush,
    .revoked = wh_pipeline_revoked,
    .stats = wh_pipeline_stats,
    .destroy = wh_pipeline_destroy,
};

sink_pipeline_t *wh_pipeline_new(const wh_sink_conf_t *conf, char *errstr, size_t errstr_size) {
    wh_pipeline_t *wp = calloc(1, sizeof(*wp));
    if (!wp) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    wp->base.ops = &wh_pipeline_ops;
    if (!(wp->sink = wh_sink_new(conf, errstr, errstr_size))) {
        free(wp);
        return NULL;
    }
    return &wp->base;
}
