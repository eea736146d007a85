/* sink_num: classifies a JSON number lexeme as Avro long, double or exact
 * decimal, and encodes exact decimals as Avro decimal bytes.
 *
 * The rule (never round silently):
 *   - an integer lexeme (no '.', no exponent) that fits int64 is a long;
 *   - any other lexeme is a double when the double nearest to it, printed
 *     with as many significant digits as the lexeme has, gives back the same
 *     decimal value (so the double is the value the provider meant: "0.1",
 *     "1e300", "3.141592653589793");
 *   - otherwise it is an exact decimal, kept as the Avro named type
 *     {"type":"fixed","name":"decimal_76_38","size":32,
 *      "logicalType":"decimal","precision":76,"scale":38}
 *     (integers beyond int64, "0.10000000000000000001", ...). A fixed, not
 *     bytes: the Avro specification lets a reader promote bytes to string
 *     and string to bytes, so a union holding both a JSON string branch and
 *     a bytes decimal could be read back with one as the other;
 *   - a value with more than SINK_DECIMAL_SCALE fraction digits or more than
 *     SINK_DECIMAL_PRECISION - SINK_DECIMAL_SCALE integer digits (after
 *     dropping trailing zeros) cannot be represented: SINK_NUM_BAD, and the
 *     record is rejected.
 * One fixed precision and scale for every decimal, so that a decimal branch
 * never changes between schema versions (a scale change would make old data
 * read as a different value). 76/38 is BigQuery's BIGNUMERIC range.
 * Pure functions; thread-safe. */
#ifndef HOOKPIPE_SINK_NUM_H
#define HOOKPIPE_SINK_NUM_H

#include <stddef.h>
#include <stdint.h>

#define SINK_DECIMAL_PRECISION 76
#define SINK_DECIMAL_SCALE     38
/* two's complement of a 76-digit unscaled value fits in 32 bytes */
#define SINK_DECIMAL_MAX_BYTES 33
#define SINK_DECIMAL_FIXED_SIZE 32
#define SINK_DECIMAL_FIXED_NAME "decimal_76_38"  /* never a record's name: those
                                                    are "data" and "data__..." */

typedef enum {
    SINK_NUM_LONG = 0,
    SINK_NUM_DOUBLE,
    SINK_NUM_DECIMAL,
    SINK_NUM_BAD
} sink_num_kind_t;

/* Classifies `lex` (len bytes, a valid JSON number per RFC 8259; not
 * NUL-terminated). Sets *i for SINK_NUM_LONG and *d for SINK_NUM_DOUBLE. */
sink_num_kind_t sink_num_classify(const char *lex, size_t len, int64_t *i, double *d);

/* Avro decimal bytes of `lex` at scale SINK_DECIMAL_SCALE: the unscaled value
 * as big-endian two's complement, minimal length, into out. Returns 0, or -1
 * if the value is out of the decimal's range (SINK_NUM_BAD). */
int sink_num_decimal_bytes(const char *lex, size_t len,
                           unsigned char out[SINK_DECIMAL_MAX_BYTES], size_t *out_len);

/* The same value sign-extended to exactly SINK_DECIMAL_FIXED_SIZE bytes,
 * the decimal_76_38 fixed. 0, or -1 out of range. */
int sink_num_decimal_fixed(const char *lex, size_t len, unsigned char out[SINK_DECIMAL_FIXED_SIZE]);

#endif
