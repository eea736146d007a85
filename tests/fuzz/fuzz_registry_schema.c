/* Fuzz target: the registry's Avro schema parser and compatibility checker.
 * The input holds two schema texts separated by a NUL byte. Invariants: the
 * canonical form of a parsed schema parses again to the same canonical form
 * and fingerprint; a schema can always read its own data; every level's
 * check runs on any pair without crashing. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_avro.h"
#include "sr_compat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sr_avro_t *parse_checked(const char *text, size_t len) {
    char err[256];
    sr_avro_t *s = sr_avro_parse(text, len, err, sizeof(err));
    if (!s)
        return NULL;
    sr_avro_t *again = sr_avro_parse(s->canonical, s->canonical_len, err, sizeof(err));
    if (!again || again->canonical_len != s->canonical_len ||
        memcmp(again->canonical, s->canonical, s->canonical_len) != 0 ||
        again->fingerprint != s->fingerprint)
        abort();
    sr_avro_destroy(again);
    if (sr_compat_can_read(s, s, NULL) != 1)
        abort();
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t len_a = nul ? (size_t)(nul - text) : size;
    sr_avro_t *a = parse_checked(text, len_a);
    sr_avro_t *b = nul ? parse_checked(nul + 1, size - len_a - 1) : NULL;
    if (a && b) {
        json_t *reasons = json_array();
        sr_compat_can_read(a, b, reasons);
        sr_compat_can_read(b, a, reasons);
        const sr_avro_t *existing[] = {b, a};
        for (int level = 0; level < 7; level++)
            sr_compat_check((sr_compat_level_t)level, a, existing, NULL, 2, reasons);
        json_decref(reasons);
    }
    sr_avro_destroy(a);
    sr_avro_destroy(b);
    return 0;
}
