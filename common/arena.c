/* arena: the bump allocator (see arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void arena_init(arena_t *a, size_t chunk_min, size_t chunk_max, size_t keep_max) {
    arena_free(a);
    a->chunk_min = chunk_min ? chunk_min : 4096;
    a->chunk_max = chunk_max < a->chunk_min ? a->chunk_min : chunk_max;
    a->keep_max = keep_max;
}

void *arena_alloc_slow(arena_t *a, size_t n) {
    if (n > SIZE_MAX / 2)
        return NULL;
    n = n ? (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1) : ARENA_ALIGN;
    /* an emptied chunk after the current one (arena_reset kept it)? */
    arena_chunk_t *last = a->cur;
    for (arena_chunk_t *c = a->cur; c; c = c->next) {
        if (c->size - c->used >= n) {
            void *r = c->data + c->used;
            c->used += n;
            a->cur = c;
            return r;
        }
        last = c;
    }
    size_t size = last ? last->size * 2 : a->chunk_min;
    if (size < a->chunk_min)
        size = a->chunk_min;
    if (size > a->chunk_max)
        size = a->chunk_max;
    if (size < n)
        size = n;
    arena_chunk_t *nc = malloc(sizeof(*nc) + size);
    if (!nc)
        return NULL;
    nc->next = NULL;
    nc->size = size;
    nc->used = n;
    if (last)
        last->next = nc;
    else
        a->head = nc;
    a->cur = nc;
    a->total += size;
    return nc->data;
}

char *arena_strndup(arena_t *a, const char *s, size_t len) {
    if (len == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, len + 1);
    if (p) {
        if (len)
            memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void arena_reset(arena_t *a) {
    size_t kept = 0;
    arena_chunk_t **link = &a->head;
    while (*link) {
        arena_chunk_t *c = *link;
        /* the first chunk always stays: the next input needs one anyway */
        if (c != a->head && kept + c->size > a->keep_max) {
            *link = c->next;
            a->total -= c->size;
            free(c);
            continue;
        }
        kept += c->size;
        c->used = 0;
        link = &c->next;
    }
    a->cur = a->head;
}

void arena_free(arena_t *a) {
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    a->head = a->cur = NULL;
    a->total = 0;
}
