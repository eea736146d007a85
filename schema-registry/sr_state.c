/* sr_state: the deterministic fold of the `_schemas` log. */
#include "sr_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "map.h"

struct sr_state {
    map_t subjects;       /* name -> sr_subject_t */
    map_t by_id;          /* int id -> sr_schema_t */
    map_t by_canonical;   /* canonical form -> sr_schema_t */
    map_t dirty;          /* "subject\0version" whose last record lost */
    sr_subject_t **list;     /* every subject, owned */
    size_t nlist, caplist;
    int global_level;        /* -1: default */
    sr_compat_level_t default_level;
    int max_id;
};

/* Dirty-map values: this sentinel when the slot is held by the winner, else
 * the losing record's schema text (malloc'd). */
static const char sr_dirty_held[] = "";

static void sr_dirty_free(void *v) {
    if (v != sr_dirty_held)
        free(v);
}

static void sr_schema_free(sr_schema_t *s) {
    if (!s)
        return;
    free(s->text);
    sr_avro_destroy(s->avro);
    free(s->id_body);
    free(s);
}

sr_state_t *sr_state_new(sr_compat_level_t default_level) {
    sr_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->global_level = -1;
    st->default_level = default_level;
    return st;
}

void sr_state_destroy(sr_state_t *st) {
    if (!st)
        return;
    for (size_t i = 0; i < st->subjects.nbuckets; i++)
        for (map_entry_t *e = st->subjects.buckets[i]; e; e = e->next) {
            sr_subject_t *sub = e->val;
            free(sub->name);
            free(sub->versions);
            free(sub);
        }
    for (size_t i = 0; i < st->by_id.nbuckets; i++)
        for (map_entry_t *e = st->by_id.buckets[i]; e; e = e->next)
            sr_schema_free(e->val);
    map_free(&st->subjects);
    map_free(&st->by_id);
    map_free(&st->by_canonical);
    for (size_t i = 0; i < st->dirty.nbuckets; i++)
        for (map_entry_t *e = st->dirty.buckets[i]; e; e = e->next)
            sr_dirty_free(e->val);
    map_free(&st->dirty);
    free(st->list);
    free(st);
}

sr_subject_t *sr_state_subject(const sr_state_t *st, const char *name) {
    return map_get(&st->subjects, name, strlen(name));
}

sr_schema_t *sr_state_schema_by_id(const sr_state_t *st, int id) {
    return map_get(&st->by_id, &id, sizeof(id));
}

sr_schema_t *sr_state_schema_by_canonical(const sr_state_t *st, const sr_avro_t *avro) {
    return map_get(&st->by_canonical, avro->canonical, avro->canonical_len);
}

sr_version_t *sr_state_version(const sr_subject_t *sub, int version) {
    for (size_t i = 0; sub && i < sub->nversions; i++)
        if (sub->versions[i].version == version)
            return &sub->versions[i];
    return NULL;
}

sr_version_t *sr_state_latest(const sr_subject_t *sub, int include_deleted) {
    for (size_t i = sub ? sub->nversions : 0; i > 0; i--)
        if (include_deleted || !sub->versions[i - 1].deleted)
            return &sub->versions[i - 1];
    return NULL;
}

size_t sr_state_live(const sr_subject_t *sub) {
    size_t n = 0;
    for (size_t i = 0; sub && i < sub->nversions; i++)
        n += !sub->versions[i].deleted;
    return n;
}

size_t sr_state_subjects(const sr_state_t *st, sr_subject_t *const **out) {
    *out = st->list;
    return st->nlist;
}

sr_compat_level_t sr_state_global_level(const sr_state_t *st) {
    return st->global_level >= 0 ? (sr_compat_level_t)st->global_level : st->default_level;
}

sr_compat_level_t sr_state_level(const sr_state_t *st, const char *subject) {
    sr_subject_t *sub = subject ? sr_state_subject(st, subject) : NULL;
    return sub && sub->level >= 0 ? (sr_compat_level_t)sub->level : sr_state_global_level(st);
}

