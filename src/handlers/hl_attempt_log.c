#include "handlers/hl_attempt_log.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "json/hl_json.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Substrings of a header name that mark it as credential-like. */
static const char *const redacted_words[] = {"cookie", "auth", "token", "secret", "password", "passwd",
                                             "signature", "session", "api-key", "apikey", "x-amz-security"};

bool hl_attempt_header_redacted(const char *name, size_t len) {
  char low[128];
  if (len >= sizeof low) return true; /* a name that long is not worth the risk */
  for (size_t i = 0; i < len; i++) low[i] = (char)tolower((unsigned char)name[i]);
  low[len] = '\0';
  for (size_t i = 0; i < HL_ARRAY_SIZE(redacted_words); i++)
    if (strstr(low, redacted_words[i])) return true;
  return false;
}

typedef struct {
  char name[128];
  hl_buf value;
} header;

static size_t trim(const char **s, size_t n) {
  while (n && (**s == ' ' || **s == '\t')) (*s)++, n--;
  while (n && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t' || (*s)[n - 1] == '\r' || (*s)[n - 1] == '\n')) n--;
  return n;
}

/* The header lines as a JSON object: names in lower case, a name given
 * twice joined with ", " (RFC 9110 5.3), redacted ones left out. */
static char *headers_json(const char *raw, size_t len) {
  header h[HL_ATTEMPT_HEADERS_MAX];
  size_t nh = 0;
  const char *p = raw, *end = raw + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    const char *colon = memchr(p, ':', (size_t)(line_end - p));
    if (colon && colon > p) {
      const char *name = p;
      size_t nlen = trim(&name, (size_t)(colon - p));
      const char *val = colon + 1;
      size_t vlen = trim(&val, (size_t)(line_end - val));
      if (nlen > 0 && !hl_attempt_header_redacted(name, nlen)) {
        char low[128];
        for (size_t i = 0; i < nlen; i++) low[i] = (char)tolower((unsigned char)name[i]);
        low[nlen] = '\0';
        size_t k = 0;
        while (k < nh && strcmp(h[k].name, low) != 0) k++;
        if (k == nh && nh < HL_ATTEMPT_HEADERS_MAX) {
          memcpy(h[nh].name, low, nlen + 1);
          hl_buf_init(&h[nh].value);
          nh++;
        }
        if (k < nh && h[k].value.len < HL_ATTEMPT_HEADER_VALUE_MAX) {
          if (h[k].value.len) hl_buf_puts(&h[k].value, ", ");
          hl_buf_append(&h[k].value, val, HL_MIN(vlen, HL_ATTEMPT_HEADER_VALUE_MAX - h[k].value.len));
        }
      }
    }
    p = eol ? eol + 1 : end;
  }
  hl_buf out = HL_BUF_INIT, text = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &out);
  hl_jw_obj_begin(&w);
  for (size_t k = 0; k < nh; k++) {
    hl_buf_reset(&text);
    hl_utf8_sanitize(&text, h[k].name, strlen(h[k].name));
    hl_jw_keyn(&w, text.data ? text.data : "", text.len);
    hl_buf_reset(&text);
    hl_utf8_sanitize(&text, h[k].value.data ? h[k].value.data : "", h[k].value.len);
    hl_jw_strn(&w, text.data ? text.data : "", text.len);
    hl_buf_dispose(&h[k].value);
  }
  hl_jw_obj_end(&w);
  hl_buf_dispose(&text);
  hl_buf_putc(&out, '\0');
  return out.data;
}

void hl_attempt_log_build(hl_attempt_rec *out, const hl_delivery_rec *d, int64_t attempt, int64_t at_ms,
                          const hl_send_result *res) {
  *out = (hl_attempt_rec){0};
  out->event_id = hl_strdup(d->event_id);
  out->subscription_id = hl_strdup(d->subscription_id);
  out->attempt = attempt;
  out->at_ms = at_ms;
  out->status_code = res->status_code;
  out->latency_ms = (int64_t)(res->latency_s * 1000.0 + 0.5);
  out->error = res->error[0] ? hl_strdup(res->error) : NULL;
  out->headers_json = headers_json(res->resp_headers, HL_MIN(res->resp_headers_len, sizeof res->resp_headers));
  size_t blen = HL_MIN(res->resp_body_len, (size_t)HL_ATTEMPT_BODY_MAX);
  hl_buf body = HL_BUF_INIT;
  hl_utf8_sanitize(&body, res->resp_body, blen);
  hl_buf_putc(&body, '\0');
  out->body = body.data;
  out->truncated = res->resp_body_more || res->resp_body_len > HL_ATTEMPT_BODY_MAX;
}
