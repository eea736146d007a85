/* sink_ocf: Avro object container file writer with null, deflate and snappy blocks. */
#include "sink_ocf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <snappy-c.h>
#include <zlib.h>

struct sink_ocf {
    int fd;
    int failed;               /* sticky: a write failed, the file is unusable */
    sink_ocf_codec_t codec;
    unsigned char sync[16];
    size_t block_bytes;
    unsigned char *buf;       /* gathered records, uncompressed */
    size_t len, cap;
    uint64_t count;           /* records in buf */
    unsigned char *out;       /* compression output, reused */
    size_t out_cap;
    uint64_t records;         /* appended in total */
    uint64_t written;         /* bytes in the file */
    char path[4096];
};

static const char *const sink_ocf_codecs[] = {"null", "deflate", "snappy"};

int sink_ocf_codec_parse(const char *name) {
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, sink_ocf_codecs[i]) == 0)
            return i;
    return -1;
}

const char *sink_ocf_codec_name(sink_ocf_codec_t codec) {
    return (unsigned)codec < 3 ? sink_ocf_codecs[codec] : "?";
}

/* Avro long: zig-zag, then base-128 little-endian varint; at most 10 bytes. */
static size_t sink_ocf_varint(unsigned char *p, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z > 0x7f) {
        p[n++] = (unsigned char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    p[n++] = (unsigned char)z;
    return n;
}

static int sink_ocf_write_all(sink_ocf_t *w, const void *data, size_t len, char *errstr,
                              size_t errstr_size) {
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            w->failed = 1;
            snprintf(errstr, errstr_size, "%s: write: %s", w->path,
                     n < 0 ? strerror(errno) : "no progress");
            return -1;
        }
        p += n;
        len -= (size_t)n;
        w->written += (uint64_t)n;
    }
    return 0;
}

static int sink_ocf_reserve(unsigned char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    unsigned char *b = realloc(*buf, c);
    if (!b)
        return -1;
    *buf = b;
    *cap = c;
    return 0;
}

/* Appends an Avro string/bytes value (length, then the bytes) to buf. */
static int sink_ocf_put_bytes(unsigned char **buf, size_t *len, size_t *cap,
                              const void *data, size_t n) {
    if (sink_ocf_reserve(buf, cap, *len + 10 + n) < 0)
        return -1;
    *len += sink_ocf_varint(*buf + *len, (int64_t)n);
    memcpy(*buf + *len, data, n);
    *len += n;
    return 0;
}

sink_ocf_t *sink_ocf_open(const char *path, const char *schema, size_t schema_len,
                          sink_ocf_codec_t codec, size_t block_bytes,
                          char *errstr, size_t errstr_size) {
    unsigned char *hdr = NULL;
    size_t hlen = 0, hcap = 0;
    sink_ocf_t *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->fd = -1;
    w->codec = codec;
    w->block_bytes = block_bytes ? block_bytes : SINK_OCF_BLOCK_BYTES;
    if ((unsigned)codec > SINK_OCF_SNAPPY) {
        snprintf(errstr, errstr_size, "unknown codec %d", (int)codec);
        goto fail;
    }
    if (strlen(path) >= sizeof(w->path)) {
        snprintf(errstr, errstr_size, "path too long");
        goto fail;
    }
    strcpy(w->path, path);
    if (getrandom(w->sync, sizeof(w->sync), 0) != (ssize_t)sizeof(w->sync)) {
        snprintf(errstr, errstr_size, "getrandom: %s", strerror(errno));
        goto fail;
    }
    const char *cname = sink_ocf_codec_name(codec);
    if (sink_ocf_reserve(&hdr, &hcap, 4 + 10) < 0)
        goto nomem;
    memcpy(hdr, "Obj\x01", 4);
    hlen = 4;
    hlen += sink_ocf_varint(hdr + hlen, 2); /* one map block of two entries */
    if (sink_ocf_put_bytes(&hdr, &hlen, &hcap, "avro.schema", 11) < 0 ||
        sink_ocf_put_bytes(&hdr, &hlen, &hcap, schema, schema_len) < 0 ||
        sink_ocf_put_bytes(&hdr, &hlen, &hcap, "avro.codec", 10) < 0 ||
        sink_ocf_put_bytes(&hdr, &hlen, &hcap, cname, strlen(cname)) < 0 ||
        sink_ocf_reserve(&hdr, &hcap, hlen + 1 + 16) < 0)
        goto nomem;
    hdr[hlen++] = 0; /* end of the map */
    memcpy(hdr + hlen, w->sync, 16);
    hlen += 16;
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        snprintf(errstr, errstr_size, "%s: open: %s", path, strerror(errno));
        goto fail;
    }
    if (sink_ocf_write_all(w, hdr, hlen, errstr, errstr_size) < 0)
        goto fail;
    free(hdr);
    return w;
nomem:
    snprintf(errstr, errstr_size, "out of memory");
fail:
    free(hdr);
    sink_ocf_destroy(w);
    return NULL;
}

