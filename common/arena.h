/* arena: a bump allocator for many small objects that die together (a
 * parsed JSON tree, a warehouse batch): allocation is a pointer bump, freeing
 * is arena_reset() or arena_free() for all of them at once.
 *
 * Memory comes in chunks from malloc. A chunk is at least chunk_min bytes;
 * each new chunk is twice the last one, up to chunk_max (a larger request
 * gets a chunk of its own size). arena_reset() empties every chunk for reuse
 * and gives back to malloc those beyond the first keep_max bytes of chunks,
 * so one huge input does not pin its memory for good.
 *
 * Errors: arena_alloc returns NULL on out of memory (never aborts); the
 * arena stays usable. Pointers handed out stay valid until arena_reset() or
 * arena_free(); every allocation is aligned to ARENA_ALIGN.
 *
 * Not thread-safe; an arena belongs to one thread at a time. Zero-initialise
 * an arena_t and call arena_init() before use; the first chunk is allocated
 * by the first arena_alloc. */
#ifndef HOOKPIPE_ARENA_H
#define HOOKPIPE_ARENA_H

#include <stddef.h>

#define ARENA_ALIGN 16

/* internal: one chunk; the bytes data[0 .. used) are handed out */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head;   /* chunks in allocation order */
    arena_chunk_t *cur;    /* the chunk being filled; later ones are empty */
    size_t total;          /* bytes of chunk data held */
    size_t chunk_min, chunk_max, keep_max;
} arena_t;

/* Sets the sizes (see above; chunk_max < chunk_min is taken as chunk_min,
 * a 0 chunk_min as 4096). Allocates nothing. */
void arena_init(arena_t *a, size_t chunk_min, size_t chunk_max, size_t keep_max);

/* internal: arena_alloc when the current chunk is full (n as asked) */
void *arena_alloc_slow(arena_t *a, size_t n);

/* n bytes (uninitialised, aligned to ARENA_ALIGN), or NULL on out of
 * memory. n may be 0 (a unique pointer is still returned). */
static inline void *arena_alloc(arena_t *a, size_t n) {
    arena_chunk_t *c = a->cur;
    size_t r = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (c && r >= n && r && c->size - c->used >= r) {
        void *p = c->data + c->used;
        c->used += r;
        return p;
    }
    return arena_alloc_slow(a, n);
}

/* A NUL-terminated copy of s[0 .. len) in the arena, or NULL on out of
 * memory. */
char *arena_strndup(arena_t *a, const char *s, size_t len);

/* Forgets every allocation (their pointers become invalid) and keeps up to
 * keep_max bytes of chunks for reuse. */
void arena_reset(arena_t *a);

/* Frees every chunk; the arena is empty and reusable (its sizes are kept).
 * arena_free on an empty arena is a no-op. */
void arena_free(arena_t *a);

#endif
