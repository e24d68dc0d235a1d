#include "common/hl_redact.h"

#include <string.h>

bool hl_redact_url(hl_buf *out, const char *url) {
  const char *auth = strstr(url, "://");
  /* The authority ends at the path, the query or the fragment; the last
   * '@' in it ends the userinfo (a password may hold '@' itself). */
  const char *at = auth ? memrchr(auth + 3, '@', strcspn(auth + 3, "/?#")) : NULL;
  if (!at) {
    hl_buf_puts(out, url);
    return false;
  }
  hl_buf_append(out, url, (size_t)(auth + 3 - url));
  hl_buf_puts(out, HL_REDACTED);
  hl_buf_puts(out, at);
  return true;
}
