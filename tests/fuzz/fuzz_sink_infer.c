/* Fuzz target: the sink's JSON -> Avro inference and evolution. The input is
 * a sequence of records, one per line, converted in order. Invariants: every
 * accepted record encodes; every new version is valid Avro to the registry's
 * parser and can read data written with the version before it (BACKWARD). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_avro.h"
#include "sr_compat.h"
#include "sink_conv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    sink_conv_t *c = sink_conv_new("fuzz", size % 2, NULL, err, sizeof(err));
    if (!c)
        abort();
    sr_avro_t *prev = NULL;
    const char *p = (const char *)data, *end = p + size;
    for (int n = 0; p < end && n < 32; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        sink_sys_t sys = {1764187200000000, 1764187200000000000 + n, 1764187200000001, 0, 0,
                          "key", 3};
        int rc = sink_conv_record(c, p, len, &sys, err, sizeof(err));
        if (rc == SINK_NEW_VERSION) {
            const char *text = sink_conv_schema_text(c);
            sr_avro_t *cur = sr_avro_parse(text, strlen(text), err, sizeof(err));
            if (!cur || (prev && sr_compat_can_read(cur, prev, NULL) != 1))
                abort();
            sr_avro_destroy(prev);
            prev = cur;
        }
        if (rc == SINK_OK || rc == SINK_NEW_VERSION) {
            const void *out;
            size_t out_len;
            if (sink_conv_encode(c, 7, &out, &out_len, err, sizeof(err)) != 0 || out_len < 5)
                abort();
        } else if (rc == SINK_FAIL) {
            break;   /* out of memory under the fuzzer's limits */
        }
        p += len + 1;
    }
    sr_avro_destroy(prev);
    sink_conv_destroy(c);
    return 0;
}
