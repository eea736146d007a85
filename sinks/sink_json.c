/* sink_json: strict JSON parser into an arena-backed tree (see sink_json.h). */
#include "sink_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "jlex.h"
#include "utf8.h"

#define ARENA_CHUNK_MIN  (64u * 1024)
#define ARENA_CHUNK_MAX  (16u * 1024 * 1024)  /* growth step cap */
#define ARENA_KEEP_MAX   (1u * 1024 * 1024)   /* retained across parses: one
                                                 converter per integration */
#define DEPTH_HARD_MAX   512                  /* recursion bound whatever asked */

struct sink_json_parser {
    arena_t arena;            /* the tree of the last parse */
    size_t max_depth, max_nodes, nodes;
    const char *buf, *end;
    int limit;                /* the failure was a limit, not a syntax error */
    char *err;
    size_t errsz;
};

sink_json_parser_t *sink_json_parser_new(size_t max_depth, size_t max_nodes) {
    sink_json_parser_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    arena_init(&p->arena, ARENA_CHUNK_MIN, ARENA_CHUNK_MAX, ARENA_KEEP_MAX);
    /* the first chunk now: a parser that exists can parse a small record */
    if (!arena_alloc(&p->arena, 1)) {
        free(p);
        return NULL;
    }
    p->max_depth = max_depth ? max_depth : SINK_JSON_DEFAULT_MAX_DEPTH;
    if (p->max_depth > DEPTH_HARD_MAX)
        p->max_depth = DEPTH_HARD_MAX;
    p->max_nodes = max_nodes ? max_nodes : SINK_JSON_DEFAULT_MAX_NODES;
    return p;
}

void sink_json_parser_destroy(sink_json_parser_t *p) {
    if (!p)
        return;
    arena_free(&p->arena);
    free(p);
}

static void *fail(sink_json_parser_t *p, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *fail(sink_json_parser_t *p, const char *at, const char *fmt, ...) {
    if (p->err && p->errsz && !p->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->err, p->errsz, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < p->errsz)
            snprintf(p->err + n, p->errsz - (size_t)n, " at byte %zu",
                     (size_t)(at - p->buf));
    }
    return NULL;
}

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s;
}

/* *sp points at the opening quote; on success it points past the closing
 * one and *out, *out_len hold the decoded, NUL-terminated copy. */
/* Word-at-a-time tests on 8 bytes (exact "any byte" answers): a zero byte,
   a byte below n (n <= 128), a byte with the high bit set. Strings are most
   of a payload's bytes, and most of them are plain ASCII. */
#define SJ_ONES 0x0101010101010101ULL
#define SJ_HIGHS 0x8080808080808080ULL
#define SJ_HASZERO(w) (((w) - SJ_ONES) & ~(w) & SJ_HIGHS)
#define SJ_HASLESS(w, n) (((w) - SJ_ONES * (n)) & ~(w) & SJ_HIGHS)

