/* fuzz_msk: the MSK / self-managed Kafka batch decoder and the API Gateway
 * request decoder of the Lambda runtime (src/app/hl_lambda_event).
 *
 * Input: an invocation event (JSON). Properties: no crash or leak whatever
 * the event; a Kafka batch yields exactly hl_msk_batch_count records, each
 * with its strings NUL-terminated at their lengths, at most
 * HL_MSK_MAX_HEADERS headers, and a key/value that is the base64 text's
 * decoding (encoding it again gives bytes that decode the same); an API
 * Gateway event yields one detached request that answers exactly once. */
#include "fuzz_util.h"
#include "app/hl_lambda_event.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"

static int answers;

static void on_answer(void *data, int status, const hl_http_header *headers, size_t nheaders, const char *body,
                      size_t body_len) {
  (void)data; (void)headers; (void)nheaders; (void)body; (void)body_len;
  FUZZ_CHECK(status == 200);
  answers++;
}

/* The record's key or value is what its base64 text decodes to. */
static void check_b64(const hl_json *rj, const char *name, const char *bytes, size_t len) {
  const hl_json *t = hl_json_get(rj, name);
  if (!bytes) return;
  FUZZ_CHECK(t && t->type == HL_JSON_STRING && bytes[len] == '\0');
  hl_buf enc = HL_BUF_INIT;
  hl_base64_encode(&enc, (const uint8_t *)bytes, len);
  uint8_t *again = hl_malloc(enc.len + 1);
  int n = hl_base64_decode(enc.data ? enc.data : "", enc.len, again, enc.len + 1);
  FUZZ_CHECK(n >= 0 && (size_t)n == len && memcmp(again, bytes, len) == 0);
  hl_free(again);
  hl_buf_dispose(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  if (hl_json_parse(&d, (const char *)data, size, NULL) == 0) {
    hl_lambda_event_kind kind = hl_lambda_event_kind_of(d.root);
    if (kind == HL_LAMBDA_EVENT_KAFKA) {
      size_t total = hl_msk_batch_count(d.root);
      hl_msk_record *recs = hl_calloc(total ? total : 1, sizeof *recs);
      size_t n = hl_msk_batch_decode(d.root, recs);
      FUZZ_CHECK(n == total);
      /* The same walk as the decoder's, to find each record's source. */
      const hl_json *records = hl_json_get(d.root, "records");
      size_t i = 0;
      for (uint32_t p = 0; records && records->type == HL_JSON_OBJECT && p < records->len; p++) {
        const hl_json *arr = &records->u.members[p].value;
        if (arr->type != HL_JSON_ARRAY) continue;
        for (uint32_t k = 0; k < arr->len; k++, i++) {
          hl_msk_record *r = &recs[i];
          FUZZ_CHECK(r->partition_key && r->topic && r->nheaders <= HL_MSK_MAX_HEADERS);
          check_b64(&arr->u.items[k], "key", r->key, r->key_len);
          check_b64(&arr->u.items[k], "value", r->value, r->len);
          for (size_t h = 0; h < r->nheaders; h++)
            FUZZ_CHECK(r->headers[h].name && ((const char *)r->headers[h].value)[r->headers[h].len] == '\0');
        }
      }
      FUZZ_CHECK(i == n);
      for (i = 0; i < n; i++) hl_msk_record_dispose(&recs[i]);
      hl_free(recs);
    } else if (kind == HL_LAMBDA_EVENT_APIGW) {
      answers = 0;
      bool bad_body = false;
      hl_http_req *req = hl_apigw_request(d.root, on_answer, NULL, &bad_body);
      FUZZ_CHECK(req->method && req->path && req->query && req->body[req->body_len] == '\0');
      FUZZ_CHECK(!bad_body || req->body_len == 0);
      FUZZ_CHECK(strlen(req->path) == req->path_len && strlen(req->query) == req->query_len);
      for (size_t h = 0; h < req->nheaders; h++) {
        size_t vl = 0;
        FUZZ_CHECK(hl_http_req_header(req, req->headers[h].name, &vl) != NULL);
      }
      FUZZ_CHECK(!hl_http_req_is_aborted(req));
      hl_http_respond(req, 200, NULL, 0, req->body, req->body_len);
      FUZZ_CHECK(answers == 1);
    }
  }
  hl_json_doc_dispose(&d);
  return 0;
}
