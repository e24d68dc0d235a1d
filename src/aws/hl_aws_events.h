/* hl_aws_events.h — EventBridge PutEvents (JSON protocol, awsJson1_1,
 * AWSEvents.PutEvents) on the shared AWS client.
 *
 * Detail is sent as the exact bytes given (a JSON string on the wire); it
 * must be a JSON object, as EventBridge requires. A PutEvents answer of
 * HTTP 200 may still refuse some entries (FailedEntryCount > 0): each entry
 * gets its own verdict, RETRY for ThrottlingException and InternalFailure
 * (as AWS documents), FAIL for any other ErrorCode. The call's status is
 * the worst of its entries (FAIL over RETRY over OK), with the first failed
 * entry's code and message, so a one-entry call reads like any other. */
#ifndef HL_AWS_EVENTS_H
#define HL_AWS_EVENTS_H

#include "aws/hl_aws_client.h"

#define HL_EVENTS_ENTRIES_MAX 10

extern const hl_aws_service hl_events_service; /* "events", application/x-amz-json-1.1 */

typedef struct {
  const char *bus;         /* name or ARN; NULL: the default bus */
  const char *source;      /* 1..256 characters */
  const char *detail_type; /* 1..128 characters */
  const char *detail;      /* a JSON object, sent byte for byte */
  size_t detail_len;
  const char *const *resources; /* optional ARNs */
  size_t n_resources;
  /* What the caller found the detail to be, when it has read it already
   * (hl_events_detail_is_object; the AWS sender reads a large one on the
   * threadpool): 1 a JSON object, -1 not one. 0: it is read here, after
   * every other check, so one refused for its size is never read. */
  int detail_object;
} hl_events_entry;

typedef struct {
  hl_aws_verdict verdict;
  char event_id[128];
  char code[80];
  char message[256];
} hl_events_entry_result;

/* results (n of them, in the order of the entries) is NULL unless the
 * call got an HTTP 200; it lives until the callback returns.
 * failed = FailedEntryCount. */
typedef void (*hl_events_put_cb)(void *data, const hl_aws_status *st, const hl_events_entry_result *results,
                                 size_t n, size_t failed);

/* True when detail (len bytes; NULL: false) is a JSON object. It parses
 * the whole of it, ~50 ms a MB: safe on any thread, and done on the
 * threadpool for a large one by a caller on the loop. */
bool hl_events_detail_is_object(const char *detail, size_t len);

/* Builds the JSON body of a PutEvents. Returns 0 or HL_EINVAL with the
 * reason in err (no entries or more than 10, a bad bus name or ARN, an
 * empty or overlong source or detail type, a detail that is not a JSON
 * object, a request over 256 KiB as EventBridge counts it). Everything is
 * checked before anything is written: on HL_EINVAL body is untouched. */
int hl_events_put_body(const hl_events_entry *entries, size_t n, hl_buf *body, char *err, size_t errlen);
/* Sends through c (made with hl_events_service). Returns 0 (cb runs once,
 * later) or HL_EINVAL with the reason in err (cb never runs). */
int hl_events_put(hl_aws_client *c, const hl_events_entry *entries, size_t n, hl_events_put_cb cb, void *data,
                  char *err, size_t errlen);

#endif
