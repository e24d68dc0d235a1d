#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <strings.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HL_TEST_DDB
/* The DynamoDB variant of a suite: one dynalite per test process, its
 * tables made by `hookloop tables create` as an operator would, and every
 * hookloop started with HOOKLOOP_STORE=dynamodb on it. */
static hl_dynalite e2e_dyn;
static char ddb_endpoint_env[96];

static char *ddb_vars[] = {"HOOKLOOP_STORE=dynamodb", ddb_endpoint_env, "AWS_REGION=us-east-1",
                            "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=e2e-test-secret", NULL};

/* dynalite (on its port when it ran before), with the tables made by
 * `hookloop tables create` as an operator would. */
static void ddb_start(void) {
  HL_ASSERT_MSG(hl_dynalite_start(&e2e_dyn, 200) == 0, "dynalite did not start");
  snprintf(ddb_endpoint_env, sizeof ddb_endpoint_env, "DYNAMODB_ENDPOINT=%s", e2e_dyn.endpoint);
  char *dir = hl_tmpdir("tables");
  char log[600];
  snprintf(log, sizeof log, "%s/tables.log", dir);
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"tables", (char *)"create", NULL};
  pid_t pid = hl_spawn(argv, ddb_vars, log);
  int st = hl_wait(pid, 60000);
  char *out = hl_read_file(log, NULL);
  HL_ASSERT_MSG(st == 0 && out && strstr(out, "idempotency_ledger: created"),
                "hookloop tables create failed (%d):\n%s", st, out ? out : "");
  free(out);
  hl_rmtree(dir);
  free(dir);
}

static size_t add_ddb_env(char **envp, size_t n) {
  if (!e2e_dyn.pid) ddb_start();
  for (size_t i = 0; ddb_vars[i]; i++) envp[n++] = ddb_vars[i];
  return n;
}

void e2e_ddb_kill(void) {
  HL_ASSERT(e2e_dyn.pid > 0);
  kill(e2e_dyn.pid, SIGKILL);
  hl_wait(e2e_dyn.pid, 5000);
  e2e_dyn.pid = 0; /* the port is kept for the restart */
}

void e2e_ddb_restart(void) { ddb_start(); }

void e2e_ddb_pause(void) {
  HL_ASSERT(e2e_dyn.pid > 0);
  kill(e2e_dyn.pid, SIGSTOP);
}

void e2e_ddb_resume(void) {
  HL_ASSERT(e2e_dyn.pid > 0);
  kill(e2e_dyn.pid, SIGCONT);
}

const char *e2e_ddb_endpoint(void) {
  if (!e2e_dyn.pid) ddb_start();
  return e2e_dyn.endpoint;
}

void e2e_ddb_route_through(const char *endpoint) {
  if (!e2e_dyn.pid) ddb_start();
  snprintf(ddb_endpoint_env, sizeof ddb_endpoint_env, "DYNAMODB_ENDPOINT=%s", endpoint);
}
#endif

#ifdef HL_TEST_PG
/* The PostgreSQL variant of a suite: one throwaway PostgreSQL 15 per test
 * process, its schema made by `hookloop tables create` as an operator
 * would, and every hookloop started with HOOKLOOP_STORE=postgres on it. A
 * claim's lease is short so that a killed process's rows come back within
 * the tests' waits. */
static hl_pgsrv e2e_pg;
static char pg_url_env[200];
static char *pg_vars[] = {"HOOKLOOP_STORE=postgres", pg_url_env, "HOOKLOOP_PG_LEASE_MS=3000",
                          "HOOKLOOP_PG_WAIT_MS=2000", NULL};

hl_pgsrv *e2e_pg_server(void) {
  if (!e2e_pg.pid) {
    HL_ASSERT_MSG(hl_pgsrv_start(&e2e_pg, NULL) == 0, "postgres did not start");
    snprintf(pg_url_env, sizeof pg_url_env, "DATABASE_URL=%s", hl_pgsrv_url(&e2e_pg, "?sslmode=disable"));
    char *dir = hl_tmpdir("tables");
    char log[600];
    snprintf(log, sizeof log, "%s/tables.log", dir);
    char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"tables", (char *)"create", NULL};
    int st = -1;
    char *out = NULL;
    /* The harness waits on the Unix socket; hookloop comes over TCP. */
    for (int i = 0; i < 20 && st != 0; i++) {
      if (i) hl_sleep_ms(250);
      st = hl_wait(hl_spawn(argv, pg_vars, log), 60000);
      free(out);
      out = hl_read_file(log, NULL);
    }
    HL_ASSERT_MSG(st == 0 && out && strstr(out, "schema at version"), "hookloop tables create failed (%d):\n%s", st,
                  out ? out : "");
    free(out);
    hl_rmtree(dir);
    free(dir);
  }
  return &e2e_pg;
}