static uint64_t load8(const char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

/* 1 if none of s[0..8) is '"' or '\\' */
static int plain8_scan(const char *s) {
    uint64_t w = load8(s);
    return !SJ_HASZERO(w ^ (SJ_ONES * '"')) && !SJ_HASZERO(w ^ (SJ_ONES * '\\'));
}

/* 1 if every byte of s[0..8) is printable ASCII other than '\\' */
static int plain8_copy(const char *s) {
    uint64_t w = load8(s);
    return !(w & SJ_HIGHS) && !SJ_HASLESS(w, 0x20) && !SJ_HASZERO(w ^ (SJ_ONES * '\\'));
}

static int parse_string(sink_json_parser_t *p, const char **sp, const char **out,
                        uint32_t *out_len) {
    const char *s = *sp + 1, *q = s, *end = p->end;
    /* most strings are printable ASCII without escapes: find the closing
       quote in one pass and copy them whole */
    while (end - q >= 8 && plain8_copy(q) && plain8_scan(q))
        q += 8;
    while (q < end && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80 && *q != '\\' &&
           *q != '"')
        q++;
    if (q < end && *q == '"' && (size_t)(q - s) <= UINT32_MAX - 1) {
        char *dst = arena_alloc(&p->arena, (size_t)(q - s) + 1);
        if (!dst) {
            p->limit = 1;
            fail(p, *sp, "out of memory");
            return -1;
        }
        memcpy(dst, s, (size_t)(q - s));
        dst[q - s] = '\0';
        *out = dst;
        *out_len = (uint32_t)(q - s);
        *sp = q + 1;
        return 0;
    }
    q = s;
    for (;;) {
        while (end - q >= 8 && plain8_scan(q))
            q += 8;
        if (q >= end || *q == '"')
            break;
        q += *q == '\\' ? 2 : 1;
    }
    if (q >= end) {
        fail(p, *sp, "unterminated string");
        return -1;
    }
    if ((size_t)(q - s) > UINT32_MAX - 1) {
        fail(p, *sp, "string too long");
        return -1;
    }
    char *dst = arena_alloc(&p->arena, (size_t)(q - s) + 1), *w = dst;
    if (!dst) {
        p->limit = 1;
        fail(p, *sp, "out of memory");
        return -1;
    }
    const char *r = s;
    while (r < q) {
        if (q - r >= 8 && plain8_copy(r)) {
            memcpy(w, r, 8);
            w += 8;
            r += 8;
            continue;
        }
        unsigned char c = (unsigned char)*r;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            *w++ = (char)c;
            r++;
        } else if (c == '\\') {
            int e = jlex_escape_char((unsigned char)r[1]);
            if (e >= 0) {
                *w++ = (char)e;
                r += 2;
                continue;
            }
            if (r[1] != 'u') {
                fail(p, r, "invalid escape");
                return -1;
            }
            uint32_t cp;
            size_t used, at;
            jlex_u_rc_t urc = jlex_u_escape(r, (size_t)(q - r), &cp, &used, &at);
            if (urc != JLEX_U_OK) {
                /* a bad first escape is invalid; a bad pair is a lone surrogate */
                fail(p, r, urc == JLEX_U_LONE_LOW || urc == JLEX_U_LONE_HIGH || at >= 6
                               ? "lone surrogate escape"
                               : "invalid \\u escape");
                return -1;
            }
            w += utf8_encode(cp, w);
            r += used;
        } else if (c < 0x20) {
            fail(p, r, "control character in string");
            return -1;
        } else {
            size_t k = utf8_seq_len((const unsigned char *)r, (size_t)(q - r));
            if (!k) {
                fail(p, r, "invalid UTF-8 in string");
                return -1;
            }
            memcpy(w, r, k);
            w += k;
            r += k;
        }
    }
    *w = '\0';
    *out = dst;
    *out_len = (uint32_t)(w - dst);
    *sp = q + 1;
    return 0;
}

static sink_json_node_t *new_node(sink_json_parser_t *p, const char *at, uint8_t type) {
    if (++p->nodes > p->max_nodes) {
        p->limit = 1;
        return fail(p, at, "more than %zu values", p->max_nodes);
    }
    sink_json_node_t *n = arena_alloc(&p->arena, sizeof(*n));
    if (!n) {
        p->limit = 1;
        return fail(p, at, "out of memory");
    }
    memset(n, 0, sizeof(*n));
    n->type = type;
    return n;
}

static sink_json_node_t *parse_number(sink_json_parser_t *p, const char **sp) {
    const char *s = *sp;
    size_t len;
    if (jlex_number(s, (size_t)(p->end - s), &len) != JLEX_NUM_OK)
        return fail(p, s, "invalid number");
    const char *q = s + len;
    if ((size_t)(q - s) > UINT32_MAX - 1)
        return fail(p, s, "number too long");
    sink_json_node_t *n = new_node(p, s, SINK_JSON_NUMBER);
    if (!n)
        return NULL;
    n->len = (uint32_t)(q - s);
    n->num = (uint8_t)sink_num_classify(s, n->len, &n->v.i, &n->v.d);
    if (n->num == SINK_NUM_DECIMAL || n->num == SINK_NUM_BAD) {
        /* keep the lexeme: the value is encoded (or quoted) from it later */
        char *lex = arena_alloc(&p->arena, (size_t)n->len + 1);
        if (!lex) {
            p->limit = 1;
            return fail(p, s, "out of memory");
        }
        memcpy(lex, s, n->len);
        lex[n->len] = '\0';
        n->str = lex;
    }
    *sp = q;
    return n;
}

