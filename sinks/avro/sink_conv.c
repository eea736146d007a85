/* sink_conv: parse, check or evolve, fill and encode one record. */
#include "sink_conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "sink_json.h"
#include "utf8.h"

#define WIRE_HEADER 5

struct sink_conv {
    sink_json_parser_t *parser;
    sink_shape_t *shape;
    sink_limits_t lim;
    int has_pk;
    int version;
    char *text;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    int has_value;
    avro_writer_t writer;
    char *buf;
    size_t cap;
};

sink_conv_t *sink_conv_new(const char *integration, int has_primary_key,
                           const sink_limits_t *lim, char *errstr, size_t errstr_size) {
    sink_limits_t l = {0};
    if (lim)
        l = *lim;
    sink_limits_defaults(&l);
    sink_conv_t *c = calloc(1, sizeof(*c));
    if (!c) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->has_pk = has_primary_key;
    c->lim = l;
    c->shape = sink_shape_new(integration, has_primary_key, &l, errstr, errstr_size);
    if (!c->shape)
        goto fail;
    c->parser = sink_json_parser_new(l.max_depth, l.max_nodes);
    c->cap = 4096;
    c->buf = malloc(c->cap);
    if (!c->parser || !c->buf) {
        errstr_fmt(0, errstr, errstr_size, "out of memory");
        goto fail;
    }
    c->writer = avro_writer_memory(c->buf, (int64_t)c->cap);
    if (!c->writer) {
        errstr_fmt(0, errstr, errstr_size, "avro writer: %s", avro_strerror());
        goto fail;
    }
    return c;
fail:
    sink_conv_destroy(c);
    return NULL;
}

static void drop_version(sink_conv_t *c) {
    if (c->has_value)
        avro_value_decref(&c->value);
    if (c->iface)
        avro_value_iface_decref(c->iface);
    if (c->schema)
        avro_schema_decref(c->schema);
    free(c->text);
    c->has_value = 0;
    c->iface = NULL;
    c->schema = NULL;
    c->text = NULL;
}

void sink_conv_destroy(sink_conv_t *c) {
    if (!c)
        return;
    drop_version(c);
    if (c->writer)
        avro_writer_free(c->writer);
    free(c->buf);
    sink_json_parser_destroy(c->parser);
    sink_shape_destroy(c->shape);
    free(c);
}

/* Makes shape (taken over) the current version: text, schema, class, value.
 * SINK_REJECT if the schema would exceed a limit, SINK_FAIL on an avro-c
 * error; on failure nothing changes and shape is freed. */
static int install(sink_conv_t *c, sink_shape_t *shape, char *err, size_t errsz) {
    avro_schema_t schema = NULL;
    avro_value_iface_t *iface = NULL;
    avro_value_t value;
    sink_limits_t lim = *sink_shape_limits(shape);
    size_t types = sink_shape_type_count(shape);
    if (types > lim.max_schema_types) {
        if (shape != c->shape)
            sink_shape_destroy(shape);
        return errstr_fmt(SINK_REJECT, err, errsz, "schema would have %zu types, more than %zu", types,
                          lim.max_schema_types);
    }
    char *text = sink_shape_schema_json(shape);
    if (!text) {
        if (shape != c->shape)
            sink_shape_destroy(shape);
        return errstr_fmt(SINK_FAIL, err, errsz, "out of memory");
    }
    if (strlen(text) > lim.max_schema_bytes) {
        errstr_fmt(SINK_REJECT, err, errsz, "schema would be %zu bytes, more than %zu", strlen(text),
                   lim.max_schema_bytes);
        free(text);
        if (shape != c->shape)
            sink_shape_destroy(shape);
        return SINK_REJECT;
    }
    if (avro_schema_from_json_length(text, strlen(text), &schema)) {
        errstr_fmt(SINK_FAIL, err, errsz, "avro-c refused the generated schema: %s", avro_strerror());
        goto fail;
    }
    iface = avro_generic_class_from_schema(schema);
    if (!iface || avro_generic_value_new(iface, &value)) {
        errstr_fmt(SINK_FAIL, err, errsz, "avro value: %s", avro_strerror());
        goto fail;
    }
    drop_version(c);
    if (shape != c->shape) {
        sink_shape_destroy(c->shape);
        c->shape = shape;
    }
    c->text = text;
    c->schema = schema;
    c->iface = iface;
    c->value = value;
    c->has_value = 1;
    c->version++;
    return 0;
fail:
    if (iface)
        avro_value_iface_decref(iface);
    if (schema)
        avro_schema_decref(schema);
    free(text);
    if (shape != c->shape)
        sink_shape_destroy(shape);
    return SINK_FAIL;
}