const char *e2e_pg_url_env(void) {
  e2e_pg_server();
  return pg_url_env;
}

static size_t add_pg_env(char **envp, size_t n) {
  e2e_pg_server();
  for (size_t i = 0; pg_vars[i]; i++) envp[n++] = pg_vars[i];
  return n;
}
#endif

int e2e_serve_until_exit(const char *dir, bool build_store, const char *const *env, int timeout_ms, char **log) {
  char logpath[700], data[700];
  snprintf(logpath, sizeof logpath, "%s/refused.log", dir);
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  char *envp[24];
  size_t n = 0;
  envp[n++] = (char *)"HOOKLOOP_LISTEN=127.0.0.1:0";
  envp[n++] = data;
#ifdef HL_TEST_DDB
  if (build_store) n = add_ddb_env(envp, n);
#endif
#ifdef HL_TEST_PG
  if (build_store) n = add_pg_env(envp, n);
#endif
  (void)build_store;
  for (size_t i = 0; env && env[i] && n < 23; i++) envp[n++] = (char *)env[i];
  envp[n] = NULL;
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"serve", NULL};
  int st = hl_wait(hl_spawn(argv, envp, logpath), timeout_ms);
  *log = hl_read_file(logpath, NULL);
  unlink(logpath);
  return st;
}

void e2e_start_hookloop(e2e_hookloop *h, const char *const *env) {
  if (!h->dir) h->dir = hl_tmpdir("e2e");
  HL_ASSERT(h->dir != NULL);
  snprintf(h->log, sizeof h->log, "%s/hookloop.log", h->dir);
  static char data[600];
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", h->dir);
  char *envp[32];
  size_t n = 0;
  /* Port 0: hookloop binds a free port and prints it (no port guessed
   * here that another test could take first). A restart gets a new one. */
  envp[n++] = (char *)"HOOKLOOP_LISTEN=127.0.0.1:0";
  envp[n++] = data;
  envp[n++] = (char *)"HOOKLOOP_ALLOW_PRIVATE_TARGETS=1";
  envp[n++] = (char *)"HOOKLOOP_RETRY_SCHEDULE=100ms,200ms,300ms";
  envp[n++] = (char *)"LOG_LEVEL=info";
#ifdef HL_TEST_DDB
  n = add_ddb_env(envp, n);
#endif
#ifdef HL_TEST_PG
  n = add_pg_env(envp, n);
#endif
  for (size_t i = 0; env && env[i] && n < 31; i++) envp[n++] = (char *)env[i];
  envp[n] = NULL;
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"serve", NULL};
  h->port = hl_spawn_listening(argv, envp, h->log, &h->pid, 30000);
  if (h->port < 0) {
    char *log = hl_read_file(h->log, NULL);
    hl_test_fail(__FILE__, __LINE__, "hookloop did not start listening; log:\n%s", log ? log : "");
  }
  snprintf(h->base, sizeof h->base, "http://127.0.0.1:%d", h->port);
  char url[128];
  snprintf(url, sizeof url, "%s/healthz", h->base);
  for (int i = 0; i < 500; i++) {
    char *body = NULL;
    if (hl_http("GET", url, NULL, 0, NULL, &body) == 200) {
#ifdef HL_TEST_DDB
      HL_ASSERT_MSG(body && strstr(body, "\"store\":\"dynamodb\""), "not on the DynamoDB store: %s", body);
#endif
#ifdef HL_TEST_PG
      HL_ASSERT_MSG(body && strstr(body, "\"store\":\"postgres\""), "not on the PostgreSQL store: %s", body);
#endif
      free(body);
      return;
    }
    free(body);
    hl_sleep_ms(20);
  }
  char *log = hl_read_file(h->log, NULL);
  hl_test_fail(__FILE__, __LINE__, "hookloop did not become healthy; log:\n%s", log ? log : "");
}

