#include "emulator.h"
#include "common/hl_common.h"
#include "loop/hl_http_server.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ev { char id[64]; char *body; int64_t deadline; struct ev *next; } ev;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static ev *queue_head, **queue_tail = &queue_head;
static emu_result results[256];
static int nresults;
static uv_loop_t loop;
static uv_async_t wake, quit;
static hl_http_server *srv;
/* Held /next requests, oldest first: several runtimes (concurrent
 * invocations, each its own process) wait at once, and each gets its own
 * event. */
#define MAX_WAITING 8
static hl_http_req *waiting[MAX_WAITING];
static volatile int nwaiting; /* read by emu_waiting() on the test's thread */
static pthread_t thread;
static int counter;
static volatile uint64_t first_next_ns;
static _Atomic pid_t freeze_pid; /* emu_freeze_on_next */
static _Atomic bool froze;

static void drop_waiting(int i) {
  memmove(&waiting[i], &waiting[i + 1], (size_t)(nwaiting - i - 1) * sizeof *waiting);
  nwaiting--;
}

static bool serve_one(void);

static void serve_next(void) {
  for (int i = 0; i < nwaiting;) {
    if (hl_http_req_is_aborted(waiting[i])) {
      /* The runtime that asked went away (killed between tests): an event
       * handed to it would be lost, so keep it for the next runtime. */
      hl_http_respond(waiting[i], 500, NULL, 0, "{}", 2);
      drop_waiting(i);
    } else {
      i++;
    }
  }
  while (nwaiting > 0 && serve_one()) {}
}

/* The oldest queued event to the runtime that has waited longest; false
 * when none is queued. */
static bool serve_one(void) {
  pthread_mutex_lock(&mu);
  ev *e = queue_head;
  if (e) {
    queue_head = e->next;
    if (!queue_head) queue_tail = &queue_head;
  }
  pthread_mutex_unlock(&mu);
  if (!e) return false;
  char dl[32];
  snprintf(dl, sizeof dl, "%lld", (long long)e->deadline);
  hl_http_header h[4] = {
    {"lambda-runtime-aws-request-id", 29, e->id, strlen(e->id)},
    {"lambda-runtime-deadline-ms", 26, dl, strlen(dl)},
    {"lambda-runtime-trace-id", 23, "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Sampled=1", 50},
    {"lambda-runtime-invoked-function-arn", 35, "arn:aws:lambda:eu-west-1:123456789012:function:hookloop", 55},
  };
  hl_http_req *r = waiting[0];
  drop_waiting(0);
  hl_http_respond(r, 200, h, 4, e->body, strlen(e->body));
  free(e->body);
  free(e);
  return true;
}

static void record(const char *kind, const char *id, hl_http_req *r) {
  pthread_mutex_lock(&mu);
  if (nresults < 256) {
    emu_result *x = &results[nresults++];
    snprintf(x->kind, sizeof x->kind, "%s", kind);
    snprintf(x->id, sizeof x->id, "%s", id);
    x->body = strndup(r->body, r->body_len);
    size_t n = 0;
    const char *t = hl_http_req_header(r, "lambda-runtime-function-error-type", &n);
    snprintf(x->error_type, sizeof x->error_type, "%.*s", (int)(t ? n : 0), t ? t : "");
  }
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  hl_http_respond(r, 202, NULL, 0, "{\"status\":\"OK\"}", 15);
}

