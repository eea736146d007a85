/* Fuzz target: identifier normalisation - integration names from display
 * names (Stitch's rule) and primary-key field checks. An accepted name must
 * be non-empty, within the limit and made of [a-z0-9_] only, not starting
 * with a digit; the rule must be idempotent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "integ.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char out[256], again[256], err[256];
    if (integ_name_from_display(s, out, sizeof(out), err, sizeof(err)) == 0) {
        size_t n = strlen(out);
        if (n == 0 || n > INTEG_NAME_MAX || (out[0] >= '0' && out[0] <= '9'))
            abort();
        for (size_t i = 0; i < n; i++)
            if (!((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') || out[i] == '_'))
                abort();
        if (integ_name_from_display(out, again, sizeof(again), err, sizeof(err)) != 0 ||
            strcmp(out, again) != 0)
            abort();
    }
    if (integ_pk_field_check(s, err, sizeof(err)) == 0 &&
        (strlen(s) == 0 || strchr(s, '.')))
        abort();
    free(s);
    return 0;
}