int sr_state_max_id(const sr_state_t *st) { return st->max_id; }

static sr_subject_t *sr_subject_get_or_add(sr_state_t *st, const char *name) {
    sr_subject_t *sub = sr_state_subject(st, name);
    if (sub)
        return sub;
    if (st->nlist == st->caplist) {
        size_t cap = st->caplist ? st->caplist * 2 : 16;
        sr_subject_t **l = realloc(st->list, cap * sizeof(*l));
        if (!l)
            return NULL;
        st->list = l;
        st->caplist = cap;
    }
    sub = calloc(1, sizeof(*sub));
    if (!sub || !(sub->name = strdup(name)))
        goto fail;
    sub->level = -1;
    if (map_put(&st->subjects, name, strlen(name), sub) < 0)
        goto fail;
    st->list[st->nlist++] = sub;
    return sub;
fail:
    if (sub)
        free(sub->name);
    free(sub);
    return NULL;
}

static void sr_schema_unref(sr_state_t *st, sr_schema_t *s) {
    if (--s->refs > 0)
        return;
    /* no version refers to it any more: the id is free again, as it would
     * be after compaction removed the records */
    map_del(&st->by_id, &s->id, sizeof(s->id));
    map_del(&st->by_canonical, s->avro->canonical, s->avro->canonical_len);
    sr_schema_free(s);
}

static void sr_version_remove(sr_state_t *st, sr_subject_t *sub, size_t i) {
    sr_schema_unref(st, sub->versions[i].schema);
    memmove(&sub->versions[i], &sub->versions[i + 1],
            (sub->nversions - i - 1) * sizeof(*sub->versions));
    sub->nversions--;
}

static sr_schema_t *sr_schema_new(int id, const char *text, sr_avro_t *avro) {
    sr_schema_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    s->avro = avro;
    json_t *body = json_pack("{ss}", "schema", text);
    s->text = strdup(text);
    s->id_body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body)
        json_decref(body);
    if (!s->text || !s->id_body) {
        s->avro = NULL;
        sr_schema_free(s);
        return NULL;
    }
    s->id_body_len = strlen(s->id_body);
    return s;
}