static void on_request(hl_http_req *r, void *data) {
  (void)data;
  const char *p = r->path;
  const char *base = "/2018-06-01/runtime/";
  if (strncmp(p, base, strlen(base)) != 0) { hl_http_respond_error(r, 404, "not_found", "unknown path"); return; }
  p += strlen(base);
  if (strcmp(p, "invocation/next") == 0) {
    if (first_next_ns == 0) first_next_ns = hl_mono_ns();
    pid_t pid = atomic_exchange(&freeze_pid, 0);
    if (pid > 0 && kill(pid, SIGSTOP) == 0) atomic_store(&froze, true); /* as Lambda freezes a sandbox here */
    if (nwaiting == MAX_WAITING) {
      hl_http_respond_error(r, 429, "too_many_waiting", "the emulator holds 8 /next requests at most");
      return;
    }
    waiting[nwaiting++] = r;
    serve_next();
    return;
  }
  if (strcmp(p, "init/error") == 0) { record("init_error", "init", r); return; }
  if (strncmp(p, "invocation/", 11) == 0) {
    char id[64];
    const char *slash = strchr(p + 11, '/');
    if (!slash) { hl_http_respond_error(r, 404, "not_found", "no request id"); return; }
    snprintf(id, sizeof id, "%.*s", (int)(slash - (p + 11)), p + 11);
    record(strcmp(slash + 1, "response") == 0 ? "response" : "error", id, r);
    return;
  }
  hl_http_respond_error(r, 404, "not_found", "unknown path");
}

static size_t limit(const char *m, const char *p, size_t n, void *d) { (void)m; (void)p; (void)n; (void)d; return 8u << 20; }

static void on_wake(uv_async_t *a) { (void)a; serve_next(); }

static void destroyed(void *d) { (void)d; }

static void on_quit(uv_async_t *a) {
  (void)a;
  while (nwaiting > 0) {
    hl_http_respond(waiting[0], 500, NULL, 0, "{}", 2);
    drop_waiting(0);
  }
  hl_http_server_destroy(srv, destroyed, NULL);
  uv_close((uv_handle_t *)&wake, NULL);
  uv_close((uv_handle_t *)&quit, NULL);
}

static void *run(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

int emu_start(void) {
  uv_loop_init(&loop);
  hl_http_server_config cfg = {.on_request = on_request, .body_limit = limit, .idle_timeout_ms = 3600000,
                               .header_timeout_ms = 3600000, .body_timeout_ms = 3600000};
  if (hl_http_server_create(&loop, "127.0.0.1:0", &cfg, &srv) != 0 || hl_http_server_start(srv) != 0) return -1;
  uv_async_init(&loop, &wake, on_wake);
  uv_async_init(&loop, &quit, on_quit);
  pthread_create(&thread, NULL, run, NULL);
  return hl_http_server_port(srv);
}

const char *emu_push(const char *event_json, int64_t deadline_ms) {
  static char id[64];
  ev *e = calloc(1, sizeof *e);
  snprintf(e->id, sizeof e->id, "req-%d-%d", getpid(), ++counter);
  e->body = strdup(event_json);
  e->deadline = deadline_ms ? deadline_ms : hl_wall_ms() + 60000;
  snprintf(id, sizeof id, "%s", e->id);
  pthread_mutex_lock(&mu);
  *queue_tail = e;
  queue_tail = &e->next;
  pthread_mutex_unlock(&mu);
  uv_async_send(&wake);
  return id;
}

emu_result *emu_wait(const char *id, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
  pthread_mutex_lock(&mu);
  emu_result *found = NULL;
  for (;;) {
    for (int i = 0; i < nresults && !found; i++)
      if (strcmp(results[i].id, id) == 0) found = &results[i];
    if (found || pthread_cond_timedwait(&cv, &mu, &until) != 0) break;
  }
  if (!found)
    for (int i = 0; i < nresults && !found; i++)
      if (strcmp(results[i].id, id) == 0) found = &results[i];
  pthread_mutex_unlock(&mu);
  return found;
}

void emu_stop(void) {
  uv_async_send(&quit);
  pthread_join(thread, NULL);
  uv_loop_close(&loop);
}

void emu_freeze_on_next(pid_t pid) {
  atomic_store(&froze, false);
  atomic_store(&freeze_pid, pid);
}
bool emu_froze(void) { return atomic_load(&froze); }
int emu_waiting(void) { return nwaiting; }
uint64_t emu_first_next_ns(void) { return first_next_ns; }
void emu_reset_first_next(void) { first_next_ns = 0; }
