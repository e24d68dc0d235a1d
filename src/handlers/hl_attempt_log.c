#include "handlers/hl_attempt_log.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "json/hl_json.h"

#include <string.h>

/* Substrings of a header name that mark it as credential-like (lower
 * case), by their first letter: a word can start only where its first
 * letter is, and most names have few such places. */
typedef struct {
  const char *s;
  size_t n;
} word;
#define WORD(w) {w, sizeof w - 1}
static const word redacted_words[26][3] = {
    ['a' - 'a'] = {WORD("auth"), WORD("api-key"), WORD("apikey")},
    ['c' - 'a'] = {WORD("cookie")},
    ['p' - 'a'] = {WORD("password"), WORD("passwd")},
    ['s' - 'a'] = {WORD("secret"), WORD("signature"), WORD("session")},
    ['t' - 'a'] = {WORD("token")},
    ['x' - 'a'] = {WORD("x-amz-security")},
};
#undef WORD

static inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c; }

/* low: a name already in lower case, shorter than 128 bytes. One pass,
 * and no locale-aware tolower: header names are ASCII tokens (RFC 9110
 * 5.1), and this runs for every header of every answer. */
static bool lower_redacted(const char *low, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned c = (unsigned char)low[i] - 'a';
    if (c >= 26) continue;
    for (const word *w = redacted_words[c]; w < redacted_words[c] + 3 && w->s; w++)
      if (w->n <= len - i && memcmp(low + i, w->s, w->n) == 0) return true;
  }
  return false;
}

bool hl_attempt_header_redacted(const char *name, size_t len) {
  if (len >= 128) return true; /* a name that long is not worth the risk */
  char low[128];
  for (size_t i = 0; i < len; i++) low[i] = ascii_lower(name[i]);
  return lower_redacted(low, len);
}

/* A header kept: its name in lower case and its values joined, in place
 * (no allocation per header: this runs once per attempt). */
typedef struct {
  char name[128];
  size_t nlen;
  char value[HL_ATTEMPT_HEADER_VALUE_MAX];
  size_t vlen;
} header;

static size_t trim(const char **s, size_t n) {
  while (n && (**s == ' ' || **s == '\t')) (*s)++, n--;
  while (n && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t' || (*s)[n - 1] == '\r' || (*s)[n - 1] == '\n')) n--;
  return n;
}

/* Whether s holds only ASCII without NUL: valid UTF-8 as it is. */
static bool plain_ascii(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] - 1u >= 0x7fu) return false;
  return true;
}

/* s as valid UTF-8: itself when it is plain ASCII (the usual case), else
 * sanitized into tmp. */
static const char *as_utf8(hl_buf *tmp, const char *s, size_t *n) {
  if (plain_ascii(s, *n)) return s;
  hl_buf_reset(tmp);
  hl_utf8_sanitize(tmp, s, *n);
  *n = tmp->len;
  return tmp->data ? tmp->data : "";
}

/* Whether s is printable ASCII without '"' or '\\': its JSON string is
 * itself in quotes. Most header names and values are. */
