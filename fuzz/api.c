/* fuzz_api: the HTTP API's handlers (src/api/) on a real SQLite store and
 * the embedded queue, with no dispatcher (nothing is sent anywhere).
 *
 * The input is a short session: up to FUZZ_API_MAX_REQUESTS requests,
 * after an optional first line "%options <words>" that sets up the process
 * as an operator could: "partners" (HOOKLOOP_REQUIRE_PARTNERS=1), "seal"
 * (credentials sealed at rest under a fixed key, as with
 * HOOKLOOP_SECRET_KEY_FILE), "https" (HOOKLOOP_REQUIRE_HTTPS=1), "tokens"
 * (HOOKLOOP_ADMIN_TOKEN=adm, HOOKLOOP_API_TOKEN=api: requests then need an
 * "@authorization: Bearer ..." line). Then the requests,
 * separated by a line "===". Each is a request line "METHOD target" (the
 * target's query after '?'), then any number of header lines written
 * "@name: value", then the body (the rest, as bytes). A request without a
 * content-type header gets "content-type: application/json". "$SUB" in the
 * target or the body stands for the subscription id the last answer that
 * had one named (ids are random, so an input could not spell them). The admin and
 * producer routes are open (no tokens), so the fuzzer reaches every one.
 *
 * Every input starts from an empty store in a fresh file, so a finding
 * replays alone. The requests go in order, each answered before the next
 * is handed over, through the same detached requests Lambda uses
 * (hl_http_req_detached), and hl_api_handle routes them as serve does.
 *
 * Properties, beyond no crash, leak or hang:
 * - every request is answered exactly once, and the loop does not go idle
 *   with a request unanswered;
 * - no answer is a 5xx other than 501 and 503 (an input that makes the
 *   API fail inside is a defect; 501 and 503 say what this process cannot
 *   do or cannot do now);
 * - every answer of 400 or more has the error envelope of hl_api.h, a JSON
 *   object with "error" and "message" strings and, when present, a
 *   "details" array of objects;
 * - every 400 names what was wrong: at least one detail with a "path" (a
 *   JSON pointer into the body, "?name" for a query parameter or a header
 *   name), the project's rule for bad input;
 * - an answer that starts as JSON ('{' or '[') parses. */
#include "fuzz_util.h"
#include "api/hl_api.h"
#include "common/hl_common.h"
#include "obs/hl_metrics.h"
#include "queue/hl_queue_embedded.h"
#include "store/hl_store_sqlite.h"

#include <dirent.h>
#include <unistd.h>

#define FUZZ_API_MAX_REQUESTS 16
#define FUZZ_API_MAX_HEADERS 8
/* Loop turns a request may take before it counts as stalled: store
 * writes answer within a few turns (the fdatasync on the threadpool). */
#define FUZZ_API_MAX_TURNS 100000

static uv_loop_t loop;
static char dir[256];
static bool trace; /* FUZZ_API_TRACE=1: each request and answer on stderr, to read a finding */
static char last_sub[128]; /* "$SUB" */

typedef struct {
  bool done;
  int status;
  hl_buf body;
} answer;

static void on_answer(void *data, int status, const hl_http_header *headers, size_t nheaders, const char *body,
                      size_t body_len) {
  answer *a = data;
  FUZZ_CHECK(!a->done); /* once */
  a->done = true;
  a->status = status;
  hl_buf_append(&a->body, body, body_len);
  if (trace) {
    fprintf(stderr, "<- %d", status);
    for (size_t i = 0; i < nheaders; i++)
      fprintf(stderr, " [%.*s: %.*s]", (int)headers[i].name_len, headers[i].name, (int)headers[i].value_len,
              headers[i].value);
    fprintf(stderr, "\n%.*s\n", (int)(body_len > 600 ? 600 : body_len), body);
  }
}

static const hl_json *member(const hl_json *obj, const char *key, hl_json_type type) {
  const hl_json *v = obj && obj->type == HL_JSON_OBJECT ? hl_json_get(obj, key) : NULL;
  return v && v->type == type ? v : NULL;
}