int sink_conv_load(sink_conv_t *c, const char *schema_text, char *errstr, size_t errstr_size) {
    int has_pk = 0;
    sink_shape_t *shape = sink_shape_from_json(schema_text, &c->lim, &has_pk, errstr, errstr_size);
    if (!shape)
        return -1;
    if (has_pk != c->has_pk) {
        sink_shape_destroy(shape);
        return errstr_fmt(-1, errstr, errstr_size, "schema %s " SINK_SYS_PRIMARY_KEY
                          " but the integration has %s primary key", has_pk ? "lacks" : "has",
                          c->has_pk ? "a" : "no");
    }
    return install(c, shape, errstr, errstr_size) < 0 ? -1 : 0;
}

int sink_conv_record(sink_conv_t *c, const char *json, size_t len, const sink_sys_t *sys,
                     char *errstr, size_t errstr_size) {
    const sink_json_node_t *root;
    char perr[160];
    int rc = SINK_OK;
    /* checked first so that a record rejected for its key never makes a version */
    if (!c->has_pk && !sys->key)
        return errstr_fmt(SINK_REJECT, errstr, errstr_size, "message has no key for " SINK_SYS_PRIMARY_KEY);
    if (!c->has_pk && !utf8_valid(sys->key, sys->key_len))
        return errstr_fmt(SINK_REJECT, errstr, errstr_size, "message key is not valid UTF-8");
    int prc = sink_json_parse(c->parser, json, len, &root, perr, sizeof(perr));
    if (prc < 0)
        return errstr_fmt(SINK_REJECT, errstr, errstr_size, "%s: %s",
                          prc == -1 ? "invalid JSON" : "limit exceeded", perr);
    if (c->version == 0 || !sink_shape_matches(c->shape, root)) {
        sink_shape_t *next = NULL;
        rc = sink_shape_evolve(c->shape, root, &next, errstr, errstr_size);
        if (rc < 0)
            return rc;
        if (next || c->version == 0) {
            int irc = install(c, next ? next : c->shape, errstr, errstr_size);
            if (irc < 0)
                return irc;
            rc = SINK_NEW_VERSION;
        }
    }
    int frc = sink_shape_fill(c->shape, root, sys, &c->value, errstr, errstr_size);
    return frc < 0 ? frc : rc;
}

int sink_conv_version(const sink_conv_t *c) {
    return c->version;
}

const char *sink_conv_schema_text(const sink_conv_t *c) {
    return c->text;
}

avro_schema_t sink_conv_schema(const sink_conv_t *c) {
    return c->schema;
}

avro_value_t *sink_conv_value(sink_conv_t *c) {
    return c->has_value ? &c->value : NULL;
}

const sink_shape_t *sink_conv_shape(const sink_conv_t *c) {
    return c->shape;
}

int sink_conv_encode(sink_conv_t *c, int32_t schema_id, const void **out, size_t *out_len,
                     char *errstr, size_t errstr_size) {
    size_t size, head = schema_id >= 0 ? WIRE_HEADER : 0;
    if (!c->has_value)
        return errstr_fmt(-1, errstr, errstr_size, "no value to encode");
    if (avro_value_sizeof(&c->value, &size))
        return errstr_fmt(-1, errstr, errstr_size, "avro sizeof: %s", avro_strerror());
    if (head + size > c->cap) {
        size_t cap = c->cap;
        while (cap < head + size)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b)
            return errstr_fmt(-1, errstr, errstr_size, "out of memory for %zu bytes", head + size);
        c->buf = b;
        c->cap = cap;
    }
    avro_writer_memory_set_dest(c->writer, c->buf + head, (int64_t)size);
    if (avro_value_write(c->writer, &c->value))
        return errstr_fmt(-1, errstr, errstr_size, "avro write: %s", avro_strerror());
    if (head) {
        uint32_t id = (uint32_t)schema_id;
        c->buf[0] = 0;
        c->buf[1] = (char)(id >> 24);
        c->buf[2] = (char)(id >> 16);
        c->buf[3] = (char)(id >> 8);
        c->buf[4] = (char)id;
    }
    *out = c->buf;
    *out_len = head + size;
    return 0;
}