static bool plain_json(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

/* s as a JSON string: copied as it is when plain_json, else made valid
 * UTF-8 (into tmp) and escaped. The same text as hl_jw_strn's; this runs
 * twice for every header of every answer. */
static void put_string(hl_buf *out, hl_buf *tmp, const char *s, size_t n) {
  if (plain_json(s, n)) {
    hl_buf_reserve(out, n + 2);
    char *p = out->data + out->len;
    p[0] = '"';
    memcpy(p + 1, s, n);
    p[n + 1] = '"';
    out->len += n + 2;
    out->data[out->len] = '\0';
    return;
  }
  s = as_utf8(tmp, s, &n);
  hl_buf_putc(out, '"');
  hl_json_escape(out, s, n);
  hl_buf_putc(out, '"');
}

/* Appends what of v fits in h's value, after ", " when it has one. */
static void add_value(header *h, const char *v, size_t vlen) {
  static const char sep[] = ", ";
  if (h->vlen) {
    size_t k = HL_MIN(sizeof sep - 1, sizeof h->value - h->vlen);
    memcpy(h->value + h->vlen, sep, k);
    h->vlen += k;
  }
  size_t k = HL_MIN(vlen, sizeof h->value - h->vlen);
  memcpy(h->value + h->vlen, v, k);
  h->vlen += k;
}

/* The header lines as a JSON object, NUL-terminated, into out (tmp: its
 * scratch): names in lower case, a name given twice joined with ", "
 * (RFC 9110 5.3), redacted ones left out; at most HL_ATTEMPT_HEADERS_MAX
 * names, each value cut at HL_ATTEMPT_HEADER_VALUE_MAX bytes. */
static void headers_json(hl_buf *out, hl_buf *tmp, const char *raw, size_t len) {
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
      char low[128];
      bool keep = nlen > 0 && nlen < sizeof low; /* a name of 128 bytes or more is redacted */
      for (size_t i = 0; keep && i < nlen; i++) low[i] = ascii_lower(name[i]);
      if (keep && !lower_redacted(low, nlen)) {
        size_t k = 0;
        while (k < nh && (h[k].nlen != nlen || memcmp(h[k].name, low, nlen) != 0)) k++;
        if (k == nh && nh < HL_ATTEMPT_HEADERS_MAX) {
          memcpy(h[nh].name, low, nlen);
          h[nh].nlen = nlen;
          h[nh].vlen = 0;
          nh++;
        }
        if (k < nh && h[k].vlen < sizeof h[k].value) add_value(&h[k], val, vlen);
      }
    }
    p = eol ? eol + 1 : end;
  }
  hl_buf_reset(out);
  hl_buf_reserve(out, len + 6 * nh + 3);
  hl_buf_putc(out, '{');
  for (size_t k = 0; k < nh; k++) {
    if (k) hl_buf_putc(out, ',');
    put_string(out, tmp, h[k].name, h[k].nlen);
    hl_buf_putc(out, ':');
    put_string(out, tmp, h[k].value, h[k].vlen);
  }
  hl_buf_putc(out, '}');
  hl_buf_putc(out, '\0');
}

void hl_attempt_log_fill(hl_attempt_rec *out, hl_attempt_log_scratch *sc, const hl_delivery_rec *d,
                         int64_t attempt, int64_t at_ms, const hl_send_result *res) {
  /* Borrowed, not copied: the store only reads a record it is given. */
  *out = (hl_attempt_rec){.event_id = (char *)d->event_id, .subscription_id = (char *)d->subscription_id};
  out->attempt = attempt;
  out->at_ms = at_ms;
  out->status_code = res->status_code;
  out->latency_ms = (int64_t)(res->latency_s * 1000.0 + 0.5);
  out->error = res->error[0] ? (char *)res->error : NULL;
  size_t hlen = HL_MIN(res->resp_headers_len, sizeof res->resp_headers);
  if (!sc->headers.len || sc->raw.len != hlen || (hlen && memcmp(sc->raw.data, res->resp_headers, hlen) != 0)) {
    headers_json(&sc->headers, &sc->tmp, res->resp_headers, hlen);
    hl_buf_reset(&sc->raw);
    hl_buf_append(&sc->raw, res->resp_headers, hlen);
  }
  out->headers_json = sc->headers.data;
  size_t blen = HL_MIN(res->resp_body_len, (size_t)HL_ATTEMPT_BODY_MAX);
  hl_buf_reset(&sc->body);
  if (plain_ascii(res->resp_body, blen)) hl_buf_append(&sc->body, res->resp_body, blen);
  else hl_utf8_sanitize(&sc->body, res->resp_body, blen);
  hl_buf_putc(&sc->body, '\0');
  out->body = sc->body.data;
  out->truncated = res->resp_body_more || res->resp_body_len > HL_ATTEMPT_BODY_MAX;
}

void hl_attempt_log_scratch_dispose(hl_attempt_log_scratch *sc) {
  hl_buf_dispose(&sc->headers);
  hl_buf_dispose(&sc->body);
  hl_buf_dispose(&sc->tmp);
  hl_buf_dispose(&sc->raw);
}

void hl_attempt_log_build(hl_attempt_rec *out, const hl_delivery_rec *d, int64_t attempt, int64_t at_ms,
                          const hl_send_result *res) {
  hl_attempt_log_scratch sc = {HL_BUF_INIT, HL_BUF_INIT, HL_BUF_INIT, HL_BUF_INIT};
  hl_attempt_rec r;
  hl_attempt_log_fill(&r, &sc, d, attempt, at_ms, res);
  *out = r;
  out->event_id = hl_strdup(r.event_id);
  out->subscription_id = hl_strdup(r.subscription_id);
  out->error = r.error ? hl_strdup(r.error) : NULL;
  out->headers_json = hl_buf_steal(&sc.headers, NULL);
  out->body = hl_buf_steal(&sc.body, NULL);
  hl_attempt_log_scratch_dispose(&sc);
}
