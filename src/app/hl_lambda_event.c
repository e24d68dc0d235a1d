#include "app/hl_lambda_event.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_sigv4.h"

#include <string.h>

hl_lambda_event_kind hl_lambda_event_kind_of(const hl_json *ev) {
  const char *src = hl_json_str(hl_json_get(ev, "eventSource"));
  if (src && (strcmp(src, "aws:kafka") == 0 || strcmp(src, "SelfManagedKafka") == 0)) return HL_LAMBDA_EVENT_KAFKA;
  const char *esrc = hl_json_str(hl_json_get(ev, "source"));
  const char *detail = hl_json_str(hl_json_get(ev, "detail-type"));
  if (esrc && strcmp(esrc, "aws.events") == 0 && detail && strcmp(detail, "Scheduled Event") == 0)
    return HL_LAMBDA_EVENT_SCHEDULE;
  if (hl_json_pointer(ev, "/requestContext/http", 20)) return HL_LAMBDA_EVENT_APIGW;
  /* REST API (v1) proxy events name the method at the top. */
  if (hl_json_str(hl_json_get(ev, "httpMethod")) && hl_json_get(ev, "requestContext")) return HL_LAMBDA_EVENT_APIGW;
  const hl_json *hdr = hl_json_get(ev, "eventHeader");
  if ((hdr && hdr->type == HL_JSON_OBJECT) || hl_json_str(hl_json_get(ev, "specversion"))) return HL_LAMBDA_EVENT_DIRECT;
  return HL_LAMBDA_EVENT_OTHER;
}

/* A base64 string decoded (NUL-terminated), or NULL. */
static char *b64(const hl_json *v, size_t *len) {
  *len = 0;
  if (!v || v->type != HL_JSON_STRING) return NULL;
  char *out = hl_malloc(v->len + 1);
  int n = hl_base64_decode(v->u.str, v->len, (uint8_t *)out, v->len + 1);
  if (n < 0) { hl_free(out); return NULL; }
  out[n] = '\0';
  *len = (size_t)n;
  return out;
}

size_t hl_msk_batch_count(const hl_json *ev) {
  const hl_json *records = hl_json_get(ev, "records");
  size_t total = 0;
  for (uint32_t i = 0; records && records->type == HL_JSON_OBJECT && i < records->len; i++)
    total += records->u.members[i].value.type == HL_JSON_ARRAY ? records->u.members[i].value.len : 0;
  return total;
}

static void decode_record(const hl_json_member *pm, const hl_json *rj, hl_msk_record *r) {
  memset(r, 0, sizeof *r);
  r->partition_key = hl_strndup(pm->key, pm->key_len);
  const char *topic = hl_json_str(hl_json_get(rj, "topic"));
  r->topic = hl_strdup(topic ? topic : "");
  int64_t n = 0;
  hl_json_int64(hl_json_get(rj, "partition"), &n);
  r->partition = (int32_t)n;
  hl_json_int64(hl_json_get(rj, "offset"), &r->offset);
  r->key = b64(hl_json_get(rj, "key"), &r->key_len);
  r->value = b64(hl_json_get(rj, "value"), &r->len);
  const hl_json *hs = hl_json_get(rj, "headers");
  for (uint32_t h = 0; hs && hs->type == HL_JSON_ARRAY && h < hs->len && r->nheaders < HL_MSK_MAX_HEADERS; h++) {
    const hl_json *ho = &hs->u.items[h];
    if (ho->type != HL_JSON_OBJECT || ho->len == 0) continue;
    const hl_json_member *hm = &ho->u.members[0];
    /* Header values arrive as arrays of (Java, signed) byte values. */
    char *val = hl_malloc(hm->value.len + 1);
    size_t vl = 0;
    for (uint32_t b = 0; hm->value.type == HL_JSON_ARRAY && b < hm->value.len; b++) {
      int64_t byte = 0;
      hl_json_int64(&hm->value.u.items[b], &byte);
      val[vl++] = (char)(uint8_t)(byte & 0xff);
    }
    val[vl] = '\0';
    r->headers[r->nheaders++] = (hl_kafka_header){hl_strndup(hm->key, hm->key_len), val, vl};
  }
}

size_t hl_msk_batch_decode(const hl_json *ev, hl_msk_record *out) {
  const hl_json *records = hl_json_get(ev, "records");
  size_t n = 0;
  for (uint32_t i = 0; records && records->type == HL_JSON_OBJECT && i < records->len; i++) {
    const hl_json_member *pm = &records->u.members[i];
    if (pm->value.type != HL_JSON_ARRAY) continue;
    for (uint32_t k = 0; k < pm->value.len; k++) decode_record(pm, &pm->value.u.items[k], &out[n++]);
  }
  return n;
}

