/* sr_err: the registry's errors, one table giving each its HTTP status, its
 * Confluent error_code and its default message. */
#ifndef HOOKPIPE_SR_ERR_H
#define HOOKPIPE_SR_ERR_H

/* X(name, http status, Confluent error_code, default message) */
#define SR_ERR_MAP(X)                                                                    \
    X(OK, 200, 0, "OK")                                                                  \
    X(SUBJECT_NOT_FOUND, 404, 40401, "Subject not found")                                \
    X(VERSION_NOT_FOUND, 404, 40402, "Version not found")                                \
    X(SCHEMA_NOT_FOUND, 404, 40403, "Schema not found")                                  \
    X(SUBJECT_SOFT_DELETED, 404, 40404, "Subject was soft deleted")                      \
    X(SUBJECT_NOT_SOFT_DELETED, 404, 40405, "Subject was not deleted first before being permanently deleted") \
    X(VERSION_SOFT_DELETED, 404, 40406, "Version was soft deleted")                      \
    X(VERSION_NOT_SOFT_DELETED, 404, 40407, "Version was not deleted first before being permanently deleted") \
    X(SUBJECT_LEVEL_NOT_FOUND, 404, 40408, "Subject does not have subject-level compatibility configured") \
    X(INCOMPATIBLE, 409, 409, "Schema being registered is incompatible with an earlier schema") \
    X(INVALID_SCHEMA, 422, 42201, "Invalid schema")                                      \
    X(INVALID_VERSION, 422, 42202, "Invalid version")                                    \
    X(INVALID_LEVEL, 422, 42203, "Invalid compatibility level")                          \
    X(UNPROCESSABLE, 422, 422, "Unprocessable entity")                                   \
    X(BAD_REQUEST, 400, 400, "Bad request")                                              \
    X(NOT_FOUND, 404, 404, "HTTP 404 Not Found")                                         \
    X(METHOD, 405, 405, "HTTP 405 Method Not Allowed")                                   \
    X(TOO_LARGE, 413, 413, "Request body too large")                                     \
    X(MEDIA_TYPE, 415, 415, "HTTP 415 Unsupported Media Type")                           \
    X(STORE, 500, 50001, "Error in the backend data store")                              \
    X(TIMEOUT, 500, 50002, "Operation timed out")                                        \
    X(NOT_READY, 503, 50003, "Not ready: still reading the schemas topic")              \
    X(BUSY, 503, 503, "Too many request bytes in flight; retry later")                  \
    X(NOMEM, 503, 50001, "Out of memory")

typedef enum {
#define SR_ERR_ENUM(name, http, code, msg) SR_ERR_##name,
    SR_ERR_MAP(SR_ERR_ENUM)
#undef SR_ERR_ENUM
} sr_err_t;

static inline int sr_err_http(sr_err_t e) {
    static const int t[] = {
#define SR_ERR_HTTP(name, http, code, msg) http,
        SR_ERR_MAP(SR_ERR_HTTP)
#undef SR_ERR_HTTP
    };
    return t[e];
}

static inline int sr_err_code(sr_err_t e) {
    static const int t[] = {
#define SR_ERR_CODE(name, http, code, msg) code,
        SR_ERR_MAP(SR_ERR_CODE)
#undef SR_ERR_CODE
    };
    return t[e];
}

static inline const char *sr_err_msg(sr_err_t e) {
    static const char *const t[] = {
#define SR_ERR_MSG(name, http, code, msg) msg,
        SR_ERR_MAP(SR_ERR_MSG)
#undef SR_ERR_MSG
    };
    return t[e];
}

#endif
