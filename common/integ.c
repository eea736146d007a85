/* integ: integration records (JSON), Stitch's naming rules and webhook tokens. */
#include "integ.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "rfc3339.h"

static int integ_is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int integ_name_from_display(const char *display, char *out, size_t out_size,
                            char *errstr, size_t errstr_size) {
    char name[INTEG_NAME_MAX + 1];
    size_t n = 0;
    if (!display) {
        return errstr_fmt(-1, errstr, errstr_size, "no name given");
    }
    const char *s = display, *e = display + strlen(display);
    /* surrounding white space is a typing accident, not part of the name */
    while (s < e && integ_is_space(*s))
        s++;
    while (e > s && integ_is_space(e[-1]))
        e--;
    for (; s < e; s++) {
        char c = *s, o;
        if (c >= 'A' && c <= 'Z')
            o = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
            o = c;
        else if (c == ' ' || c == '-')
            o = '_';
        else
            continue;   /* punctuation and every byte of a non-ASCII character */
        if (n == INTEG_NAME_MAX) {
            return errstr_fmt(-1, errstr, errstr_size,
                              "name \"%s\" is longer than %d characters once converted",
                              display, INTEG_NAME_MAX);
        }
        name[n++] = o;
    }
    name[n] = '\0';
    if (n == 0) {
        return errstr_fmt(-1, errstr, errstr_size, "name \"%s\" has no letters, digits, '_', '-' or spaces",
                          display);
    }
    if (name[0] >= '0' && name[0] <= '9') {
        return errstr_fmt(-1, errstr, errstr_size, "name \"%s\" becomes \"%s\", which starts with a digit",
                          display, name);
    }
    if (n + 1 > out_size) {
        return errstr_fmt(-1, errstr, errstr_size, "output buffer too small for \"%s\"", name);
    }
    memcpy(out, name, n + 1);
    return 0;
}

/* The next UTF-8 code point at s (up to end); its length, or 0 if the bytes
 * are not valid UTF-8 (overlong forms, surrogates and > U+10FFFF refused). */
static size_t integ_utf8_next(const unsigned char *s, const unsigned char *end, unsigned *cp) {
    unsigned c = s[0], min;
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - s) < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

int integ_pk_field_check(const char *field, char *errstr, size_t errstr_size) {
    if (!field || !*field) {
        return errstr_fmt(-1, errstr, errstr_size, "empty primary-key field name");
    }
    const unsigned char *s = (const unsigned char *)field, *end = s + strlen(field);
    size_t chars = 0;
    while (s < end) {
        unsigned cp;
        size_t len = integ_utf8_next(s, end, &cp);
        if (!len) {
            return errstr_fmt(-1, errstr, errstr_size, "primary-key field name is not valid UTF-8");
        }
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            return errstr_fmt(-1, errstr, errstr_size, "primary-key field name contains a control character");
        }
        if (cp == '.') {
            return errstr_fmt(-1, errstr, errstr_size,
                              "primary-key field \"%s\": only top-level fields ('.' not allowed)", field);
        }
        s += len;
        chars++;
    }
    if (chars > INTEG_PK_FIELD_MAX) {
        return errstr_fmt(-1, errstr, errstr_size, "primary-key field \"%s\" is %zu characters, at most %d",
                          field, chars, INTEG_PK_FIELD_MAX);
    }
    return 0;
}

static const char integ_hex_digits[] = "0123456789abcdef";

static void integ_hex(const unsigned char *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = integ_hex_digits[in[i] >> 4];
        out[2 * i + 1] = integ_hex_digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int integ_hex_val(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Lowercase hex of exactly 2*n digits into n bytes (out may be NULL to only
 * check). 0 or -1. */
static int integ_unhex(const char *s, unsigned char *out, size_t n) {
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = integ_hex_val(s[2 * i]), lo = integ_hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        if (out)
            out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void integ_destroy(integ_t *in) {
    if (!in)
        return;
    free(in->name);
    free(in->display_name);
    free(in->client_id);
    free(in->topic);
    free(in->rejected_topic);
    for (size_t i = 0; i < in->npk; i++)
        free(in->primary_key[i]);
    free(in->primary_key);
    free(in->sig_secret);
    free(in->sig_header);
    free(in->sig_prefix);
    free(in->delivery_header);
    free(in->delivery_field);
    free(in);
}

int integ_header_check(const char *name, char *errstr, size_t errstr_size) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > INTEG_HEADER_MAX) {
        return errstr_fmt(-1, errstr, errstr_size, "header name must be 1..%d characters", INTEG_HEADER_MAX);
    }
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        /* RFC 9110 token characters */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c && strchr("!#$%&'*+-.^_`|~", c)))) {
            return errstr_fmt(-1, errstr, errstr_size, "header name \"%s\" has a character not allowed in "
                              "HTTP header names", name);
        }
    }
    return 0;
}