int e2e_log_lines(const e2e_hookloop *h, const char *msg, const char *text) {
  char *log = hl_read_file(h->log, NULL);
  HL_ASSERT(log != NULL);
  char m[128];
  snprintf(m, sizeof m, "\"msg\":\"%s\"", msg);
  int n = 0;
  for (char *line = log, *end; *line; line = end + 1) {
    end = strchr(line, '\n');
    if (!end) break;
    *end = '\0';
    if (strstr(line, m) && (!text || strstr(line, text))) n++;
  }
  free(log);
  return n;
}

int e2e_stop_hookloop(e2e_hookloop *h, int sig, int timeout_ms) {
  kill(h->pid, sig);
  int st = hl_wait(h->pid, timeout_ms);
  h->pid = 0;
  return st;
}

void e2e_start_both(e2e_hookloop *h, e2e_partner *p, const char *const *partner_args, const char *const *env) {
  memset(h, 0, sizeof *h);
  e2e_start_partner(p, partner_args);
  e2e_start_hookloop(h, env);
}

void e2e_stop_both(e2e_hookloop *h, e2e_partner *p) {
  if (h->pid > 0) {
    int st = e2e_stop_hookloop(h, SIGTERM, 30000);
    HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop did not exit cleanly (%d)", st);
  }
  e2e_stop_partner(p);
  hl_rmtree(h->dir);
  free(h->dir);
  h->dir = NULL;
}

/* The mock partner listening on `listen`, its port read back from it. */
static void partner_spawn(e2e_partner *p, const char *listen, const char *const *args) {
  hl_log_path("partner", p->log, sizeof p->log);
  char *argv[32];
  size_t n = 0;
  argv[n++] = (char *)hl_bin_path("tools/mock_partner/hl_mock_partner");
  argv[n++] = (char *)"--listen";
  argv[n++] = (char *)listen;
  for (size_t i = 0; args && args[i] && n < 31; i++) argv[n++] = (char *)args[i];
  argv[n] = NULL;
  p->port = hl_spawn_listening(argv, NULL, p->log, &p->pid, 5000);
  HL_ASSERT_MSG(p->port > 0, "mock partner did not start");
  /* The address it listens on is the one to reach it by (an IPv4 address
   * here: listen is "<address>:<port>"). */
  const char *colon = strrchr(listen, ':');
  snprintf(p->base, sizeof p->base, "http://%.*s:%d", (int)(colon - listen), listen, p->port);
}

void e2e_start_partner(e2e_partner *p, const char *const *args) { partner_spawn(p, "127.0.0.1:0", args); }

void e2e_start_partner_at(e2e_partner *p, const char *ipv4, const char *const *args) {
  char listen[64];
  snprintf(listen, sizeof listen, "%s:0", ipv4);
  partner_spawn(p, listen, args);
}

void e2e_restart_partner(e2e_partner *p, const char *const *args) {
  /* The port it had: the URLs registered with hookloop point there. */
  char listen[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", p->port);
  int was = p->port;
  partner_spawn(p, listen, args);
  HL_ASSERT_EQ_INT(p->port, was);
}

void e2e_stop_partner(e2e_partner *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGTERM);
    hl_wait(p->pid, 5000);
  }
  unlink(p->log);
  p->pid = 0;
}

long e2e_call(const char *method, const char *url, const char *body, hl_json_doc *doc) {
  return e2e_call_auth(method, url, body, NULL, doc);
}

