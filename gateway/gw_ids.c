/* gw_ids: UUIDs, the message sequence and the clocks. */
#include "gw_ids.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hex.h"

static _Thread_local uint64_t gw_ids_state[2];
static _Thread_local int gw_ids_seeded;

/* xorshift128+: fast, and seeded per thread from the OS */
static uint64_t gw_ids_next(void) {
    if (!gw_ids_seeded) {
        if (getrandom(gw_ids_state, sizeof(gw_ids_state), 0) != sizeof(gw_ids_state)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            gw_ids_state[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL;
            gw_ids_state[1] = (uint64_t)(uintptr_t)&ts ^ (uint64_t)ts.tv_sec;
        }
        if (!gw_ids_state[0] && !gw_ids_state[1])
            gw_ids_state[0] = 1;
        gw_ids_seeded = 1;
    }
    uint64_t s1 = gw_ids_state[0];
    const uint64_t s0 = gw_ids_state[1];
    gw_ids_state[0] = s0;
    s1 ^= s1 << 23;
    gw_ids_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return gw_ids_state[1] + s0;
}

/* The 36-character text form of a UUID's 16 bytes, and a NUL. */
static void gw_ids_format(const unsigned char b[16], char out[GW_UUID_LEN + 1]) {
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex_digits[b[i] >> 4];
        out[o++] = hex_digits[b[i] & 15];
    }
    out[o] = '\0';
}

void gw_ids_uuid(char out[GW_UUID_LEN + 1]) {
    unsigned char b[16];
    uint64_t a = gw_ids_next(), c = gw_ids_next();
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(a >> (8 * i));
        b[8 + i] = (unsigned char)(c >> (8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    gw_ids_format(b, out);
}

int64_t gw_ids_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t gw_ids_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Atomic int64_t gw_ids_last;

int64_t gw_ids_sequence(void) {
    int64_t now = gw_ids_now_ns();
    int64_t last = atomic_load(&gw_ids_last);
    for (;;) {
        int64_t next = now > last ? now : last + 1;
        if (atomic_compare_exchange_weak(&gw_ids_last, &last, next))
            return next;
    }
}

/* The bytes of the namespace UUID GW_IDS_DELIVERY_NS. */
static void gw_ids_delivery_ns(unsigned char ns[16]) {
    char digits[32];
    size_t n = 0;
    for (const char *p = GW_IDS_DELIVERY_NS; *p && n < sizeof(digits); p++)
        if (*p != '-')
            digits[n++] = *p;
    hex_decode(digits, n, ns, 16, HEX_LOWER);
}

void gw_ids_delivery_key(const char *integration, const char *delivery_id, size_t id_len,
                         size_t index, char out[GW_UUID_LEN + 1]) {
    unsigned char ns[16], h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;
    char idx[24];
    gw_ids_delivery_ns(ns);
    int n = snprintf(idx, sizeof(idx), "\n%zu", index);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha1(), NULL) && EVP_DigestUpdate(md, ns, 16) &&
             EVP_DigestUpdate(md, integration, strlen(integration)) &&
             EVP_DigestUpdate(md, "\n", 1) && EVP_DigestUpdate(md, delivery_id, id_len) &&
             EVP_DigestUpdate(md, idx, (size_t)n) && EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    if (!ok) {
        /* no SHA-1 (a broken library): a random key, as without an id */
        gw_ids_uuid(out);
        return;
    }
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x50);
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
    gw_ids_format(h, out);
}