static void check_answer(const answer *a) {
  FUZZ_CHECK(a->status >= 200 && a->status <= 599);
  FUZZ_CHECK(a->status < 500 || a->status == 501 || a->status == 503);
  /* A detached answer carries the handler's headers only (the server adds
   * content-type on a socket), so JSON is told by its first byte: only
   * /metrics and the console's files answer anything else. */
  const char *b = a->body.data ? a->body.data : "";
  if (a->status < 400 && b[0] != '{' && b[0] != '[') return;
  hl_json_doc d;
  hl_json_doc_init(&d);
  FUZZ_CHECK(hl_json_parse(&d, a->body.data ? a->body.data : "", a->body.len, NULL) == 0);
  if (a->status >= 400) {
    FUZZ_CHECK(member(d.root, "error", HL_JSON_STRING) && member(d.root, "message", HL_JSON_STRING));
    const hl_json *det = hl_json_get(d.root, "details");
    if (det) {
      FUZZ_CHECK(det->type == HL_JSON_ARRAY);
      for (uint32_t i = 0; i < det->len; i++) FUZZ_CHECK(det->u.items[i].type == HL_JSON_OBJECT);
    }
    if (a->status == 400) {
      bool named = false;
      for (uint32_t i = 0; det && i < det->len; i++) named = named || member(&det->u.items[i], "path", HL_JSON_STRING);
      if (!named) fprintf(stderr, "400 without a path: %.*s\n", (int)a->body.len, a->body.data);
      FUZZ_CHECK(named);
    }
  }
  hl_json_doc_dispose(&d);
}

/* [s, s + n) with each "$SUB" replaced by last_sub, into out. */
static void put_subst(hl_buf *out, const char *s, size_t n) {
  const char *end = s + n;
  while (s < end) {
    const char *m = memmem(s, (size_t)(end - s), "$SUB", 4);
    if (!m) m = end;
    hl_buf_append(out, s, (size_t)(m - s));
    if (m == end) break;
    hl_buf_puts(out, last_sub);
    s = m + 4;
  }
}

/* Remembers the subscription id an answer names at its top level. */
static void note_sub(const answer *a) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  if (a->body.len && hl_json_parse(&d, a->body.data, a->body.len, NULL) == 0) {
    const hl_json *id = member(d.root, "subscription_id", HL_JSON_STRING);
    if (id && id->len < sizeof last_sub && !memchr(id->u.str, '\0', id->len)) {
      memcpy(last_sub, id->u.str, id->len);
      last_sub[id->len] = '\0';
    }
  }
  hl_json_doc_dispose(&d);
}

/* Runs the loop until *flag is set; false when the loop went idle first
 * or took too many turns. */
static bool run_until(const bool *flag) {
  for (int i = 0; i < FUZZ_API_MAX_TURNS && !*flag; i++)
    if (uv_run(&loop, UV_RUN_ONCE) == 0 && !*flag) return false;
  return *flag;
}

static void on_flag(void *data, int status) {
  (void)status;
  *(bool *)data = true;
}

static void on_closed(void *data) { *(bool *)data = true; }

/* An empty data directory for the next input. */
static void clear_dir(void) {
  DIR *d = opendir(dir);
  if (!d) abort();
  struct dirent *e;
  char path[512];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
}

/* One request of the session: [s, end) holds "METHOD target\n@h: v\n...body". */
static void one_request(hl_api *api, const char *s, const char *end) {
  const char *nl = memchr(s, '\n', (size_t)(end - s));
  const char *line_end = nl ? nl : end;
  const char *sp = memchr(s, ' ', (size_t)(line_end - s));
  if (!sp || sp == s || (size_t)(sp - s) > 16) return;
  char method[17];
  memcpy(method, s, (size_t)(sp - s));
  method[sp - s] = '\0';
  size_t tl = (size_t)(line_end - sp - 1);
  if (tl == 0 || tl > 2048 || memchr(sp + 1, '\0', tl)) return;
  hl_buf target = HL_BUF_INIT, body = HL_BUF_INIT;
  put_subst(&target, sp + 1, tl);
  char *q = strchr(target.data, '?');
  if (q) *q++ = '\0';

  hl_http_header h[FUZZ_API_MAX_HEADERS + 1];
  size_t nh = 0;
  bool have_ctype = false;
  const char *p = nl ? nl + 1 : end;
  while (p < end && *p == '@' && nh < FUZZ_API_MAX_HEADERS) {
    const char *le = memchr(p, '\n', (size_t)(end - p));
    if (!le) le = end;
    const char *colon = memchr(p, ':', (size_t)(le - p));
    if (!colon || colon == p + 1) break;
    const char *v = colon + 1;
    while (v < le && *v == ' ') v++;
    h[nh] = (hl_http_header){p + 1, (size_t)(colon - p - 1), v, (size_t)(le - v)};
    have_ctype = have_ctype || (h[nh].name_len == 12 && strncasecmp(h[nh].name, "content-type", 12) == 0);
    nh++;
    p = le < end ? le + 1 : end;
  }
  if (!have_ctype) h[nh++] = (hl_http_header){"content-type", 12, "application/json", 16};

  put_subst(&body, p, (size_t)(end - p));
  if (trace) fprintf(stderr, "-> %s %s%s%s\n", method, target.data, q ? "?" : "", q ? q : "");
  answer a = {.body = HL_BUF_INIT};
  hl_http_req *req =
      hl_http_req_detached(method, target.data, q, h, nh, body.data ? body.data : "", body.len, on_answer, &a);
  hl_api_handle(req, api);
  FUZZ_CHECK(run_until(&a.done));
  check_answer(&a);
  if (a.status < 300) note_sub(&a);
  hl_buf_dispose(&a.body);
  hl_buf_dispose(&target);
  hl_buf_dispose(&body);
}