long e2e_call_auth(const char *method, const char *url, const char *body, const char *token, hl_json_doc *doc) {
  char auth[256];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
  const char *hdrs[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
  char *resp = NULL;
  long code = hl_http(method, url, body, body ? strlen(body) : 0, hdrs, &resp);
  if (doc) {
    hl_json_doc_init(doc);
    if (hl_json_parse(doc, resp, strlen(resp), NULL) != 0) {
      hl_json_doc_dispose(doc);
      hl_json_doc_init(doc);
      hl_json_parse(doc, "null", 4, NULL);
    }
  }
  free(resp);
  return code;
}

char *e2e_setup(const e2e_hookloop *h, const char *partner_id, const char *url, const char *extra,
                char *secret, size_t secret_len) {
  char u[256], body[16384];
  snprintf(u, sizeof u, "%s/admin/schemas", h->base);
  const char *schema =
      "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":1,\"status\":\"ACTIVE\","
      "\"schema\":{\"type\":\"object\",\"required\":[\"eventHeader\",\"amount\",\"currency\"],"
      "\"properties\":{\"amount\":{\"type\":\"number\",\"minimum\":0},\"currency\":{\"type\":\"string\"}}}}";
  long code = e2e_call("POST", u, schema, NULL);
  HL_ASSERT_MSG(code == 201, "schema registration answered %ld", code);
  snprintf(u, sizeof u, "%s/admin/subscriptions", h->base);
  snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",\"url\":\"%s\"%s%s}",
           partner_id, url, extra && *extra ? "," : "", extra ? extra : "");
  hl_json_doc doc;
  code = e2e_call("POST", u, body, &doc);
  HL_ASSERT_MSG(code == 201 || code == 200, "subscription registration answered %ld", code);
  const char *id = hl_json_str(hl_json_get(doc.root, "subscription_id"));
  HL_ASSERT(id != NULL);
  char *out = strdup(id);
  const char *sec = hl_json_str(hl_json_get(doc.root, "secret"));
  if (secret) snprintf(secret, secret_len, "%s", sec ? sec : "");
  hl_json_doc_dispose(&doc);
  return out;
}

void e2e_sqlite_bytes(const char *dir, hl_buf *out) {
  DIR *d = opendir(dir);
  HL_ASSERT(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "hookloop.db", 11) != 0) continue;
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    size_t len = 0;
    char *bytes = hl_read_file(path, &len);
    if (bytes) hl_buf_append(out, bytes, len);
    free(bytes);
  }
  closedir(d);
}

double e2e_metric_in(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
    if ((p == text || p[-1] == '\n') && p[n] == ' ') return strtod(p + n + 1, NULL);
  return -1;
}

double e2e_metric_f(const e2e_hookloop *h, const char *name) {
  char u[256];
  snprintf(u, sizeof u, "%s/metrics", h->base);
  char *m = NULL;
  double v = -1;
  if (hl_http("GET", u, NULL, 0, NULL, &m) == 200 && m) v = e2e_metric_in(m, name);
  free(m);
  return v;
}

long long e2e_metric(const e2e_hookloop *h, const char *name) { return (long long)e2e_metric_f(h, name); }

int e2e_event_json(char *out, size_t cap, const char *id, const char *amount) {
  return snprintf(out, cap,
                  "{\"eventHeader\":{\"uuid\":\"%s\",\"eventName\":\"payment.processed\",\"eventType\":\"Payment\","
                  "\"createdDate\":\"2026-11-24T06:00:00Z\",\"savedDate\":\"2026-11-24T06:00:01Z\"},"
                  "\"amount\":%s,\"currency\":\"EUR\"}",
                  id, amount);
}

void e2e_post_bulk(const e2e_hookloop *h, const char *prefix, int first, int n) {
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events/bulk", h->base);
  hl_buf b = HL_BUF_INIT;
  hl_buf_putc(&b, '[');
  for (int i = 0; i < n; i++)
    hl_buf_printf(&b, "%s{\"eventHeader\":{\"uuid\":\"%s%d\",\"eventType\":\"Payment\"},\"amount\":1,"
                      "\"currency\":\"EUR\"}", i ? "," : "", prefix, first + i);
  hl_buf_puts(&b, "]");
  hl_buf_putc(&b, '\0');
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", u, b.data, &doc), 200);
  hl_buf_dispose(&b);
  const hl_json *res = hl_json_get(doc.root, "results");
  HL_ASSERT(res && res->len == (size_t)n);
  for (uint32_t i = 0; i < (uint32_t)n; i++) HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&res->u.items[i], "status")), "accepted");
  hl_json_doc_dispose(&doc);
}

long e2e_post_event(const e2e_hookloop *h, const char *id, const char *amount) {
  char u[256], body[1024];
  snprintf(u, sizeof u, "%s/api/v1/events", h->base);
  e2e_event_json(body, sizeof body, id, amount);
  return e2e_call("POST", u, body, NULL);
}

