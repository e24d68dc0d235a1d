#include "model/hl_topic.h"

#include <inttypes.h>

bool hl_topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

bool hl_topic_name_ok(const char *s, size_t n) {
  if (n == 0 || n > HL_TOPIC_MAX) return false;
  if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
  for (size_t i = 0; i < n; i++)
    if (!hl_topic_char(s[i])) return false;
  return true;
}

size_t hl_topic_ingress(hl_buf *out, const char *prefix, const char *domain, const char *event_type,
                        int64_t version) {
  hl_buf_reset(out);
  hl_buf_printf(out, "%s.%s.%s.v%" PRId64, prefix, domain, event_type, version);
  return out->len;
}

size_t hl_topic_egress(hl_buf *out, const char *prefix, const char *partner_id, const char *event_type) {
  hl_buf_reset(out);
  hl_buf_printf(out, "%s.%s.%s", prefix, partner_id, event_type);
  return out->len;
}
