/* map: a small chained hash map from byte-string keys (copied) to
 * borrowed pointers, used by the registry state, the registry client's cache and any module that needs one.
 * Zero-initialise a map_t to get an empty map. Not thread-safe. */
#ifndef HOOKPIPE_MAP_H
#define HOOKPIPE_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct map_entry {
    struct map_entry *next;
    void *val;              /* borrowed: the map never frees values */
    size_t klen;
    uint64_t hash;
    char key[];
} map_entry_t;

typedef struct map {
    map_entry_t **buckets;
    size_t nbuckets, count;
} map_t;

/* The value stored under key, or NULL. */
void *map_get(const map_t *m, const void *key, size_t klen);

/* Inserts or replaces. 0, or -1 on out of memory (map unchanged). */
int map_put(map_t *m, const void *key, size_t klen, void *val);

/* Removes key if present. */
void map_del(map_t *m, const void *key, size_t klen);

/* Frees the map's own memory (not the values) and empties it. */
void map_free(map_t *m);

#endif
