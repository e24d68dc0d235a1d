/* A subscription's TLS client certificate (mTLS): "client_certificate" in
 * POST /admin/subscriptions, checked before it is stored
 * (crypto/hl_client_cert.h), and what GET shows of it: its subject and
 * expiry, never the key. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "crypto/hl_client_cert.h"

#include <string.h>
#include <strings.h>

bool hl_api_client_cert_parse(hl_http_req *req, const hl_json *root, hl_sub_rec *rec) {
  const hl_json *v = hl_json_get(root, "client_certificate");
  if (!v || v->type == HL_JSON_NULL) return true;
  if (v->type != HL_JSON_OBJECT) {
    hl_api_respond_field_error(req, "/client_certificate",
                               "expected {\"certificate\": PEM, \"private_key\": PEM} or null");
    return false;
  }
  if (!rec->url || strncasecmp(rec->url, "https:", 6) != 0) {
    hl_api_respond_field_error(req, "/client_certificate",
                               "a client certificate is presented over TLS only: the url must be https://");
    return false;
  }
  const char *cert = hl_api_get_str(v, "certificate"), *key = hl_api_get_str(v, "private_key");
  char why[300];
  int fault = hl_client_cert_check(cert, key, hl_wall_ms() / 1000, why, sizeof why);
  if (fault) {
    hl_api_respond_field_error(req, fault == 1 ? "/client_certificate/certificate" : "/client_certificate/private_key",
                               why);
    return false;
  }
  rec->client_cert = hl_strdup(cert);
  rec->client_key = hl_strdup(key);
  return true;
}

void hl_api_write_client_cert(hl_jw *w, const hl_sub_rec *r) {
  if (!r->client_cert) return;
  hl_client_cert_info info;
  char why[200];
  hl_jw_key(w, "client_certificate");
  hl_jw_obj_begin(w);
  if (hl_client_cert_describe(r->client_cert, &info, why, sizeof why) == 0) {
    hl_jw_key(w, "subject"); hl_jw_str(w, info.subject);
    hl_jw_key(w, "not_after"); hl_jw_str(w, info.not_after);
  }
  hl_jw_obj_end(w);
}
