#include "crypto/hl_sigv4.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"

#include <mbedtls/platform_util.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void hl_sigv4_key_cache_init(hl_sigv4_key_cache *c) { memset(c, 0, sizeof *c); }

void hl_sigv4_key_cache_dispose(hl_sigv4_key_cache *c) { mbedtls_platform_zeroize(c, sizeof *c); }

void hl_sigv4_out_init(hl_sigv4_out *o) {
  memset(o, 0, sizeof *o);
  hl_buf_init(&o->canonical_request);
  hl_buf_init(&o->string_to_sign);
  hl_buf_init(&o->authorization);
}

void hl_sigv4_out_dispose(hl_sigv4_out *o) {
  hl_buf_dispose(&o->canonical_request);
  hl_buf_dispose(&o->string_to_sign);
  hl_buf_dispose(&o->authorization);
  o->n_add = 0;
}

static bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

void hl_sigv4_uri_encode(hl_buf *out, const char *s, size_t len, bool keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  hl_buf_reserve(out, len);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c) || (keep_slash && c == '/')) {
      hl_buf_putc(out, (char)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      hl_buf_append(out, e, 3);
    }
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s into out; a '%' not followed by two hex digits is kept
 * as a literal byte (it will be re-encoded as %25). */
static void pct_decode(hl_buf *out, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    int h, l;
    if (s[i] == '%' && i + 2 < len &&
        (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
      hl_buf_putc(out, (char)(h << 4 | l));
      i += 2;
    } else {
      hl_buf_putc(out, s[i]);
    }
  }
}

/* RFC 3986 §5.2.4 dot-segment removal plus collapsing of empty segments, on
 * an absolute path. A trailing slash (or a final "." / "..") keeps the
 * result ending in '/'. */
static void normalize_path(hl_buf *out, const char *p, size_t len) {
  /* Segment start offsets in out, to pop on "..". */
  size_t *stack = hl_malloc((len / 2 + 2) * sizeof *stack);
  size_t depth = 0;
  hl_buf_putc(out, '/');
  bool trailing = false;
  size_t i = 0;
  while (i < len) {
    while (i < len && p[i] == '/') i++;
    if (i >= len) break;
    size_t s = i;
    while (i < len && p[i] != '/') i++;
    size_t n = i - s;
    trailing = i < len; /* a slash follows this segment */
    if (n == 1 && p[s] == '.') {
      trailing = true;
      continue;
    }
    if (n == 2 && p[s] == '.' && p[s + 1] == '.') {
      if (depth) out->len = stack[--depth];
      out->data[out->len] = '\0';
      trailing = true;
      continue;
    }
    stack[depth++] = out->len;
    hl_buf_append(out, p + s, n);
    hl_buf_putc(out, '/');
  }
  /* Every kept segment was written with a slash after it; drop the last
   * one unless the path ended with a slash or a dot segment. */
  if (!trailing && out->len > 1 && out->data[out->len - 1] == '/') out->data[--out->len] = '\0';
  hl_free(stack);
}

typedef struct {
  char *name; /* lower-cased, owned */
  size_t name_len;
  char *value; /* trimmed and collapsed, owned */
  size_t value_len;
  size_t order;
} hdr;

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void hdr_set(hdr *h, const char *name, size_t nl, const char *value, size_t vl, size_t order) {
  h->name = hl_malloc(nl + 1);
  for (size_t i = 0; i < nl; i++) {
    char c = name[i];
    h->name[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
  }
  h->name[nl] = '\0';
  h->name_len = nl;
  h->value = hl_malloc(vl + 1);
  size_t o = 0;
  bool pending_space = false;
  for (size_t i = 0; i < vl; i++) {
    if (is_ws(value[i])) {
      pending_space = o > 0;
      continue;
    }
    if (pending_space) h->value[o++] = ' ';
    pending_space = false;
    h->value[o++] = value[i];
  }
  h->value[o] = '\0';
  h->value_len = o;
  h->order = order;
}

static int hdr_cmp(const void *a, const void *b) {
  const hdr *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c) return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct {
  hl_buf key, value; /* encoded */
} qparam;

static int qparam_cmp(const void *a, const void *b) {
  const qparam *x = a, *y = b;
  int c = strcmp(x->key.data, y->key.data);
  return c ? c : strcmp(x->value.data, y->value.data);
}

static void canonical_query(hl_buf *out, const char *q, size_t len) {
  if (!q || !len) return;
  size_t cap = 1;
  for (size_t i = 0; i < len; i++) cap += q[i] == '&';
  qparam *ps = hl_calloc(cap, sizeof *ps);
  size_t n = 0;
  hl_buf tmp = HL_BUF_INIT;
  for (size_t i = 0; i < len;) {
    size_t s = i;
    while (i < len && q[i] != '&') i++;
    size_t e = i++;
    if (e == s) continue; /* "a=1&&b=2" */
    const char *eq = memchr(q + s, '=', e - s);
    size_t kl = eq ? (size_t)(eq - (q + s)) : e - s;
    qparam *p = &ps[n++];
    hl_buf_reset(&tmp);
    pct_decode(&tmp, q + s, kl);
    hl_sigv4_uri_encode(&p->key, tmp.data ? tmp.data : "", tmp.len, false);
    hl_buf_reset(&tmp);
    if (eq) pct_decode(&tmp, eq + 1, (size_t)(q + e - eq - 1));
    hl_sigv4_uri_encode(&p->value, tmp.data ? tmp.data : "", tmp.len, false);
    hl_buf_putc(&p->key, '\0'); /* make data non-NULL for strcmp */
    p->key.len--;
    hl_buf_putc(&p->value, '\0');
    p->value.len--;
  }
  qsort(ps, n, sizeof *ps, qparam_cmp);
  for (size_t i = 0; i < n; i++) {
    if (i) hl_buf_putc(out, '&');
    hl_buf_append(out, ps[i].key.data, ps[i].key.len);
    hl_buf_putc(out, '=');
    hl_buf_append(out, ps[i].value.data, ps[i].value.len);
    hl_buf_dispose(&ps[i].key);
    hl_buf_dispose(&ps[i].value);
  }
  hl_buf_dispose(&tmp);
  hl_free(ps);
}

static void derive_key(const char *secret, const char *date, const char *region, const char *service,
                       uint8_t key[32]) {
  size_t sl = strlen(secret);
  char *k = hl_malloc(sl + 5);
  memcpy(k, "AWS4", 4);
  memcpy(k + 4, secret, sl + 1);
  uint8_t a[32], b[32];
  hl_hmac_sha256(k, sl + 4, date, strlen(date), a);
  hl_hmac_sha256(a, 32, region, strlen(region), b);
  hl_hmac_sha256(b, 32, service, strlen(service), a);
  hl_hmac_sha256(a, 32, "aws4_request", 12, key);
  mbedtls_platform_zeroize(k, sl + 4);
  mbedtls_platform_zeroize(a, sizeof a);
  mbedtls_platform_zeroize(b, sizeof b);
  hl_free(k);
}

static void signing_key(hl_sigv4_key_cache *c, const char *secret, const char *date, const char *region,
                        const char *service, uint8_t key[32]) {
  if (!c || strlen(region) >= sizeof c->region || strlen(service) >= sizeof c->service) {
    derive_key(secret, date, region, service, key);
    return;
  }
  uint8_t fp[32];
  hl_sha256(secret, strlen(secret), fp);
  if (c->valid && strcmp(c->date, date) == 0 && strcmp(c->region, region) == 0 &&
      strcmp(c->service, service) == 0 && memcmp(c->secret_fp, fp, 32) == 0) {
    memcpy(key, c->key, 32);
    return;
  }
  derive_key(secret, date, region, service, c->key);
  memcpy(c->secret_fp, fp, 32);
  strcpy(c->date, date);
  strcpy(c->region, region);
  strcpy(c->service, service);
  c->valid = true;
  memcpy(key, c->key, 32);
}

static bool has_header(const hl_sigv4_request *req, const char *lname) {
  size_t ln = strlen(lname);
  for (size_t i = 0; i < req->n_headers; i++)
    if (req->headers[i].name_len == ln && strncasecmp(req->headers[i].name, lname, ln) == 0) return true;
  return false;
}

/* expires > 0: query-string signing valid for that many seconds. */
static int sign_common(const hl_sigv4_params *p, const hl_aws_creds *creds, const hl_sigv4_request *req,
                       hl_sigv4_key_cache *cache, hl_sigv4_out *out, int64_t expires) {
  if (!p || !p->region || !*p->region || !p->service || !*p->service || !creds || !creds->access_key_id ||
      !*creds->access_key_id || !creds->secret_access_key || !*creds->secret_access_key || !req ||
      !req->method || !*req->method)
    return HL_EINVAL;
  if (p->time_s < 0 || p->time_s > 253402300799LL) return HL_EINVAL;
  time_t t = (time_t)p->time_s;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return HL_EINVAL;
  strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm);
  char date[9];
  memcpy(date, out->amz_date, 8);
  date[8] = '\0';
  hl_buf_reset(&out->canonical_request);
  hl_buf_reset(&out->string_to_sign);
  hl_buf_reset(&out->authorization);
  out->n_add = 0;

  if (req->payload_hash) {
    size_t hl = strlen(req->payload_hash);
    if (hl != 64) return HL_EINVAL;
    memcpy(out->payload_hash, req->payload_hash, 65);
  } else {
    uint8_t h[32];
    hl_sha256(req->body ? req->body : "", req->body_len, h);
    hl_hex(h, 32, out->payload_hash);
  }
  const char *token = creds->session_token && *creds->session_token ? creds->session_token : NULL;
  bool presign = expires > 0;
  bool add_date = !presign && !has_header(req, "x-amz-date");
  bool add_token = !presign && token && !has_header(req, "x-amz-security-token");
  bool add_sha = !presign && p->sign_body && !has_header(req, "x-amz-content-sha256");

  /* Headers: the request's plus the ones the signer adds, sorted stably. */
  size_t nh = 0;
  hdr *hs = hl_calloc(req->n_headers + 3, sizeof *hs);
  for (size_t i = 0; i < req->n_headers; i++, nh++)
    hdr_set(&hs[nh], req->headers[i].name, req->headers[i].name_len, req->headers[i].value,
            req->headers[i].value_len, nh);
  if (add_date) {
    hdr_set(&hs[nh], "x-amz-date", 10, out->amz_date, 16, nh);
    nh++;
  }
  if (add_token && !p->omit_session_token) {
    hdr_set(&hs[nh], "x-amz-security-token", 20, token, strlen(token), nh);
    nh++;
  }
  if (add_sha) {
    hdr_set(&hs[nh], "x-amz-content-sha256", 20, out->payload_hash, 64, nh);
    nh++;
  }
  qsort(hs, nh, sizeof *hs, hdr_cmp);

  hl_buf hblock = HL_BUF_INIT;
  hl_buf signed_headers = HL_BUF_INIT;
  for (size_t i = 0; i < nh;) {
    size_t j = i;
    hl_buf_append(&hblock, hs[i].name, hs[i].name_len);
    hl_buf_putc(&hblock, ':');
    for (; j < nh && strcmp(hs[j].name, hs[i].name) == 0; j++) {
      if (j > i) hl_buf_putc(&hblock, ',');
      hl_buf_append(&hblock, hs[j].value, hs[j].value_len);
    }
    hl_buf_putc(&hblock, '\n');
    if (signed_headers.len) hl_buf_putc(&signed_headers, ';');
    hl_buf_append(&signed_headers, hs[i].name, hs[i].name_len);
    i = j;
  }
  for (size_t i = 0; i < nh; i++) {
    hl_free(hs[i].name);
    hl_free(hs[i].value);
  }
  hl_free(hs);

  hl_buf *cr = &out->canonical_request;
  hl_buf_puts(cr, req->method);
  hl_buf_putc(cr, '\n');
  if (!req->path || req->path_len == 0) {
    hl_buf_putc(cr, '/');
  } else if (p->normalize_path) {
    hl_buf np = HL_BUF_INIT;
    normalize_path(&np, req->path, req->path_len);
    hl_sigv4_uri_encode(cr, np.data, np.len, true);
    hl_buf_dispose(&np);
  } else {
    hl_sigv4_uri_encode(cr, req->path, req->path_len, true);
  }
  hl_buf_putc(cr, '\n');
  /* Query-string signing signs its own parameters (given encoded, as on
   * the wire) along with the request's. */
  hl_buf qparams = HL_BUF_INIT, query = HL_BUF_INIT;
  if (presign) {
    hl_buf cred = HL_BUF_INIT;
    hl_buf_printf(&cred, "%s/%s/%s/%s/aws4_request", creds->access_key_id, date, p->region, p->service);
    hl_buf_puts(&qparams, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    hl_sigv4_uri_encode(&qparams, cred.data, cred.len, false);
    hl_buf_printf(&qparams, "&X-Amz-Date=%s&X-Amz-SignedHeaders=", out->amz_date);
    hl_sigv4_uri_encode(&qparams, signed_headers.data ? signed_headers.data : "", signed_headers.len, false);
    hl_buf_printf(&qparams, "&X-Amz-Expires=%lld", (long long)expires);
    if (token && !p->omit_session_token) {
      hl_buf_puts(&qparams, "&X-Amz-Security-Token=");
      hl_sigv4_uri_encode(&qparams, token, strlen(token), false);
    }
    hl_buf_dispose(&cred);
  }
  if (req->query && req->query_len) hl_buf_append(&query, req->query, req->query_len);
  if (qparams.len) {
    if (query.len) hl_buf_putc(&query, '&');
    hl_buf_append(&query, qparams.data, qparams.len);
  }
  canonical_query(cr, query.data, query.len);
  hl_buf_dispose(&query);
  hl_buf_putc(cr, '\n');
  hl_buf_append(cr, hblock.data ? hblock.data : "", hblock.len);
  hl_buf_dispose(&hblock);
  hl_buf_putc(cr, '\n');
  hl_buf_append(cr, signed_headers.data ? signed_headers.data : "", signed_headers.len);
  hl_buf_putc(cr, '\n');
  hl_buf_append(cr, out->payload_hash, 64);

  uint8_t h[32];
  char hexh[65];
  hl_sha256(cr->data, cr->len, h);
  hl_hex(h, 32, hexh);
  hl_buf *sts = &out->string_to_sign;
  hl_buf_printf(sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", out->amz_date, date, p->region,
                p->service, hexh);

  uint8_t key[32], sig[32];
  signing_key(cache, creds->secret_access_key, date, p->region, p->service, key);
  hl_hmac_sha256(key, 32, sts->data, sts->len, sig);
  mbedtls_platform_zeroize(key, sizeof key);
  hl_hex(sig, 32, out->signature);

  if (presign) {
    /* A token left out of the signature still travels with the request. */
    hl_buf_append(&out->authorization, qparams.data, qparams.len);
    if (token && p->omit_session_token) {
      hl_buf_puts(&out->authorization, "&X-Amz-Security-Token=");
      hl_sigv4_uri_encode(&out->authorization, token, strlen(token), false);
    }
    hl_buf_printf(&out->authorization, "&X-Amz-Signature=%s", out->signature);
    hl_buf_dispose(&qparams);
    hl_buf_dispose(&signed_headers);
    return 0;
  }
  hl_buf_printf(&out->authorization, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                creds->access_key_id, date, p->region, p->service, signed_headers.data ? signed_headers.data : "",
                out->signature);
  hl_buf_dispose(&signed_headers);

  if (add_date) out->add[out->n_add++] = (hl_sigv4_header){"X-Amz-Date", 10, out->amz_date, 16};
  if (add_token) out->add[out->n_add++] = (hl_sigv4_header){"X-Amz-Security-Token", 20, token, strlen(token)};
  if (add_sha) out->add[out->n_add++] = (hl_sigv4_header){"X-Amz-Content-Sha256", 20, out->payload_hash, 64};
  out->add[out->n_add++] = (hl_sigv4_header){"Authorization", 13, out->authorization.data, out->authorization.len};
  return 0;
}

int hl_sigv4_sign(const hl_sigv4_params *p, const hl_aws_creds *creds, const hl_sigv4_request *req,
                  hl_sigv4_key_cache *cache, hl_sigv4_out *out) {
  return sign_common(p, creds, req, cache, out, 0);
}

int hl_sigv4_presign(const hl_sigv4_params *p, const hl_aws_creds *creds, const hl_sigv4_request *req,
                     int64_t expires_s, hl_sigv4_key_cache *cache, hl_sigv4_out *out) {
  if (expires_s < 1 || expires_s > 604800) return HL_EINVAL;
  return sign_common(p, creds, req, cache, out, expires_s);
}
