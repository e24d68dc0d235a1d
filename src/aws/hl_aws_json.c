#include "aws/hl_aws_json.h"

#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"

/* {"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",
 *  "message":"..."}: the code is the part after '#'; the message is
 * spelled "message" or "Message" depending on the service. */
static void parse_error(const char *body, size_t len, hl_aws_status *st) {
  if (!body || !len) return;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  if (hl_json_parse(&doc, body, len, NULL) == 0 && doc.root->type == HL_JSON_OBJECT) {
    const char *type = hl_json_str(hl_json_get(doc.root, "__type"));
    if (type) {
      const char *hash = strrchr(type, '#');
      snprintf(st->code, sizeof st->code, "%s", hash ? hash + 1 : type);
    }
    const char *msg = hl_json_str(hl_json_get(doc.root, "message"));
    if (!msg) msg = hl_json_str(hl_json_get(doc.root, "Message"));
    if (msg) snprintf(st->message, sizeof st->message, "%s", msg);
  }
  hl_json_doc_dispose(&doc);
}

const hl_aws_protocol hl_aws_protocol_json = {"json", parse_error};

hl_aws_outcome hl_aws_classify(int http_status, const char *body, size_t len, hl_aws_status *st) {
  memset(st, 0, sizeof *st);
  if (http_status < 200 || http_status >= 300) parse_error(body, len, st);
  return hl_aws_classify_code(http_status, st);
}

int hl_aws_json_sign(const hl_aws_json_service *svc, const char *host, const char *target, const char *region,
                     const hl_aws_creds *creds, int64_t now_s, const void *body, size_t body_len,
                     hl_sigv4_key_cache *cache, hl_sigv4_out *out) {
  if (!target) return HL_EINVAL;
  return hl_aws_sign_post(svc, host, target, region, creds, now_s, body, body_len, cache, out);
}