static int integ_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > INTEG_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

int integ_client_id_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > INTEG_CLIENT_ID_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("-._~", *s)))
            return 0;
    return 1;
}

int integ_client_id_new(char out[9]) {
    uint32_t v;
    /* rejection sampling: no digit string is likelier than another */
    do {
        if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
            return -1;
    } while (v >= UINT32_MAX - UINT32_MAX % 90000000u);
    snprintf(out, 9, "%08u", (unsigned)(10000000u + v % 90000000u));
    return 0;
}

/* Kafka's topic name rule: 1..249 of [A-Za-z0-9._-], not "." or "..". */
static int integ_topic_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return 0;
    return 1;
}

/* A required string member; NULL with errstr if missing or not a string. */
static const char *integ_get_str(json_t *obj, const char *key, char *errstr, size_t errstr_size) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        errstr_fmt(-1, errstr, errstr_size, "missing \"%s\"", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        errstr_fmt(-1, errstr, errstr_size, "\"%s\" is not a string", key);
        return NULL;
    }
    return json_string_value(v);
}

static int integ_get_time(json_t *obj, const char *key, char out[32], char *errstr,
                          size_t errstr_size) {
    const char *s = integ_get_str(obj, key, errstr, errstr_size);
    if (!s)
        return -1;
    if (strlen(s) >= 32) {
        return errstr_fmt(-1, errstr, errstr_size, "\"%s\" is too long for a timestamp", key);
    }
    strcpy(out, s);
    return 0;
}

static int integ_dup_str(char **dst, const char *s, char *errstr, size_t errstr_size) {
    if (!(*dst = strdup(s))) {
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    return 0;
}

static int integ_parse_tokens(integ_t *in, json_t *arr, char *errstr, size_t errstr_size) {
    if (!json_is_array(arr)) {
        return errstr_fmt(-1, errstr, errstr_size, arr ? "\"tokens\" is not an array" : "missing \"tokens\"");
    }
    if (json_array_size(arr) > INTEG_MAX_TOKENS) {
        return errstr_fmt(-1, errstr, errstr_size, "%zu tokens, at most %d", json_array_size(arr),
                          INTEG_MAX_TOKENS);
    }
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) {
        integ_token_t *tok = &in->tokens[i];
        const char *id, *hash;
        if (!json_is_object(t)) {
            return errstr_fmt(-1, errstr, errstr_size, "tokens[%zu] is not an object", i);
        }
        if (!(id = integ_get_str(t, "id", errstr, errstr_size)) ||
            !(hash = integ_get_str(t, "sha256", errstr, errstr_size)) ||
            integ_get_time(t, "created_at", tok->created_at, errstr, errstr_size) < 0)
            return -1;
        if (integ_unhex(id, NULL, INTEG_TOKEN_ID_HEX / 2) < 0) {
            return errstr_fmt(-1, errstr, errstr_size, "tokens[%zu].id is not %d lowercase hex digits", i,
                              INTEG_TOKEN_ID_HEX);
        }
        if (integ_unhex(hash, tok->sha256, sizeof(tok->sha256)) < 0) {
            return errstr_fmt(-1, errstr, errstr_size,
                              "tokens[%zu].sha256 is not 64 lowercase hex digits", i);
        }
        strcpy(tok->id, id);
        in->ntokens = i + 1;
    }
    return 0;
}

