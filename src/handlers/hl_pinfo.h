/* hl_pinfo.h — Partner Info enrichment (issue 17, part 2; docs/enrichment.md):
 * the answer of PARTNER_INFO_URL for a delivery's partner, fetched on the
 * loop through the shared curl multi, cached per partner
 * (model/hl_pinfo_cache.h), and merged into the event at a JSON pointer
 * with its exact text, before the transformations run.
 *
 * Ownership: hl_pinfo owns its cache, its fetches and their easy handles;
 * the curl multi (and the credentials provider, with SigV4) is borrowed and
 * must outlive it. A request (hl_pinfo_req)
 * is the caller's, embedded in a delivery; it must stay alive until its done
 * runs (once) or it is cancelled.
 */
#ifndef HL_PINFO_H
#define HL_PINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "common/hl_buf.h"
#include "loop/hl_curl_uv.h"
#include "model/hl_gate.h"
#include "model/hl_pinfo_cache.h"
#include "transform/hl_transform.h"

typedef struct {
  const char *url;        /* PARTNER_INFO_URL, with {partner_id} (copied) */
  const char *token;      /* PARTNER_INFO_TOKEN: sent as "Authorization: Bearer"; NULL: none (copied) */
  const char *key;        /* PARTNER_INFO_KEY: the JSON pointer the answer is put at (copied) */
  uint64_t ttl_ms;        /* when the answer has no Cache-Control max-age */
  long timeout_ms;        /* the whole fetch */
  bool deliver_unenriched;/* PARTNER_INFO_ON_FAILURE: true = deliver_unenriched, false = retry */
  size_t max_partners;    /* the cache's bound */
  unsigned breaker_failures; /* failed fetches in a row that open the service's breaker; 0: none */
  uint64_t breaker_open_ms;  /* while open, misses fail at once (HL_EBUSY) instead of fetching */
  /* PARTNER_INFO_AUTH=sigv4 (an API Gateway IAM endpoint): each request is
   * signed with SigV4 for `region` and service execute-api, with the
   * credentials of creds (borrowed; it must outlive hl_pinfo). NULL: not
   * signed (token, if any, is the auth). */
  hl_aws_creds_provider *creds;
  const char *region;     /* copied; required with creds */
} hl_pinfo_options;

typedef struct hl_pinfo_req hl_pinfo_req;
/* status 0: info (len bytes, valid only during the call) is the answer;
 * otherwise a negative hl_err and error says why. */
typedef void (*hl_pinfo_cb)(hl_pinfo_req *r, int status, const char *info, size_t len, const char *error);
struct hl_pinfo_req {
  hl_pinfo_waiter w;      /* private */
  char partner_id[128];   /* private */
  hl_pinfo_cb done;       /* private */
};

typedef struct hl_pinfo hl_pinfo;

/* NULL and a reason in err when the options are unusable (no {partner_id}
 * in the URL, a key that is no JSON pointer). */
hl_pinfo *hl_pinfo_create(uv_loop_t *loop, hl_curl_uv *curl, const hl_pinfo_options *opt, char *err, size_t errlen);
/* Ends the fetches running: their waiters get HL_ECANCELED. Then frees. */
void hl_pinfo_destroy(hl_pinfo *p);
bool hl_pinfo_deliver_unenriched(const hl_pinfo *p);

/* The answer for partner_id: 0 with *info and *len now (a cache hit; done is not
 * called), or 1: done runs later (from the loop, never inside this call), or
 * a negative hl_err now (done is not called): HL_EBUSY while the service's
 * breaker is open, HL_ENOMEM when the fetch could not start. */
int hl_pinfo_get(hl_pinfo *p, const char *partner_id, hl_pinfo_req *r, hl_pinfo_cb done, const char **info,
                 size_t *len);
void hl_pinfo_req_cancel(hl_pinfo *p, hl_pinfo_req *r);

/* body with info put at the configured key (exact text, compact JSON) into
 * out; a negative hl_err and a reason when body is not a JSON object or
 * array the key can be written into. info is the answer r was given (by
 * hl_pinfo_get or its done): while the cache holds that answer, its merge
 * compiled at fetch time is applied, so a warm-cache merge is one parse of
 * body and one write, with nothing compiled. (A delivery does not call
 * this: it chains hl_pinfo_merge_program with its transformations.) */
int hl_pinfo_merge(const hl_pinfo *p, const hl_pinfo_req *r, const char *body, size_t len, const char *info,
                   size_t info_len, hl_buf *out, char *err, size_t errlen);

/* The merge of info (the answer r was given) as a transformation program
 * that puts it at the configured key: the one the cache keeps with that
 * answer (compiled at fetch time), or, when the cache no longer holds it,
 * one compiled now into *owned (the caller frees it with
 * hl_transform_free; NULL otherwise). The dispatcher runs it as the first
 * program of the delivery's chain (model/hl_xform_reg.h), so the merge and
 * the transformations share one parse and one write of the event. NULL
 * and a reason in err when info does not compile (it is no JSON). */
const hl_transform *hl_pinfo_merge_program(const hl_pinfo *p, const hl_pinfo_req *r, const char *info,
                                          size_t info_len, hl_transform **owned, char *err, size_t errlen);

/* The cache's counters as Prometheus text (hookloop_partner_info_*_total). */
void hl_pinfo_render_metrics(const hl_pinfo *p, hl_buf *out);

#endif
