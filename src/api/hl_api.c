/* hl_api.c — the HTTP API's front: bearer-token authentication, health
 * and metrics, and the route table leading to the admin resources
 * (hl_api_schemas.c, hl_api_subs.c, hl_api_deliveries.c, ...), the producer API (hl_api_events.c), the statistics
 * (hl_api_stats.c), the OpenAPI document and the console (hl_api_console.c). */
#include "api/hl_api.h"
#include "api/hl_api_int.h"
#include "api/hl_api_respond.h"
#include "api/hl_api_console.h"
#include "api/hl_api_stats.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
int64_t hl_api_backlog(const hl_api *a) {
  return hl_queue_backlog(a->queue);
}

const char *hl_api_queue_name(const hl_api *a) {
  if (a->opt.queue_name) return a->opt.queue_name;
  return a->queue ? a->queue->vt->name : "embedded";
}

void hl_api_use_queue(hl_api *a, hl_queue *queue, hl_kafka *health_kafka) {
  a->queue = queue;
  if (health_kafka) hl_health_use_kafka(&a->health, health_kafka);
}

/* --- health and metrics --------------------------------------------------------------------- */

typedef struct {
  hl_api *a;
  hl_http_req *req;
} health_req;

/* 200 when every part passed its check; 503 naming the parts that did not
 * (and why), or while draining. */
static void health_answer(hl_api *a, hl_http_req *req, const hl_health *h) {
  bool ok = h && hl_health_ok(h) && !a->draining;
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key(&w, "status"); hl_jw_str(&w, a->draining ? "draining" : ok ? "ok" : "unavailable");
  if (!ok && h && !a->draining) {
    /* The error shape of every other answer, with the failing parts first. */
    hl_buf msg = HL_BUF_INIT;
    for (size_t i = 0; i < h->nparts; i++)
      if (h->parts[i].status != 0)
        hl_buf_printf(&msg, "%s%s: %s", msg.len ? "; " : "", h->parts[i].name, h->parts[i].error);
    hl_buf_putc(&msg, '\0');
    hl_buf det = HL_BUF_INIT;
    hl_jw dw;
    hl_jw_init(&dw, &det);
    hl_jw_arr_begin(&dw);
    for (size_t i = 0; i < h->nparts; i++) {
      if (h->parts[i].status == 0) continue;
      char path[64];
      snprintf(path, sizeof path, "/checks/%s", h->parts[i].name);
      hl_jw_obj_begin(&dw);
      hl_jw_key(&dw, "path"); hl_jw_str(&dw, path);
      hl_jw_key(&dw, "message"); hl_jw_str(&dw, h->parts[i].error);
      hl_jw_obj_end(&dw);
    }
    hl_jw_arr_end(&dw);
    hl_jw_error_members(&w, "unavailable", msg.data, det.data, det.len);
    hl_buf_dispose(&det);
    hl_buf_dispose(&msg);
    hl_jw_key_arr(&w, "failing");
    for (size_t i = 0; i < h->nparts; i++)
      if (h->parts[i].status != 0) hl_jw_str(&w, h->parts[i].name);
    hl_jw_arr_end(&w);
  }
  hl_jw_key(&w, "version"); hl_jw_str(&w, HOOKLOOP_VERSION);
  hl_jw_key(&w, "store"); hl_jw_str(&w, a->opt.store_name ? a->opt.store_name : a->store->vt->name);
  hl_jw_key(&w, "queue"); hl_jw_str(&w, hl_api_queue_name(a));
  if (h) {
    hl_jw_key_obj(&w, "checks");
    for (size_t i = 0; i < h->nparts; i++) {
      hl_jw_key_obj(&w, h->parts[i].name);
      hl_jw_key(&w, "ok"); hl_jw_bool(&w, h->parts[i].status == 0);
      if (h->parts[i].status != 0) { hl_jw_key(&w, "error"); hl_jw_str(&w, h->parts[i].error); }
      hl_jw_obj_end(&w);
    }
    hl_jw_obj_end(&w);
    hl_jw_key(&w, "checked_ms_ago"); hl_jw_int(&w, (int64_t)hl_health_age_ms(h));
  }
  int64_t backlog = hl_api_backlog(a);
  if (backlog >= 0) { hl_jw_key(&w, "backlog"); hl_jw_int(&w, backlog); }
  if (a->dispatch) { hl_jw_key(&w, "in_flight"); hl_jw_int(&w, a->dispatch->in_flight); }
  hl_jw_obj_end(&w);
  hl_api_respond_buf(req, ok ? 200 : 503, &b);
}

