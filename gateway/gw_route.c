/* gw_route: path routing and Content-Type classification. */
#include "gw_route.h"

#include <string.h>
#include <strings.h>

/* Consumes "literal" at *p; 1 if it was there. */
static int gw_route_eat(const char **p, const char *literal) {
    size_t n = strlen(literal);
    if (strncmp(*p, literal, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* A non-empty segment of at most max bytes up to the next '/' or the end. */
static size_t gw_route_segment(const char *p, size_t max) {
    size_t n = strcspn(p, "/");
    return n > 0 && n <= max ? n : 0;
}

gw_route_kind_t gw_route_parse(const char *path, gw_route_t *out) {
    memset(out, 0, sizeof(*out));
    const char *p = path;
    if (!p || !gw_route_eat(&p, "/v1/clients/"))
        return GW_ROUTE_NOT_FOUND;
    size_t cl = gw_route_segment(p, GW_CLIENT_ID_MAX);
    if (!cl)
        return GW_ROUTE_NOT_FOUND;
    const char *client = p;
    p += cl;
    if (!gw_route_eat(&p, "/token/"))
        return GW_ROUTE_NOT_FOUND;
    size_t tl = gw_route_segment(p, GW_TOKEN_MAX);
    if (!tl || p[tl] != '\0')
        return GW_ROUTE_NOT_FOUND;
    out->kind = GW_ROUTE_WEBHOOK;
    out->client_id = client;
    out->client_id_len = cl;
    out->token = p;
    out->token_len = tl;
    return GW_ROUTE_WEBHOOK;
}

#define GW_ROUTE_IS_SP(c) ((c) == ' ' || (c) == '\t')

gw_ct_t gw_route_content_type(const char *v) {
    if (!v)
        return GW_CT_MISSING;
    while (GW_ROUTE_IS_SP(*v))
        v++;
    if (!*v)
        return GW_CT_MISSING;
    size_t n = strcspn(v, "; \t");
    static const char app[] = "application/";
    if (n <= sizeof(app) - 1 || strncasecmp(v, app, sizeof(app) - 1) != 0)
        return GW_CT_NOT_JSON;
    const char *sub = v + sizeof(app) - 1;
    size_t sl = n - (sizeof(app) - 1);
    int json = (sl == 4 && strncasecmp(sub, "json", 4) == 0) ||
               (sl > 5 && strncasecmp(sub + sl - 5, "+json", 5) == 0);
    if (!json)
        return GW_CT_NOT_JSON;
    const char *p = v + n;
    while (*p) {
        while (GW_ROUTE_IS_SP(*p))
            p++;
        if (*p != ';') {
            if (!*p)
                break;
            return GW_CT_NOT_JSON;
        }
        p++;
        while (GW_ROUTE_IS_SP(*p))
            p++;
        size_t an = strcspn(p, "=;");
        const char *name = p;
        p += an;
        if (*p != '=')
            continue;
        p++;
        const char *val = p;
        size_t vl;
        if (*p == '"') {
            val = ++p;
            vl = strcspn(p, "\"");
            p += vl;
            if (*p == '"')
                p++;
        } else {
            vl = strcspn(p, "; \t");
            p += vl;
        }
        while (an && GW_ROUTE_IS_SP(name[an - 1]))
            an--;
        if (an == 7 && strncasecmp(name, "charset", 7) == 0 &&
            !((vl == 5 && strncasecmp(val, "utf-8", 5) == 0) ||
              (vl == 4 && strncasecmp(val, "utf8", 4) == 0)))
            return GW_CT_BAD_CHARSET;
    }
    return GW_CT_JSON;
}