int e2e_wait_requests(const e2e_partner *p, const char *name, size_t n, int timeout_ms, hl_json_doc *doc) {
  char u[256];
  snprintf(u, sizeof u, "%s/requests?name=%s", p->base, name);
  for (int waited = 0;; waited += 50) {
    e2e_call("GET", u, NULL, doc);
    size_t have = doc->root && doc->root->type == HL_JSON_ARRAY ? doc->root->len : 0;
    if (have >= n || waited >= timeout_ms) return (int)have;
    hl_json_doc_dispose(doc);
    hl_sleep_ms(50);
  }
}

int e2e_requests_so_far(const e2e_partner *p, const char *name) {
  hl_json_doc doc;
  int n = e2e_wait_requests(p, name, 0, 0, &doc);
  hl_json_doc_dispose(&doc);
  return n;
}

int64_t e2e_partner_stat(const e2e_partner *p, const char *field) {
  char u[256];
  snprintf(u, sizeof u, "%s/stats", p->base);
  hl_json_doc doc;
  e2e_call("GET", u, NULL, &doc);
  int64_t v = -1;
  hl_json_int64(hl_json_get(doc.root, field), &v);
  hl_json_doc_dispose(&doc);
  return v;
}

int e2e_release_until(const e2e_partner *p, const char *name, size_t n, int timeout_ms) {
  char u[256];
  snprintf(u, sizeof u, "%s/release?name=%s", p->base, name);
  hl_json_doc doc;
  for (int waited = 0;; waited += 50) {
    HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 200);
    int have = e2e_wait_requests(p, name, 0, 0, &doc);
    hl_json_doc_dispose(&doc);
    if (((size_t)have >= n && e2e_partner_stat(p, "held") == 0) || waited >= timeout_ms) return have;
    hl_sleep_ms(50);
  }
}

void e2e_status(const e2e_hookloop *h, const char *id, char *out, size_t outlen, long *attempts) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", h->base, id);
  hl_json_doc doc;
  out[0] = '\0';
  if (e2e_call("GET", u, NULL, &doc) == 200) {
    const hl_json *d = hl_json_get(doc.root, "deliveries");
    if (d && d->type == HL_JSON_ARRAY && d->len > 0) {
      const char *st = hl_json_str(hl_json_get(&d->u.items[0], "status"));
      snprintf(out, outlen, "%s", st ? st : "");
      int64_t a = 0;
      hl_json_int64(hl_json_get(&d->u.items[0], "attempts"), &a);
      if (attempts) *attempts = (long)a;
    }
  }
  hl_json_doc_dispose(&doc);
}

void e2e_delivery_error(const e2e_hookloop *h, const char *id, char *err, size_t cap, int64_t *attempts) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", h->base, id);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = &hl_json_get(doc.root, "deliveries")->u.items[0];
  const char *e = hl_json_str(hl_json_get(d, "last_error"));
  snprintf(err, cap, "%s", e ? e : "");
  *attempts = -1;
  hl_json_int64(hl_json_get(d, "attempts"), attempts);
  hl_json_doc_dispose(&doc);
}

bool e2e_wait_status(const e2e_hookloop *h, const char *id, const char *want, int timeout_ms) {
  char st[32];
  long attempts = -1;
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    e2e_status(h, id, st, sizeof st, &attempts);
    if (strcmp(st, want) == 0) return true;
    hl_sleep_ms(50);
  }
  /* What was seen instead, and hookloop's lines about the event: a wait
   * that runs out on a loaded machine then says where the event stood. */
  fprintf(stderr, "  %s: status \"%s\" after %d attempts, not \"%s\"; its log lines:\n", id, st, (int)attempts, want);
  char *log = hl_read_file(h->log, NULL);
  int shown = 0;
  for (char *line = log, *end; line && *line && shown < 40; line = end + 1) {
    end = strchr(line, '\n');
    if (!end) end = line + strlen(line) - 1;
    if (memmem(line, (size_t)(end - line), id, strlen(id)) ||
        memmem(line, (size_t)(end - line), "\"level\":\"error\"", 16) ||
        memmem(line, (size_t)(end - line), "\"level\":\"warn\"", 15)) {
      fprintf(stderr, "    %.*s\n", (int)(end - line), line);
      shown++;
    }
  }
  free(log);
  return false;
}