static sink_json_node_t *parse_value(sink_json_parser_t *p, const char **sp, size_t depth);

static sink_json_node_t *parse_container(sink_json_parser_t *p, const char **sp,
                                         size_t depth, int object) {
    const char *s = *sp, *end = p->end;
    char close = object ? '}' : ']';
    if (depth > p->max_depth) {
        p->limit = 1;
        return fail(p, s, "nesting deeper than %zu", p->max_depth);
    }
    sink_json_node_t *n = new_node(p, s, object ? SINK_JSON_OBJECT : SINK_JSON_ARRAY);
    if (!n)
        return NULL;
    sink_json_node_t **link = &n->child;
    s = skip_ws(s + 1, end);
    if (s < end && *s == close) {
        *sp = s + 1;
        return n;
    }
    for (;;) {
        const char *key = NULL;
        uint32_t key_len = 0;
        if (object) {
            if (s >= end || *s != '"')
                return fail(p, s, "expected a member name");
            if (parse_string(p, &s, &key, &key_len) < 0)
                return NULL;
            s = skip_ws(s, end);
            if (s >= end || *s != ':')
                return fail(p, s, "expected ':'");
            s = skip_ws(s + 1, end);
        }
        sink_json_node_t *c = parse_value(p, &s, depth + 1);
        if (!c)
            return NULL;
        c->key = key;
        c->key_len = key_len;
        *link = c;
        link = &c->next;
        n->len++;
        s = skip_ws(s, end);
        if (s < end && *s == ',') {
            s = skip_ws(s + 1, end);
            continue;
        }
        if (s < end && *s == close) {
            *sp = s + 1;
            return n;
        }
        return fail(p, s, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static sink_json_node_t *parse_literal(sink_json_parser_t *p, const char **sp,
                                       const char *word, uint8_t type) {
    size_t wl = strlen(word);
    if ((size_t)(p->end - *sp) < wl || memcmp(*sp, word, wl) != 0)
        return fail(p, *sp, "invalid literal");
    sink_json_node_t *n = new_node(p, *sp, type);
    if (n)
        *sp += wl;
    return n;
}

static sink_json_node_t *parse_value(sink_json_parser_t *p, const char **sp, size_t depth) {
    const char *s = *sp;
    if (s >= p->end)
        return fail(p, s, "unexpected end of input");
    switch (*s) {
    case '{':
        return parse_container(p, sp, depth, 1);
    case '[':
        return parse_container(p, sp, depth, 0);
    case '"': {
        sink_json_node_t *n = new_node(p, s, SINK_JSON_STRING);
        if (!n || parse_string(p, sp, &n->str, &n->len) < 0)
            return NULL;
        return n;
    }
    case 't':
        return parse_literal(p, sp, "true", SINK_JSON_TRUE);
    case 'f':
        return parse_literal(p, sp, "false", SINK_JSON_FALSE);
    case 'n':
        return parse_literal(p, sp, "null", SINK_JSON_NULL);
    default:
        if (*s == '-' || (*s >= '0' && *s <= '9'))
            return parse_number(p, sp);
        return fail(p, s, "unexpected character");
    }
}

void sink_json_parser_reset(sink_json_parser_t *p) { arena_reset(&p->arena); }

int sink_json_parse(sink_json_parser_t *p, const char *buf, size_t len,
                    const sink_json_node_t **root, char *errstr, size_t errstr_size) {
    arena_reset(&p->arena);
    return sink_json_parse_keep(p, buf, len, root, errstr, errstr_size);
}

int sink_json_parse_keep(sink_json_parser_t *p, const char *buf, size_t len,
                         const sink_json_node_t **root, char *errstr, size_t errstr_size) {
    p->nodes = 0;
    p->limit = 0;
    p->buf = buf;
    p->end = buf + len;
    p->err = errstr;
    p->errsz = errstr_size;
    if (errstr && errstr_size)
        errstr[0] = '\0';
    const char *s = skip_ws(buf, p->end);
    sink_json_node_t *n = parse_value(p, &s, 1);
    if (!n)
        return p->limit ? -2 : -1;
    s = skip_ws(s, p->end);
    if (s != p->end) {
        fail(p, s, "trailing characters after the JSON value");
        return -1;
    }
    *root = n;
    return 0;
}