static void on_health(void *data, const hl_health *h) {
  health_req *r = data;
  r->a->pending--;
  health_answer(r->a, r->req, h);
  hl_free(r);
}

static void health(hl_api *a, hl_http_req *req) {
  if (a->draining) { /* going away: no need to ask anything */
    health_answer(a, req, NULL);
    return;
  }
  health_req *r = hl_malloc(sizeof *r);
  *r = (health_req){a, req};
  a->pending++;
  hl_health_get(&a->health, on_health, r);
}

static void metrics(hl_api *a, hl_http_req *req) {
  hl_buf b = HL_BUF_INIT;
  if (a->opt.render_metrics) a->opt.render_metrics(a->opt.hook_data, &b);
  hl_http_header h = {"content-type", 12, "text/plain; version=0.0.4", 25};
  hl_http_respond(req, 200, &h, 1, b.data ? b.data : "", b.len);
  hl_buf_dispose(&b);
}

/* --- routing ------------------------------------------------------------------------------- */

/* Whether n decoded bytes hold a control character (a NUL included). */
static bool has_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
  return false;
}

/* Splits a path into its non-empty segments, each percent-decoded; returns
 * the count, or n + 1 when there are more than n. A segment that decodes
 * to a control character or to more than 255 bytes cannot be kept as it
 * is (a C string would end at the NUL, the copy at 255 bytes: another id
 * than the one the URL spells): *unfit says so, when given. */
static size_t split_path(const char *path, char seg[][256], size_t n, bool *unfit) {
  const char *p = path;
  size_t k = 0;
  if (unfit) *unfit = false;
  while (*p) {
    if (*p == '/') { p++; continue; }
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (k == n) return n + 1;
    int dlen = 0;
    char *dec = curl_easy_unescape(NULL, p, (int)len, &dlen);
    if (unfit && (!dec || dlen > 255 || has_control(dec, (size_t)dlen))) *unfit = true;
    snprintf(seg[k++], 256, "%s", dec ? dec : "");
    curl_free(dec);
    p += len;
  }
  return k;
}

/* Ids in the path and the query (subscription, event, partner ids) are read
 * as C strings: a percent-encoded control character (%00 cuts an id short)
 * is refused, for the whole URL. */
static bool url_has_control(const char *s) {
  if (!s || !strchr(s, '%')) return false;
  int n = 0;
  char *dec = curl_easy_unescape(NULL, s, 0, &n);
  bool bad = dec == NULL || has_control(dec, (size_t)n);
  curl_free(dec);
  return bad;
}

static void method_not_allowed(hl_http_req *req, const char *allow) {
  char msg[128];
  snprintf(msg, sizeof msg, "use %s on this path", allow);
  hl_http_header h = {"allow", 5, allow, strlen(allow)};
  hl_buf b = HL_BUF_INIT;
  hl_json_error_body(&b, "method_not_allowed", msg, NULL, 0);
  hl_http_respond(req, 405, &h, 1, b.data, b.len);
  hl_buf_dispose(&b);
}