static int integ_parse_pk(integ_t *in, json_t *arr, char *errstr, size_t errstr_size) {
    char why[256];
    if (!json_is_array(arr)) {
        return errstr_fmt(-1, errstr, errstr_size,
                          arr ? "\"primary_key\" is not an array" : "missing \"primary_key\"");
    }
    size_t n = json_array_size(arr), i;
    json_t *f;
    if (n && !(in->primary_key = calloc(n, sizeof(char *)))) {
        return errstr_fmt(-1, errstr, errstr_size, "out of memory");
    }
    json_array_foreach(arr, i, f) {
        if (!json_is_string(f)) {
            return errstr_fmt(-1, errstr, errstr_size, "primary_key[%zu] is not a string", i);
        }
        if (integ_pk_field_check(json_string_value(f), why, sizeof(why)) < 0) {
            return errstr_fmt(-1, errstr, errstr_size, "primary_key[%zu]: %s", i, why);
        }
        if (integ_dup_str(&in->primary_key[i], json_string_value(f), errstr, errstr_size) < 0)
            return -1;
        in->npk = i + 1;
    }
    return 0;
}

/* An optional string member of obj into *dst (NULL if absent); -1 if it is
 * there but not a string. */
static int integ_opt_str(json_t *obj, const char *key, char **dst, char *errstr,
                         size_t errstr_size) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        return errstr_fmt(-1, errstr, errstr_size, "\"%s\" is not a string", key);
    }
    return integ_dup_str(dst, json_string_value(v), errstr, errstr_size);
}

static int integ_parse_signature(integ_t *in, json_t *sig, char *errstr, size_t errstr_size) {
    char *scheme = NULL, *enc = NULL;
    int rc = -1;
    if (!sig || json_is_null(sig))
        return 0;
    if (!json_is_object(sig)) {
        return errstr_fmt(-1, errstr, errstr_size, "\"signature\" is not an object");
    }
    if (integ_opt_str(sig, "scheme", &scheme, errstr, errstr_size) < 0 ||
        integ_opt_str(sig, "secret", &in->sig_secret, errstr, errstr_size) < 0 ||
        integ_opt_str(sig, "header", &in->sig_header, errstr, errstr_size) < 0 ||
        integ_opt_str(sig, "encoding", &enc, errstr, errstr_size) < 0 ||
        integ_opt_str(sig, "prefix", &in->sig_prefix, errstr, errstr_size) < 0)
        goto out;
    int sc = scheme ? whsig_scheme_parse(scheme) : -1;
    if (sc <= 0) {
        errstr_fmt(-1, errstr, errstr_size, "signature.scheme \"%s\" is not one of standard, github, "
                   "stripe, shopify, hmac", scheme ? scheme : "");
        goto out;
    }
    in->sig_scheme = (whsig_scheme_t)sc;
    if (!in->sig_secret || !*in->sig_secret) {
        errstr_fmt(-1, errstr, errstr_size, "signature.secret is missing");
        goto out;
    }
    json_t *tol = json_object_get(sig, "tolerance");
    if (tol && (!json_is_integer(tol) || json_integer_value(tol) < 0)) {
        errstr_fmt(-1, errstr, errstr_size, "signature.tolerance is not a non-negative integer");
        goto out;
    }
    in->sig_tolerance = tol ? json_integer_value(tol) : 0;
    if (in->sig_scheme == WHSIG_HMAC) {
        if (integ_header_check(in->sig_header, errstr, errstr_size) < 0)
            goto out;
        if (enc && strcmp(enc, "hex") != 0 && strcmp(enc, "base64") != 0) {
            errstr_fmt(-1, errstr, errstr_size, "signature.encoding \"%s\" is not hex or base64", enc);
            goto out;
        }
        in->sig_encoding = enc && !strcmp(enc, "base64") ? WHSIG_BASE64 : WHSIG_HEX;
    }
    rc = 0;
out:
    free(scheme);
    free(enc);
    return rc;
}

