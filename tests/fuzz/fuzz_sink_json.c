/* Fuzz target: the sink's exact-number JSON parser on arbitrary bytes, twice
 * per input to exercise arena reuse; walks every tree it accepts. */
#include <stdint.h>
#include <stdlib.h>

#include "sink_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const sink_json_node_t *n, int depth) {
    size_t count = 1;
    if (depth > 70)   /* 64 levels of containers plus their scalars */
        abort();
    for (const sink_json_node_t *c = n->child; c; c = c->next)
        count += walk(c, depth + 1);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sink_json_parser_t *p;
    if (!p && !(p = sink_json_parser_new(64, 1u << 16)))
        return 0;
    char err[256];
    const sink_json_node_t *root;
    for (int round = 0; round < 2; round++)
        if (sink_json_parse(p, (const char *)data, size, &root, err, sizeof(err)) == 0)
            walk(root, 1);
    return 0;
}