/* Adapters from the route table's shape to each handler's. */
static void r_health(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; health(a, req); }
static void r_metrics(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; metrics(a, req); }
static void r_post_schema(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_post_schema(a, req); }
static void r_list_schemas(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_list_schemas(a, req); }
static void r_get_schema(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_get_schema(a, req, p[0]); }
static void r_post_sub(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_post_subscription(a, req); }
static void r_list_subs(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_list_subs(a, req); }
static void r_sub_by_id(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_sub_by_id(a, req, p[0]); }
static void r_rotate(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_rotate_secret(a, req, p[0]); }
static void r_public_key(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_sub_public_key(a, req, p[0]); }
static void r_post_partner(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_post_partner(a, req); }
static void r_list_partners(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_list_partners(a, req); }
static void r_partner_by_id(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_partner_by_id(a, req, p[0]); }
static void r_enable_sub(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_enable_sub(a, req, p[0]); }
static void r_post_recover(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_post_recover(a, req, p[0]); }
static void r_get_recover(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_get_recover(a, req, p[0]); }
static void r_list_deliveries(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_list_deliveries(a, req); }
static void r_retry(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_retry_delivery(a, req, p[0], p[1]); }
static void r_attempts(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_list_attempts(a, req, p[0], p[1]); }
static void r_replay(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_replay_event(a, req, p[0]); }
static void r_post_event(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_post_event(a, req); }
static void r_post_bulk(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_post_bulk(a, req); }
static void r_post_raw(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_post_raw_event(a, req, p[0]); }
static void r_post_xform(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_post_transformation(a, req); }
static void r_list_xforms(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_list_transformations(a, req); }
static void r_get_xform(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_get_transformation(a, req, p[0]); }
static void r_stats(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_stats(a, req); }
static void r_reseal(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_reseal(a, req); }
static void r_hosts(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_hosts(a, req); }
static void r_openapi(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_openapi(a, req); }
static void r_console(hl_api *a, hl_http_req *req, char (*p)[256]) { (void)p; hl_api_console_file(a, req, NULL); }
static void r_console_file(hl_api *a, hl_http_req *req, char (*p)[256]) { hl_api_console_file(a, req, p[0]); }

/* Every route of the API, in one table: the router reads it, and so does
 * the test holding docs/openapi.json to it (tests/handlers/test_openapi.c).
 * A "{name}" segment matches any one segment, handed to the handler in
 * order. The methods of one path are listed in the order Allow names them. */
