#include "aws_testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hl_test.h"
#include "hl_testutil.h"
#include "crypto/hl_crypto.h"

void svc_peer_start(svc_peer *p, const char *akid, const char *secret, const char *token) {
  char script[512], log[256];
  snprintf(script, sizeof script, "%s/tools/aws_service_peer/peer.py", HL_SOURCE_DIR);
  /* Debian's python3 is where python3-botocore is installed. */
  char *argv[] = {"/usr/bin/python3", script, "--access-key", (char *)akid, "--secret-key", (char *)secret,
                  "--token", (char *)(token ? token : ""), NULL};
  p->port = hl_spawn_listening(argv, NULL, hl_log_path("aws_service_peer", log, sizeof log), &p->pid, 15000);
  HL_ASSERT_MSG(p->port > 0, "the service peer did not start (is python3-botocore installed?); see %s", log);
  snprintf(p->endpoint, sizeof p->endpoint, "http://127.0.0.1:%d", p->port);
}

void svc_peer_stop(svc_peer *p) {
  if (p->pid <= 0) return;
  kill(p->pid, SIGTERM);
  hl_wait(p->pid, 3000);
  p->pid = 0;
}

void svc_peer_fault(svc_peer *p, const char *json) {
  char u[128];
  snprintf(u, sizeof u, "%s/_peer/fault", p->endpoint);
  HL_ASSERT_EQ_INT(hl_http("POST", u, json, strlen(json), NULL, NULL), 200);
}

const hl_json *svc_peer_requests(svc_peer *p, hl_json_doc *doc) {
  char u[128];
  snprintf(u, sizeof u, "%s/_peer/requests", p->endpoint);
  char *body = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &body), 200);
  HL_ASSERT(hl_json_parse(doc, body, strlen(body), NULL) == 0);
  free(body);
  return hl_json_get(doc->root, "requests");
}

/* A number member of the JSON object GET u answers (0 when absent). */
static long stat_at(const char *u, const char *name) {
  char *body = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &body), 200);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  int64_t v = 0;
  if (hl_json_parse(&doc, body, strlen(body), NULL) == 0) hl_json_int64(hl_json_get(doc.root, name), &v);
  hl_json_doc_dispose(&doc);
  free(body);
  return (long)v;
}

long svc_peer_stat(svc_peer *p, const char *name) {
  char u[128];
  snprintf(u, sizeof u, "%s/_peer/stats", p->endpoint);
  return stat_at(u, name);
}

long aws_peer_stat(int port, const char *name) {
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/stats", port);
  return stat_at(u, name);
}

char *aws_token_url(const char *token) {
  size_t n = strlen(token);
  char *b = malloc(n + 4);
  for (size_t i = 0; i < n; i++) b[i] = token[i] == '-' ? '+' : token[i] == '_' ? '/' : token[i];
  while (n % 4) b[n++] = '=';
  b[n] = '\0';
  uint8_t *out = malloc(HL_BASE64_DECODED_MAX(n) + 1);
  int len = hl_base64_decode(b, n, out, HL_BASE64_DECODED_MAX(n));
  HL_ASSERT(len > 0);
  out[len] = '\0';
  free(b);
  return (char *)out;
}

static void on_flag(void *data) { *(int *)data = 1; }

void aws_loop_close(uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds) {
  int closed = 0;
  if (creds) {
    hl_aws_creds_close(creds, on_flag, &closed);
    while (!closed && uv_run(loop, UV_RUN_ONCE)) {}
  }
  closed = 0;
  hl_curl_uv_close(curl, on_flag, &closed);
  while (!closed && uv_run(loop, UV_RUN_ONCE)) {}
  uv_run(loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(loop), 0);
}