long e2e_attempts(const e2e_hookloop *h, const char *id, const char *sub, hl_json_doc *doc) {
  char u[512];
  snprintf(u, sizeof u, "%s/admin/deliveries/%s/%s/attempts", h->base, id, sub);
  return e2e_call("GET", u, NULL, doc);
}

void e2e_delivery_to(const e2e_hookloop *h, const char *id, const char *sub, char *status, size_t cap,
                     int64_t *attempts) {
  char u[512];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", h->base, id);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  snprintf(status, cap, "%s", "");
  *attempts = -1;
  for (uint32_t i = 0; d && d->type == HL_JSON_ARRAY && i < d->len; i++)
    if (strcmp(e2e_json_str(&d->u.items[i], "subscription_id"), sub) == 0) {
      snprintf(status, cap, "%s", e2e_json_str(&d->u.items[i], "status"));
      *attempts = e2e_json_int(&d->u.items[i], "attempts");
    }
  hl_json_doc_dispose(&doc);
}

void e2e_wait_delivered(const e2e_hookloop *h, const char *id, const char *sub, int64_t attempts) {
  char st[32] = "";
  int64_t n = -1;
  for (int i = 0; i < 3000; i++) { /* up to 60 s on a busy machine */
    e2e_delivery_to(h, id, sub, st, sizeof st, &n);
    if (strcmp(st, "SUCCESS") == 0 && n == attempts) return;
    hl_sleep_ms(20);
  }
  HL_ASSERT_MSG(false, "%s to %s: %s after %lld attempts, not SUCCESS after %lld", id, sub, st, (long long)n,
                (long long)attempts);
}

long e2e_replay(const e2e_hookloop *h, const char *event_id, const char *body, hl_json_doc *doc) {
  char u[512];
  snprintf(u, sizeof u, "%s/admin/events/%s/replay", h->base, event_id);
  return e2e_call("POST", u, body, doc);
}

const hl_json *e2e_replay_result(const hl_json *root, const char *sub) {
  const hl_json *s = hl_json_get(root, "subscriptions");
  for (uint32_t i = 0; s && s->type == HL_JSON_ARRAY && i < s->len; i++)
    if (strcmp(e2e_json_str(&s->u.items[i], "subscription_id"), sub) == 0) return &s->u.items[i];
  HL_ASSERT_MSG(false, "%s is not in the replay answer", sub);
  return NULL;
}

pid_t e2e_start_secrets_peer(const char *secret_value, char *endpoint_env, size_t len, int *port) {
  /* Port 0 the first time; a restart asks for the port it had. */
  int p = port ? *port : 0;
  const char *args[] = {"--upstream", "http://127.0.0.1:1/", secret_value ? "--secret-value" : NULL, secret_value, NULL};
  pid_t pid = hl_aws_peer_start(&p, args);
  snprintf(endpoint_env, len, "HOOKLOOP_SECRETSMANAGER_ENDPOINT=http://127.0.0.1:%d", p);
  if (port) *port = p;
  return pid;
}

/* --- the raw partner ---------------------------------------------------------- */

/* Reads one request (headers and a Content-Length body) into buf; returns
 * the header length (up to the blank line) or -1. */
static int raw_read_request(int fd, char *buf, size_t cap, size_t *total) {
  size_t n = 0;
  char *end = NULL;
  while (!end) {
    if (n + 1 >= cap) return -1;
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r <= 0) return -1;
    n += (size_t)r;
    buf[n] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  size_t hlen = (size_t)(end - buf) + 4;
  size_t clen = 0;
  for (char *p = buf; p && p < end; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL)
    if (strncasecmp(p, "content-length:", 15) == 0) clen = (size_t)atol(p + 15);
  while (n < hlen + clen) {
    if (n + 1 >= cap) return -1;
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r <= 0) return -1;
    n += (size_t)r;
  }
  buf[n] = '\0';
  *total = n;
  return (int)hlen;
}

static void raw_header(const char *buf, int hlen, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  out[0] = '\0';
  for (const char *p = strstr(buf, "\r\n"); p && p < buf + hlen; p = strstr(p + 2, "\r\n")) {
    const char *h = p + 2;
    if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
      h += nl + 1;
      while (*h == ' ') h++;
      size_t l = strcspn(h, "\r\n");
      snprintf(out, outlen, "%.*s", (int)l, h);
      return;
    }
  }
}

