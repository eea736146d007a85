/* map: chained hash map from byte strings to pointers. */
#include "map.h"

#include <stdlib.h>
#include <string.h>


static uint64_t map_hash(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

void *map_get(const map_t *m, const void *key, size_t klen) {
    if (!m->nbuckets)
        return NULL;
    uint64_t h = map_hash(key, klen);
    for (map_entry_t *e = m->buckets[h % m->nbuckets]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e->val;
    return NULL;
}

int map_put(map_t *m, const void *key, size_t klen, void *val) {
    uint64_t h = map_hash(key, klen);
    if (m->nbuckets) {
        for (map_entry_t *e = m->buckets[h % m->nbuckets]; e; e = e->next)
            if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
                e->val = val;
                return 0;
            }
    }
    if (m->count >= m->nbuckets) {
        size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
        map_entry_t **b = calloc(nb, sizeof(*b));
        if (!b)
            return -1;
        for (size_t i = 0; i < m->nbuckets; i++) {
            map_entry_t *e = m->buckets[i];
            while (e) {
                map_entry_t *next = e->next;
                e->next = b[e->hash % nb];
                b[e->hash % nb] = e;
                e = next;
            }
        }
        free(m->buckets);
        m->buckets = b;
        m->nbuckets = nb;
    }
    map_entry_t *e = malloc(sizeof(*e) + klen);
    if (!e)
        return -1;
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->hash = h;
    e->val = val;
    e->next = m->buckets[h % m->nbuckets];
    m->buckets[h % m->nbuckets] = e;
    m->count++;
    return 0;
}

void map_del(map_t *m, const void *key, size_t klen) {
    if (!m->nbuckets)
        return;
    uint64_t h = map_hash(key, klen);
    for (map_entry_t **pe = &m->buckets[h % m->nbuckets]; *pe; pe = &(*pe)->next) {
        map_entry_t *e = *pe;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            *pe = e->next;
            free(e);
            m->count--;
            return;
        }
    }
}

void map_free(map_t *m) {
    for (size_t i = 0; i < m->nbuckets; i++) {
        map_entry_t *e = m->buckets[i];
        while (e) {
            map_entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}
