/* hl_api.h — the HTTP API of docs/interface.md §3: one route table for the HTTP
 * server (serve) and API Gateway (lambda).
 *
 * Handlers are asynchronous: a request that writes to the store answers
 * from the store's callback, i.e. only once the write is durable (an event
 * gets 202 only after the embedded store committed it). Every error answer
 * is {"error": code, "message": text, "details": [...]}.
 */
#ifndef HL_API_H
#define HL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "handlers/hl_dispatch.h"
#include "handlers/hl_recover.h"
#include "api/hl_health.h"
#include "obs/hl_metrics.h"
#include "crypto/hl_seal.h"
#include "model/hl_registry.h"
#include "loop/hl_http_server.h"
#include "loop/hl_kafka.h"
#include "queue/hl_queue.h"
#include "store/hl_store.h"

typedef struct hl_api hl_api;

typedef struct {
  const char *admin_token;        /* NULL or empty: the admin routes are open */
  const char *api_token;          /* NULL or empty: the producer routes are open */
  const char *ingress_prefix;     /* wh.ingress */
  const char *egress_prefix;      /* wh.egress */
  const char *store_name;         /* for health: "sqlite" / "dynamodb" */
  const char *queue_name;         /* NULL: the queue's own name ("embedded", "kafka") */
  bool allow_private_targets;
  bool require_https;             /* HOOKLOOP_REQUIRE_HTTPS: http:// subscription URLs get 400 */
  const hl_sealer *sealer;        /* borrowed; HOOKLOOP_SECRET_KEY_FILE: credentials sealed at rest, or NULL */
  hl_seal_opener *opener;         /* borrowed; HOOKLOOP_KMS_KEY_ID: opens the data keys of loaded records, or NULL */
  bool require_partners;          /* HOOKLOOP_REQUIRE_PARTNERS: a subscription must name a registered partner */
  bool default_secret;            /* WEBHOOK_SECRET_ARN: subscriptions without a secret use it */
  bool console;                   /* serve the operator console at /console (hl_api_console.c) */
  const hl_metrics *metrics;      /* borrowed; the counters GET /admin/stats shows (NULL: none kept) */
  /* How long an Idempotency-Key stays bound (HOOKLOOP_RETENTION_DAYS);
   * 0: HL_IDEMPOTENCY_KEY_TTL_S. */
  int64_t idempotency_ttl_s;
  uv_loop_t *loop;                /* checks of large bodies run on its threadpool */
  int64_t backlog_high_water;     /* 503 + Retry-After above this many open deliveries */
  size_t max_body;                /* 1 MiB */
  size_t max_bulk_body;           /* 10 MiB */
  hl_retry_schedule *default_schedule; /* borrowed */
  /* Renders /metrics (Prometheus text). */
  void (*render_metrics)(void *data, hl_buf *out);
  /* Counts an accepted event (metrics). */
  void (*on_accepted)(void *data, size_t nsubs);
  void *hook_data;
} hl_api_options;

struct hl_api {
  hl_store *store;
  hl_registry *reg;
  hl_dispatch *dispatch;   /* NULL where this process does not dispatch */
  hl_queue *queue;         /* intake and re-queue (borrowed); NULL: events have nowhere to go (503) */
  hl_api_options opt;
  hl_health health;        /* the live checks behind /healthz */
  bool draining;           /* shutting down: intake answers 503 */
  size_t pending;          /* requests waiting for the store */
  uint64_t loaded_at_ms;   /* monotonic time of the last (re)load */
  bool frozen;             /* closing: a reload that answers late changes nothing */
  hl_recover *recover;     /* recovery jobs (hl_api_recover.c); NULL until the first */
  struct hl_api_sub_write *sub_writes; /* subscription records on their way to the store (hl_api_seal.c) */
  bool sub_open_no_reseal; /* hl_api_sub_open does not write a record sealed with an older key again */
  /* hl_api_subs_loaded, called through here by the write tracker when a
   * write met another process's change (the record read again is put in
   * the registry): loading opens records, and opening writes a record
   * sealed with an older key through that tracker, so it names neither. */
  void (*subs_loaded)(hl_api *a, hl_store_result *res, bool reload);
  /* Registrations' schemas compiled and checked against their meta-schema,
   * on the loop (a body up to HL_EVENT_INLINE_BYTES) and on the threadpool
   * (a larger one): hookloop_schema_compiles_total{where}. */
  uint64_t schema_compiles_loop, schema_compiles_threadpool;
};

