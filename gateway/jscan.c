/* jscan: a non-allocating, non-recursive JSON validator and record scanner. */
#include "jscan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "jlex.h"
#include "utf8.h"

typedef const unsigned char *bytes_t;

static jscan_err_t fail(jscan_result_t *res, jscan_err_t err, size_t off, const char *msg) {
    res->err = err;
    res->err_off = off;
    res->err_msg = msg;
    return err;
}

/* An unexpected byte at i: classify it so that a NUL or broken UTF-8 is
 * reported as such rather than as a syntax error. */
static jscan_err_t unexpected(jscan_result_t *res, bytes_t b, size_t len, size_t i,
                              const char *msg) {
    if (i >= len)
        return fail(res, JSCAN_ERR_SYNTAX, len, "unexpected end of input");
    if (b[i] == 0)
        return fail(res, JSCAN_ERR_NUL, i, "NUL byte");
    if (b[i] >= 0x80 && !utf8_seq_len(b + i, len - i))
        return fail(res, JSCAN_ERR_UTF8, i, "invalid UTF-8");
    return fail(res, JSCAN_ERR_SYNTAX, i, msg);
}

/* Checks the escape whose backslash is at i: the offset after it, or 0
 * with the error in res. Out of line: escapes are rare, and the string loop
 * stays tight without them. */
static __attribute__((noinline)) size_t scan_escape(bytes_t b, size_t len, size_t i,
                                                     jscan_result_t *res) {
    if (i + 1 >= len)
        return fail(res, JSCAN_ERR_SYNTAX, len, "truncated escape"), 0;
    if (jlex_escape_char(b[i + 1]) >= 0)
        return i + 2;
    if (b[i + 1] != 'u')
        return unexpected(res, b, len, i + 1, "invalid escape"), 0;
    uint32_t cp;
    size_t used, at;
    switch (jlex_u_escape((const char *)b + i, len - i, &cp, &used, &at)) {
    case JLEX_U_OK:
        return i + used;
    case JLEX_U_TRUNCATED:
        return fail(res, JSCAN_ERR_SYNTAX, len, "truncated \\u escape"), 0;
    case JLEX_U_BAD_HEX:
        return unexpected(res, b, len, i + at, "invalid \\u escape"), 0;
    case JLEX_U_LONE_LOW:
        return fail(res, JSCAN_ERR_SYNTAX, i, "lone low surrogate in \\u escape"), 0;
    case JLEX_U_LONE_HIGH:
        return fail(res, JSCAN_ERR_SYNTAX, i, "lone high surrogate in \\u escape"), 0;
    }
    return fail(res, JSCAN_ERR_SYNTAX, i, "invalid \\u escape"), 0;
}

/* Checks the byte at i that is neither printable ASCII nor a quote or a
 * backslash (a control character or a UTF-8 sequence): the offset after
 * it, or 0 with the error in res. Out of line, like scan_escape: inlined,
 * it makes the string loop save more registers on every call, which costs
 * ASCII strings (most of them) more than the call costs the others. */
static __attribute__((noinline)) size_t scan_other(bytes_t b, size_t len, size_t i,
                                                    jscan_result_t *res) {
    unsigned c = b[i];
    if (c == 0)
        return fail(res, JSCAN_ERR_NUL, i, "NUL byte"), 0;
    if (c < 0x20)
        return fail(res, JSCAN_ERR_SYNTAX, i, "control character in string"), 0;
    size_t n = utf8_seq_len(b + i, len - i);
    if (!n)
        return fail(res, JSCAN_ERR_UTF8, i, "invalid UTF-8"), 0;
    return i + n;
}

/* Scans the string whose opening quote is at *pos; leaves *pos after the
 * closing quote. */