/* Compresses buf[0..len) into w->out per the codec; sets *data and *dlen to what
 * the block holds (buf itself for "null"). */
static int sink_ocf_compress(sink_ocf_t *w, const unsigned char **data, size_t *dlen,
                             char *errstr, size_t errstr_size) {
    if (w->codec == SINK_OCF_NULL) {
        *data = w->buf;
        *dlen = w->len;
        return 0;
    }
    if (w->codec == SINK_OCF_DEFLATE) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        /* windowBits -15: raw deflate, as the Avro spec asks (no zlib header) */
        if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            snprintf(errstr, errstr_size, "deflateInit2 failed");
            return -1;
        }
        size_t bound = deflateBound(&zs, (uLong)w->len);
        if (sink_ocf_reserve(&w->out, &w->out_cap, bound) < 0) {
            deflateEnd(&zs);
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        zs.next_in = w->buf;
        zs.avail_in = (uInt)w->len;
        zs.next_out = w->out;
        zs.avail_out = (uInt)bound;
        int zrc = deflate(&zs, Z_FINISH);
        size_t n = zs.total_out;
        deflateEnd(&zs);
        if (zrc != Z_STREAM_END) {
            snprintf(errstr, errstr_size, "deflate failed (%d)", zrc);
            return -1;
        }
        *data = w->out;
        *dlen = n;
        return 0;
    }
    size_t n = snappy_max_compressed_length(w->len);
    if (sink_ocf_reserve(&w->out, &w->out_cap, n + 4) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (snappy_compress((const char *)w->buf, w->len, (char *)w->out, &n) != SNAPPY_OK) {
        snprintf(errstr, errstr_size, "snappy_compress failed");
        return -1;
    }
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), w->buf, (uInt)w->len);
    w->out[n] = (unsigned char)(crc >> 24);
    w->out[n + 1] = (unsigned char)(crc >> 16);
    w->out[n + 2] = (unsigned char)(crc >> 8);
    w->out[n + 3] = (unsigned char)crc;
    *data = w->out;
    *dlen = n + 4;
    return 0;
}

static int sink_ocf_write_block(sink_ocf_t *w, char *errstr, size_t errstr_size) {
    if (w->failed) {
        snprintf(errstr, errstr_size, "%s: an earlier write failed", w->path);
        return -1;
    }
    if (w->count == 0)
        return 0;
    const unsigned char *data;
    size_t dlen;
    if (sink_ocf_compress(w, &data, &dlen, errstr, errstr_size) < 0) {
        w->failed = 1;
        return -1;
    }
    unsigned char head[20];
    size_t hlen = sink_ocf_varint(head, (int64_t)w->count);
    hlen += sink_ocf_varint(head + hlen, (int64_t)dlen);
    if (sink_ocf_write_all(w, head, hlen, errstr, errstr_size) < 0 ||
        sink_ocf_write_all(w, data, dlen, errstr, errstr_size) < 0 ||
        sink_ocf_write_all(w, w->sync, 16, errstr, errstr_size) < 0)
        return -1;
    w->len = 0;
    w->count = 0;
    return 0;
}

int sink_ocf_append(sink_ocf_t *w, const void *datum, size_t len, char *errstr,
                    size_t errstr_size) {
    if (w->failed) {
        snprintf(errstr, errstr_size, "%s: an earlier write failed", w->path);
        return -1;
    }
    if (len > UINT32_MAX) {
        snprintf(errstr, errstr_size, "record of %zu bytes is too large", len);
        return -1;
    }
    if (sink_ocf_reserve(&w->buf, &w->cap, w->len + len) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (len > 0) /* an empty record (schema "null") leaves buf unallocated */
        memcpy(w->buf + w->len, datum, len);
    w->len += len;
    w->count++;
    w->records++;
    if (w->len >= w->block_bytes)
        return sink_ocf_write_block(w, errstr, errstr_size);
    return 0;
}

int sink_ocf_sync(sink_ocf_t *w, char *errstr, size_t errstr_size) {
    if (sink_ocf_write_block(w, errstr, errstr_size) < 0)
        return -1;
    if (fsync(w->fd) < 0) {
        w->failed = 1;
        snprintf(errstr, errstr_size, "%s: fsync: %s", w->path, strerror(errno));
        return -1;
    }
    return 0;
}

uint64_t sink_ocf_records(const sink_ocf_t *w) {
    return w->records;
}

uint64_t sink_ocf_bytes(const sink_ocf_t *w) {
    return w->written + w->len;
}

int sink_ocf_close(sink_ocf_t *w, char *errstr, size_t errstr_size) {
    int rc = sink_ocf_sync(w, errstr, errstr_size);
    if (close(w->fd) < 0 && rc == 0) {
        snprintf(errstr, errstr_size, "%s: close: %s", w->path, strerror(errno));
        rc = -1;
    }
    w->fd = -1;
    sink_ocf_destroy(w);
    return rc;
}

void sink_ocf_destroy(sink_ocf_t *w) {
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->buf);
    free(w->out);
    free(w);
}