static int integ_parse_extras(integ_t *in, json_t *root, char *errstr, size_t errstr_size) {
    char why[256];
    if (integ_parse_signature(in, json_object_get(root, "signature"), errstr, errstr_size) < 0)
        return -1;
    json_t *d = json_object_get(root, "delivery_id");
    if (d && !json_is_null(d)) {
        if (!json_is_object(d)) {
            return errstr_fmt(-1, errstr, errstr_size, "\"delivery_id\" is not an object");
        }
        if (integ_opt_str(d, "header", &in->delivery_header, errstr, errstr_size) < 0 ||
            integ_opt_str(d, "field", &in->delivery_field, errstr, errstr_size) < 0)
            return -1;
        if (in->delivery_header && integ_header_check(in->delivery_header, errstr, errstr_size) < 0)
            return -1;
        if (in->delivery_field && integ_pk_field_check(in->delivery_field, why, sizeof(why)) < 0) {
            return errstr_fmt(-1, errstr, errstr_size, "delivery_id.field: %s", why);
        }
    }
    json_t *r = json_object_get(root, "rate_limit");
    if (r && !json_is_null(r)) {
        json_t *ps = json_is_object(r) ? json_object_get(r, "per_second") : NULL;
        json_t *b = json_is_object(r) ? json_object_get(r, "burst") : NULL;
        if (!json_is_number(ps) || json_number_value(ps) < 0 || json_number_value(ps) > 1e9 ||
            (b && (!json_is_integer(b) || json_integer_value(b) < 0))) {
            return errstr_fmt(-1, errstr, errstr_size, "\"rate_limit\" is not {\"per_second\":N,\"burst\":B}"
                              " with 0 <= N <= 1e9 and B >= 0");
        }
        in->rate_per_s = json_number_value(ps);
        in->rate_burst = b ? json_integer_value(b) : 0;
    }
    return 0;
}

integ_t *integ_from_json(const char *buf, size_t len, char *errstr, size_t errstr_size) {
    json_error_t jerr;
    integ_t *in = NULL;
    const char *s;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        errstr_fmt(-1, errstr, errstr_size, "not JSON: %s (line %d, column %d)", jerr.text,
                   jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        errstr_fmt(-1, errstr, errstr_size, "not a JSON object");
        goto fail;
    }
    if (!(in = calloc(1, sizeof(*in)))) {
        errstr_fmt(-1, errstr, errstr_size, "out of memory");
        goto fail;
    }
    static const struct {
        const char *key;
        size_t off;
        int (*ok)(const char *);
    } strs[] = {
        {"name", offsetof(integ_t, name), integ_name_ok},
        {"display_name", offsetof(integ_t, display_name), NULL},
        {"client_id", offsetof(integ_t, client_id), integ_client_id_ok},
        {"topic", offsetof(integ_t, topic), integ_topic_ok},
        {"rejected_topic", offsetof(integ_t, rejected_topic), integ_topic_ok},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (!(s = integ_get_str(root, strs[i].key, errstr, errstr_size)))
            goto fail;
        if (strs[i].ok && !strs[i].ok(s)) {
            errstr_fmt(-1, errstr, errstr_size, "\"%s\" is not valid: \"%s\"", strs[i].key, s);
            goto fail;
        }
        if (integ_dup_str((char **)((char *)in + strs[i].off), s, errstr, errstr_size) < 0)
            goto fail;
    }
    if (integ_parse_pk(in, json_object_get(root, "primary_key"), errstr, errstr_size) < 0 ||
        integ_parse_tokens(in, json_object_get(root, "tokens"), errstr, errstr_size) < 0)
        goto fail;
    if (!(s = integ_get_str(root, "status", errstr, errstr_size)))
        goto fail;
    if (strcmp(s, "active") != 0 && strcmp(s, "paused") != 0) {
        errstr_fmt(-1, errstr, errstr_size, "\"status\" is \"%s\", not \"active\" or \"paused\"", s);
        goto fail;
    }
    in->paused = s[0] == 'p';
    json_t *mb = json_object_get(root, "max_body");
    if (!json_is_integer(mb) || json_integer_value(mb) < 0) {
        errstr_fmt(-1, errstr, errstr_size, mb ? "\"max_body\" is not a non-negative integer"
                   : "missing \"max_body\"");
        goto fail;
    }
    in->max_body = json_integer_value(mb);
    if (integ_get_time(root, "created_at", in->created_at, errstr, errstr_size) < 0 ||
        integ_get_time(root, "updated_at", in->updated_at, errstr, errstr_size) < 0 ||
        integ_parse_extras(in, root, errstr, errstr_size) < 0)
        goto fail;
    json_decref(root);
    return in;
fail:
    integ_destroy(in);
    json_decref(root);
    return NULL;
}

