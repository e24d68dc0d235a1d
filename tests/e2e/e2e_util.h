/* e2e_util.h — starting hookloop and the mock partner for end-to-end tests. */
#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/hl_buf.h"
#include "json/hl_json.h"

typedef struct {
  pid_t pid;
  int port;
  char base[64];     /* http://127.0.0.1:PORT */
  char *dir;         /* data dir */
  char log[512];
} e2e_hookloop;

typedef struct {
  pid_t pid;
  int port;
  char base[64];
  char log[512];
} e2e_partner;

/* Starts `hookloop serve` with the given extra env ("K=V", NULL-terminated)
 * on port 0 (h->port and h->base are what it bound; a restart gets a new
 * port); reuses h->dir when set (restart), else makes a new one. Waits until
 * /healthz answers 200. */
void e2e_start_hookloop(e2e_hookloop *h, const char *const *env);
/* `hookloop serve` that is expected to stop by itself (refused settings):
 * started in dir with HOOKLOOP_LISTEN=127.0.0.1:0 and env (after the
 * store settings of this build, as e2e_start_hookloop gives them, when
 * build_store); waits up to timeout_ms and returns the wait status (-1:
 * still running, then killed). *log gets its output (malloc'd; NULL when
 * there was none). */
int e2e_serve_until_exit(const char *dir, bool build_store, const char *const *env, int timeout_ms, char **log);
/* The lines of hookloop's log whose "msg" is msg and that also contain
 * text (NULL: any). */
int e2e_log_lines(const e2e_hookloop *h, const char *msg, const char *text);
/* Sends sig and waits for exit; returns the wait status. */
int e2e_stop_hookloop(e2e_hookloop *h, int sig, int timeout_ms);
/* A fresh hookloop (e2e_start_hookloop) with a mock partner
 * (e2e_start_partner) started first; e2e_stop_both stops both (hookloop
 * with SIGTERM, which must end it cleanly) and removes the data dir. */
void e2e_start_both(e2e_hookloop *h, e2e_partner *p, const char *const *partner_args, const char *const *env);
void e2e_stop_both(e2e_hookloop *h, e2e_partner *p);
/* Starts the mock partner on port 0 with the given extra arguments. */
void e2e_start_partner(e2e_partner *p, const char *const *args);
/* The same, listening on another local IPv4 address (p->base names it). */
void e2e_start_partner_at(e2e_partner *p, const char *ipv4, const char *const *args);
void e2e_stop_partner(e2e_partner *p);
/* Starts a (stopped) partner again on its port, with other arguments: the
 * same URLs now reach a partner that behaves differently. */
void e2e_restart_partner(e2e_partner *p, const char *const *args);

/* A member of a JSON object: its string (NULL when not one), its integer (-1 when not a number). */
const char *e2e_json_str(const hl_json *obj, const char *key);
int64_t e2e_json_int(const hl_json *obj, const char *key);
/* Asserts that an error answer's "details" name exactly these n JSON
 * pointers, in order (what: the request, for the failure message). */
void e2e_assert_details(const hl_json *root, const char *const *pointers, size_t n, const char *what);

/* POSTs/GETs JSON to hookloop; returns status; *doc gets the parsed answer
 * (dispose with hl_json_doc_dispose) when doc != NULL. */
long e2e_call(const char *method, const char *url, const char *body, hl_json_doc *doc);
/* The same with an Authorization: Bearer token (HOOKLOOP_ADMIN_TOKEN, ...). */
long e2e_call_auth(const char *method, const char *url, const char *body, const char *token, hl_json_doc *doc);
/* Registers the test schema (type Payment, requires amount number and
 * currency string) and a subscription to url with the given extra JSON
 * members (e.g. "\"max_in_flight\": 3"); returns the subscription id and
 * copies the secret into secret (may be NULL). */
char *e2e_setup(const e2e_hookloop *h, const char *partner_id, const char *url, const char *extra,
                char *secret, size_t secret_len);
/* Appends every byte of the data directory's SQLite files (hookloop.db, its
 * -wal and -shm) to out, to search a credential for. */
void e2e_sqlite_bytes(const char *dir, hl_buf *out);
/* A figure of GET /metrics (a counter or gauge without labels, or a series
 * named with its labels), or -1; e2e_metric_f for one with a fraction
 * (seconds); e2e_metric_in reads it from a /metrics text already fetched,
 * for figures that must come from one scrape. */
long long e2e_metric(const e2e_hookloop *h, const char *name);
double e2e_metric_f(const e2e_hookloop *h, const char *name);
double e2e_metric_in(const char *text, const char *name);
/* One Payment event (the schema of e2e_setup) with this id and amount, as
 * JSON in out; returns its length as snprintf does. */
int e2e_event_json(char *out, size_t cap, const char *id, const char *amount);
/* Posts one Payment event with the given id; returns the HTTP status. */
long e2e_post_event(const e2e_hookloop *h, const char *id, const char *amount);
/* Posts Payment events <prefix><first>..<prefix><first+n-1> as one bulk
 * request (one commit); every one must be accepted. */
void e2e_post_bulk(const e2e_hookloop *h, const char *prefix, int first, int n);
/* Polls GET /requests?name=NAME of the partner until count >= n or timeout;
 * returns the last parsed list (caller disposes). */
int e2e_wait_requests(const e2e_partner *p, const char *name, size_t n, int timeout_ms, hl_json_doc *doc);
/* How many requests the partner has received at /hook/name so far. */
int e2e_requests_so_far(const e2e_partner *p, const char *name);
/* A number from the partner's GET /stats (e.g. "requests", "unique_ids",
 * "held", "signature_failures"), or -1. */
