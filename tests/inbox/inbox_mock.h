/* inbox_mock.h — tools/mock_triggers (the mock Triggers API) in its own
 * process for the inbox tests: start, control, inspect. Every helper fails
 * the test when the mock does not answer as expected. */
#ifndef INBOX_MOCK_H
#define INBOX_MOCK_H

#include <stdbool.h>
#include <sys/types.h>

#include "json/hl_json.h"

typedef struct {
  pid_t pid;
  int port;
  char base[64]; /* http://127.0.0.1:<port> */
  char log[256];
} inbox_mock;

/* Starts the mock with extra command-line arguments (NULL-terminated, may
 * be NULL) on port 0 and waits for its "listening" line. */
void inbox_mock_start(inbox_mock *m, const char *const *args);
void inbox_mock_stop(inbox_mock *m);
/* POST json to path (e.g. "/_control/config") and expect 200. */
void inbox_mock_post(inbox_mock *m, const char *path, const char *json);
/* GET /_control/state parsed into doc; returns its root. */
const hl_json *inbox_mock_state(inbox_mock *m, hl_json_doc *doc);
/* A counter of the state's "counts". */
long inbox_mock_count(const hl_json *state, const char *name);
/* The event id's ack count in the state (-1 when there is no such event). */
long inbox_mock_acks(const hl_json *state, const char *id);
/* Seeds events with the given ids and exact payload texts. */
void inbox_mock_seed(inbox_mock *m, const char *const *ids, const char *const *payloads, size_t n);

#endif