static jscan_err_t scan_string(bytes_t b, size_t len, size_t *pos, jscan_result_t *res) {
    size_t i = *pos + 1;
    for (;;) {
        while (i < len && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\')
            i++;
        if (i >= len)
            return fail(res, JSCAN_ERR_SYNTAX, len, "unterminated string");
        unsigned c = b[i];
        if (c == '"') {
            *pos = i + 1;
            return JSCAN_OK;
        }
        if (c == '\\') {
            if (!(i = scan_escape(b, len, i, res)))
                return res->err;
            continue;
        }
        if (!(i = scan_other(b, len, i, res)))
            return res->err;
    }
}

static jscan_err_t scan_number(bytes_t b, size_t len, size_t *pos, jscan_result_t *res) {
    size_t end;
    switch (jlex_number((const char *)b + *pos, len - *pos, &end)) {
    case JLEX_NUM_OK:
        *pos += end;
        return JSCAN_OK;
    case JLEX_NUM_DIGIT:
        return unexpected(res, b, len, *pos + end, "invalid number");
    case JLEX_NUM_FRACTION:
        return unexpected(res, b, len, *pos + end, "digit expected after '.'");
    case JLEX_NUM_EXPONENT:
        return unexpected(res, b, len, *pos + end, "digit expected in exponent");
    }
    return unexpected(res, b, len, *pos + end, "invalid number");
}

static jscan_err_t scan_literal(bytes_t b, size_t len, size_t *pos, jscan_result_t *res) {
    static const char *const lits[] = {"true", "false", "null"};
    const char *lit = b[*pos] == 't' ? lits[0] : b[*pos] == 'f' ? lits[1] : lits[2];
    size_t n = strlen(lit);
    for (size_t k = 0; k < n; k++) {
        if (*pos + k >= len)
            return fail(res, JSCAN_ERR_SYNTAX, len, "unexpected end of input");
        if (b[*pos + k] != (unsigned char)lit[k])
            return unexpected(res, b, len, *pos + k, "invalid literal");
    }
    *pos += n;
    return JSCAN_OK;
}

#define IS_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

static size_t skip_ws(bytes_t b, size_t len, size_t i) {
    while (i < len && IS_WS(b[i]))
        i++;
    return i;
}

static int push_record(jscan_result_t *res, size_t *cap, size_t off) {
    if (res->nrecords == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        jscan_span_t *r = realloc(res->records, ncap * sizeof(*r));
        if (!r)
            return -1;
        res->records = r;
        *cap = ncap;
    }
    res->records[res->nrecords].off = off;
    res->records[res->nrecords].len = 0;
    res->nrecords++;
    return 0;
}

enum { ST_VALUE, ST_FIRST_KEY, ST_KEY, ST_FIRST_ELEM, ST_AFTER };

/* The scanner behind jscan_validate and jscan_body (body != 0). */
static jscan_err_t scan(const char *buf, size_t len, int max_depth, size_t max_records,
                        int body, jscan_result_t *res) {
    bytes_t b = (bytes_t)buf;
    unsigned char small[256];
    unsigned char *stack = small;   /* bit per level: 1 = object, 0 = array */
    size_t depth = 0, cap = 0, i;
    size_t maxd = max_depth > 0 ? (size_t)max_depth : 1;
    jscan_err_t err = JSCAN_OK;

    memset(res, 0, sizeof(*res));
    if (maxd / 8 + 1 > sizeof(small)) {
        stack = calloc(maxd / 8 + 1, 1);
        if (!stack)
            return fail(res, JSCAN_ERR_NOMEM, 0, "out of memory");
    }
    i = skip_ws(b, len, 0);
    if (i == len) {
        err = fail(res, JSCAN_ERR_EMPTY, i, "empty body");
        goto out;
    }
    if (body && b[i] != '{' && b[i] != '[') {
        if (b[i] == '"' || b[i] == '-' || JLEX_IS_DIGIT(b[i]) || b[i] == 't' || b[i] == 'f' ||
            b[i] == 'n')
            err = fail(res, JSCAN_ERR_TOP, i, "top level is not an object or an array");
        else
            err = unexpected(res, b, len, i, "expected a value");
        goto out;
    }
    res->is_array = body && b[i] == '[';

    int state = ST_VALUE;
    for (;;) {
        i = skip_ws(b, len, i);
        if (state == ST_AFTER) {
            if (depth == 0) {
                if (i != len)
                    err = unexpected(res, b, len, i, "trailing characters after the JSON value");
                goto out;
            }
            int in_obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
            if (i < len && b[i] == ',') {
                i++;
                state = in_obj ? ST_KEY : ST_VALUE;
                continue;
            }
            if (i < len && b[i] == (in_obj ? '}' : ']')) {
                i++;
                depth--;
                if (body && in_obj && (depth == 0 || (depth == 1 && res->is_array)))
                    res->records[res->nrecords - 1].len = i - res->records[res->nrecords - 1].off;
                continue;
            }
            err = unexpected(res, b, len, i, in_obj ? "expected ',' or '}'" : "expected ',' or ']'");
            goto out;
        }
        if (state == ST_FIRST_KEY || state == ST_KEY) {
            if (state == ST_FIRST_KEY && i < len && b[i] == '}') {
                i++;
                depth--;
                if (body && (depth == 0 || (depth == 1 && res->is_array)))
                    res->records[res->nrecords - 1].len = i - res->records[res->nrecords - 1].off;
                state = ST_AFTER;
                continue;
            }
            if (i >= len || b[i] != '"') {
                err = unexpected(res, b, len, i, "expected a member name");
                goto out;
            }
            if ((err = scan_string(b, len, &i, res)) != JSCAN_OK)
                goto out;
            i = skip_ws(b, len, i);
            if (i >= len || b[i] != ':') {
                err = unexpected(res, b, len, i, "expected ':'");
                goto out;
            }
            i++;
            state = ST_VALUE;
            continue;
        }
        if (state == ST_FIRST_ELEM) {
            if (i < len && b[i] == ']') {
                i++;
                depth--;
                state = ST_AFTER;
                continue;
            }
            state = ST_VALUE;
        }
        /* ST_VALUE */
        if (i >= len) {
            err = fail(res, JSCAN_ERR_SYNTAX, len, "unexpected end of input");
            goto out;
        }
        unsigned c = b[i];
        if (body && depth == 1 && res->is_array && c != '{') {
            err = (c == '[' || c == '"' || c == '-' || JLEX_IS_DIGIT(c) || c == 't' || c == 'f' ||
                   c == 'n')
                      ? fail(res, JSCAN_ERR_TOP, i, "array element is not an object")
                      : unexpected(res, b, len, i, "expected a value");
            goto out;
        }
        switch (c) {
        case '{':
        case '[':
            if (depth >= maxd) {
                err = fail(res, JSCAN_ERR_DEPTH, i, "nesting too deep");
                goto out;
            }
            if (body && c == '{' && (depth == 0 || (depth == 1 && res->is_array))) {
                if (max_records && res->nrecords >= max_records) {
                    err = fail(res, JSCAN_ERR_RECORDS, i, "too many records");
                    goto out;
                }
                if (push_record(res, &cap, i) < 0) {
                    err = fail(res, JSCAN_ERR_NOMEM, i, "out of memory");
                    goto out;
                }
            }
            if (c == '{')
                stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
            else
                stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
            depth++;
            i++;
            state = c == '{' ? ST_FIRST_KEY : ST_FIRST_ELEM;
            continue;
        case '"':
            err = scan_string(b, len, &i, res);
            break;
        case 't': case 'f': case 'n':
            err = scan_literal(b, len, &i, res);
            break;
        default:
            if (c == '-' || JLEX_IS_DIGIT(c))
                err = scan_number(b, len, &i, res);
            else
                err = unexpected(res, b, len, i, "expected a value");
        }
        if (err != JSCAN_OK)
            goto out;
        state = ST_AFTER;
    }
out:
    if (stack != small)
        free(stack);
    if (err != JSCAN_OK) {
        free(res->records);
        res->records = NULL;
        res->nrecords = 0;
    }
    res->err = err;
    return err;
}

jscan_err_t jscan_validate(const char *buf, size_t len, int max_depth, jscan_result_t *res) {
    return scan(buf, len, max_depth, 0, 0, res);
}

jscan_err_t jscan_body(const char *buf, size_t len, int max_depth, size_t max_records,
                       jscan_result_t *res) {
    return scan(buf, len, max_depth, max_records, 1, res);
}

void jscan_result_free(jscan_result_t *res) {
    if (!res)
        return;
    free(res->records);
    res->records = NULL;
    res->nrecords = 0;
}

const char *jscan_strerror(jscan_err_t err) {
    switch (err) {
    case JSCAN_OK: return "ok";
    case JSCAN_ERR_SYNTAX: return "malformed JSON";
    case JSCAN_ERR_UTF8: return "invalid UTF-8";
    case JSCAN_ERR_NUL: return "NUL byte in body";
    case JSCAN_ERR_DEPTH: return "nesting too deep";
    case JSCAN_ERR_EMPTY: return "empty body";
    case JSCAN_ERR_TOP: return "top level must be an object or an array of objects";
    case JSCAN_ERR_RECORDS: return "too many records";
    case JSCAN_ERR_NOMEM: return "out of memory";
    }
    return "unknown error";
}

/* Skips a validated string starting at its quote; returns the offset after it. */
static size_t skip_string(bytes_t b, size_t len, size_t i) {
    for (i++; i < len; i++) {
        if (b[i] == '\\')
            i++;
        else if (b[i] == '"')
            return i + 1;
    }
    return len;
}

/* Skips a validated value starting at i; returns the offset after it. */
static size_t skip_value(bytes_t b, size_t len, size_t i) {
    if (b[i] == '"')
        return skip_string(b, len, i);
    if (b[i] == '{' || b[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            unsigned c = b[i];
            if (c == '"') {
                i = skip_string(b, len, i);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return len;
    }
    while (i < len && b[i] != ',' && b[i] != '}' && b[i] != ']' && !IS_WS(b[i]))
        i++;
    return i;
}

/* Does the member name at s[0..len) (quotes included) decode to name? */
static int name_equals(const char *s, size_t len, const char *name, size_t nlen) {
    if (!memchr(s, '\\', len))
        return len - 2 == nlen && memcmp(s + 1, name, nlen) == 0;
    /* an escape shrinks at most 12 bytes into 1 and at least 2 into 1 */
    if (len - 2 < nlen || len - 2 > nlen * 12)
        return 0;
    char small[512], *buf = len <= sizeof(small) ? small : malloc(len);
    if (!buf)
        return 0;
    size_t n = jlex_string_decode(s, len, buf);
    int eq = n == nlen && memcmp(buf, name, nlen) == 0;
    if (buf != small)
        free(buf);
    return eq;
}

static jscan_type_t type_of(unsigned c) {
    switch (c) {
    case '"': return JSCAN_STRING;
    case '{': return JSCAN_OBJECT;
    case '[': return JSCAN_ARRAY;
    case 't': return JSCAN_TRUE;
    case 'f': return JSCAN_FALSE;
    case 'n': return JSCAN_NULL;
    default: return JSCAN_NUMBER;
    }
}

void jscan_members(const char *obj, size_t len, const char *const *names, size_t n,
                   jscan_member_t *out) {
    bytes_t b = (bytes_t)obj;
    size_t nlen[16], *nl = n <= 16 ? nlen : malloc(n * sizeof(size_t));
    for (size_t k = 0; k < n; k++) {
        out[k].type = JSCAN_MISSING;
        out[k].value.off = out[k].value.len = 0;
        if (nl)
            nl[k] = strlen(names[k]);
    }
    if (!nl)
        return;
    size_t i = skip_ws(b, len, 1);
    while (i < len && b[i] == '"') {
        size_t ks = i;
        i = skip_string(b, len, i);
        size_t klen = i - ks;
        i = skip_ws(b, len, i);
        i = skip_ws(b, len, i + 1);     /* the ':' */
        size_t vs = i;
        i = skip_value(b, len, i);
        for (size_t k = 0; k < n; k++) {
            if (name_equals(obj + ks, klen, names[k], nl[k])) {
                out[k].type = type_of(b[vs]);
                out[k].value.off = vs;
                out[k].value.len = i - vs;
            }
        }
        i = skip_ws(b, len, i);
        if (i < len && b[i] == ',')
            i = skip_ws(b, len, i + 1);
    }
    if (nl != nlen)
        free(nl);
}

/* Appends the minimal JSON encoding of the UTF-8 bytes s[0..n) to out. */
static size_t encode_string(const char *s, size_t n, char *out) {
    size_t o = 0;
    out[o++] = '"';
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            out[o++] = '\\';
            switch (c) {
            case '\b': out[o++] = 'b'; break;
            case '\f': out[o++] = 'f'; break;
            case '\n': out[o++] = 'n'; break;
            case '\r': out[o++] = 'r'; break;
            case '\t': out[o++] = 't'; break;
            default:
                out[o++] = 'u';
                out[o++] = '0';
                out[o++] = '0';
                out[o++] = hex_digits[c >> 4];
                out[o++] = hex_digits[c & 15];
            }
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    return o;
}

jscan_key_rc_t jscan_key(const char *obj, size_t len, const char *const *fields, size_t n,
                         char **key, size_t *key_len, const char **reason,
                         size_t *bad_field) {
    jscan_member_t small[8], *m = n <= 8 ? small : malloc(n * sizeof(*m));
    jscan_key_rc_t rc = JSCAN_KEY_NOMEM;
    char *tmp = NULL, *k = NULL;
    *key = NULL;
    *key_len = 0;
    if (!m)
        return JSCAN_KEY_NOMEM;
    jscan_members(obj, len, fields, n, m);
    size_t need = 3;
    for (size_t f = 0; f < n; f++) {
        const char *why = NULL;
        switch (m[f].type) {
        case JSCAN_MISSING: why = "primary key field is missing"; break;
        case JSCAN_NULL: why = "primary key field is null"; break;
        case JSCAN_OBJECT: why = "primary key field is an object"; break;
        case JSCAN_ARRAY: why = "primary key field is an array"; break;
        default: break;
        }
        if (why) {
            *reason = why;
            *bad_field = f;
            rc = JSCAN_KEY_REJECT;
            goto out;
        }
        /* a decoded control byte re-encodes as \u00XX: 6 bytes for 1 */
        need += (m[f].type == JSCAN_STRING ? m[f].value.len * 6 : m[f].value.len) + 1;
    }
    if (!(k = malloc(need)))
        goto out;
    size_t o = 0;
    if (n == 1) {
        const char *v = obj + m[0].value.off;
        if (m[0].type == JSCAN_STRING) {
            o = jlex_string_decode(v, m[0].value.len, k);
        } else {
            memcpy(k, v, m[0].value.len);
            o = m[0].value.len;
        }
    } else {
        k[o++] = '[';
        for (size_t f = 0; f < n; f++) {
            const char *v = obj + m[f].value.off;
            if (f)
                k[o++] = ',';
            if (m[f].type == JSCAN_STRING) {
                if (!(tmp = malloc(m[f].value.len)))
                    goto out;
                size_t dl = jlex_string_decode(v, m[f].value.len, tmp);
                o += encode_string(tmp, dl, k + o);
                free(tmp);
                tmp = NULL;
            } else {
                memcpy(k + o, v, m[f].value.len);
                o += m[f].value.len;
            }
        }
        k[o++] = ']';
    }
    k[o] = '\0';
    *key = k;
    *key_len = o;
    k = NULL;
    rc = JSCAN_KEY_OK;
out:
    free(tmp);
    free(k);
    if (m != small)
        free(m);
    return rc;
}
