/* fuzz_lambda_rt: the Lambda Runtime API's /next answer as the runtime
 * reads it (src/loop/hl_lambda_rt: hl_lambda_rt_header per header line, as
 * curl hands them over) and the event it carries (src/app/hl_lambda_event:
 * which kind it is).
 *
 * Input: header lines, a blank line, the event body. Properties: no crash
 * whatever the lines; every field stays NUL-terminated within its size;
 * the deadline is never negative, so the time left (deadline - now) cannot
 * overflow; a line that is not one of the four headers changes nothing. */
#include "fuzz_util.h"
#include "app/hl_lambda_event.h"
#include "loop/hl_lambda_rt.h"

static void check_field(const char *f, size_t size) { FUZZ_CHECK(memchr(f, '\0', size) != NULL); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data, *end = s + size;
  hl_lambda_invocation inv;
  memset(&inv, 0, sizeof inv);
  /* Lines up to the blank one, each with its line end, as curl gives them. */
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    size_t len = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
    bool blank = len == 1 || (len == 2 && s[0] == '\r');
    hl_lambda_invocation before = inv;
    hl_lambda_rt_header(&inv, s, len);
    if (len < 15 || strncasecmp(s, "lambda-runtime-", 15) != 0) FUZZ_CHECK(memcmp(&before, &inv, sizeof inv) == 0);
    s += len;
    if (blank) break;
  }
  check_field(inv.request_id, sizeof inv.request_id);
  check_field(inv.trace_id, sizeof inv.trace_id);
  check_field(inv.function_arn, sizeof inv.function_arn);
  FUZZ_CHECK(inv.deadline_ms >= 0);
  hl_json_doc d;
  hl_json_doc_init(&d);
  if (hl_json_parse(&d, s, (size_t)(end - s), NULL) == 0) {
    hl_lambda_event_kind k = hl_lambda_event_kind_of(d.root);
    FUZZ_CHECK(k == HL_LAMBDA_EVENT_KAFKA || k == HL_LAMBDA_EVENT_SCHEDULE || k == HL_LAMBDA_EVENT_APIGW || k == HL_LAMBDA_EVENT_DIRECT ||
               k == HL_LAMBDA_EVENT_OTHER);
  }
  hl_json_doc_dispose(&d);
  return 0;
}
