/* avro_pipeline: the Avro pipeline of hookpipe-sink (the kafka-avro and
 * avro-files targets) behind the pipeline interface (sink_pipeline.h).
 *
 * Per message: JSON -> Avro by its integration's converter (sink_conv),
 * then written to the output (sink_target.h). The converter of an
 * integration starts from the latest version registered under
 * <topic>-value (so a restarted sink, or another target's sink, continues
 * the same evolution); a new version is registered there and opened in the
 * output before the record is written. A version the registry refuses
 * (another sink registered a newer one meanwhile) makes the converter
 * reload the latest and convert the record again (5 attempts). While the
 * registry is unreachable the pipeline waits (serving the output and the
 * dead-letter producer) until it answers or the stop flag is set
 * (SINK_PIPE_STOPPED).
 *
 * A message that cannot be converted (no value, invalid JSON, a limit...),
 * or that the output refuses (SINK_TARGET_REFUSED), goes to <topic>.rejected
 * through the dead-letter producer (SINK_PIPE_REJECTED). Nothing is stored
 * with the output: assigned always answers SINK_PIPE_START_NONE.
 *
 * All calls from one thread, but stats (any thread). */
#ifndef HOOKPIPE_AVRO_PIPELINE_H
#define HOOKPIPE_AVRO_PIPELINE_H

#include <signal.h>
#include <stddef.h>

#include "sink_dlq.h"
#include "sink_pipeline.h"
#include "sink_target.h"

/* Result of a registry call. */
typedef enum {
    SINK_REG_OK = 0,     /* done */
    SINK_REG_REFUSED,    /* permanently refused (incompatible, invalid) */
    SINK_REG_RETRY,      /* transient (registry unreachable): try again later */
    SINK_REG_NOT_FOUND   /* latest: the subject has no version yet */
} sink_reg_rc_t;

/* The schema registry as the pipeline uses it, with a reason in errstr
 * unless SINK_REG_OK. Called from the pipeline's thread.
 *   register_schema  registers `schema` (NUL-terminated Avro JSON) under
 *                    `subject`: *id is its id (new or existing);
 *   latest           the latest version under `subject`: *id and *schema
 *                    (malloc'd, the caller frees it). */
typedef struct sink_registry {
    sink_reg_rc_t (*register_schema)(void *opaque, const char *subject, const char *schema,
                                     int *id, char *errstr, size_t errstr_size);
    sink_reg_rc_t (*latest)(void *opaque, const char *subject, int *id, char **schema,
                            char *errstr, size_t errstr_size);
    void *opaque;
} sink_registry_t;

typedef struct avro_pipeline_conf {
    sink_registry_t registry;       /* copied; opaque is borrowed */
    sink_target_t *output;          /* taken over, in every case: the pipeline
                                       destroys it */
    sink_dlq_t *dlq;                /* borrowed; must outlive the pipeline */
    volatile sig_atomic_t *stop;    /* borrowed; NULL: never stop waiting */
} avro_pipeline_conf_t;

/* The pipeline (destroy it through its ops), or NULL with errstr. */
sink_pipeline_t *avro_pipeline_new(const avro_pipeline_conf_t *conf, char *errstr,
                                   size_t errstr_size);

#endif