static size_t sr_dirty_key(const char *subject, int version, char *buf, size_t size) {
    int n = snprintf(buf, size, "%s%c%d", subject, '\0', version);
    return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

/* Remembers that the last record under a SCHEMA key lost (loser_text: the
 * loser's schema when the slot is free, NULL when a winner holds it), or
 * forgets it (clear). */
static void sr_dirty_mark(sr_state_t *st, const char *subject, int version, int clear,
                          const char *loser_text) {
    char buf[1024];
    size_t len = sr_dirty_key(subject, version, buf, sizeof(buf));
    if (!len)
        return;
    void *old = map_get(&st->dirty, buf, len);
    if (clear) {
        if (old) {
            map_del(&st->dirty, buf, len);
            sr_dirty_free(old);
        }
        return;
    }
    void *val = loser_text ? strdup(loser_text) : (void *)sr_dirty_held;
    if (!val || map_put(&st->dirty, buf, len, val) < 0) {
        sr_dirty_free(val);
        return;
    }
    if (old)
        sr_dirty_free(old);
}

void sr_state_each_dirty(const sr_state_t *st,
                         void (*fn)(void *arg, const char *subject, int version,
                                    const char *loser_text),
                         void *arg) {
    for (size_t i = 0; i < st->dirty.nbuckets; i++)
        for (map_entry_t *e = st->dirty.buckets[i]; e; e = e->next) {
            const char *subject = e->key;
            size_t slen = strnlen(subject, e->klen);
            if (slen + 1 >= e->klen)
                continue;
            char num[16];
            size_t nlen = e->klen - slen - 1;
            if (nlen >= sizeof(num))
                continue;
            memcpy(num, e->key + slen + 1, nlen);
            num[nlen] = '\0';
            fn(arg, subject, atoi(num), e->val == sr_dirty_held ? NULL : e->val);
        }
}

static sr_apply_t sr_apply_schema(sr_state_t *st, const char *subject, int version,
                                  json_t *val) {
    sr_subject_t *sub = sr_state_subject(st, subject);
    sr_version_t *slot = sr_state_version(sub, version);
    if (!val) {
        sr_dirty_mark(st, subject, version, 1, NULL);
        if (!slot)
            return SR_APPLY_SAME;
        sr_version_remove(st, sub, (size_t)(slot - sub->versions));
        return SR_APPLY_WON;
    }
    json_int_t id;
    const char *text, *type = NULL;
    int deleted = 0;
    if (json_unpack(val, "{sI ss s?s s?b}", "id", &id, "schema", &text, "schemaType", &type,
                    "deleted", &deleted) < 0 ||
        id <= 0 || id > INT32_MAX || (type && strcmp(type, "AVRO") != 0))
        return SR_APPLY_IGNORED;
    char err[256];
    sr_avro_t *avro = sr_avro_parse(text, strlen(text), err, sizeof(err));
    if (!avro)
        return SR_APPLY_IGNORED;
    sr_apply_t rc = SR_APPLY_LOST;
    sr_schema_t *by_canon = sr_state_schema_by_canonical(st, avro);
    sr_schema_t *by_id = sr_state_schema_by_id(st, (int)id);
    if (by_id != by_canon || (by_canon && by_canon->id != id))
        goto out;
    if (slot) {
        if (slot->schema != by_canon)
            goto out;
        rc = slot->deleted == deleted ? SR_APPLY_SAME : SR_APPLY_WON;
        slot->deleted = deleted;
        goto out;
    }
    for (size_t i = 0; sub && by_canon && i < sub->nversions; i++)
        if (sub->versions[i].schema == by_canon && !sub->versions[i].deleted && !deleted)
            goto out;   /* already live under another version of the subject */
    rc = SR_APPLY_IGNORED;  /* out of memory from here on */
    if (!(sub = sr_subject_get_or_add(st, subject)))
        goto out;
    if (sub->nversions == sub->cap) {
        size_t cap = sub->cap ? sub->cap * 2 : 4;
        sr_version_t *v = realloc(sub->versions, cap * sizeof(*v));
        if (!v)
            goto out;
        sub->versions = v;
        sub->cap = cap;
    }
    sr_schema_t *s = by_canon;
    if (!s) {
        if (!(s = sr_schema_new((int)id, text, avro)))
            goto out;
        if (map_put(&st->by_id, &s->id, sizeof(s->id), s) < 0) {
            s->avro = NULL;
            sr_schema_free(s);
            goto out;
        }
        if (map_put(&st->by_canonical, avro->canonical, avro->canonical_len, s) < 0) {
            map_del(&st->by_id, &s->id, sizeof(s->id));
            s->avro = NULL;
            sr_schema_free(s);
            goto out;
        }
        avro = NULL;    /* now owned by s */
    }
    s->refs++;
    size_t pos = sub->nversions;
    while (pos > 0 && sub->versions[pos - 1].version > version)
        pos--;
    memmove(&sub->versions[pos + 1], &sub->versions[pos],
            (sub->nversions - pos) * sizeof(*sub->versions));
    sub->versions[pos] = (sr_version_t){version, s, deleted};
    sub->nversions++;
    if (version > sub->max_version)
        sub->max_version = version;
    if (id > st->max_id)
        st->max_id = (int)id;
    rc = SR_APPLY_WON;
out:
    /* a losing record is now the last under its key: compaction would keep
     * it and drop what came before, until someone supersedes it */
    if (rc == SR_APPLY_LOST)
        sr_dirty_mark(st, subject, version, 0, slot ? NULL : text);
    else if (rc != SR_APPLY_IGNORED)
        sr_dirty_mark(st, subject, version, 1, NULL);
    sr_avro_destroy(avro);
    return rc;
}

static sr_apply_t sr_apply_config(sr_state_t *st, const char *subject, json_t *val) {
    int level = -1;
    if (val) {
        const char *name = NULL;
        if (json_unpack(val, "{ss}", "compatibilityLevel", &name) < 0 ||
            (level = sr_compat_level_parse(name)) < 0)
            return SR_APPLY_IGNORED;
    }
    if (!subject) {
        st->global_level = level;
        return SR_APPLY_WON;
    }
    sr_subject_t *sub = level >= 0 ? sr_subject_get_or_add(st, subject)
                                   : sr_state_subject(st, subject);
    if (!sub)
        return level >= 0 ? SR_APPLY_IGNORED : SR_APPLY_SAME;
    sub->level = level;
    return SR_APPLY_WON;
}

static sr_apply_t sr_apply_delete_subject(sr_state_t *st, const char *subject, json_t *val,
                                          int clear) {
    json_int_t upto;
    sr_subject_t *sub = sr_state_subject(st, subject);
    if (!val || json_unpack(val, "{sI}", "version", &upto) < 0)
        return SR_APPLY_IGNORED;
    if (!sub)
        return SR_APPLY_SAME;
    for (size_t i = sub->nversions; i > 0; i--) {
        sr_version_t *v = &sub->versions[i - 1];
        if (v->version > upto)
            continue;
        if (!clear)
            v->deleted = 1;
        else if (v->deleted)
            sr_version_remove(st, sub, i - 1);
    }
    return SR_APPLY_WON;
}

sr_apply_t sr_state_apply(sr_state_t *st, const void *key, size_t key_len,
                          const void *value, size_t value_len) {
    sr_apply_t rc = SR_APPLY_IGNORED;
    json_t *k = json_loadb(key, key_len, 0, NULL);
    json_t *v = value ? json_loadb(value, value_len, 0, NULL) : NULL;
    if (!k || (value && !v))
        goto out;
    const char *type = json_string_value(json_object_get(k, "keytype"));
    json_t *subj = json_object_get(k, "subject");
    const char *subject = json_string_value(subj);
    if (!type)
        goto out;
    if (strcmp(type, "SCHEMA") == 0) {
        json_t *ver = json_object_get(k, "version");
        if (subject && json_is_integer(ver) && json_integer_value(ver) > 0 &&
            json_integer_value(ver) <= INT32_MAX)
            rc = sr_apply_schema(st, subject, (int)json_integer_value(ver), v);
    } else if (strcmp(type, "CONFIG") == 0) {
        if (subject || !subj || json_is_null(subj))
            rc = sr_apply_config(st, subject, v);
    } else if (strcmp(type, "DELETE_SUBJECT") == 0 || strcmp(type, "CLEAR_SUBJECT") == 0) {
        if (subject)
            rc = sr_apply_delete_subject(st, subject, v, type[0] == 'C');
    }
out:
    if (k)
        json_decref(k);
    if (v)
        json_decref(v);
    return rc;
}

static char *sr_dump(json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (j)
        json_decref(j);
    return s;
}

char *sr_state_schema_key(const char *subject, int version) {
    return sr_dump(json_pack("{ss ss si si}", "keytype", "SCHEMA", "subject", subject,
                             "version", version, "magic", 1));
}

char *sr_state_schema_value(const char *subject, int version, int id, const char *text,
                            int deleted) {
    return sr_dump(json_pack("{ss si si ss sb}", "subject", subject, "version", version, "id",
                             id, "schema", text, "deleted", deleted));
}

char *sr_state_config_key(const char *subject) {
    return sr_dump(subject ? json_pack("{ss ss si}", "keytype", "CONFIG", "subject", subject,
                                       "magic", 0)
                           : json_pack("{ss sn si}", "keytype", "CONFIG", "subject", "magic",
                                       0));
}

char *sr_state_config_value(sr_compat_level_t level) {
    return sr_dump(json_pack("{ss}", "compatibilityLevel", sr_compat_level_name(level)));
}
