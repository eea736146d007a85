/* sink_files: the avro-files target; atomic, rolled Avro container files. */
#include "sink_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errstr.h"
#include "log.h"
#include "rfc3339.h"

/* The schema a topic's records are written with (set by open). */
typedef struct sink_files_topic {
    char *topic, *integration;
    int schema_id;
    char *schema;
    size_t schema_len;
    uint64_t version;           /* bumped by each open(): files of older ones roll */
} sink_files_topic_t;

/* The open file of one topic and partition. */
typedef struct sink_files_file {
    sink_files_topic_t *tp;
    int32_t partition;
    int64_t first_offset;
    int64_t opened_ms;          /* monotonic */
    uint64_t version;
    sink_ocf_t *ocf;
    char *tmp_path, *final_path, *dir_path;
} sink_files_file_t;

typedef struct sink_files {
    sink_target_t base;
    char *dir;
    uint64_t max_bytes;
    int64_t max_age_ms;
    sink_ocf_codec_t codec;
    sink_files_topic_t **topics;
    size_t ntopics;
    sink_files_file_t **files;
    size_t nfiles;
} sink_files_t;

static int64_t sink_files_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sink_files_fsync_dir(const char *path, char *errstr, size_t errstr_size) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        errstr_fmt(0, errstr, errstr_size, "%s: fsync directory: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Creates path unless it exists; a new directory's entry is made durable
 * by an fsync of `parent` (NULL: not needed). */
static int sink_files_mkdir(const char *path, const char *parent, char *errstr,
                            size_t errstr_size) {
    if (mkdir(path, 0755) < 0) {
        if (errno == EEXIST)
            return 0;
        return errstr_fmt(-1, errstr, errstr_size, "%s: mkdir: %s", path, strerror(errno));
    }
    return parent ? sink_files_fsync_dir(parent, errstr, errstr_size) : 0;
}

static sink_files_topic_t *sink_files_topic(sink_files_t *f, const char *topic) {
    for (size_t i = 0; i < f->ntopics; i++)
        if (strcmp(f->topics[i]->topic, topic) == 0)
            return f->topics[i];
    return NULL;
}

static void sink_files_file_free(sink_files_file_t *file) {
    if (!file)
        return;
    sink_ocf_destroy(file->ocf);
    free(file->tmp_path);
    free(file->final_path);
    free(file->dir_path);
    free(file);
}

static void sink_files_remove_file(sink_files_t *f, size_t i) {
    sink_files_file_free(f->files[i]);
    f->files[i] = f->files[--f->nfiles];
}

/* Finishes file i: fsync, close, rename to its final name, fsync the
 * directory; then its records are durable and the file is forgotten. */
static int sink_files_roll(sink_files_t *f, size_t i, const char *why, char *errstr,
                           size_t errstr_size) {
    sink_files_file_t *file = f->files[i];
    uint64_t records = sink_ocf_records(file->ocf), bytes = sink_ocf_bytes(file->ocf);
    int rc = sink_ocf_close(file->ocf, errstr, errstr_size);
    file->ocf = NULL;
    if (rc < 0)
        return -1;
    /* never replace an existing file: a restarted sink (or another member
     * during a hand-over) may open at the same offset in the same ms */
    size_t n = strlen(file->final_path) + 16;
    char *name = malloc(n);
    if (!name) {
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    snprintf(name, n, "%s", file->final_path);
    for (int k = 2;; k++) {
        if (renameat2(AT_FDCWD, file->tmp_path, AT_FDCWD, name, RENAME_NOREPLACE) == 0)
            break;
        if (errno != EEXIST || k >= 1000) {
            errstr_fmt(0, errstr, errstr_size, "rename %s: %s", file->tmp_path, strerror(errno));
            free(name);
            return -1;
        }
        snprintf(name, n, "%.*s_%d.avro", (int)(strlen(file->final_path) - 5),
                 file->final_path, k);
    }
    free(file->final_path);
    file->final_path = name;
    if (sink_files_fsync_dir(file->dir_path, errstr, errstr_size) < 0)
        return -1;
    log_info("wrote %s (%llu records, %llu bytes, %s)", file->final_path,
             (unsigned long long)records, (unsigned long long)bytes, why);
    sink_files_remove_file(f, i);
    return 0;
}

static int sink_files_open_file(sink_files_t *f, sink_files_topic_t *tp, const sink_rec_t *rec,
                                sink_files_file_t **out, char *errstr, size_t errstr_size) {
    sink_files_file_t *file = calloc(1, sizeof(*file));
    sink_files_file_t **files = realloc(f->files, (f->nfiles + 1) * sizeof(*files));
    if (!file || !files) {
        free(file);
        if (files)
            f->files = files;
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    f->files = files;
    file->tp = tp;
    file->partition = rec->partition;
    file->first_offset = rec->offset;
    file->opened_ms = sink_files_mono_ms();
    file->version = tp->version;

    char stamp[RFC3339_MAX], name[128];
    rfc3339_format(rfc3339_now_us(), RFC3339_BASIC_MILLIS, stamp, sizeof(stamp));
    snprintf(name, sizeof(name), "%s-%d-%lld.avro", stamp, (int)rec->partition,
             (long long)rec->offset);
    if (asprintf(&file->dir_path, "%s/%s", f->dir, tp->integration) < 0)
        file->dir_path = NULL;
    if (!file->dir_path || asprintf(&file->final_path, "%s/%s", file->dir_path, name) < 0 ||
        asprintf(&file->tmp_path, "%s/.%s.tmp", file->dir_path, name) < 0) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (sink_files_mkdir(file->dir_path, f->dir, errstr, errstr_size) < 0)
        goto fail;
    file->ocf = sink_ocf_open(file->tmp_path, tp->schema, tp->schema_len, f->codec, 0, errstr,
                              errstr_size);
    if (!file->ocf)
        goto fail;
    f->files[f->nfiles++] = file;
    *out = file;
    return 0;
fail:
    if (file->ocf)
        unlink(file->tmp_path);
    sink_files_file_free(file);
    return -1;
}

static void sink_files_topic_free(sink_files_topic_t *tp) {
    if (!tp)
        return;
    free(tp->topic);
    free(tp->integration);
    free(tp->schema);
    free(tp);
}

static int sink_files_open(sink_target_t *t, const char *topic, const char *integration,
                           const sink_schema_t *schema, char *errstr, size_t errstr_size) {
    sink_files_t *f = (sink_files_t *)t;
    sink_files_topic_t *tp = sink_files_topic(f, topic);
    if (!tp) {
        sink_files_topic_t **topics = realloc(f->topics, (f->ntopics + 1) * sizeof(*topics));
        if (!topics)
            goto nomem;
        f->topics = topics;
        tp = calloc(1, sizeof(*tp));
        if (!tp || !(tp->topic = strdup(topic)) || !(tp->integration = strdup(integration))) {
            sink_files_topic_free(tp);
            goto nomem;
        }
        f->topics[f->ntopics++] = tp;
    }
    char *text = malloc(schema->len + 1);
    if (!text)
        goto nomem;
    memcpy(text, schema->text, schema->len);
    text[schema->len] = 0;
    free(tp->schema);
    tp->schema = text;
    tp->schema_len = schema->len;
    tp->schema_id = schema->id;
    tp->version++;
    return 0;
nomem:
    return errstr_fmt(-1, errstr, errstr_size, "out of memory");
}

static sink_target_rc_t sink_files_write(sink_target_t *t, const sink_rec_t *rec,
                                         char *errstr, size_t errstr_size) {
    sink_files_t *f = (sink_files_t *)t;
    sink_files_topic_t *tp = sink_files_topic(f, rec->topic);
    if (!tp || !tp->schema) {
        errstr_fmt(0, errstr, errstr_size, "%s: write before open", rec->topic);
        return SINK_TARGET_FAILED;
    }
    sink_files_file_t *file = NULL;
    for (size_t i = 0; i < f->nfiles; i++) {
        if (f->files[i]->tp != tp || f->files[i]->partition != rec->partition)
            continue;
        if (f->files[i]->version != tp->version) {
            /* one schema per file: a new version starts a new file */
            if (sink_files_roll(f, i, "schema changed", errstr, errstr_size) < 0)
                return SINK_TARGET_FAILED;
        } else {
            file = f->files[i];
        }
        break;
    }
    if (!file && sink_files_open_file(f, tp, rec, &file, errstr, errstr_size) < 0)
        return SINK_TARGET_FAILED;
    if (sink_ocf_append(file->ocf, rec->avro, rec->avro_len, errstr, errstr_size) < 0)
        return SINK_TARGET_FAILED;
    if (f->max_bytes && sink_ocf_bytes(file->ocf) >= f->max_bytes) {
        for (size_t i = 0; i < f->nfiles; i++)
            if (f->files[i] == file)
                return sink_files_roll(f, i, "size", errstr, errstr_size) < 0 ? SINK_TARGET_FAILED
                                                                              : SINK_TARGET_OK;
    }
    return SINK_TARGET_OK;
}

static int sink_files_poll(sink_target_t *t, char *errstr, size_t errstr_size) {
    sink_files_t *f = (sink_files_t *)t;
    if (!f->max_age_ms)
        return 0;
    int64_t now = sink_files_mono_ms();
    for (size_t i = 0; i < f->nfiles;) {
        if (now - f->files[i]->opened_ms >= f->max_age_ms) {
            if (sink_files_roll(f, i, "age", errstr, errstr_size) < 0)
                return -1;
            continue; /* roll moved the last file into slot i */
        }
        i++;
    }
    return 0;
}

static int64_t sink_files_pending(sink_target_t *t, const char *topic, int32_t partition) {
    sink_files_t *f = (sink_files_t *)t;
    for (size_t i = 0; i < f->nfiles; i++)
        if (f->files[i]->partition == partition && strcmp(f->files[i]->tp->topic, topic) == 0)
            return f->files[i]->first_offset;
    return -1;
}

static int sink_files_flush(sink_target_t *t, char *errstr, size_t errstr_size) {
    sink_files_t *f = (sink_files_t *)t;
    while (f->nfiles > 0)
        if (sink_files_roll(f, f->nfiles - 1, "flush", errstr, errstr_size) < 0)
            return -1;
    return 0;
}

static void sink_files_close(sink_target_t *t, const char *topic) {
    sink_files_t *f = (sink_files_t *)t;
    for (size_t i = 0; i < f->ntopics; i++) {
        sink_files_topic_t *tp = f->topics[i];
        if (strcmp(tp->topic, topic) != 0)
            continue;
        /* a file still open loses its records: they were never committed */
        for (size_t k = 0; k < f->nfiles;) {
            if (f->files[k]->tp == tp) {
                unlink(f->files[k]->tmp_path);
                sink_files_remove_file(f, k);
            } else {
                k++;
            }
        }
        sink_files_topic_free(tp);
        f->topics[i] = f->topics[--f->ntopics];
        return;
    }
}

static void sink_files_destroy(sink_target_t *t) {
    sink_files_t *f = (sink_files_t *)t;
    if (!f)
        return;
    while (f->ntopics > 0)
        sink_files_close(t, f->topics[0]->topic);
    free(f->topics);
    free(f->files);
    free(f->dir);
    free(f);
}

static const sink_target_ops_t sink_files_ops = {
    .name = "avro-files",
    .open = sink_files_open,
    .write = sink_files_write,
    .poll = sink_files_poll,
    .pending = sink_files_pending,
    .flush = sink_files_flush,
    .close = sink_files_close,
    .destroy = sink_files_destroy,
};

/* Deletes <dir>/<sub>/.*.tmp: files a killed sink left half-written. */
static int sink_files_clean(const char *dir, char *errstr, size_t errstr_size) {
    DIR *d = opendir(dir);
    if (!d) {
        return errstr_fmt(-1, errstr, errstr_size, "%s: %s", dir, strerror(errno));
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096];
        if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
            continue;
        DIR *s = opendir(sub);
        if (!s)
            continue; /* not a directory */
        struct dirent *fe;
        int removed = 0;
        while ((fe = readdir(s))) {
            size_t n = strlen(fe->d_name);
            if (fe->d_name[0] != '.' || n < 5 || strcmp(fe->d_name + n - 4, ".tmp") != 0)
                continue;
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s", sub, fe->d_name);
            if (unlink(path) < 0) {
                errstr_fmt(0, errstr, errstr_size, "%s: unlink: %s", path, strerror(errno));
                rc = -1;
                break;
            }
            log_info("deleted leftover %s (its records will be consumed again)", path);
            removed = 1;
        }
        closedir(s);
        if (rc == 0 && removed)
            rc = sink_files_fsync_dir(sub, errstr, errstr_size);
    }
    closedir(d);
    return rc;
}

sink_target_t *sink_files_new(const sink_files_conf_t *conf, char *errstr, size_t errstr_size) {
    if (!conf->dir || !*conf->dir) {
        errstr_fmt(0, errstr, errstr_size, "avro-files needs output.dir");
        return NULL;
    }
    if ((unsigned)conf->codec > SINK_OCF_SNAPPY) {
        errstr_fmt(0, errstr, errstr_size, "unknown codec");
        return NULL;
    }
    sink_files_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->dir = strdup(conf->dir))) {
        free(f);
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    f->base.ops = &sink_files_ops;
    f->max_bytes = conf->max_bytes;
    f->max_age_ms = conf->max_age_ms;
    f->codec = conf->codec;
    if (sink_files_mkdir(f->dir, NULL, errstr, errstr_size) < 0 ||
        sink_files_clean(f->dir, errstr, errstr_size) < 0) {
        sink_files_destroy(&f->base);
        return NULL;
    }
    return &f->base;
}