/* json_object_set_new() that remembers a failure instead of returning it. */
static void integ_set(json_t *obj, const char *key, json_t *v, int *bad) {
    if (!v || json_object_set_new(obj, key, v) < 0)
        *bad = 1;
}

static json_t *integ_json_str(const char *s) {
    return json_string(s ? s : "");
}

char *integ_to_json(const integ_t *in) {
    char *out = NULL;
    int bad = 0;
    json_t *root = json_object(), *pk = json_array(), *toks = json_array();
    if (!root || !pk || !toks) {
        json_decref(pk);
        json_decref(toks);
        goto out;
    }
    integ_set(root, "name", integ_json_str(in->name), &bad);
    integ_set(root, "display_name", integ_json_str(in->display_name), &bad);
    integ_set(root, "client_id", integ_json_str(in->client_id), &bad);
    integ_set(root, "topic", integ_json_str(in->topic), &bad);
    integ_set(root, "rejected_topic", integ_json_str(in->rejected_topic), &bad);
    for (size_t i = 0; i < in->npk; i++)
        if (json_array_append_new(pk, integ_json_str(in->primary_key[i])) < 0)
            bad = 1;
    integ_set(root, "primary_key", pk, &bad);
    for (size_t i = 0; i < in->ntokens && i < INTEG_MAX_TOKENS; i++) {
        char hex[2 * sizeof(in->tokens[i].sha256) + 1];
        integ_hex(in->tokens[i].sha256, sizeof(in->tokens[i].sha256), hex);
        json_t *t = json_object();
        if (!t || json_array_append_new(toks, t) < 0) {
            bad = 1;
            break;
        }
        integ_set(t, "id", integ_json_str(in->tokens[i].id), &bad);
        integ_set(t, "sha256", json_string(hex), &bad);
        integ_set(t, "created_at", integ_json_str(in->tokens[i].created_at), &bad);
    }
    integ_set(root, "tokens", toks, &bad);
    integ_set(root, "status", json_string(in->paused ? "paused" : "active"), &bad);
    integ_set(root, "max_body", json_integer(in->max_body), &bad);
    integ_set(root, "created_at", integ_json_str(in->created_at), &bad);
    integ_set(root, "updated_at", integ_json_str(in->updated_at), &bad);
    if (in->sig_scheme != WHSIG_NONE) {
        json_t *sig = json_object();
        integ_set(sig, "scheme", json_string(whsig_scheme_name(in->sig_scheme)), &bad);
        integ_set(sig, "secret", integ_json_str(in->sig_secret), &bad);
        if (in->sig_tolerance)
            integ_set(sig, "tolerance", json_integer(in->sig_tolerance), &bad);
        if (in->sig_scheme == WHSIG_HMAC) {
            integ_set(sig, "header", integ_json_str(in->sig_header), &bad);
            integ_set(sig, "encoding",
                      json_string(in->sig_encoding == WHSIG_BASE64 ? "base64" : "hex"), &bad);
            if (in->sig_prefix)
                integ_set(sig, "prefix", json_string(in->sig_prefix), &bad);
        }
        integ_set(root, "signature", sig, &bad);
    }
    if (in->delivery_header || in->delivery_field) {
        json_t *d = json_object();
        if (in->delivery_header)
            integ_set(d, "header", json_string(in->delivery_header), &bad);
        if (in->delivery_field)
            integ_set(d, "field", json_string(in->delivery_field), &bad);
        integ_set(root, "delivery_id", d, &bad);
    }
    if (in->rate_per_s > 0) {
        json_t *r = json_object();
        integ_set(r, "per_second", json_real(in->rate_per_s), &bad);
        integ_set(r, "burst", json_integer(in->rate_burst), &bad);
        integ_set(root, "rate_limit", r, &bad);
    }
    if (bad)
        goto out;
    /* dump into our own malloc'd buffer so the caller can free() it whatever
     * allocator jansson was given */
    size_t n = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (!n || !(out = malloc(n + 1)))
        goto out;
    if (json_dumpb(root, out, n, JSON_COMPACT) != n) {
        free(out);
        out = NULL;
        goto out;
    }
    out[n] = '\0';
out:
    json_decref(root);
    return out;
}