/* Writes n bytes of c (in pieces), stopping at the first failed write (the
 * client went away); returns whether all went. */
static bool raw_write_fill(int fd, char c, size_t n) {
  static char chunk[65536];
  memset(chunk, c, sizeof chunk);
  while (n > 0) {
    size_t k = n < sizeof chunk ? n : sizeof chunk;
    if (write(fd, chunk, k) != (ssize_t)k) return false;
    n -= k;
  }
  return true;
}

static void raw_serve(int lfd) {
  static char buf[1 << 20];
  struct { char key[300]; int n; } seen[512];
  size_t nseen = 0;
  int hung[64]; /* "hang": connections kept open, never answered */
  size_t nhung = 0;
  for (;;) {
    int c = accept(lfd, NULL, NULL);
    if (c < 0) continue;
    size_t total = 0;
    int hlen = raw_read_request(c, buf, sizeof buf, &total);
    if (hlen < 0) { close(c); continue; }
    char mode[32] = "", target[128] = "", id[128], key[300];
    int bad = 1 << 30;
    sscanf(buf, "POST %127s", target);
    sscanf(target, "/raw/%31[a-z]", mode);
    const char *q = strstr(target, "?bad=");
    if (q) bad = atoi(q + 5);
    raw_header(buf, hlen, "webhook-id", id, sizeof id);
    /* Attempts are counted per target and webhook-id: one event fans out
     * to several subscriptions. */
    snprintf(key, sizeof key, "%s %s", target, id);
    int k = 0;
    for (size_t i = 0; i < nseen; i++)
      if (strcmp(seen[i].key, key) == 0) k = ++seen[i].n;
    if (k == 0 && nseen < 512) {
      snprintf(seen[nseen].key, sizeof seen[nseen].key, "%s", key);
      k = seen[nseen++].n = 1;
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    static const char abc[] = "HTTP/1.1 abc\r\n\r\n";
    static const unsigned char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32}; /* fatal decode_error */
    ssize_t w = 0;
    if (k > bad) w = write(c, ok, sizeof ok - 1);
    else if (strcmp(mode, "status") == 0) w = write(c, abc, sizeof abc - 1);
    else if (strcmp(mode, "tls") == 0) w = write(c, alert, sizeof alert);
    else if (strcmp(mode, "reset") == 0) {
      struct linger lg = {1, 0}; /* close sends RST */
      setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else if (strcmp(mode, "hang") == 0 && nhung < HL_ARRAY_SIZE(hung)) {
      hung[nhung++] = c;
      continue;
    } else if (strcmp(mode, "trickle") == 0) {
      for (size_t i = 0; i < sizeof ok - 1 && write(c, ok + i, 1) == 1; i++) hl_sleep_ms(100);
    } else if (strcmp(mode, "headers") == 0) {
      static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
      bool more = write(c, head, sizeof head - 1) == (ssize_t)(sizeof head - 1);
      for (int i = 0; more && i < 256; i++)
        more = write(c, "X-Pad: ", 7) == 7 && raw_write_fill(c, 'h', 8192) && write(c, "\r\n", 2) == 2;
      if (more) w = write(c, "\r\n{}", 4);
    } else if (strcmp(mode, "body") == 0) {
      static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 268435456\r\nConnection: close\r\n\r\n";
      if (write(c, head, sizeof head - 1) == (ssize_t)(sizeof head - 1)) raw_write_fill(c, 'b', (size_t)256 << 20);
    }
    (void)w;
    close(c);
  }
}

pid_t e2e_start_raw_partner(int *port) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  HL_ASSERT(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 64) == 0 &&
            getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
  *port = ntohs(a.sin_port);
  pid_t parent = getpid();
  pid_t pid = fork();
  HL_ASSERT(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    signal(SIGPIPE, SIG_IGN);
    raw_serve(lfd);
    _exit(0);
  }
  close(lfd);
  return pid;
}

/* --- health ------------------------------------------------------------------ */