void hl_msk_record_dispose(hl_msk_record *r) {
  hl_free(r->topic); hl_free(r->partition_key); hl_free(r->key); hl_free(r->value);
  for (size_t h = 0; h < r->nheaders; h++) {
    hl_free((char *)r->headers[h].name);
    hl_free((void *)r->headers[h].value);
  }
  memset(r, 0, sizeof *r);
}

/* A REST API (v1) event's query: multiValueQueryStringParameters (every
 * value), else queryStringParameters, percent-encoded again as the client
 * sent them. NULL when there is none. */
static char *v1_query(const hl_json *ev) {
  const hl_json *mv = hl_json_get(ev, "multiValueQueryStringParameters");
  const hl_json *sv = hl_json_get(ev, "queryStringParameters");
  const hl_json *q = mv && mv->type == HL_JSON_OBJECT ? mv : sv && sv->type == HL_JSON_OBJECT ? sv : NULL;
  if (!q) return NULL;
  hl_buf b = HL_BUF_INIT;
  for (uint32_t i = 0; i < q->len; i++) {
    const hl_json_member *m = &q->u.members[i];
    const hl_json *vals = m->value.type == HL_JSON_ARRAY ? m->value.u.items : &m->value;
    uint32_t n = m->value.type == HL_JSON_ARRAY ? m->value.len : 1;
    for (uint32_t k = 0; k < n; k++) {
      if (vals[k].type != HL_JSON_STRING) continue;
      if (b.len) hl_buf_putc(&b, '&');
      hl_sigv4_uri_encode(&b, m->key, m->key_len, false);
      hl_buf_putc(&b, '=');
      hl_sigv4_uri_encode(&b, vals[k].u.str, vals[k].len, false);
    }
  }
  return hl_buf_steal(&b, NULL);
}

hl_http_req *hl_apigw_request(const hl_json *ev, hl_http_detached_cb cb, void *data, bool *bad_body) {
  *bad_body = false;
  const hl_json *http = hl_json_pointer(ev, "/requestContext/http", 20);
  /* HTTP API (v2): requestContext.http.method, rawPath, rawQueryString;
   * REST API (v1): httpMethod, path, the query as parameters. */
  const char *method = http ? hl_json_str(hl_json_get(http, "method")) : hl_json_str(hl_json_get(ev, "httpMethod"));
  const char *path = hl_json_str(hl_json_get(ev, http ? "rawPath" : "path"));
  char *v1q = http ? NULL : v1_query(ev);
  const char *query = http ? hl_json_str(hl_json_get(ev, "rawQueryString")) : v1q;
  const hl_json *hj = hl_json_get(ev, "headers");
  hl_http_header hdrs[64];
  size_t nh = 0;
  for (uint32_t i = 0; hj && hj->type == HL_JSON_OBJECT && i < hj->len && nh < 64; i++)
    if (hj->u.members[i].value.type == HL_JSON_STRING)
      hdrs[nh++] = (hl_http_header){hj->u.members[i].key, hj->u.members[i].key_len, hj->u.members[i].value.u.str,
                                    hj->u.members[i].value.len};
  const hl_json *bj = hl_json_get(ev, "body");
  size_t blen = 0;
  char *body = NULL;
  if (bj && bj->type == HL_JSON_STRING) {
    if (hl_json_get(ev, "isBase64Encoded") && hl_json_get(ev, "isBase64Encoded")->type == HL_JSON_TRUE) {
      body = b64(bj, &blen);
      *bad_body = body == NULL;
    } else { body = hl_strndup(bj->u.str, bj->len); blen = bj->len; }
  }
  hl_http_req *req = hl_http_req_detached(method ? method : "GET", path ? path : "/", query, hdrs, nh,
                                          body ? body : "", blen, cb, data);
  hl_free(body);
  hl_free(v1q);
  return req;
}

hl_http_req *hl_direct_request(const char *body, size_t len, bool cloudevents, const char *trace,
                               hl_http_detached_cb cb, void *data) {
  static const char ct[] = "content-type", json[] = "application/json", ce[] = "application/cloudevents+json",
                    xt[] = "x-amzn-trace-id";
  hl_http_header h[2] = {{ct, sizeof ct - 1, cloudevents ? ce : json, cloudevents ? sizeof ce - 1 : sizeof json - 1}};
  size_t n = 1;
  if (trace && *trace) h[n++] = (hl_http_header){xt, sizeof xt - 1, trace, strlen(trace)};
  return hl_http_req_detached("POST", "/api/v1/events", NULL, h, n, body, len, cb, data);
}
