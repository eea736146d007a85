/* event: the event-topic contract (DESIGN.md "Event topics") in code — the
 * topic names and the hookpipe-* header names, with the text forms of the
 * two headers the sinks read back. The gateway writes them, the sinks read
 * them; nothing else spells them.
 *
 * Topic webhooks.<integration> (the prefix is configurable): one message
 * per JSON object; key = the primary-key value (a canonical JSON array of
 * the values for a composite key, a generated UUID with none); value = the
 * object's bytes as received; Kafka timestamp = the receive time; headers
 * below. Other systems may produce to these topics: a message without the
 * headers is valid, and the sinks derive the system fields from its Kafka
 * timestamp and offset (sinks/sink_record.h states that rule). */
#ifndef HOOKPIPE_EVENT_H
#define HOOKPIPE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define EVENT_TOPIC_PREFIX_DEFAULT "webhooks."  /* event topic = prefix + integration */
#define EVENT_REJECTED_SUFFIX      ".rejected"  /* its dead letters: topic + suffix */

/* Headers, as the gateway writes them. */
#define EVENT_HDR_RECEIVED_AT   "hookpipe-received-at"   /* RFC 3339 UTC, µs: event_received_at_* */
#define EVENT_HDR_SEQUENCE      "hookpipe-sequence"      /* decimal int64, ns since the epoch,
                                                            strictly increasing per gateway */
#define EVENT_HDR_REQUEST_ID    "hookpipe-request-id"    /* the request's id (as in the response) */
#define EVENT_HDR_INTEGRATION   "hookpipe-integration"   /* the integration's name */
#define EVENT_HDR_SIGNATURE     "hookpipe-signature"     /* the verified signature scheme */
#define EVENT_HDR_DELIVERY_ID   "hookpipe-delivery-id"   /* the provider's delivery id */
#define EVENT_HDR_REJECT_REASON "hookpipe-reject-reason" /* on .rejected topics: why */
#define EVENT_HDR_CONTENT_TYPE  "hookpipe-content-type"  /* when the body was not JSON */

/* Bytes that hold the formatted headers, NUL included. */
#define EVENT_RECEIVED_AT_MAX 40   /* = RFC3339_MAX; 27 + NUL for years 0000..9999 */
#define EVENT_SEQUENCE_MAX    21   /* "-9223372036854775808" + NUL */

/* hookpipe-received-at: µs since the epoch as "2026-11-26T20:14:37.123456Z"
 * (rfc3339.h RFC3339_MICROS). Returns the text's length (snprintf rules). */
size_t event_received_at_format(int64_t us, char *out, size_t size);

/* Reads hookpipe-received-at (len bytes, not NUL-terminated) into *us; any
 * RFC 3339 UTC form rfc3339_parse takes. 0, or -1 if malformed. */
int event_received_at_parse(const char *s, size_t len, int64_t *us);

/* hookpipe-sequence: seq as decimal text into out. Returns the length. */
size_t event_sequence_format(int64_t seq, char out[EVENT_SEQUENCE_MAX]);

/* Reads hookpipe-sequence (len bytes, not NUL-terminated): an optional '-'
 * and 1..19 digits, nothing else (no '+', no space), within int64. 0, or -1
 * if malformed or out of range (*seq untouched). */
int event_sequence_parse(const char *s, size_t len, int64_t *seq);

#endif