static void remove_dir(void) {
  clear_dir();
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  fuzz_quiet();
  trace = getenv("FUZZ_API_TRACE") && strcmp(getenv("FUZZ_API_TRACE"), "1") == 0;
  uv_loop_init(&loop);
  /* tmpfs when there is one: every input makes a new SQLite file. */
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  snprintf(dir, sizeof dir, "%s/hl-fuzz-api-XXXXXX", base);
  if (!mkdtemp(dir)) abort();
  atexit(remove_dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  clear_dir();
  strcpy(last_sub, "sub_none");
  hl_store *store = NULL;
  char err[256];
  if (hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err) != 0) {
    fprintf(stderr, "fuzz_api: %s\n", err);
    abort();
  }
  hl_registry reg;
  hl_registry_init(&reg);
  hl_metrics metrics;
  hl_metrics_init(&metrics);
  hl_queue *queue = hl_queue_embedded_create(store);
  hl_api api;
  hl_api_options opt = {.store_name = "sqlite", .loop = &loop, .metrics = &metrics, .backlog_high_water = 100000};
  const char *s = (const char *)data, *end = s + size;
  static const char optline[] = "%options ";
  hl_sealer sealer;
  bool sealed = false;
  if (size >= sizeof optline - 1 && memcmp(s, optline, sizeof optline - 1) == 0) {
    const char *le = memchr(s, '\n', size);
    if (!le) le = end;
    size_t n = (size_t)(le - s);
    if (memmem(s, n, "partners", 8)) opt.require_partners = true;
    if (memmem(s, n, "https", 5)) opt.require_https = true;
    if (memmem(s, n, "tokens", 6)) {
      opt.admin_token = "adm";
      opt.api_token = "api";
    }
    if (memmem(s, n, "seal", 4)) {
      static const uint8_t key[1][32] = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}};
      hl_sealer_init(&sealer, key, 1);
      opt.sealer = &sealer;
      sealed = true;
    }
    s = le < end ? le + 1 : end;
  }
  hl_api_init(&api, store, &reg, NULL, &opt);
  hl_api_use_queue(&api, queue, NULL);
  bool loaded = false;
  hl_api_load(&api, on_flag, &loaded);
  FUZZ_CHECK(run_until(&loaded));

  static const char sep[] = "\n===\n";
  for (int i = 0; i < FUZZ_API_MAX_REQUESTS && s < end; i++) {
    const char *m = memmem(s, (size_t)(end - s), sep, sizeof sep - 1);
    one_request(&api, s, m ? m : end);
    s = m ? m + sizeof sep - 1 : end;
  }

  /* Recovery jobs may still be walking the store: stop them, let their
   * calls answer, then close the store. */
  hl_api_stop_jobs(&api);
  for (int i = 0; i < FUZZ_API_MAX_TURNS && api.pending; i++) uv_run(&loop, UV_RUN_ONCE);
  FUZZ_CHECK(api.pending == 0);
  bool closed = false;
  store->vt->close(store, on_closed, &closed);
  FUZZ_CHECK(run_until(&closed));
  hl_api_close_jobs(&api);
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {}
  queue->vt->destroy(queue);
  hl_registry_dispose(&reg);
  hl_metrics_dispose(&metrics);
  if (sealed) hl_sealer_dispose(&sealer);
  return 0;
}