integ_t *integ_dup(const integ_t *src) {
    integ_t *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    *in = *src;
    in->name = in->display_name = in->client_id = in->topic = in->rejected_topic = NULL;
    in->primary_key = NULL;
    in->npk = 0;
    in->sig_secret = in->sig_header = in->sig_prefix = NULL;
    in->delivery_header = in->delivery_field = NULL;
    const char *const from[] = {src->name, src->display_name, src->client_id, src->topic,
                                src->rejected_topic, src->sig_secret, src->sig_header,
                                src->sig_prefix, src->delivery_header, src->delivery_field};
    char **const to[] = {&in->name, &in->display_name, &in->client_id, &in->topic,
                         &in->rejected_topic, &in->sig_secret, &in->sig_header,
                         &in->sig_prefix, &in->delivery_header, &in->delivery_field};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
        if (from[i] && !(*to[i] = strdup(from[i])))
            goto fail;
    if (src->npk && !(in->primary_key = calloc(src->npk, sizeof(char *))))
        goto fail;
    for (size_t i = 0; i < src->npk; i++) {
        if (!(in->primary_key[i] = strdup(src->primary_key[i])))
            goto fail;
        in->npk = i + 1;
    }
    return in;
fail:
    integ_destroy(in);
    return NULL;
}

/* SHA-256 of len bytes; 0, or -1 (only with a broken OpenSSL). */
static int integ_sha256(const void *buf, size_t len, unsigned char out[32]) {
    unsigned int n = 32;
    return EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

void integ_token_hash(const char *token, size_t len, unsigned char out[32]) {
    /* on failure: zeros, a value integ_token_new() never stores */
    if (integ_sha256(token, len, out) < 0)
        memset(out, 0, 32);
}

int integ_token_new(char hex_out[INTEG_TOKEN_HEX + 1], integ_token_t *tok) {
    unsigned char raw[INTEG_TOKEN_HEX / 2], id[INTEG_TOKEN_ID_HEX / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(id, sizeof(id)) != 1)
        return -1;
    integ_hex(raw, sizeof(raw), hex_out);
    OPENSSL_cleanse(raw, sizeof(raw));
    memset(tok, 0, sizeof(*tok));
    integ_hex(id, sizeof(id), tok->id);
    if (integ_sha256(hex_out, INTEG_TOKEN_HEX, tok->sha256) < 0)
        return -1;
    integ_now_rfc3339(tok->created_at);
    return 0;
}

int integ_token_match(const integ_t *in, const unsigned char sha256[32]) {
    int found = 0;
    for (size_t i = 0; i < in->ntokens && i < INTEG_MAX_TOKENS; i++)
        found |= CRYPTO_memcmp(in->tokens[i].sha256, sha256, 32) == 0;
    return found;
}

int integ_token_revoke(integ_t *in, const char *id) {
    for (size_t i = 0; i < in->ntokens; i++) {
        if (strcmp(in->tokens[i].id, id) != 0)
            continue;
        memmove(&in->tokens[i], &in->tokens[i + 1], (in->ntokens - i - 1) * sizeof(in->tokens[0]));
        in->ntokens--;
        memset(&in->tokens[in->ntokens], 0, sizeof(in->tokens[0]));
        return 0;
    }
    return -1;
}

void integ_now_rfc3339(char out[32]) {
    rfc3339_format(rfc3339_now_us(), RFC3339_MICROS, out, 32);
}

long long integ_topic_max_message_bytes(long long max_body) {
    long long limit = max_body > 0 ? max_body : INTEG_DEFAULT_MAX_BODY;
    if (limit > (INT32_MAX - INTEG_TOPIC_HEADROOM) / 2)
        return INT32_MAX;
    return 2 * limit + INTEG_TOPIC_HEADROOM;
}
