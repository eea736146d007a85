/* sink_json: strict JSON parser into an arena-backed tree (see sink_json.h). */
#include "sink_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN        (64u * 1024)
#define CHUNK_MAX        (16u * 1024 * 1024)  /* growth step cap */
#define ARENA_KEEP_MAX   (1u * 1024 * 1024)   /* retained across parses: one
                                                 converter per integration */
#define DEPTH_HARD_MAX   512                  /* recursion bound whatever asked */

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk_t;

struct sink_json_parser {
    chunk_t *head, *cur;
    size_t total;
    size_t max_depth, max_nodes, nodes;
    const char *buf, *end;
    int limit;                /* the failure was a limit, not a syntax error */
    char *err;
    size_t errsz;
};

static void *arena_alloc(sink_json_parser_t *p, size_t n) {
    chunk_t *c = p->cur;
    n = (n + 15) & ~(size_t)15;
    for (;;) {
        if (c->used + n <= c->size) {
            void *r = c->data + c->used;
            c->used += n;
            p->cur = c;
            return r;
        }
        if (!c->next)
            break;
        c = c->next;
    }
    size_t size = c->size * 2 > n ? c->size * 2 : n;
    if (size > CHUNK_MAX && n < CHUNK_MAX)
        size = CHUNK_MAX;
    chunk_t *nc = malloc(sizeof(*nc) + size);
    if (!nc)
        return NULL;
    nc->next = NULL;
    nc->size = size;
    nc->used = n;
    c->next = nc;
    p->cur = nc;
    p->total += size;
    return nc->data;
}

static void arena_reset(sink_json_parser_t *p) {
    if (p->total > ARENA_KEEP_MAX) {
        chunk_t *c = p->head->next;
        while (c) {
            chunk_t *n = c->next;
            free(c);
            c = n;
        }
        p->head->next = NULL;
        p->total = p->head->size;
    }
    for (chunk_t *c = p->head; c; c = c->next)
        c->used = 0;
    p->cur = p->head;
}

sink_json_parser_t *sink_json_parser_new(size_t max_depth, size_t max_nodes) {
    sink_json_parser_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->head = malloc(sizeof(chunk_t) + CHUNK_MIN);
    if (!p->head) {
        free(p);
        return NULL;
    }
    p->head->next = NULL;
    p->head->size = CHUNK_MIN;
    p->head->used = 0;
    p->cur = p->head;
    p->total = CHUNK_MIN;
    p->max_depth = max_depth ? max_depth : SINK_JSON_DEFAULT_MAX_DEPTH;
    if (p->max_depth > DEPTH_HARD_MAX)
        p->max_depth = DEPTH_HARD_MAX;
    p->max_nodes = max_nodes ? max_nodes : SINK_JSON_DEFAULT_MAX_NODES;
    return p;
}

void sink_json_parser_destroy(sink_json_parser_t *p) {
    if (!p)
        return;
    chunk_t *c = p->head;
    while (c) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
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

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;   /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return len;
}

int sink_json_utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *w, unsigned cp) {
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | (cp >> 6));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | (cp >> 18));
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    return w;
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
        char *dst = arena_alloc(p, (size_t)(q - s) + 1);
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
    char *dst = arena_alloc(p, (size_t)(q - s) + 1), *w = dst;
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
            unsigned cp, lo;
            switch (r[1]) {
            case '"': *w++ = '"'; break;
            case '\\': *w++ = '\\'; break;
            case '/': *w++ = '/'; break;
            case 'b': *w++ = '\b'; break;
            case 'f': *w++ = '\f'; break;
            case 'n': *w++ = '\n'; break;
            case 'r': *w++ = '\r'; break;
            case 't': *w++ = '\t'; break;
            case 'u':
                if (q - r < 6 || hex4(r + 2, &cp) < 0) {
                    fail(p, r, "invalid \\u escape");
                    return -1;
                }
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    fail(p, r, "lone surrogate escape");
                    return -1;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (q - r < 12 || r[6] != '\\' || r[7] != 'u' || hex4(r + 8, &lo) < 0 ||
                        lo < 0xdc00 || lo > 0xdfff) {
                        fail(p, r, "lone surrogate escape");
                        return -1;
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    r += 6;
                }
                w = put_utf8(w, cp);
                r += 4;
                break;
            default:
                fail(p, r, "invalid escape");
                return -1;
            }
            r += 2;
        } else if (c < 0x20) {
            fail(p, r, "control character in string");
            return -1;
        } else {
            size_t k = utf8_seq((const unsigned char *)r, (size_t)(q - r));
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
    sink_json_node_t *n = arena_alloc(p, sizeof(*n));
    if (!n) {
        p->limit = 1;
        return fail(p, at, "out of memory");
    }
    memset(n, 0, sizeof(*n));
    n->type = type;
    return n;
}

static int is_digit(const char *s, const char *end) {
    return s < end && *s >= '0' && *s <= '9';
}

static sink_json_node_t *parse_number(sink_json_parser_t *p, const char **sp) {
    const char *s = *sp, *q = s, *end = p->end;
    if (q < end && *q == '-')
        q++;
    if (!is_digit(q, end))
        return fail(p, s, "invalid number");
    if (*q == '0')
        q++;
    else
        while (is_digit(q, end))
            q++;
    if (q < end && *q == '.') {
        q++;
        if (!is_digit(q, end))
            return fail(p, s, "invalid number");
        while (is_digit(q, end))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (!is_digit(q, end))
            return fail(p, s, "invalid number");
        while (is_digit(q, end))
            q++;
    }
    if ((size_t)(q - s) > UINT32_MAX - 1)
        return fail(p, s, "number too long");
    sink_json_node_t *n = new_node(p, s, SINK_JSON_NUMBER);
    if (!n)
        return NULL;
    n->len = (uint32_t)(q - s);
    n->num = (uint8_t)sink_num_classify(s, n->len, &n->v.i, &n->v.d);
    if (n->num == SINK_NUM_DECIMAL || n->num == SINK_NUM_BAD) {
        /* keep the lexeme: the value is encoded (or quoted) from it later */
        char *lex = arena_alloc(p, (size_t)n->len + 1);
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

void sink_json_parser_reset(sink_json_parser_t *p) {
    for (chunk_t *c = p->head; c; c = c->next)
        c->used = 0;
    p->cur = p->head;
}

int sink_json_parse(sink_json_parser_t *p, const char *buf, size_t len,
                    const sink_json_node_t **root, char *errstr, size_t errstr_size) {
    arena_reset(p);
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