int64_t e2e_partner_stat(const e2e_partner *p, const char *field);
/* Answers the requests the partner holds for /hook/name (URLs with hold=1),
 * again and again, until it has received n requests there and holds none,
 * or timeout_ms passes. Returns the requests received there. */
int e2e_release_until(const e2e_partner *p, const char *name, size_t n, int timeout_ms);
/* The delivery status of event id to its (only) subscription, or "" */
void e2e_status(const e2e_hookloop *h, const char *id, char *out, size_t outlen, long *attempts);
/* The last_error ("" when none) and attempts of event id's delivery to its
 * (only) subscription, from GET /admin/deliveries?event_id=. */
void e2e_delivery_error(const e2e_hookloop *h, const char *id, char *err, size_t cap, int64_t *attempts);
/* Waits until the status is `want`. */
bool e2e_wait_status(const e2e_hookloop *h, const char *id, const char *want, int timeout_ms);
/* The status ("" when none) and attempts (-1) of event id's delivery to sub. */
void e2e_delivery_to(const e2e_hookloop *h, const char *id, const char *sub, char *status, size_t cap,
                     int64_t *attempts);
/* GET /admin/deliveries/{id}/{sub}/attempts: the HTTP status; doc (when
 * not NULL) gets the answer, to dispose. */
long e2e_attempts(const e2e_hookloop *h, const char *id, const char *sub, hl_json_doc *doc);
/* Waits (up to 60 s) until id's delivery to sub is SUCCESS after `attempts`
 * attempts; a failed assertion otherwise. */
void e2e_wait_delivered(const e2e_hookloop *h, const char *id, const char *sub, int64_t attempts);
/* POST /admin/events/{event_id}/replay with body (NULL: none) -> status; doc
 * keeps the answer when not NULL. */
long e2e_replay(const e2e_hookloop *h, const char *event_id, const char *body, hl_json_doc *doc);
/* The entry of sub in a replay answer (a failed assertion when missing). */
const hl_json *e2e_replay_result(const hl_json *root, const char *sub);

/* The AWS test peer (tools/aws_peer) answering Secrets Manager's
 * GetSecretValue with secret_value (NULL: "not found") on a free loopback
 * port; fills endpoint_env with HOOKLOOP_SECRETSMANAGER_ENDPOINT=... (keep
 * it alive while the process using it runs). Returns its pid. */
pid_t e2e_start_secrets_peer(const char *secret_value, char *endpoint_env, size_t len, int *port);

/* Polls /healthz (an answer is reused for 2 s) until it answers want; doc
 * gets that answer. Fails the test with the last answer otherwise. */
void e2e_health_until(const e2e_hookloop *h, long want, hl_json_doc *doc, int timeout_ms);
/* A 503 of /healthz names exactly this part as failing, with a message that
 * starts with the part and contains why. */
void e2e_health_assert_failing(const hl_json *root, const char *part, const char *why);
/* /healthz lists this part as checked and passing. */
void e2e_health_assert_passing(const hl_json *root, const char *part);

#ifdef HL_TEST_PG
#include "hl_pgsrv.h"
/* The suite's PostgreSQL (started, with the schema made by `hookloop tables
 * create`, on first use), and "DATABASE_URL=..." for it. */
hl_pgsrv *e2e_pg_server(void);
const char *e2e_pg_url_env(void);
#endif

#ifdef HL_TEST_DDB
/* The suite's dynalite (DynamoDB): killed, and started again on the same
 * port, empty (it keeps nothing on disk) with the tables made again. */
void e2e_ddb_kill(void);
void e2e_ddb_restart(void);
/* dynalite stops answering (SIGSTOP: calls wait for it, as behind a
 * stalled connection) until e2e_ddb_resume. */
void e2e_ddb_pause(void);
void e2e_ddb_resume(void);
/* dynalite's endpoint (started, with the tables, when not yet). */
const char *e2e_ddb_endpoint(void);
/* Every hookloop started from now on reaches DynamoDB at endpoint (e.g. a
 * fault-injecting tools/aws_peer in front of dynalite) instead. */
void e2e_ddb_route_through(const char *endpoint);
#endif

/* A fresh directory of TLS test certificates made by tests/e2e/tls_certs.sh
 * with the openssl CLI (its header lists them); malloc'd path. */
char *e2e_make_tls_certs(void);
/* The JSON member "client_certificate":{"certificate":<dir/cert.pem>,
 * "private_key":<dir/key.key>} of a subscription; malloc'd. */
char *e2e_client_cert_member(const char *dir, const char *cert, const char *key);

/* A raw loopback "partner" in a child process that answers in ways an HTTP
 * server must not, to test how hookloop takes broken answers. It serves one
 * connection at a time on 127.0.0.1 and answers POST /raw/<mode>[?bad=N]:
 * the first N attempts of each webhook-id (all when N is not given) get
 * <mode>, later ones a proper 200:
 *   status  "HTTP/1.1 abc" (a malformed status line), then close
 *   tls     the bytes of a TLS alert record (a TLS port spoken to in plain HTTP)
 *   reset   a TCP reset (RST) once the request is read
 *   empty   close without an answer
 *   hang    no answer, the connection kept open (up to 64 of them)
 *   trickle a proper 200, one byte every 100 ms
 *   headers a 200 with 2 MiB of headers (256 lines of 8 KiB)
 *   body    a 200 with a 256 MiB body (in every attempt: a big answer is
 *           still an answer)
 * Returns its pid (stop it with kill); *port gets its port. */
pid_t e2e_start_raw_partner(int *port);

#endif
