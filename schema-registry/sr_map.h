/* sr_map: a small chained hash map from byte-string keys (copied) to
 * borrowed pointers, used by the registry state and the client cache.
 * Zero-initialise an sr_map_t to get an empty map. Not thread-safe. */
#ifndef HOOKPIPE_SR_MAP_H
#define HOOKPIPE_SR_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sr_entry {
    struct sr_entry *next;
    void *val;              /* borrowed: the map never frees values */
    size_t klen;
    uint64_t hash;
    char key[];
} sr_entry_t;

typedef struct sr_map {
    sr_entry_t **buckets;
    size_t nbuckets, count;
} sr_map_t;

/* The value stored under key, or NULL. */
void *sr_map_get(const sr_map_t *m, const void *key, size_t klen);

/* Inserts or replaces. 0, or -1 on out of memory (map unchanged). */
int sr_map_put(sr_map_t *m, const void *key, size_t klen, void *val);

/* Removes key if present. */
void sr_map_del(sr_map_t *m, const void *key, size_t klen);

/* Frees the map's own memory (not the values) and empties it. */
void sr_map_free(sr_map_t *m);

#endif
