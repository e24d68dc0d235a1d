#include "aws/hl_msk_iam.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_endpoint.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_sigv4.h"

#define SERVICE "kafka-cluster"
#define ACTION_QUERY "Action=kafka-cluster%3AConnect"

static bool host_ok(const char *h) {
  if (!h || !*h || strlen(h) > 253) return false;
  for (const char *p = h; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
          *p == '-' || *p == ':'))
      return false;
  return true;
}

int hl_msk_iam_token(const hl_msk_iam_params *p, const hl_aws_creds *creds, int64_t now_s, hl_buf *token,
                     int64_t *expiry_ms) {
  int64_t expires = p->expires_s ? p->expires_s : HL_MSK_IAM_EXPIRES_S;
  if (!hl_aws_region_valid(p->region) || expires < 1 || expires > HL_MSK_IAM_EXPIRES_S) return HL_EINVAL;
  char host[300];
  if (p->host) snprintf(host, sizeof host, "%s", p->host);
  else snprintf(host, sizeof host, "kafka.%s.amazonaws.com", p->region); /* as the published signers do */
  if (!host_ok(host)) return HL_EINVAL;
  const char *ua = p->user_agent ? p->user_agent : "hookloop/" HOOKLOOP_VERSION;

  hl_sigv4_header h = {"host", 4, host, strlen(host)};
  hl_sigv4_request req = {"GET", "/", 1, ACTION_QUERY, sizeof ACTION_QUERY - 1, &h, 1, "", 0, NULL};
  hl_sigv4_params sp = {.region = p->region, .service = SERVICE, .time_s = now_s, .normalize_path = true};
  hl_sigv4_out out;
  hl_sigv4_out_init(&out);
  int rc = hl_sigv4_presign(&sp, creds, &req, expires, NULL, &out);
  if (rc != 0) {
    hl_sigv4_out_dispose(&out);
    return rc;
  }
  /* The URL with its query sorted by key, User-Agent included. */
  hl_buf url = HL_BUF_INIT, cred = HL_BUF_INIT;
  hl_buf_printf(&cred, "%s/%.8s/%s/" SERVICE "/aws4_request", creds->access_key_id, out.amz_date, p->region);
  hl_buf_printf(&url, "https://%s/?", host);
  hl_buf_puts(&url, ACTION_QUERY "&User-Agent=");
  hl_sigv4_uri_encode(&url, ua, strlen(ua), false);
  hl_buf_puts(&url, "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
  hl_sigv4_uri_encode(&url, cred.data, cred.len, false);
  hl_buf_printf(&url, "&X-Amz-Date=%s&X-Amz-Expires=%lld", out.amz_date, (long long)expires);
  if (creds->session_token && *creds->session_token) {
    hl_buf_puts(&url, "&X-Amz-Security-Token=");
    hl_sigv4_uri_encode(&url, creds->session_token, strlen(creds->session_token), false);
  }
  hl_buf_printf(&url, "&X-Amz-Signature=%s&X-Amz-SignedHeaders=host", out.signature);
  /* base64url without padding (RFC 4648 §5). */
  size_t start = token->len;
  hl_base64_encode(token, (const uint8_t *)url.data, url.len);
  while (token->len > start && token->data[token->len - 1] == '=') token->data[--token->len] = '\0';
  for (size_t i = start; i < token->len; i++) {
    if (token->data[i] == '+') token->data[i] = '-';
    else if (token->data[i] == '/') token->data[i] = '_';
  }
  *expiry_ms = (now_s + expires) * 1000;
  hl_buf_dispose(&cred);
  explicit_bzero(url.data, url.cap); /* it holds the session token */
  hl_buf_dispose(&url);
  hl_sigv4_out_dispose(&out);
  return 0;
}

/* The token from credentials at hand, its life cut to theirs. */
static int token_now(hl_msk_iam_req *r, const hl_aws_creds *cr, hl_buf *token, int64_t *expiry_ms) {
  int64_t now_ms = hl_wall_ms();
  hl_msk_iam_params p = r->params;
  int64_t life = p.expires_s ? p.expires_s : HL_MSK_IAM_EXPIRES_S;
  if (r->creds->expires_ms) {
    int64_t left = (r->creds->expires_ms - now_ms) / 1000;
    if (left < life) life = left;
  }
  if (life < 1) return HL_EINVAL;
  p.expires_s = life;
  return hl_msk_iam_token(&p, cr, now_ms / 1000, token, expiry_ms);
}

static void on_creds(hl_creds_waiter *w, int status) {
  hl_msk_iam_req *r = hl_container_of(w, hl_msk_iam_req, waiter);
  r->pending = 0;
  hl_aws_creds tmp;
  const hl_aws_creds *cr = status == 0 ? hl_aws_creds_current(r->creds, &tmp) : NULL;
  if (!cr) {
    char why[256];
    if (status == HL_ECLOSED) snprintf(why, sizeof why, "the credentials provider closed");
    else if (status == 0 || r->creds->valid)
      /* Fetched, but they expire within a minute (or already did): a token
       * signed with them would be refused, or outlive them. */
      snprintf(why, sizeof why, "the AWS credentials from the %s are expired or expire within a minute",
               hl_creds_source_name(r->creds->source));
    else
      snprintf(why, sizeof why, "no AWS credentials could be fetched from the %s (its log line says why)",
               hl_creds_source_name(r->creds->source));
    r->cb(r->data, status ? status : HL_EIO, NULL, 0, why);
    return;
  }
  hl_buf t = HL_BUF_INIT;
  int64_t exp = 0;
  int rc = token_now(r, cr, &t, &exp);
  if (rc == 0) r->cb(r->data, 0, t.data, exp, NULL);
  else r->cb(r->data, rc, NULL, 0, "could not sign the MSK IAM token (region, host or credentials unusable)");
  if (t.data) explicit_bzero(t.data, t.cap);
  hl_buf_dispose(&t);
}

int hl_msk_iam_token_from(hl_msk_iam_req *r, hl_aws_creds_provider *creds, const hl_msk_iam_params *p,
                          hl_buf *token, int64_t *expiry_ms, hl_msk_iam_cb cb, void *data) {
  memset(r, 0, sizeof *r);
  r->creds = creds;
  r->params = *p;
  r->cb = cb;
  r->data = data;
  hl_aws_creds tmp;
  const hl_aws_creds *cr = hl_aws_creds_current(creds, &tmp);
  if (cr) return token_now(r, cr, token, expiry_ms);
  r->pending = 1;
  r->waiter.cb = on_creds;
  hl_aws_creds_wait(creds, &r->waiter);
  return HL_EAGAIN;
}

/* The value of query parameter name in the query q (up to its '&'), or NULL. */
static const char *param(const char *q, const char *name, size_t *len) {
  size_t n = strlen(name);
  for (const char *p = q; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
    if (strncmp(p, name, n) == 0 && p[n] == '=') {
      const char *v = p + n + 1, *e = strchr(v, '&');
      *len = e ? (size_t)(e - v) : strlen(v);
      return v;
    }
  }
  return NULL;
}

/* Appends the percent-decoded value as the inside of a JSON string. */
static void put_decoded(hl_buf *out, const char *v, size_t len) {
  hl_buf d = HL_BUF_INIT;
  for (size_t i = 0; i < len; i++) {
    unsigned x;
    if (v[i] == '%' && i + 2 < len && sscanf(v + i + 1, "%2x", &x) == 1) {
      hl_buf_putc(&d, (char)x);
      i += 2;
    } else {
      hl_buf_putc(&d, v[i]);
    }
  }
  for (size_t i = 0; i < d.len; i++) {
    unsigned char c = (unsigned char)d.data[i];
    if (c == '"' || c == '\\') hl_buf_printf(out, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f) hl_buf_printf(out, "\\u%04x", c);
    else hl_buf_putc(out, (char)c);
  }
  hl_buf_dispose(&d);
}

int hl_msk_iam_describe(const char *token, hl_buf *out) {
  size_t n = strlen(token);
  hl_buf b = HL_BUF_INIT;
  for (size_t i = 0; i < n; i++) hl_buf_putc(&b, token[i] == '-' ? '+' : token[i] == '_' ? '/' : token[i]);
  while (b.len % 4) hl_buf_putc(&b, '=');
  size_t cap = HL_BASE64_DECODED_MAX(b.len) + 1;
  char *url = hl_malloc(cap);
  int len = b.len ? hl_base64_decode(b.data, b.len, (uint8_t *)url, cap - 1) : -1;
  hl_buf_dispose(&b);
  int rc = HL_EINVAL;
  static const char scheme[] = "https://";
  if (len > 0) {
    url[len] = '\0';
    const char *host = strncmp(url, scheme, sizeof scheme - 1) == 0 ? url + sizeof scheme - 1 : NULL;
    const char *q = host ? strstr(host, "/?") : NULL;
    size_t al = 0, cl = 0, dl = 0, el = 0, ul = 0;
    const char *action = q ? param(q + 2, "Action", &al) : NULL;
    const char *cred = q ? param(q + 2, "X-Amz-Credential", &cl) : NULL;
    const char *date = q ? param(q + 2, "X-Amz-Date", &dl) : NULL;
    const char *exp = q ? param(q + 2, "X-Amz-Expires", &el) : NULL;
    const char *ua = q ? param(q + 2, "User-Agent", &ul) : NULL;
    /* The credential is <key id>/<scope>: the key id stays out. */
    const char *scope = cred ? memchr(cred, '%', cl) : NULL;
    if (action && scope && date && exp) {
      hl_buf_puts(out, "\"host\":\"");
      put_decoded(out, host, (size_t)(q - host));
      hl_buf_puts(out, "\",\"action\":\"");
      put_decoded(out, action, al);
      hl_buf_puts(out, "\",\"credential_scope\":\"");
      size_t skip = strncmp(scope, "%2F", 3) == 0 ? 3 : 0;
      put_decoded(out, scope + skip, cl - (size_t)(scope - cred) - skip);
      hl_buf_puts(out, "\",\"amz_date\":\"");
      put_decoded(out, date, dl);
      hl_buf_puts(out, "\",\"expires_s\":\"");
      put_decoded(out, exp, el);
      hl_buf_puts(out, "\",\"user_agent\":\"");
      if (ua) put_decoded(out, ua, ul);
      hl_buf_puts(out, "\",\"session_token\":");
      hl_buf_puts(out, q && strstr(q, "&X-Amz-Security-Token=") ? "true" : "false");
      rc = 0;
    }
  }
  explicit_bzero(url, cap); /* it held the session token */
  hl_free(url);
  return rc;
}

void hl_msk_iam_cancel(hl_msk_iam_req *r) {
  if (!r->pending) return;
  hl_aws_creds_unwait(r->creds, &r->waiter);
  r->pending = 0;
}
