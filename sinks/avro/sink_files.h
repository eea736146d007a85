/* sink_files: the `avro-files` target. Avro object container files (sink_ocf)
 * per integration and source partition under one directory:
 *
 *   <dir>/<integration>/<ts>-<partition>-<first offset>.avro
 *
 * with <ts> the UTC opening time as YYYYMMDDTHHMMSSmmmZ. A file holds one
 * schema; it is rolled when it reaches max_bytes, when it is max_age_ms old
 * (checked by poll), when its topic's schema changes, and on flush.
 *
 * A reader never sees a half-written file: records go to
 * <dir>/<integration>/.<final name>.tmp, which is fsynced, closed, renamed to
 * its final name, and the directory fsynced. A file's records count as
 * durable (pending() moves past them) only after that rename. Leftover .tmp
 * files are deleted by sink_files_new: their offsets were never committed,
 * so their records are consumed again. */
#ifndef HOOKPIPE_SINK_FILES_H
#define HOOKPIPE_SINK_FILES_H

#include <stdint.h>

#include "sink_ocf.h"
#include "sink_target.h"

typedef struct sink_files_conf {
    const char *dir;          /* output directory (created if missing, not its parents); copied */
    uint64_t max_bytes;       /* roll a file at this size (0: no size limit) */
    int64_t max_age_ms;       /* roll a file this long after it opened (0: none) */
    sink_ocf_codec_t codec;
} sink_files_conf_t;

/* Creates the target and deletes leftover .tmp files under conf->dir.
 * Returns it (destroy through its ops) or NULL with errstr. */
sink_target_t *sink_files_new(const sink_files_conf_t *conf, char *errstr, size_t errstr_size);

#endif
