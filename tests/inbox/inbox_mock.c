#include "inbox_mock.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_buf.h"
#include "hl_test.h"
#include "hl_testutil.h"

void inbox_mock_start(inbox_mock *m, const char *const *args) {
  memset(m, 0, sizeof *m);
  hl_log_path("mock_triggers", m->log, sizeof m->log);
  char *argv[32] = {"/usr/bin/python3", HL_SOURCE_DIR "/tools/mock_triggers/mock_triggers.py"};
  int n = 2;
  for (size_t i = 0; args && args[i] && n < 31; i++) argv[n++] = (char *)args[i];
  argv[n] = NULL;
  /* The mock binds port 0 and says which port it got. */
  m->port = hl_spawn_listening(argv, NULL, m->log, &m->pid, 20000);
  HL_ASSERT_MSG(m->port > 0, "the mock Triggers API did not start; see %s", m->log);
  snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d", m->port);
}

void inbox_mock_stop(inbox_mock *m) {
  if (m->pid > 0) {
    kill(m->pid, SIGTERM);
    hl_wait(m->pid, 5000);
  }
  unlink(m->log);
  m->pid = 0;
}

void inbox_mock_post(inbox_mock *m, const char *path, const char *json) {
  char url[256];
  snprintf(url, sizeof url, "%s%s", m->base, path);
  char *resp = NULL;
  long st = hl_http("POST", url, json, strlen(json), NULL, &resp);
  HL_ASSERT_MSG(st == 200, "POST %s %s: %ld %s", path, json, st, resp ? resp : "");
  free(resp);
}

const hl_json *inbox_mock_state(inbox_mock *m, hl_json_doc *doc) {
  char url[256];
  snprintf(url, sizeof url, "%s/_control/state", m->base);
  char *resp = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", url, NULL, 0, NULL, &resp), 200);
  hl_json_doc_init(doc);
  HL_ASSERT(hl_json_parse(doc, resp, strlen(resp), NULL) == 0);
  free(resp);
  return doc->root;
}

long inbox_mock_count(const hl_json *state, const char *name) {
  int64_t v = -1;
  HL_ASSERT_MSG(hl_json_int64(hl_json_get(hl_json_get(state, "counts"), name), &v) == 0, "no count %s", name);
  return (long)v;
}

long inbox_mock_acks(const hl_json *state, const char *id) {
  const hl_json *evs = hl_json_get(state, "events");
  for (uint32_t i = 0; evs && i < evs->len; i++) {
    const hl_json *e = &evs->u.items[i];
    const char *eid = hl_json_str(hl_json_get(e, "id"));
    int64_t acks = 0;
    if (eid && strcmp(eid, id) == 0 && hl_json_int64(hl_json_get(e, "acks"), &acks) == 0) return (long)acks;
  }
  return -1;
}

void inbox_mock_seed(inbox_mock *m, const char *const *ids, const char *const *payloads, size_t n) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "events");
  hl_jw_arr_begin(&w);
  for (size_t i = 0; i < n; i++) {
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "id");
    hl_jw_str(&w, ids[i]);
    hl_jw_key(&w, "payload"); /* the payload's text, as a JSON string */
    hl_jw_str(&w, payloads[i]);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  inbox_mock_post(m, "/_control/seed", b.data);
  hl_buf_dispose(&b);
}