const hl_api_route hl_api_routes[] = {
  {"GET", "/healthz", HL_API_AUTH_NONE, r_health, NULL},
  {"GET", "/api/v1/events/health", HL_API_AUTH_NONE, r_health, NULL},
  {"GET", "/metrics", HL_API_AUTH_NONE, r_metrics, NULL},
  {"GET", "/openapi.json", HL_API_AUTH_NONE, r_openapi, NULL},
  {"GET", "/console", HL_API_AUTH_NONE, r_console, NULL},
  {"GET", "/console/{file}", HL_API_AUTH_NONE, r_console_file, NULL},
  {"GET", "/admin/schemas", HL_API_AUTH_ADMIN, r_list_schemas, NULL},
  {"POST", "/admin/schemas", HL_API_AUTH_ADMIN, r_post_schema, NULL},
  {"GET", "/admin/schemas/{id}", HL_API_AUTH_ADMIN, r_get_schema, NULL},
  {"GET", "/admin/partners", HL_API_AUTH_ADMIN, r_list_partners, NULL},
  {"POST", "/admin/partners", HL_API_AUTH_ADMIN, r_post_partner, NULL},
  {"GET", "/admin/partners/{id}", HL_API_AUTH_ADMIN, r_partner_by_id, NULL},
  {"DELETE", "/admin/partners/{id}", HL_API_AUTH_ADMIN, r_partner_by_id, NULL},
  {"GET", "/admin/subscriptions", HL_API_AUTH_ADMIN, r_list_subs, "partner_id"},
  {"POST", "/admin/subscriptions", HL_API_AUTH_ADMIN, r_post_sub, NULL},
  {"GET", "/admin/subscriptions/{id}", HL_API_AUTH_ADMIN, r_sub_by_id, NULL},
  {"DELETE", "/admin/subscriptions/{id}", HL_API_AUTH_ADMIN, r_sub_by_id, NULL},
  {"GET", "/admin/transformations", HL_API_AUTH_ADMIN, r_list_xforms, NULL},
  {"POST", "/admin/transformations", HL_API_AUTH_ADMIN, r_post_xform, NULL},
  {"GET", "/admin/transformations/{id}", HL_API_AUTH_ADMIN, r_get_xform, NULL},
  {"POST", "/admin/subscriptions/{id}/secret/rotate", HL_API_AUTH_ADMIN, r_rotate, NULL},
  {"GET", "/admin/subscriptions/{id}/public-key", HL_API_AUTH_ADMIN, r_public_key, NULL},
  {"POST", "/admin/subscriptions/{id}/enable", HL_API_AUTH_ADMIN, r_enable_sub, NULL},
  {"GET", "/admin/subscriptions/{id}/recover", HL_API_AUTH_ADMIN, r_get_recover, NULL},
  {"POST", "/admin/subscriptions/{id}/recover", HL_API_AUTH_ADMIN, r_post_recover, NULL},
  {"GET", "/admin/deliveries", HL_API_AUTH_ADMIN, r_list_deliveries,
   "event_id subscription_id status since until limit cursor"},
  {"POST", "/admin/deliveries/{event_id}/{subscription_id}/retry", HL_API_AUTH_ADMIN, r_retry, NULL},
  {"GET", "/admin/deliveries/{event_id}/{subscription_id}/attempts", HL_API_AUTH_ADMIN, r_attempts, NULL},
  {"POST", "/admin/events/{event_id}/replay", HL_API_AUTH_ADMIN, r_replay, NULL},
  {"GET", "/admin/stats", HL_API_AUTH_ADMIN, r_stats, NULL},
  {"GET", "/admin/hosts", HL_API_AUTH_ADMIN, r_hosts, NULL},
  {"POST", "/admin/secrets/reseal", HL_API_AUTH_ADMIN, r_reseal, "batch"},
  {"POST", "/api/v1/events", HL_API_AUTH_API, r_post_event, NULL},
  {"POST", "/api/v1/events/bulk", HL_API_AUTH_API, r_post_bulk, NULL},
  /* After bulk (and health): those two are not event types. */
  {"POST", "/api/v1/events/{event_type}", HL_API_AUTH_API, r_post_raw, NULL},
  {NULL, NULL, HL_API_AUTH_NONE, NULL, NULL},
};

#define MAX_SEGMENTS 8

/* Whether the path's segments fit the pattern; the "{...}" ones are copied to params. */
static bool route_matches(const char *pattern, char seg[][256], size_t nseg, char params[][256]) {
  char pat[MAX_SEGMENTS][256];
  size_t npat = split_path(pattern, pat, MAX_SEGMENTS, NULL), np = 0;
  if (npat != nseg) return false;
  for (size_t i = 0; i < npat; i++) {
    if (pat[i][0] == '{') memcpy(params[np++], seg[i], 256); /* both 256-byte segments */
    else if (strcmp(pat[i], seg[i]) != 0) return false;
  }
  return true;
}

static bool authorized(const hl_api *a, const hl_http_req *req, hl_api_auth auth) {
  const char *token = auth == HL_API_AUTH_ADMIN ? a->opt.admin_token : auth == HL_API_AUTH_API ? a->opt.api_token : NULL;
  if (token == NULL || token[0] == '\0') return true;
  size_t len = 0;
  const char *h = hl_http_req_header(req, "authorization", &len);
  if (h == NULL || len < 7 || strncasecmp(h, "Bearer ", 7) != 0) return false;
  return hl_ct_equal(h + 7, len - 7, token, strlen(token));
}