void hl_api_init(hl_api *a, hl_store *store, hl_registry *reg, hl_dispatch *dispatch,
                 const hl_api_options *opt);
/* Where accepted events go (hl_queue.h): the embedded queue (202 once the
 * store committed them) or Kafka (202 once the brokers acknowledged them;
 * registrations ensure their topics). health_kafka: the cluster health
 * checks, NULL without Kafka. */
void hl_api_use_queue(hl_api *a, hl_queue *queue, hl_kafka *health_kafka);
/* Who may call a route: anyone, or a holder of HOOKLOOP_ADMIN_TOKEN /
 * HOOKLOOP_API_TOKEN when it is set. */
typedef enum { HL_API_AUTH_NONE, HL_API_AUTH_ADMIN, HL_API_AUTH_API } hl_api_auth;

/* One route: method, path pattern ("{name}" matches one segment; the
 * segments matched are handed to handle in order, percent-decoded), and
 * the query parameters it reads, space-separated (NULL: none). On the
 * routes behind a token any other query parameter, or one given twice, is refused
 * (400 at "?name") before the handler runs: a misspelt filter
 * (?partner=acme) would otherwise list everything, unfiltered. */
typedef struct {
  const char *method;
  const char *pattern;
  hl_api_auth auth;
  void (*handle)(hl_api *a, hl_http_req *req, char (*params)[256]);
  const char *query;
} hl_api_route;

/* Every route the API serves, ended by a NULL method: what hl_api_handle
 * routes by, and what docs/openapi.json must describe (a test holds them
 * to each other). */
extern const hl_api_route hl_api_routes[];

/* hl_http_server callbacks; data is the hl_api. */
void hl_api_handle(hl_http_req *req, void *data);
/* Refuses an unauthenticated request on its head (401), before its body
 * is read: a caller without the token cannot make the server buffer a
 * body (10 MiB on /bulk) or get a 100 Continue. */
void hl_api_admit(const hl_http_req *head, void *data, hl_http_refusal *r);
size_t hl_api_body_limit(const char *method, const char *path, size_t path_len, void *data);

/* The dispatcher disabled s after failures in a row (hl_dispatch_options.
 * on_sub_disabled): records it DISABLED, then announces the
 * subscription.disabled event to the subscriptions of that type. */
void hl_api_sub_disabled(hl_api *a, hl_sub *s);

/* The registrations' series of /metrics (Prometheus text; hl_api_schemas.c). */
void hl_api_schemas_render_metrics(const hl_api *a, hl_buf *out);

/* Recovery jobs (POST /admin/subscriptions/{id}/recover): stop makes no
 * more store or queue calls (at a drain; the calls in flight count in
 * pending); close frees them (at close, after the drain). */
void hl_api_stop_jobs(hl_api *a);
void hl_api_close_jobs(hl_api *a);

/* Loads schemas and subscriptions from the store into the registry; cb runs
 * with 0 or a negative hl_err. */
void hl_api_load(hl_api *a, void (*cb)(void *data, int status), void *data);
/* Reads schemas and subscriptions again from a store others write too
 * (DynamoDB): new and changed ones replace theirs, unchanged ones keep their
 * state (a subscription its in-flight deliveries), ones deleted elsewhere go. */
void hl_api_reload(hl_api *a, void (*cb)(void *data, int status), void *data);

#endif
