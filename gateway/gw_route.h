/* gw_route: the pure parts of request handling: which endpoint a path is,
 * whether a Content-Type is JSON. No I/O, no allocation; reentrant. */
#ifndef HOOKPIPE_GW_ROUTE_H
#define HOOKPIPE_GW_ROUTE_H

#include <stddef.h>

#define GW_CLIENT_ID_MAX 64   /* characters of a client id in a URL */
#define GW_TOKEN_MAX     128  /* characters of a token in a URL */

typedef enum { GW_ROUTE_NOT_FOUND = 0, GW_ROUTE_WEBHOOK } gw_route_kind_t;

typedef struct gw_route {
    gw_route_kind_t kind;
    const char *client_id;   /* borrowed from the path, client_id_len bytes */
    size_t client_id_len;
    const char *token;       /* borrowed from the path, token_len bytes */
    size_t token_len;
} gw_route_t;

/* Routes a (percent-decoded) path. "/v1/clients/{client_id}/token/{token}"
 * is GW_ROUTE_WEBHOOK when both segments are non-empty, contain no '/' and
 * fit GW_CLIENT_ID_MAX / GW_TOKEN_MAX; anything else (trailing slash, extra
 * segments, empty segments) is GW_ROUTE_NOT_FOUND. Authentication is the
 * caller's business: a well-formed but unknown token is still a webhook. */
gw_route_kind_t gw_route_parse(const char *path, gw_route_t *out);

typedef enum {
    GW_CT_JSON = 0,      /* application/json, application/<x>+json */
    GW_CT_MISSING,       /* no header: accepted as JSON by the gateway */
    GW_CT_NOT_JSON,      /* any other media type: 415 */
    GW_CT_BAD_CHARSET    /* JSON with a charset other than UTF-8: 415 */
} gw_ct_t;

/* Classifies a Content-Type header value (NULL = absent). Type and subtype
 * compare case-insensitively; parameters are allowed; a charset parameter,
 * quoted or not, must be utf-8 (RFC 8259 JSON is UTF-8). An empty or
 * whitespace-only value counts as missing. */
gw_ct_t gw_route_content_type(const char *value);

#endif