/* Where a request goes: the route of its method and path (NULL: none),
 * the first route of its path whatever the method, the methods the path
 * has (for 405), the route's parameters, and the guard it is under. */
typedef struct {
  const hl_api_route *route, *path_route;
  char allow[64];
  char params[MAX_SEGMENTS][256];
  hl_api_auth auth;
  bool guarded;  /* under /admin or /api, however the path spells it */
  bool unfit;    /* a segment split_path could not keep as it is */
} api_target;

static void resolve(const char *method, const char *path, api_target *t) {
  char seg[MAX_SEGMENTS][256];
  size_t nseg = split_path(path, seg, MAX_SEGMENTS, &t->unfit);
  t->route = t->path_route = NULL;
  t->allow[0] = '\0';
  for (const hl_api_route *r = hl_api_routes; r->method && nseg <= MAX_SEGMENTS; r++) {
    if (!route_matches(r->pattern, seg, nseg, t->params)) continue;
    if (!t->path_route) t->path_route = r;
    /* HEAD is GET without the body (the server leaves it out). */
    if (strcmp(method, r->method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
      t->route = r;
      break;
    }
    snprintf(t->allow + strlen(t->allow), sizeof t->allow - strlen(t->allow), "%s%s", t->allow[0] ? ", " : "",
             r->method);
  }
  /* A path the table does not know is still guarded by its prefix: an
   * unauthenticated caller learns nothing about which admin paths exist. */
  /* The route taken decides (POST /api/v1/events/health is a raw event's
   * path, guarded as the producer API, though GET of it is open). */
  /* The prefix as the router reads it: "//admin/x" and "/%61dmin/x" are
   * the admin path "/admin/x". */
  const hl_api_route *guard = t->route ? t->route : t->path_route;
  bool admin = nseg > 1 && strcmp(seg[0], "admin") == 0, api = nseg > 1 && strcmp(seg[0], "api") == 0;
  t->auth = guard ? guard->auth : admin ? HL_API_AUTH_ADMIN : api ? HL_API_AUTH_API : HL_API_AUTH_NONE;
  t->guarded = admin || api || (guard && guard->auth != HL_API_AUTH_NONE);
}

/* The 401 (RFC 6750 §3: a Bearer challenge). */
static hl_http_refusal unauthorized(hl_api_auth auth) {
  return (hl_http_refusal){401, "unauthorized",
                           auth == HL_API_AUTH_ADMIN ? "send Authorization: Bearer <HOOKLOOP_ADMIN_TOKEN>"
                                                     : "send Authorization: Bearer <HOOKLOOP_API_TOKEN>",
                           {"www-authenticate", 16, "Bearer", 6}};
}

/* A Host header naming no DNS name: localhost, an IPv4 or a bracketed
 * IPv6 literal, with or without a port. Such a host cannot be re-pointed
 * at this server by another site's DNS (DNS rebinding). */
static bool host_is_local_literal(const char *h, size_t n) {
  if (n > 0 && h[0] == '[') return memchr(h, ']', n) != NULL;
  const char *colon = memchr(h, ':', n);
  size_t hn = colon ? (size_t)(colon - h) : n;
  if (hn == 9 && strncasecmp(h, "localhost", 9) == 0) return true;
  if (hn == 0) return false;
  for (size_t i = 0; i < hn; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.')) return false;
  return true;
}

/* Whether Origin ("scheme://host[:port]") names the Host the request was
 * sent to: the page that made it is this server's own (the console). */
static bool origin_is_host(const char *o, size_t on, const char *h, size_t hn) {
  const char *sep = on > 3 ? memmem(o, on, "://", 3) : NULL;
  if (!sep || !h) return false;
  const char *oh = sep + 3;
  size_t ohn = on - (size_t)(oh - o);
  return ohn == hn && strncasecmp(oh, h, hn) == 0;
}

/* Requests a browser made (they say where from: Origin, Sec-Fetch-Site),
 * checked so that another site's page cannot use this API through the
 * user's browser: no change (any method but GET and HEAD) from a page of
 * another origin (cross-site request forgery: a form needs no token where
 * none is set), and, on routes whose token is not set, no request at all
 * to a Host that is a DNS name (DNS rebinding makes another site's page
 * same-origin with it). Clients that are not browsers send neither header
 * and are not concerned. NULL: allowed. */
static const char *browser_refusal(const hl_api *a, const hl_http_req *req, hl_api_auth auth) {
  size_t on = 0, sn = 0, hn = 0;
  const char *origin = hl_http_req_header(req, "origin", &on);
  const char *site = hl_http_req_header(req, "sec-fetch-site", &sn);
  if (!origin && !site) return NULL;
  const char *host = hl_http_req_header(req, "host", &hn);
  bool changes = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
  if (changes) {
    bool same_site = !site || (sn == 11 && strncasecmp(site, "same-origin", 11) == 0) ||
                     (sn == 4 && strncasecmp(site, "none", 4) == 0);
    if (!same_site || (origin && !origin_is_host(origin, on, host, hn)))
      return "a page of another origin may not make this request (its Origin is not this server's)";
  }
  const char *token = auth == HL_API_AUTH_ADMIN ? a->opt.admin_token : auth == HL_API_AUTH_API ? a->opt.api_token : NULL;
  bool open = auth != HL_API_AUTH_NONE && (!token || !token[0]);
  if (open && !(host && host_is_local_literal(host, hn)))
    return "with no token set, a browser may reach this route only at localhost or an IP address (set the token "
           "to serve it under a DNS name)";
  return NULL;
}

void hl_api_admit(const hl_http_req *head, void *data, hl_http_refusal *r) {
  hl_api *a = data;
  /* Nothing to check (no token set, not a browser's request): the route is
   * not looked up twice on the intake's path. */
  size_t n = 0;
  bool tokens = (a->opt.admin_token && a->opt.admin_token[0]) || (a->opt.api_token && a->opt.api_token[0]);
  if (!tokens && !hl_http_req_header(head, "origin", &n) && !hl_http_req_header(head, "sec-fetch-site", &n)) return;
  api_target t;
  resolve(head->method, head->path, &t);
  if (!authorized(a, head, t.auth)) {
    *r = unauthorized(t.auth);
    return;
  }
  const char *why = browser_refusal(a, head, t.auth);
  if (why) *r = (hl_http_refusal){403, "forbidden_origin", why, {NULL, 0, NULL, 0}};
}

/* Whether name (len bytes) is one of the route's query parameters. */
static bool takes(const hl_api_route *r, const char *name, size_t len) {
  for (const char *q = r->query; q && *q;) {
    size_t n = strcspn(q, " ");
    if (n == len && memcmp(q, name, len) == 0) return true;
    q += n;
    q += strspn(q, " ");
  }
  return false;
}

/* The query holds only the route's parameters, each once (hl_api_route),
 * none longer than HL_API_QUERY_VALUE_MAX. False once a 400 is answered. */
static bool query_ok(hl_http_req *req, const hl_api_route *r) {
  const char *q = req->query;
  for (const char *seg = q; seg && *seg;) {
    size_t len = strcspn(seg, "&");
    size_t nlen = strcspn(seg, "=&");
    if (nlen > 0) {
      char ptr[80], msg[300];
      snprintf(ptr, sizeof ptr, "?%.*s", (int)(nlen > 64 ? 64 : nlen), seg);
      if (!takes(r, seg, nlen)) {
        if (r->query) snprintf(msg, sizeof msg, "not a query parameter of %s %s; it takes %s", r->method, r->pattern,
                               r->query);
        else snprintf(msg, sizeof msg, "%s %s takes no query parameters", r->method, r->pattern);
        hl_api_respond_field_error(req, ptr, msg);
        return false;
      }
      for (const char *prev = q; prev < seg;) { /* given before? */
        size_t pl = strcspn(prev, "=&");
        if (pl == nlen && memcmp(prev, seg, nlen) == 0) {
          hl_api_respond_field_error(req, ptr, "given twice; give it once");
          return false;
        }
        prev += strcspn(prev, "&");
        if (*prev == '&') prev++;
      }
      if (seg[nlen] != '=') { /* read as absent: "?partner_id" listed every partner's */
        hl_api_respond_field_error(req, ptr, "give it a value: ?name=value");
        return false;
      }
      int vlen = 0;
      if (len - nlen - 1 > HL_API_QUERY_VALUE_MAX) { /* encoded longer: decode to tell */
        char *dec = curl_easy_unescape(NULL, seg + nlen + 1, (int)(len - nlen - 1), &vlen);
        curl_free(dec);
      }
      if (vlen > HL_API_QUERY_VALUE_MAX) {
        snprintf(msg, sizeof msg, "%d bytes; no value this API takes is longer than %d", vlen,
                 HL_API_QUERY_VALUE_MAX);
        hl_api_respond_field_error(req, ptr, msg);
        return false;
      }
    }
    seg += len;
    if (*seg == '&') seg++;
  }
  return true;
}

void hl_api_handle(hl_http_req *req, void *data) {
  hl_api *a = data;
  const char *p = req->path;
  api_target t;
  resolve(req->method, p, &t);
  if (t.guarded && (t.unfit || url_has_control(req->query))) {
    hl_api_respond_field_error(req, "",
                               "the URL holds a percent-encoded control character (such as %00) in an id, or a "
                               "path segment longer than 255 bytes");
    return;
  }
  /* Checked again here: hl_api_admit ran only where an HTTP server reads
   * the request (not for Lambda's API Gateway events). */
  if (!authorized(a, req, t.auth)) {
    hl_http_refusal u = unauthorized(t.auth);
    hl_buf b = HL_BUF_INIT;
    hl_json_error_body(&b, u.code, u.message, NULL, 0);
    hl_http_respond(req, u.status, &u.header, 1, b.data, b.len);
    hl_buf_dispose(&b);
    return;
  }
  /* The open routes (health, metrics, the console) are left to whatever
   * probes and caches add to their URLs. */
  if (t.route && t.route->auth != HL_API_AUTH_NONE && !query_ok(req, t.route)) return;
  if (t.route) t.route->handle(a, req, t.params);
  else if (t.path_route) method_not_allowed(req, t.allow);
  else hl_api_respond_error(req, 404, "not_found", "no such endpoint; see the API in the README", NULL);
}

size_t hl_api_body_limit(const char *method, const char *path, size_t path_len, void *data) {
  hl_api *a = data;
  (void)path_len;
  /* The route as the router will take it: "/api/v1/events/bulk/" and
   * "/api/v1/events//bulk" are the bulk too. */
  api_target t;
  resolve(method, path, &t);
  return t.route && t.route->handle == r_post_bulk ? a->opt.max_bulk_body : a->opt.max_body;
}

void hl_api_init(hl_api *a, hl_store *store, hl_registry *reg, hl_dispatch *dispatch,
                 const hl_api_options *opt) {
  *a = (hl_api){.store = store, .reg = reg, .dispatch = dispatch, .opt = *opt, .subs_loaded = hl_api_subs_loaded};
  hl_health_init(&a->health, a->opt.loop, store, 0);
  if (!a->opt.ingress_prefix) a->opt.ingress_prefix = "wh.ingress";
  if (!a->opt.egress_prefix) a->opt.egress_prefix = "wh.egress";
  if (!a->opt.max_body) a->opt.max_body = 1 << 20;
  if (!a->opt.max_bulk_body) a->opt.max_bulk_body = 10 << 20;
}

