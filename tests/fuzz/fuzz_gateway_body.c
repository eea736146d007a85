/* Fuzz target: the gateway's body path - validation, record spans, member
 * lookup and Kafka key building - on arbitrary bytes. Checks the invariants
 * the gateway relies on: spans lie inside the body, an accepted record
 * validates on its own, keys are built or rejected with a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    jscan_result_t res;
    if (jscan_body(buf, size, 32, 1000, &res) != JSCAN_OK) {
        if (res.err_off > size)
            abort();
        return 0;
    }
    static const char *const one[] = {"id"};
    static const char *const two[] = {"id", "type"};
    for (size_t i = 0; i < res.nrecords; i++) {
        jscan_span_t r = res.records[i];
        if (r.off > size || r.len > size - r.off || buf[r.off] != '{')
            abort();
        jscan_result_t sub;
        if (jscan_validate(buf + r.off, r.len, 32, &sub) != JSCAN_OK)
            abort();
        jscan_member_t m[2];
        jscan_members(buf + r.off, r.len, two, 2, m);
        for (int k = 0; k < 2; k++)
            if (m[k].type != JSCAN_MISSING && (m[k].value.off > r.len || m[k].value.len > r.len - m[k].value.off))
                abort();
        for (int n = 1; n <= 2; n++) {
            char *key = NULL;
            size_t key_len = 0, bad = 0;
            const char *reason = NULL;
            jscan_key_rc_t rc = jscan_key(buf + r.off, r.len, n == 1 ? one : two, (size_t)n,
                                          &key, &key_len, &reason, &bad);
            if (rc == JSCAN_KEY_REJECT && (!reason || bad >= (size_t)n))
                abort();
            if (rc == JSCAN_KEY_OK && (!key || key[key_len] != '\0'))
                abort();
            free(key);
        }
    }
    jscan_result_free(&res);
    return 0;
}