void e2e_health_until(const e2e_hookloop *h, long want, hl_json_doc *doc, int timeout_ms) {
  char u[256];
  snprintf(u, sizeof u, "%s/healthz", h->base);
  long code = 0;
  for (int waited = 0; waited <= timeout_ms; waited += 100) {
    code = e2e_call("GET", u, NULL, doc);
    if (code == want) return;
    hl_json_doc_dispose(doc);
    hl_sleep_ms(100);
  }
  char *body = NULL;
  hl_http("GET", u, NULL, 0, NULL, &body);
  hl_test_fail(__FILE__, __LINE__, "/healthz answered %ld, not %ld, for %d ms: %s", code, want, timeout_ms,
               body ? body : "");
}

void e2e_health_assert_failing(const hl_json *root, const char *part, const char *why) {
  const hl_json *f = hl_json_get(root, "failing");
  HL_ASSERT_MSG(f && f->type == HL_JSON_ARRAY && f->len == 1 && strcmp(hl_json_str(&f->u.items[0]), part) == 0,
                "failing should be [\"%s\"]", part);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(root, "status")), "unavailable");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(root, "error")), "unavailable");
  const char *msg = hl_json_str(hl_json_get(root, "message"));
  printf("/healthz 503: %s\n", msg ? msg : "(no message)");
  HL_ASSERT_MSG(msg && strncmp(msg, part, strlen(part)) == 0 && strstr(msg, why), "message: %s", msg ? msg : "");
  const hl_json *ok = hl_json_get(hl_json_get(hl_json_get(root, "checks"), part), "ok");
  HL_ASSERT_MSG(ok && ok->type == HL_JSON_FALSE, "checks/%s/ok should be false", part);
}

void e2e_health_assert_passing(const hl_json *root, const char *part) {
  const hl_json *ok = hl_json_get(hl_json_get(hl_json_get(root, "checks"), part), "ok");
  HL_ASSERT_MSG(ok && ok->type == HL_JSON_TRUE, "no passing %s check in /healthz", part);
}

char *e2e_make_tls_certs(void) {
  char *dir = hl_tmpdir("tls");
  char script[600], log[700];
  snprintf(script, sizeof script, "%s/tests/e2e/tls_certs.sh", HL_SOURCE_DIR);
  snprintf(log, sizeof log, "%s/certs.log", dir);
  char *argv[] = {(char *)"/bin/sh", script, dir, NULL};
  int st = hl_wait(hl_spawn(argv, NULL, log), 60000);
  char *out = hl_read_file(log, NULL);
  HL_ASSERT_MSG(st == 0, "tls_certs.sh failed (%d):\n%s", st, out ? out : "");
  free(out);
  return dir;
}

/* A file's text as a JSON string, quotes included. */
static void json_string_of_file(hl_buf *b, const char *path) {
  char *text = hl_read_file(path, NULL);
  HL_ASSERT_MSG(text, "cannot read %s", path);
  hl_buf_putc(b, '"');
  for (const char *p = text; *p; p++) {
    if (*p == '\n') hl_buf_puts(b, "\\n");
    else if (*p == '"' || *p == '\\') hl_buf_printf(b, "\\%c", *p);
    else hl_buf_putc(b, *p);
  }
  hl_buf_putc(b, '"');
  free(text);
}

char *e2e_client_cert_member(const char *dir, const char *cert, const char *key) {
  char path[700];
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "\"client_certificate\":{\"certificate\":");
  snprintf(path, sizeof path, "%s/%s.pem", dir, cert);
  json_string_of_file(&b, path);
  hl_buf_puts(&b, ",\"private_key\":");
  snprintf(path, sizeof path, "%s/%s.key", dir, key);
  json_string_of_file(&b, path);
  hl_buf_putc(&b, '}');
  char *out = strdup(b.data);
  hl_buf_dispose(&b);
  return out;
}

const char *e2e_json_str(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

int64_t e2e_json_int(const hl_json *obj, const char *key) {
  const hl_json *x = hl_json_get(obj, key);
  return x && x->type == HL_JSON_NUMBER ? atoll(x->u.str) : -1;
}

void e2e_assert_details(const hl_json *root, const char *const *pointers, size_t n, const char *what) {
  const hl_json *det = hl_json_get(root, "details");
  HL_ASSERT_MSG(det && det->type == HL_JSON_ARRAY && det->len == n, "%s: %u details, not %zu", what,
                det ? det->len : 0, n);
  for (size_t i = 0; i < n; i++) HL_ASSERT_EQ_STR(e2e_json_str(&det->u.items[i], "path"), pointers[i]);
}
